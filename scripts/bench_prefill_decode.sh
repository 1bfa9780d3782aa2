#!/usr/bin/env bash
# Prefill vs decode speed of one binary, one thread, random weights:
# builds bench/specs/llama-110m.yaml (or SPEC), writes its random checkpoint
# once, then runs a P-token prompt and N decoded tokens R times and prints the
# medians and their ratio.
# usage: scripts/bench_prefill_decode.sh [SPEC] [P=128] [N=32] [R=5]
set -euo pipefail
cd "$(dirname "$0")/.."
spec=${1:-bench/specs/llama-110m.yaml} prompt=${2:-128} n=${3:-32} reps=${4:-5}
work=${BENCH_DIR:-build/bench}
mkdir -p "$work"
name=$(basename "$spec" .yaml)
build/bin/lmc build "$spec" -o "$work/$name" >/dev/null 2>&1
weights=$work/$name.safetensors
[ -f "$weights" ] || build/bin/lmc random-weights "$spec" -o "$weights" --seed 1
ids=$(seq -s, 1 "$prompt")
for _ in $(seq "$reps"); do
  "$work/$name" generate --weights "$weights" --tokens "$ids" --ids -n "$n" --temperature 0 \
    2>&1 >/dev/null | tail -1
done | /usr/bin/python3 -c '
import re, statistics, sys
rows = [tuple(map(float, re.search(r"prefill \d+ tokens, ([\d.]+) tok/s \| decode \d+ tokens, ([\d.]+)", l).groups())) for l in sys.stdin]
p = statistics.median(r[0] for r in rows); d = statistics.median(r[1] for r in rows)
print(f"'"$name"': prefill {'"$prompt"'} tokens {p:.1f} tok/s | decode {d:.1f} tok/s | ratio {p / d:.1f}x (median of {len(rows)})")
'
