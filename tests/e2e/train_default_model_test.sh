#!/usr/bin/env bash
# A smoke run of scripts/train_default_model.py (CI, seconds): a tiny corpus,
# a few steps, the loss must fall; the exported checkpoint and tokenizer must
# load in the compiled tinytales binary and give PyTorch's logits.
# usage: train_default_model_test.sh MODEL SOURCE_DIR
source "$(dirname "$0")/lib.sh"
model=$1 src=$2
train() {
  nice -n 10 /usr/bin/python3 "$src/scripts/train_default_model.py" --smoke --stories 1000 \
    --heldout-stories 2 --window 64 --batch 4 --steps 16 --warmup 4 --lr 3e-3 --eval-every 8 \
    --out "$1" --work "$1/work"
}
expect_status 0 "smoke training" -- train "$tmp/a"
echo "$out" | tail -3
case "$out" in *"smoke: loss"*"(ok)"*) pass "loss fell" ;; *) fail "loss: $out" ;; esac
[ "$(wc -l <"$tmp/a/loss.csv")" -ge 3 ] && pass "loss curve written" || fail "loss.csv"

# The same seed gives the same files.
expect_status 0 "smoke training again" -- train "$tmp/b"
for f in model.bin tokenizer.bin tokenizer.model; do
  cmp -s "$tmp/a/$f" "$tmp/b/$f" && pass "$f reproducible" || fail "$f differs between runs"
done

# The export in lmc's binary: PyTorch's logits for a held-out story.
expect_status 0 "logits" -- "$model" logits --weights "$tmp/a/model.bin" \
  --tokens "$(cat "$tmp/a/reference_tokens.txt")" --out "$tmp/logits.npy"
/usr/bin/python3 - "$tmp/logits.npy" "$tmp/a/reference_logits.npy" <<'PY' &&
import sys
import numpy as np
got, want = np.load(sys.argv[1]), np.load(sys.argv[2])
assert got.shape == want.shape, (got.shape, want.shape)
diff = float(np.abs(got - want).max())
print(f"max |lmc - torch| = {diff:.2e} over {want.shape}")
assert diff < 1e-3, diff
PY
  pass "lmc's logits equal PyTorch's" || fail "logits differ from PyTorch's"
expect_status 0 "generate with the exported tokenizer" -- "$model" generate \
  --weights "$tmp/a/model.bin" --tokenizer "$tmp/a/tokenizer.bin" --prompt "Once upon a time" \
  -n 10 --temperature 0
case "$out" in "Once upon a time"*) pass "prompt echoed" ;; *) fail "output: $out" ;; esac
finish
