"""The study over HTTP and in its store: trials that do not tell the real picture from the generated one,
practice with feedback and not recorded, answers stored once each, several raters at once, the results behind
a token, the Wilson interval, and a server killed mid-study keeping every answer it acknowledged."""
import csv
import io
import os
import signal
import sqlite3
import subprocess
import sys
import threading

import pytest
from PIL import Image

pytest.importorskip("starlette")
from starlette.testclient import TestClient  # noqa: E402

from palette_kit.web.store import Store, Trial, wilson  # noqa: E402

from web_helpers import build_app  # noqa: E402


@pytest.fixture
def study_app(tiny_model, tiny_pairs, tmp_path):
    app, state = build_app(tiny_model, tmp_path, tiny_pairs, trials=3, practice=1)
    with TestClient(app) as client:
        yield client, state


def answer(client, rater, trial, choice="left", response_ms=420.0):
    return client.post("/api/study/answer", json={"rater": rater, "trial": trial, "choice": choice,
                                                  "response_ms": response_ms})


def test_the_two_pictures_of_a_trial_look_alike_but_for_their_pixels(study_app):
    client, state = study_app
    assert sorted(state.study.pairs) == ["tiny:a.png", "tiny:b.jpg", "tiny:sub/c.png"]
    names, rater = set(), None
    for _ in range(1 + 3):  # the practice trial and the three recorded ones
        trial = client.post("/api/study/next", json={"rater": rater}).json()
        rater = trial["rater"]
        assert set(trial) == {"trial", "practice", "number", "of", "left", "right", "show_seconds", "rater"}
        real = state.study.store.trial(trial["trial"]).real_side
        pictures = {side: client.get(trial[side]) for side in ("left", "right")}
        heads = [{k: v for k, v in p.headers.items() if k != "content-length"} for p in pictures.values()]
        assert heads[0] == heads[1] and heads[0]["content-type"] == "image/jpeg"
        assert heads[0]["cache-control"] == "no-store" and "etag" not in heads[0] and "last-modified" not in heads[0]
        opened = [Image.open(io.BytesIO(p.content)) for p in pictures.values()]
        assert opened[0].size == opened[1].size and opened[0].info == opened[1].info
        assert not opened[0].getexif() and not opened[1].getexif()
        fake = "right" if real == "left" else "left"
        assert pictures[real].content == state.study.pairs[state.study.store.trial(trial["trial"]).pair].real
        assert pictures[fake].content != pictures[real].content
        for side in ("left", "right"):
            name = trial[side].rsplit("/", 1)[1]
            assert name not in names and "png" not in name and "jpg" not in name
            names.add(name)
        if not trial["practice"]:
            assert answer(client, rater, trial["trial"]).status_code == 200
        else:
            answer(client, rater, trial["trial"])


def test_practice_gives_feedback_is_not_recorded_and_the_study_ends(study_app):
    client, state = study_app
    first = client.post("/api/study/next", json={}).json()
    rater = first["rater"]
    assert first["practice"] and first["number"] == 1 and first["of"] == 1
    feedback = answer(client, rater, first["trial"], "right").json()
    assert feedback["practice"] and feedback["correct"] == (feedback["real"] == "right")
    shown = []
    for k in range(3):
        trial = client.post("/api/study/next", json={"rater": rater}).json()
        assert not trial["practice"] and trial["number"] == k + 1 and trial["of"] == 3
        again = client.post("/api/study/next", json={"rater": rater}).json()
        assert again["trial"] == trial["trial"]  # a trial shown but unanswered is shown again, not redrawn
        shown.append(state.study.store.trial(trial["trial"]).pair)
        assert answer(client, rater, trial["trial"], "left").json() == {"practice": False, "recorded": True}
        assert answer(client, rater, trial["trial"], "right").json() == {"practice": False, "recorded": False}
    assert sorted(shown) == sorted(state.study.pairs)  # every pair once before any repeats
    assert client.post("/api/study/next", json={"rater": rater}).json()["done"] is True
    answers = state.study.store.answers()
    assert len(answers) == 3 and {a["choice"] for a in answers} == {"left"}  # the first answer stays
    assert all(a["rater"] == rater and a["model"] == "tiny" and a["response_ms"] == 420.0 for a in answers)
    assert '"show_seconds": 0.2' in answers[0]["settings"]


