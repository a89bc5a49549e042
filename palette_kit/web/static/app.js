// palette-kit's page: restore pictures with the task's options (picture options painted with a brush), compare
// before and after, and the study's trials. Every request goes to this server.
"use strict";

const $ = (selector, root = document) => root.querySelector(selector);
let info = null;
let paintOption = null;  // the picture option the brush paints (the first one the task declares)

async function api(url, options = {}) {
  const response = await fetch(url, options);
  const body = await response.json();
  if (!response.ok) throw new Error(body.error || response.statusText);
  return body;
}

function field(option) {
  const label = document.createElement("label");
  label.title = option.help;
  label.append(option.flag.replace(/^--/, "") + " ");
  let input;
  if (option.kind === "choice") {
    input = document.createElement("select");
    for (const choice of option.choices) input.add(new Option(choice, choice, false, choice === option.default));
  } else if (option.kind === "bool") {
    input = document.createElement("select");
    for (const [text, value] of [["default", ""], ["yes", "true"], ["no", "false"]]) input.add(new Option(text, value));
  } else if (option.kind === "picture") {
    input = document.createElement("input");
    input.type = "file";
    input.accept = "image/*";
  } else if (option.multiple) {
    input = document.createElement("textarea");
    input.rows = 2;
    input.placeholder = "one a line";
  } else {
    input = document.createElement("input");
    input.type = option.kind === "number" ? "number" : "text";
    if (option.kind === "number") {
      input.step = option.step;
      if (option.min !== null) input.min = option.min;
      if (option.max !== null) input.max = option.max;
    }
    if (option.default !== null) input.value = option.default;
  }
  input.name = "option." + option.name;
  label.append(input);
  const help = document.createElement("p");
  help.className = "help";
  help.textContent = option.help + (option.kind === "picture" && option === paintOption ? " Painted with the brush." : "");
  label.append(help);
  return label;
}

async function setup() {
  info = await api("/api/task");
  $("#task-name").textContent = `· ${info.task}`;
  for (const name of info.samplers) $("#sampler").add(new Option(name, name, false, name === info.sampler));
  Object.assign($("#steps"), {value: info.steps, max: info.max_steps});
  $("#samples").max = info.max_samples;
  paintOption = info.options.find(option => option.kind === "picture") || null;
  for (const option of info.options) $("#task-options").append(field(option));
  $("#brush").hidden = paintOption === null;
  $("#nav-study").hidden = !info.study;
  const files = $("#files");
  files.addEventListener("change", () => { for (const file of files.files) upload(file); files.value = ""; });
  const drop = $("#drop");
  drop.addEventListener("dragover", event => { event.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", event => {
    event.preventDefault();
    drop.classList.remove("over");
    for (const file of event.dataTransfer.files) upload(file);
  });
  $("#clear-paint").addEventListener("click", () => {
    for (const canvas of document.querySelectorAll(".paint")) {
      canvas.getContext("2d").clearRect(0, 0, canvas.width, canvas.height);
      canvas.dataset.painted = "";
    }
  });
  $("#study-start").addEventListener("click", startStudy);
  window.addEventListener("hashchange", route);
  route();
}

function route() {
  const study = location.hash === "#study" && info.study;
  $("#colorize").hidden = study;
  $("#study").hidden = !study;
}

async function upload(file) {
  const card = $("#card-template").content.firstElementChild.cloneNode(true);
  $(".card-name", card).textContent = file.name;
  $("#cards").prepend(card);
  const status = $(".status", card);
  const body = new FormData();
  body.append("file", file);
  try {
    const picture = await api("/api/pictures", {method: "POST", body});
    card.dataset.picture = picture.picture;
    card.dataset.name = picture.name;
    const source = $(".source", card);
    source.src = picture.url;
    await source.decode();
    const canvas = $(".paint", card);
    Object.assign(canvas, {width: picture.width, height: picture.height});
    paintable(canvas);
    $(".run", card).addEventListener("click", () => run(card));
    $(".slider", card).addEventListener("input", event => {
      $(".after", card).style.clipPath = `inset(0 0 0 ${event.target.value}%)`;
    });
    run(card);
  } catch (error) {
    status.textContent = error.message;
    status.classList.add("error");
    $(".run", card).disabled = true;
  }
}

function paintable(canvas) {
  const context = canvas.getContext("2d");
  let last = null;
  const at = event => {
    const box = canvas.getBoundingClientRect();
    return [(event.clientX - box.left) * canvas.width / box.width, (event.clientY - box.top) * canvas.height / box.height];
  };
  const stroke = point => {
    const scale = canvas.width / canvas.getBoundingClientRect().width;
    context.globalCompositeOperation = $("#eraser").checked ? "destination-out" : "source-over";
    context.strokeStyle = context.fillStyle = $("#brush-colour").value;
    context.lineWidth = 2 * $("#brush-size").value * scale;
    context.lineCap = "round";
    context.beginPath();
    if (last === null) {
      context.arc(point[0], point[1], $("#brush-size").value * scale, 0, 2 * Math.PI);
      context.fill();
    } else {
      context.moveTo(...last);
      context.lineTo(...point);
      context.stroke();
    }
    last = point;
    canvas.dataset.painted = "yes";
  };
  canvas.addEventListener("pointerdown", event => {
    if (paintOption === null) return;
    canvas.setPointerCapture(event.pointerId);
    last = null;
    stroke(at(event));
  });
  canvas.addEventListener("pointermove", event => { if (last !== null) stroke(at(event)); });
  const stop = () => { last = null; };
  canvas.addEventListener("pointerup", stop);
  canvas.addEventListener("pointercancel", stop);
}

