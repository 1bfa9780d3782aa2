#!/usr/bin/env bash
# `lmc import` + `lmc build` beside llama.cpp on the same GGUF files, one per block type or
# llama.cpp mix, at TinyLlama-1.1B's shape (bench/specs/tinyllama-1.1b.yaml): random f32 weights
# are quantized, the file imported (`lmc import`: the spec, its weights.dtypes, from the file
# alone) and built; both programs give the logits of the same 256 positions (llama.cpp through
# node-llama-cpp, bench/llamacpp/logits.mjs). Each DTYPES entry is either
#   TYPE        quantized by `lmc quantize --dtype TYPE`, then rewritten with llama.cpp's names,
#               metadata and the llama-spm vocabulary (bench/llamacpp/to_llamacpp_gguf.py), or
#   llama:FTYPE written by llama.cpp's own llama-quantize (llama_model_quantize in node-llama-cpp's
#               libllama, bench/llamacpp/llama_quantize.py) from the f32 weights so rewritten:
#               the file llama-quantize writes, its mix of types included (q2_k, q3_k_s, q3_k_m,
#               q4_1, q5_0, q5_1, iq4_nl, q4_k_m, q5_k_m, ...).
# Per entry: the largest and mean logit difference, the largest logit, top-1 agreement, and where
# the top-1 picks differ, the largest gap between the two picks in llama.cpp's own logits (a
# near-tie when it is below the logit difference), and the types the file stores.
# A measurement, not a CI test.
# Needs node and npm, python3-yaml and numpy, ../shared/assets/vocab-gguf/ggml-vocab-llama-spm.gguf;
# about 1.5 GB of disk per type (deleted as it goes but the last), 4.4 GB for the f32 file.
# usage: scripts/import_vs_llamacpp.sh
#   env: DTYPES="q8_0 q4_0 q4_k q5_k q6_k q4_k_m llama:q2_k llama:q3_k_s llama:q4_1 llama:q5_0
#                llama:q5_1 llama:iq4_nl llama:q4_k_m llama:q5_k_m" THREADS=1 LMC=build/bin/lmc
#        WEIGHTS=/tmp/bench/w.safetensors (made with random-weights --seed 1 when absent)
#        WORK=build/import-vs-llamacpp LMC_ASSETS=../shared/assets
set -euo pipefail
cd "$(dirname "$0")/.."
spec=$PWD/bench/specs/tinyllama-1.1b.yaml
dtypes=${DTYPES:-q8_0 q4_0 q4_k q5_k q6_k q4_k_m llama:q2_k llama:q3_k_s llama:q4_1 llama:q5_0 \
  llama:q5_1 llama:iq4_nl llama:q4_k_m llama:q5_k_m}
threads=${THREADS:-1}
work=${WORK:-build/import-vs-llamacpp}
vocab=${LMC_ASSETS:-../shared/assets}/vocab-gguf/ggml-vocab-llama-spm.gguf
lmc=${LMC:-build/bin/lmc}
[ -f "$vocab" ] || { echo "import_vs_llamacpp.sh: missing $vocab (set LMC_ASSETS)" >&2; exit 1; }
mkdir -p "$work/llamacpp"
work=$(realpath "$work")
cp bench/llamacpp/package.json bench/llamacpp/logits.mjs "$work/llamacpp/"
(cd "$work/llamacpp" && npm install --no-audit --no-fund --loglevel=error >/dev/null)
weights=${WEIGHTS:-$work/w.safetensors}
[ -f "$weights" ] || "$lmc" random-weights "$spec" -o "$weights" --seed 1
tokens=1,$(seq -s, 0 254 | awk -F, '{for (i = 1; i <= NF; i++) printf "%s%d", (i > 1 ? "," : ""), 100 + ($i * 37) % 30000}')

libllama=$(find "$work/llamacpp/node_modules/@node-llama-cpp" \( -name libllama.so -o -name 'libllama.v*.so' \) \
  -path '*/linux-x64/bins/*' | head -n 1)
