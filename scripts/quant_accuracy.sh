#!/usr/bin/env bash
# Accuracy of the quantized weight types on the real stories260K checkpoint (not a timed test):
# a greedy run of N tokens in f32 from BOS, then for each dtype
#   - teacher-forced top-1 agreement: the dtype's logits for that same token sequence, and how
#     often their argmax is f32's next token;
#   - the logits' max absolute error against f32's (and relative to f32's largest logit);
#   - free-running greedy: the dtype's own greedy run, how many tokens equal f32's before the
#     first difference, and the share of equal positions.
# Needs build/bin/lmc (scripts/build.sh). Prints a Markdown table.
# usage: scripts/quant_accuracy.sh   env: DTYPES="bf16 q8_0 q4_0"  N=500  ASSETS=../shared/assets
set -euo pipefail
cd "$(dirname "$0")/.."
assets=${ASSETS:-../shared/assets}
weights=$assets/llama2c-stories260K/stories260K.bin
dtypes=${DTYPES:-bf16 q8_0 q4_0} n=${N:-500}
work=${QUANT_DIR:-build/quant-accuracy}
mkdir -p "$work"
[ -f "$weights" ] || { echo "quant_accuracy.sh: no $weights (set ASSETS)" >&2; exit 1; }

for dtype in f32 $dtypes; do
  build/bin/lmc build specs/stories260k.yaml --set "dtype=$dtype" -o "$work/stories260k-$dtype" >/dev/null
  "$work/stories260k-$dtype" generate --weights "$weights" --tokens 1 --ids -n "$n" \
    --temperature 0 2>/dev/null | tr -s ' \n' ' ' >"$work/$dtype.ids"
done
# The context (max_seq_len 512) holds BOS and the first n - 1 generated tokens.
tokens=$( (echo 1; tr ' ' '\n' <"$work/f32.ids") | grep . | head -n "$n" | paste -sd,)
for dtype in f32 $dtypes; do
  "$work/stories260k-$dtype" logits --weights "$weights" --tokens "$tokens" --out "$work/$dtype.npy"
done

/usr/bin/python3 - "$work" "$n" $dtypes <<'PY'
import sys
import numpy as np
work, n, dtypes = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
ref = np.load(f"{work}/f32.npy").astype(np.float64)
ref_ids = open(f"{work}/f32.ids").read().split()
scale = np.abs(ref).max()
print(f"stories260K, greedy from BOS, {ref.shape[0]} positions (f32 top-1 = f32's greedy run)\n")
print("| dtype | teacher-forced top-1 agreement | max logit error | relative to max logit | "
      "free-running: equal prefix | equal positions |")
print("|---|---|---|---|---|---|")
for dtype in dtypes:
    got = np.load(f"{work}/{dtype}.npy").astype(np.float64)
    assert got.shape == ref.shape, (got.shape, ref.shape)
    agree = float((got.argmax(1) == ref.argmax(1)).mean())
    err = float(np.abs(got - ref).max())
    ids = open(f"{work}/{dtype}.ids").read().split()
    same = [a == b for a, b in zip(ids, ref_ids)]
    prefix = same.index(False) if False in same else len(same)
    print(f"| {dtype} | {agree:.1%} | {err:.4f} | {err / scale:.2e} | {prefix} of {len(same)} | "
          f"{sum(same) / max(1, len(same)):.1%} |")
PY