// The painted layer as a PNG of the picture's size, over black when the task wants a mask rather than a layer.
function painted(canvas) {
  let sent = canvas;
  if ($("#unpainted").value === "black") {
    sent = Object.assign(document.createElement("canvas"), {width: canvas.width, height: canvas.height});
    const context = sent.getContext("2d");
    context.fillStyle = "#000";
    context.fillRect(0, 0, sent.width, sent.height);
    context.drawImage(canvas, 0, 0);
  }
  return new Promise(done => sent.toBlob(done, "image/png"));
}

async function run(card) {
  const status = $(".status", card), progress = $(".progress", card), button = $(".run", card);
  status.classList.remove("error");
  const body = new FormData($("#settings"));
  body.append("picture", card.dataset.picture);
  body.append("name", card.dataset.name);
  for (const option of info.options.filter(option => option.kind === "picture")) {
    const input = $(`[name="option.${option.name}"]`);
    body.delete("option." + option.name);
    const canvas = $(".paint", card);
    if (option === paintOption && canvas.dataset.painted) {
      body.append("option." + option.name, await painted(canvas), "paint.png");
    } else if (input.files.length) {
      body.append("option." + option.name, input.files[0]);
    }
  }
  button.disabled = true;
  try {
    const submitted = await api("/api/jobs", {method: "POST", body});
    progress.hidden = false;
    let job;
    for (;;) {
      job = await api(submitted.status);
      progress.max = job.total || 1;
      progress.value = job.step;
      status.textContent = job.state === "queued" ? `queued: ${job.queue_position} ahead`
        : job.state === "running" ? `sampling: ${job.unit} ${job.step} of ${job.total || "?"}` : "";
      if (job.state === "done" || job.state === "failed") break;
      await new Promise(done => setTimeout(done, 300));
    }
    if (job.state === "failed") throw new Error(job.error);
    show(card, job);
    status.textContent = `done (seed${job.seeds.length > 1 ? "s" : ""} ${job.seeds.join(", ")})`;
  } catch (error) {
    status.textContent = error.message;
    status.classList.add("error");
  } finally {
    button.disabled = false;
    progress.hidden = true;
  }
}

function show(card, job) {
  $(".before", card).src = $(".source", card).src;
  const samples = $(".samples", card);
  samples.replaceChildren();
  const choose = (url, thumb) => {
    $(job.video ? ".result-video" : ".after", card).src = url;
    const download = $(".download", card);
    download.href = url + "?download=1";
    download.hidden = false;
    for (const other of samples.children) other.classList.toggle("chosen", other === thumb);
  };
  job.results.forEach((url, i) => {
    if (job.results.length > 1) {
      const thumb = job.video ? document.createElement("button") : new Image();
      if (job.video) thumb.textContent = `seed ${job.seeds[i]}`;
      else Object.assign(thumb, {src: url, alt: `seed ${job.seeds[i]}`});
      thumb.addEventListener("click", () => choose(url, thumb));
      samples.append(thumb);
    }
  });
  choose(job.results[0], samples.firstElementChild);
  $(".compare", card).hidden = job.video;
  $(".result-video", card).hidden = !job.video;
}

// The study: practice trials with feedback, then the recorded ones.
let rater = sessionStorage.getItem("palette-kit-rater");
let trial = null, shownAt = 0;

async function startStudy() {
  $("#study-intro").hidden = true;
  $("#trial").hidden = false;
  document.addEventListener("keydown", event => {
    if (event.key === "ArrowLeft") choose("left");
    if (event.key === "ArrowRight") choose("right");
  });
  $("#choose-left").addEventListener("click", () => choose("left"));
  $("#choose-right").addEventListener("click", () => choose("right"));
  await nextTrial();
}

async function nextTrial() {
  trial = null;
  const next = await api("/api/study/next", {method: "POST", headers: {"Content-Type": "application/json"},
                                             body: JSON.stringify({rater})});
  rater = next.rater;
  sessionStorage.setItem("palette-kit-rater", rater);
  if (next.done) {
    $("#trial").hidden = true;
    $("#study-done").hidden = false;
    return;
  }
  $("#trial-title").textContent = `${next.practice ? "Practice" : "Trial"} ${next.number} of ${next.of}`;
  $("#feedback").textContent = "";
  const left = $("#left"), right = $("#right");
  left.hidden = right.hidden = true;
  left.src = next.left;
  right.src = next.right;
  await Promise.all([left.decode(), right.decode()]);
  left.hidden = right.hidden = false;
  shownAt = performance.now();
  setTimeout(() => {
    left.hidden = right.hidden = true;
    trial = next;
    $("#choose-left").disabled = $("#choose-right").disabled = false;
  }, next.show_seconds * 1000);
}

async function choose(side) {
  if (trial === null) return;
  const answered = trial;
  trial = null;
  $("#choose-left").disabled = $("#choose-right").disabled = true;
  const result = await api("/api/study/answer", {method: "POST", headers: {"Content-Type": "application/json"},
    body: JSON.stringify({rater, trial: answered.trial, choice: side, response_ms: performance.now() - shownAt})});
  if (result.practice) {
    $("#feedback").textContent = result.correct ? "Right: that one was real." : `No: the ${result.real} one was real.`;
    await new Promise(done => setTimeout(done, 1200));
  }
  await nextTrial();
}

setup();
