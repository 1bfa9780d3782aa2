#!/usr/bin/env bash
# lmc beside llama.cpp on the same machine, in the same run, reading the same file: for each
# dtype, a random TinyLlama-1.1B-shape checkpoint is written once as a GGUF with llama.cpp's
# names and metadata (bench/llamacpp/to_llamacpp_gguf.py); lmc reads it with
# `weights.layout: gguf`, llama.cpp through node-llama-cpp's prebuilt libllama (npm). The two
# alternate, ROUNDS times, and a Markdown table gives the medians of the rounds.
# Needs build/bin/lmc (scripts/build.sh; or $LMC), node and npm, python3-yaml, and
# ../shared/assets/vocab-gguf/ggml-vocab-llama-spm.gguf (llama.cpp wants a tokenizer).
# usage: scripts/bench_llamacpp.sh
#   env: LMC=build/bin/lmc  THREADS=2  DTYPES="f32 bf16 q8_0 q4_0"  P=128  N=32  DEPTH=0  REPS=3  ROUNDS=2
#        BENCH_DIR=build/bench  LMC_ASSETS=../shared/assets
set -euo pipefail
cd "$(dirname "$0")/.."
spec=bench/specs/tinyllama-1.1b.yaml
lmc_bin=${LMC:-build/bin/lmc}
threads=${THREADS:-2} dtypes=${DTYPES:-f32 bf16 q8_0 q4_0}
prompt=${P:-128} n=${N:-32} depth=${DEPTH:-0} reps=${REPS:-3} rounds=${ROUNDS:-2}
work=${BENCH_DIR:-build/bench}
vocab=${LMC_ASSETS:-../shared/assets}/vocab-gguf/ggml-vocab-llama-spm.gguf
[ -f "$vocab" ] || { echo "bench_llamacpp.sh: missing $vocab (set LMC_ASSETS)" >&2; exit 1; }
mkdir -p "$work/llamacpp"
cp bench/llamacpp/package.json bench/llamacpp/bench.mjs "$work/llamacpp/"
(cd "$work/llamacpp" && npm install --no-audit --no-fund --loglevel=error >/dev/null)
results=$work/llamacpp.results
: >"$results"

for dtype in $dtypes; do
  gguf=$work/tinyllama-llamacpp-$dtype.gguf
  if [ ! -f "$gguf" ]; then
    weights=$work/tinyllama-random.safetensors
    [ -f "$weights" ] || "$lmc_bin" random-weights "$spec" -o "$weights" --seed 1
    "$lmc_bin" quantize "$weights" -o "$gguf.lmc" --dtype "$dtype" --spec "$spec"
    /usr/bin/python3 bench/llamacpp/to_llamacpp_gguf.py "$spec" "$gguf.lmc" "$vocab" "$gguf"
    rm -f "$gguf.lmc"
  fi
  log=$("$lmc_bin" build "$spec" --set dtype="$dtype" --set weights.format=gguf \
    --set weights.layout=gguf -o "$work/tinyllama-llamacpp-$dtype" 2>&1) || {
    echo "$log" >&2
    exit 1
  }
done
for _ in $(seq "$rounds"); do
  for dtype in $dtypes; do
    gguf=$(realpath "$work/tinyllama-llamacpp-$dtype.gguf")
    lmc=$("$work/tinyllama-llamacpp-$dtype" bench --weights "$gguf" --threads "$threads" \
      -p "$prompt" -n "$n" --depth "$depth" --reps "$reps" --json)
    llama=$(cd "$work/llamacpp" && node bench.mjs "$gguf" "$threads" "$reps" "$prompt" "$n" "$depth")
    echo "$dtype $lmc $llama" >>"$results"
  done
done

/usr/bin/python3 - "$results" "$threads" "$prompt" "$n" "$depth" <<'PY'
import json, statistics, sys
path, threads, prompt, n, depth = sys.argv[1:]
rows = {}
for line in open(path):
    dtype, rest = line.split(" ", 1)
    lmc, llama = (json.loads(part) for part in rest.replace("} {", "}\n{").splitlines())
    rows.setdefault(dtype, []).append((lmc, llama))
print(f"TinyLlama-1.1B shape, random weights, {threads} threads, pp{prompt}, decode {n} tokens "
      f"after {int(depth) + int(prompt)}; medians of {len(next(iter(rows.values())))} rounds")
print()
print("| dtype | lmc pp tok/s | llama.cpp pp tok/s | ratio | lmc decode tok/s | "
      "llama.cpp decode tok/s | ratio | lmc % read bw | lmc % FMA peak |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
for dtype, runs in rows.items():
    med = lambda f: statistics.median(f(lmc, llama) for lmc, llama in runs)
    pp, pp_ref = med(lambda a, b: a["prefill_tok_s"]), med(lambda a, b: b["prefill_tok_s"])
    tg, tg_ref = med(lambda a, b: a["decode_tok_s"]), med(lambda a, b: b["decode_tok_s"])
    print(f"| {dtype} | {pp:.1f} | {pp_ref:.1f} | {pp / pp_ref:.2f} | {tg:.2f} | {tg_ref:.2f} | "
          f"{tg / tg_ref:.2f} | {100 * med(lambda a, b: a['decode_bandwidth_share']):.0f}% | "
          f"{100 * med(lambda a, b: a['prefill_fma_share']):.0f}% |")
PY