names=()
for dtype in $dtypes; do
  name=${dtype/:/-}  # llama:q2_k -> llama-q2_k
  names+=("$name")
  if [ "${dtype%%:*}" = llama ]; then
    if [ ! -f "$work/f32.gguf" ]; then
      "$lmc" quantize "$weights" -o "$work/f32.lmc.gguf" --dtype f32 --spec "$spec" 2>/dev/null
      /usr/bin/python3 bench/llamacpp/to_llamacpp_gguf.py "$spec" "$work/f32.lmc.gguf" "$vocab" \
        "$work/f32.gguf"
      rm -f "$work/f32.lmc.gguf"
    fi
    /usr/bin/python3 bench/llamacpp/llama_quantize.py "$libllama" "$work/f32.gguf" \
      "$work/$name.gguf" "${dtype#llama:}" 2 >"$work/$name.quantize.log" 2>&1
  else
    "$lmc" quantize "$weights" -o "$work/$name.lmc.gguf" --dtype "$dtype" --spec "$spec" \
      2>"$work/$name.quantize.log"
    /usr/bin/python3 bench/llamacpp/to_llamacpp_gguf.py "$spec" "$work/$name.lmc.gguf" "$vocab" \
      "$work/$name.gguf"
    rm -f "$work/$name.lmc.gguf"
  fi
  "$lmc" import "$work/$name.gguf" -o "$work/$name.yaml" --name "tinyllama_${name/-/_}" \
    2>"$work/$name.import.log"
  "$lmc" build "$work/$name.yaml" --native -o "$work/lmc-$name" >/dev/null
  "$work/lmc-$name" logits --weights "$work/$name.gguf" --tokens "$tokens" --threads "$threads" \
    --out "$work/$name.npy" 2>/dev/null
  (cd "$work/llamacpp" && node logits.mjs "$work/$name.gguf" "$threads" "$tokens" \
    "$work/$name.llamacpp.f32" >/dev/null)
  [ "$dtype" = "${dtypes##* }" ] || rm -f "$work/$name.gguf"
done
/usr/bin/python3 - "$work" "${names[@]}" <<'PY'
import sys
import numpy as np
work, types = sys.argv[1], sys.argv[2:]
def load(t):
    lmc = np.load(f"{work}/{t}.npy")
    return lmc, np.fromfile(f"{work}/{t}.llamacpp.f32", dtype=np.float32).reshape(lmc.shape)
base = load("q8_0") if "q8_0" in types else None
def stored(t):  # the types the file stores, from lmc import's spec header
    for line in open(f"{work}/{t}.yaml"):
        if line.startswith("# Its tensors: "):
            return line[len("# Its tensors: "):].split(".")[0]
    return "?"
print("| type | max abs difference | mean abs difference | largest logit | top-1 agreement | "
      "largest gap at a disagreement | change from q8_0: lmc, llama.cpp, correlation | "
      "tensors |")
print("|---|---|---|---|---|---|---|---|")
for t in types:
    lmc, ll = load(t)
    a, b = lmc.argmax(1), ll.argmax(1)
    # Where the two pick different tokens: how far apart llama.cpp's own logits put the picks.
    gap = max([float(ll[i, b[i]] - ll[i, a[i]]) for i in np.where(a != b)[0]], default=0.0)
    change = "-"
    if base is not None and t != "q8_0":
        x, y = (lmc - base[0]).ravel(), (ll - base[1]).ravel()
        change = (f"{float(np.abs(x).max()):.3f}, {float(np.abs(y).max()):.3f}, "
                  f"{float(np.corrcoef(x, y)[0, 1]):.4f}")
    agree = int((a == b).sum())
    print(f"| {t} | {float(np.abs(lmc - ll).max()):.4f} | {float(np.abs(lmc - ll).mean()):.4f} | "
          f"{float(np.abs(ll).max()):.2f} | {agree / len(ll):.3f} ({agree}/{len(ll)}) | {gap:.4f} | "
          f"{change} | {stored(t)} |")
PY
