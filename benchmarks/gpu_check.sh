#!/usr/bin/env bash
# The one GPU check, prepared to run in under 8 minutes on an H100 / H200 (bf16, batch 64):
#   1. bench.py, seed preset, with the tutorial's code on the same weights and inputs (speed-up, difference)
#   2. bench.py, seed preset, --compile
#   3. bench.py, small preset, eager and --compile
#   4. the sampling speed of a saved model at its own sampler and steps (bench.py --checkpoint)
# Each step writes OUT/NAME.json and OUT/NAME.log; OUT/summary.json lists every step's exit status and
# seconds. A step that fails is recorded and the others still run; the whole check stops within BUDGET
# seconds (default 450, 3600 in CPU mode: a step is cut off at the budget's end with status 124, later ones
# are not started).
#
#   benchmarks/gpu_check.sh                          # OUT=./gpu-check-out, the colorization plugin's default model
#   OUT=/tmp/x CHECKPOINT=runs/distil/best benchmarks/gpu_check.sh
#   (PYTHON: the interpreter, default .venv/bin/python if present, else python3)
#   GPU_CHECK_CPU=1 benchmarks/gpu_check.sh          # the same steps on the CPU: tiny preset, fp32, batch 2,
#                                                    # 2 steps, no --compile runs
set -uo pipefail
cd "$(dirname "$0")/.."
if [ -z "${PYTHON:-}" ]; then  # the repository's .venv (make setup) if there is one
  PYTHON=python3
  [ -x .venv/bin/python ] && PYTHON=.venv/bin/python
fi
OUT="${OUT:-./gpu-check-out}"
mkdir -p "$OUT"
CHECKPOINT="${CHECKPOINT:-$("$PYTHON" -c 'from palette_kit.tasks import load_task
print(load_task("colorization").default_checkpoint)')}"

if [ -n "${GPU_CHECK_CPU:-}" ]; then
  COMMON=(--device cpu --dtype fp32 --batch 2 --steps 2 --train-steps 1 --warmup 1 --matmul-size 256)
  PRESETS=(tiny)
  CHECK=(--device cpu --dtype fp32 --batch 2 --steps 2)
  COMPILE=()
  BUDGET="${BUDGET:-3600}"  # a loaded CPU is slow; the 8-minute bound is the GPU's
else
  COMMON=(--device cuda --dtype bf16 --batch 64 --steps 20 --train-steps 5 --warmup 2)
  PRESETS=(seed small)
  CHECK=(--device cuda --dtype bf16 --batch 64)
  COMPILE=(--compile)
  BUDGET="${BUDGET:-450}"
fi
DEADLINE=$(( $(date +%s) + BUDGET ))

STEPS=()
step() {  # step NAME ARGS...: one bench.py run, its JSON and log under OUT
  local name="$1" start status
  shift
  start=$(date +%s)
  if [ $(( DEADLINE - start )) -lt 10 ]; then
    STEPS+=("{\"step\": \"$name\", \"status\": \"not started (BUDGET spent)\"}")
    return
  fi
  echo "[gpu-check] $name: bench.py $*" >&2
  timeout $(( DEADLINE - start )) "$PYTHON" benchmarks/bench.py "$@" --json "$OUT/$name.json" >"$OUT/$name.log" 2>&1
  status=$?
  tail -n 12 "$OUT/$name.log" >&2
  STEPS+=("{\"step\": \"$name\", \"status\": $status, \"seconds\": $(( $(date +%s) - start ))}")
}

for preset in "${PRESETS[@]}"; do
  if [ "$preset" = "${PRESETS[0]}" ]; then
    step "$preset" --preset "$preset" "${COMMON[@]}"                      # with the tutorial's code
  else
    step "$preset" --preset "$preset" "${COMMON[@]}" --no-reference
  fi
  if [ ${#COMPILE[@]} -gt 0 ]; then
    step "$preset-compile" --preset "$preset" "${COMMON[@]}" "${COMPILE[@]}" --no-reference
  fi
done
step checkpoint --checkpoint "$CHECKPOINT" "${CHECK[@]}"

printf '{"out": "%s", "checkpoint": "%s", "cpu_mode": %s, "steps": [%s]}\n' "$OUT" "$CHECKPOINT" \
  "$([ -n "${GPU_CHECK_CPU:-}" ] && echo true || echo false)" "$(IFS=,; echo "${STEPS[*]}")" >"$OUT/summary.json"
cat "$OUT/summary.json"
! grep -q '"status": [1-9"]' "$OUT/summary.json"  # exit status 1 if any step failed or was not run
