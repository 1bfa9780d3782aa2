#!/usr/bin/env bash
# lmc's GGUF block types beside llama.cpp's, on the same files: a random small Llama
# (bench/specs/tiny-llama-256.yaml) is quantized by `lmc quantize` to each type, rewritten with
# llama.cpp's names and metadata (bench/llamacpp/to_llamacpp_gguf.py), and both programs give
# the logits of 65 positions: lmc's model binary (built from the weights.dtypes lmc quantize
# prints) and llama.cpp through node-llama-cpp (bench/llamacpp/logits.mjs). Per type: the
# largest logit difference, top-1 agreement, and how the type's difference from q8_0 in lmc
# correlates with the same difference in llama.cpp (the format's own noise, seen by both).
# Needs build/bin/lmc, node and npm, python3-yaml and numpy, and
# ../shared/assets/vocab-gguf/ggml-vocab-llama-spm.gguf.
# usage: scripts/kquant_vs_llamacpp.sh   env: DTYPES="q4_k q5_k q6_k q4_k_m" THREADS=2 LMC=build/bin/lmc
#        WORK=build/kquant-vs-llamacpp LMC_ASSETS=../shared/assets
set -euo pipefail
cd "$(dirname "$0")/.."
spec=$PWD/bench/specs/tiny-llama-256.yaml
dtypes=${DTYPES:-q4_k q5_k q6_k q4_k_m} threads=${THREADS:-2}
work=${WORK:-build/kquant-vs-llamacpp}
vocab=${LMC_ASSETS:-../shared/assets}/vocab-gguf/ggml-vocab-llama-spm.gguf
lmc=${LMC:-build/bin/lmc}
[ -f "$vocab" ] || { echo "kquant_vs_llamacpp.sh: missing $vocab (set LMC_ASSETS)" >&2; exit 1; }
mkdir -p "$work/llamacpp"
cp bench/llamacpp/package.json bench/llamacpp/logits.mjs "$work/llamacpp/"
(cd "$work/llamacpp" && npm install --no-audit --no-fund --loglevel=error >/dev/null)
tokens=1,$(seq -s, 0 63 | awk -F, '{for (i = 1; i <= NF; i++) printf "%s%d", (i > 1 ? "," : ""), 100 + ($i * 37) % 30000}')
"$lmc" random-weights "$spec" -o "$work/w.safetensors" --seed 1

for dtype in q8_0 $dtypes; do
  "$lmc" quantize "$work/w.safetensors" -o "$work/$dtype.lmc.gguf" --dtype "$dtype" --spec "$spec" \
    2>"$work/$dtype.log"
  /usr/bin/python3 bench/llamacpp/to_llamacpp_gguf.py "$spec" "$work/$dtype.lmc.gguf" "$vocab" \
    "$work/$dtype.gguf"
  {
    sed 's/^  format: safetensors/  format: gguf\n  layout: gguf/' "$spec"
    [ "$dtype" = q8_0 ] && echo "dtype: q8_0"
    sed -n '/^  dtypes:/,$p' "$work/$dtype.log"
  } >"$work/$dtype.yaml"
  "$lmc" build "$work/$dtype.yaml" -o "$work/lmc-$dtype" >/dev/null
  "$work/lmc-$dtype" logits --weights "$work/$dtype.gguf" --tokens "$tokens" --out "$work/$dtype.npy"
  (cd "$work/llamacpp" && node logits.mjs "$(realpath "../$dtype.gguf")" "$threads" "$tokens" \
    "$(realpath "..")/$dtype.llamacpp.f32" >/dev/null)
done

/usr/bin/python3 - "$work" q8_0 $dtypes <<'PY'
import sys
import numpy as np
work, types = sys.argv[1], sys.argv[2:]
def load(t):
    lmc = np.load(f"{work}/{t}.npy")
    return lmc, np.fromfile(f"{work}/{t}.llamacpp.f32", dtype=np.float32).reshape(lmc.shape)
base_lmc, base_ll = load("q8_0")
print("| type | max abs difference (largest logit) | top-1 agreement | delta vs q8_0: lmc, llama.cpp, correlation |")
print("|---|---|---|---|")
for t in types:
    lmc, ll = load(t)
    err = float(np.abs(lmc - ll).max())
    top1 = float((lmc.argmax(1) == ll.argmax(1)).mean())
    if t == "q8_0":
        delta = "-"
    else:
        a, b = (lmc - base_lmc).ravel(), (ll - base_ll).ravel()
        delta = f"{np.abs(a).max():.3f}, {np.abs(b).max():.3f}, {np.corrcoef(a, b)[0, 1]:.4f}"
    print(f"| {t} | {err:.3f} ({float(np.abs(ll).max()):.2f}) | {top1:.3f} | {delta} |")
PY
