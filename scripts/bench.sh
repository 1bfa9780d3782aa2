#!/usr/bin/env bash
# The speed table of issue #10: builds bench/specs/tinyllama-1.1b.yaml (and a 2-layer variant,
# to show that build time and binary size do not grow with depth) for each dtype, writes a
# random checkpoint of real size once, runs `MODEL bench` for each thread count and prints a
# Markdown table with the roofline shares. Needs build/bin/lmc (scripts/build.sh).
# usage: scripts/bench.sh [SPEC]
#   env: THREADS="1 2"  DTYPES="f32" (any of f32 bf16 q8_0 q4_0)  P=128  N=32  DEPTH=0  REPS=3  BENCH_DIR=build/bench
set -euo pipefail
cd "$(dirname "$0")/.."
spec=${1:-bench/specs/tinyllama-1.1b.yaml}
threads=${THREADS:-1 2} dtypes=${DTYPES:-f32}
prompt=${P:-128} n=${N:-32} depth=${DEPTH:-0} reps=${REPS:-3}
work=${BENCH_DIR:-build/bench}
mkdir -p "$work"
name=$(basename "$spec" .yaml)
results=$work/$name.results
: >"$results"

# Builds SPEC with extra --set flags into OUT (no cache: the time is part of the table) and
# prints "seconds bytes".
build() {
  local out=$1
  shift
  local log
  log=$(build/bin/lmc build "$spec" --no-cache "$@" -o "$out" 2>&1) || {
    echo "$log" >&2
    exit 1
  }
  local seconds
  seconds=$(sed -n 's/.* in \([0-9.]*\) s$/\1/p' <<<"$log" | tail -1)
  echo "$seconds $(stat -c %s "$out")"
}

for dtype in $dtypes; do
  set_dtype=()
  [ "$dtype" = f32 ] || set_dtype=(--set "dtype=$dtype")
  bin=$work/$name-$dtype
  read -r build_s size < <(build "$bin" "${set_dtype[@]}")
  read -r build2_s size2 < <(build "$bin-2l" "${set_dtype[@]}" --set sizes.n_layers=2)
  weights=$work/$name-$dtype.safetensors
  [ -f "$weights" ] || build/bin/lmc random-weights "$spec" "${set_dtype[@]}" -o "$weights" --seed 1
  for t in $threads; do
    json=$("$bin" bench --weights "$weights" --threads "$t" -p "$prompt" -n "$n" --depth "$depth" \
      --reps "$reps" --json)
    echo "$dtype $build_s $size $build2_s $size2 $json" >>"$results"
  done
done

/usr/bin/python3 - "$results" "$name" <<'PY'
import json, sys
rows = []
for line in open(sys.argv[1]):
    dtype, b, s, b2, s2, js = line.split(" ", 5)
    rows.append((dtype, float(b), int(s), float(b2), int(s2), json.loads(js)))
print(f"{sys.argv[2]}, random weights; medians of {rows[0][5]['reps']} reps; "
      f"pp{rows[0][5]['prompt_tokens']}, decode {rows[0][5]['decode_tokens']} tokens "
      f"after {rows[0][5]['depth'] + rows[0][5]['prompt_tokens']}")
print()
print("| dtype | threads | prefill tok/s | % FMA peak | decode tok/s | % read bw | "
      "read GB/s | FMA GFLOP/s | MB/token | peak RSS MB |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for dtype, _, _, _, _, j in rows:
    print(f"| {dtype} | {j['threads']} | {j['prefill_tok_s']:.1f} | "
          f"{100 * j['prefill_fma_share']:.0f}% | {j['decode_tok_s']:.2f} | "
          f"{100 * j['decode_bandwidth_share']:.0f}% | {j['read_gbs']:.1f} | "
          f"{j['fma_gflops']:.0f} | {j['weight_bytes_per_token'] / 1e6:.0f} | "
          f"{j['peak_rss_bytes'] / 1e6:.0f} |")
print()
print("| dtype | build s (all layers) | binary KiB | build s (2 layers) | binary KiB |")
print("|---|---:|---:|---:|---:|")
seen = set()
for dtype, b, s, b2, s2, _ in rows:
    if dtype in seen:
        continue
    seen.add(dtype)
    print(f"| {dtype} | {b:.1f} | {s / 1024:.0f} | {b2:.1f} | {s2 / 1024:.0f} |")
PY
