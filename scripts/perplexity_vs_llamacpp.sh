#!/usr/bin/env bash
# MODEL perplexity beside llama.cpp, same GGUF, same text, same tokens: stories260K written as
# llama.cpp's convert-llama2c-to-ggml writes it (tests/e2e/llamacpp_gguf.py), imported and built
# by lmc; a text of the project's own story grammar, tokenized once by the binary (with BOS).
# lmc: `perplexity --tokens IDS --ctx C --stride S --json` (Hugging Face's sliding windows).
# llama.cpp: its logits for each window from a fresh sequence (node-llama-cpp through
# bench/llamacpp/logits.mjs), scored over the same windows here in Python. Prints both
# perplexities and their relative difference.
# Needs build/bin/lmc (or $LMC), node and npm, python3-numpy and the stories260K assets.
# usage: scripts/perplexity_vs_llamacpp.sh   env: CTX=128 STRIDE=64 STORIES=4 THREADS=2
#        LMC=build/bin/lmc WORK=build/perplexity-vs-llamacpp LMC_ASSETS=../shared/assets
set -euo pipefail
cd "$(dirname "$0")/.."
lmc=${LMC:-build/bin/lmc} work=${WORK:-build/perplexity-vs-llamacpp}
ctx=${CTX:-128} stride=${STRIDE:-64} stories=${STORIES:-4} threads=${THREADS:-2}
assets=${LMC_ASSETS:-../shared/assets}/llama2c-stories260K
for f in stories260K.bin tok512.bin; do
  [ -f "$assets/$f" ] || { echo "perplexity_vs_llamacpp.sh: missing $assets/$f (set LMC_ASSETS)" >&2; exit 1; }
done
mkdir -p "$work/llamacpp"
cp bench/llamacpp/package.json bench/llamacpp/logits.mjs "$work/llamacpp/"
(cd "$work/llamacpp" && npm install --no-audit --no-fund --loglevel=error >/dev/null)

"$lmc" quantize "$assets/stories260K.bin" -o "$work/s-lmc.gguf" --dtype f32 \
  --spec specs/stories260k.yaml 2>/dev/null
/usr/bin/python3 tests/e2e/llamacpp_gguf.py specs/stories260k.yaml "$work/s-lmc.gguf" "$work/s.gguf" \
  --llama2c-vocab "$assets/tok512.bin" --drop llama.rope.freq_base \
  --set llama.context_length=u32:128 --set general.name=str:llama
"$lmc" import "$work/s.gguf" -o "$work/s.yaml" >/dev/null
"$lmc" build "$work/s.yaml" -o "$work/s" >/dev/null
/usr/bin/python3 scripts/story_grammar.py --seed 7 --count "$stories" >"$work/text.txt"
ids=$("$work/s" tokenize --bos --stdin <"$work/text.txt" | tr -s ' \n' ',' | sed 's/,$//')
"$work/s" perplexity --weights "$work/s.gguf" --tokens "$ids" --ctx "$ctx" --stride "$stride" \
  --json >"$work/lmc.json"

# The windows, as perplexity_command.cc cuts them; llama.cpp's logits for each.
/usr/bin/python3 - "$ids" "$ctx" "$stride" >"$work/windows.txt" <<'PY'
import sys
ids, ctx, stride = sys.argv[1].split(","), int(sys.argv[2]), int(sys.argv[3])
n = len(ids)
windows = 1 if n <= ctx else (n - ctx + stride - 1) // stride + 1
for w in range(windows):
    print(w * stride, min(w * stride + ctx, n), ",".join(ids[w * stride:min(w * stride + ctx, n)]))
PY
while read -r begin end window; do
  (cd "$work/llamacpp" && node logits.mjs "$(realpath ../s.gguf)" "$threads" "$window" \
    "$(realpath ..)/llamacpp-$begin.f32" >/dev/null 2>>../llamacpp.log)
done <"$work/windows.txt"

/usr/bin/python3 - "$work" "$ids" <<'PY'
import json, math, sys
import numpy as np
work, ids = sys.argv[1], [int(t) for t in sys.argv[2].split(",")]
lmc = json.load(open(f"{work}/lmc.json"))
nll, scored_to = [], 1
for line in open(f"{work}/windows.txt"):
    begin, end = (int(v) for v in line.split()[:2])
    logits = np.fromfile(f"{work}/llamacpp-{begin}.f32", dtype=np.float32).reshape(end - begin, -1)
    for j in range(max(scored_to, begin + 1), end):
        row = logits[j - 1 - begin].astype(np.float64)
        nll.append(float(np.log(np.exp(row - row.max()).sum()) + row.max() - row[ids[j]]))
    scored_to = end
ppl = math.exp(sum(nll) / len(nll))
print(f"{len(ids)} tokens, ctx {lmc['ctx']}, stride {lmc['stride']}, {len(nll)} scored "
      f"(lmc: {lmc['scored']})")
print(f"perplexity: lmc {lmc['perplexity']:.6f}, llama.cpp's logits {ppl:.6f}, "
      f"relative difference {abs(lmc['perplexity'] - ppl) / ppl:.2e}")
PY