def test_answers_are_checked(study_app):
    client, _ = study_app
    trial = client.post("/api/study/next", json={}).json()
    for body, message in [({"rater": trial["rater"], "trial": "nope", "choice": "left", "response_ms": 1},
                           "unknown trial"),
                          ({"rater": "someone-else", "trial": trial["trial"], "choice": "left", "response_ms": 1},
                           "unknown trial"),
                          ({"rater": trial["rater"], "trial": trial["trial"], "choice": "up", "response_ms": 1},
                           "choice must be"),
                          ({"rater": trial["rater"], "trial": trial["trial"], "choice": "left", "response_ms": "x"},
                           "response_ms"),
                          ({"rater": trial["rater"], "trial": trial["trial"], "choice": "left", "response_ms": -5},
                           "response_ms")]:
        refused = client.post("/api/study/answer", json=body)
        assert refused.status_code == 400 and message in refused.json()["error"]
    assert client.get("/api/study/image/nope").status_code == 404


def test_results_need_the_token_and_export_every_answer(study_app):
    client, state = study_app
    practice = client.post("/api/study/next", json={}).json()
    rater = practice["rater"]
    answer(client, rater, practice["trial"])
    for _ in range(3):
        trial = client.post("/api/study/next", json={"rater": rater}).json()
        real = state.study.store.trial(trial["trial"]).real_side
        answer(client, rater, trial["trial"], "left" if real == "right" else "right")  # always fooled
    for params in ({}, {"token": "wrong"}, {"token": "the-token "}):
        assert client.get("/results", params=params).status_code == 403
        assert client.get("/results.csv", params=params).status_code == 403
    page = client.get("/results", params={"token": "the-token"})
    assert page.status_code == 200 and "<td>tiny</td><td>100.0%</td><td>43.9% – 100.0%</td><td>3</td>" in page.text
    rows = list(csv.DictReader(io.StringIO(client.get("/results.csv", params={"token": "the-token"}).text)))
    assert len(rows) == 3 and {r["fooled"] for r in rows} == {"1"} and {r["model"] for r in rows} == {"tiny"}


def test_wilson_interval():
    low, high = wilson(5, 10)
    assert round(low, 4) == 0.2366 and round(high, 4) == 0.7634
    assert [round(v, 4) for v in wilson(0, 20)] == [0.0, 0.1611]
    assert wilson(0, 0) == (0.0, 1.0)


def test_raters_at_once_lose_and_double_no_answer(tiny_model, tiny_pairs, tmp_path):
    _, state = build_app(tiny_model, tmp_path, tiny_pairs, trials=5, practice=1)
    study, errors = state.study, []

    def rate(k: int) -> None:
        try:
            rater = f"rater-{k:04d}-xyz"
            while True:
                trial = study.next_trial(rater)
                if trial.get("done"):
                    return
                for _ in range(2):  # every answer sent twice
                    study.answer(rater, trial["trial"], "left", 100.0)
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=rate, args=(k,)) for k in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    answers = study.store.answers()
    assert len(answers) == 8 * 5
    assert all(sum(a["rater"] == f"rater-{k:04d}-xyz" for a in answers) == 5 for k in range(8))
    assert sum(r.n for r in study.store.fool_rates()) == 40


KILLED = """
import sys
from palette_kit.web.store import Store, Trial
store = Store(sys.argv[1])
for k in range(10_000):
    trial = Trial(f"t{k}", "rater-killed", "m:p.png", "m", "left", False)
    store.add_trial(trial, "{}")
    store.answer(trial, "right", 300.0)
    print(k, flush=True)
"""


def test_a_server_killed_mid_study_keeps_every_acknowledged_answer(tmp_path):
    database = tmp_path / "study.sqlite"
    child = subprocess.Popen([sys.executable, "-c", KILLED, str(database)], stdout=subprocess.PIPE, text=True,
                             env={**os.environ, "PYTHONUNBUFFERED": "1"})
    acknowledged = [child.stdout.readline() for _ in range(25)]
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert acknowledged[-1].strip() == "24"
    with sqlite3.connect(database) as look:
        assert look.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    store = Store(database)  # the restarted server, on the same file
    answered, _, _ = store.rater_progress("rater-killed")
    assert answered >= 25 and len(store.answers()) == answered
    trial = Trial("after-restart", "rater-killed", "m:p.png", "m", "right", False)
    store.add_trial(trial, "{}")
    assert store.answer(trial, "right", 10.0) and len(store.answers()) == answered + 1
    store.close()
