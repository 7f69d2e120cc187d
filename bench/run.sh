#!/bin/sh
# run.sh: the one entry point of bench/. Builds ag (incrementally; BENCH_NO_BUILD=1 skips),
# runs each benchmark in Lua and its PyTorch twin, and prints one markdown table of ag vs
# PyTorch with ratios and targets. Progress notes go to stderr, the table to stdout.
# Each Lua/PyTorch pair runs BENCH_ROUNDS times (default 2), alternating, and the table
# keeps each number's best round, so a burst of load on this shared machine hits both sides.
# Knobs: BENCH_REPS (repetitions, min taken), BENCH_ROUNDS, BENCH_THREADS (both sides), PYTHON.
set -e
cd "$(dirname "$0")/.."
PY=${PYTHON:-/usr/bin/python3}
if [ -z "$BENCH_NO_BUILD" ]; then
  { cmake -B build -DCMAKE_BUILD_TYPE=Release && cmake --build build -j2; } >/dev/null
fi
load=$(cut -d' ' -f1-3 /proc/loadavg)
out=$(mktemp)
trap 'rm -f "$out"' EXIT
rounds=${BENCH_ROUNDS:-2}
for b in tensor_ops matmul autograd elementwise; do
  for i in $(seq "$rounds"); do
    echo "== $b ($i/$rounds)" >&2
    luajit "bench/$b.lua" >>"$out"
    "$PY" "bench/$b.py" >>"$out" || echo "(PyTorch side of $b failed)" >&2
  done
done
echo
echo "ag ${AG_COMMIT:-$(git rev-parse --short HEAD 2>/dev/null)} · $(date -u '+%Y-%m-%d %H:%M UTC') ·" \
     "$(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//') ·" \
     "threads: ${BENCH_THREADS:-$(nproc)} each side · best of $rounds rounds × ${BENCH_REPS:-7} reps" \
     "· load average before: $load"
echo
luajit bench/table.lua <"$out"
