#!/usr/bin/env bash
# A Llama in Hugging Face naming against PyTorch: tests/reference/make_hf_llama.py
# builds it with seeded random weights (its own modules, following transformers'
# LlamaForCausalLM), writes model.safetensors, and records PyTorch's logits for
# a 70-token prompt and its greedy continuation. The binary lmc builds from
# tests/specs/valid/tiny_llama_hf.yaml must give those logits within 1e-4
# through the prefill and the decode path, and the same greedy ids; also with
# the weights stored as bf16 (converted to f32 at load). And `perplexity` over the
# prompt's ids equals PyTorch's sliding-window perplexity within 1e-4; `embed` gives
# PyTorch's final hidden state (LlamaModel's output) within 1e-4, every row, the last
# (--pool last) and the mean (--pool mean).
# usage: pytorch_llama_test.sh LMC SOURCE_DIR CACHE_DIR
source "$(dirname "$0")/lib.sh"
lmc=$1 src=$2 cache=$3
spec=$src/tests/specs/valid/tiny_llama_hf.yaml
if ! /usr/bin/python3 -c "import torch, numpy" 2>/dev/null; then
  echo "FAIL: Debian's python3-torch and python3-numpy are needed (scripts/setup.sh installs them)"
  exit 1
fi
"$lmc" build "$spec" -o "$tmp/tiny" --cache-dir "$cache" >"$tmp/build.log" 2>&1 ||
  { cat "$tmp/build.log"; fail "lmc build"; finish; exit; }

prompt=$(seq -s, 0 139 | awk -F, '{for (i = 1; i <= NF; i++) printf "%s%d", (i > 1 ? "," : ""), ($i * 13 + 5) % 97}')
for dtype in F32 BF16; do
  ref=$tmp/ref-$dtype
  /usr/bin/python3 "$src/tests/reference/make_hf_llama.py" "$ref" --vocab 97 --d-model 48 \
    --layers 2 --heads 6 --kv-heads 2 --hidden 100 --max-seq-len 160 --theta 10000 --eps 1e-5 \
    --prompt "$prompt" --steps 16 --dtype "$dtype" --seed 11 --perplexity 48,20 >/dev/null ||
    { fail "$dtype: make_hf_llama.py"; continue; }
  for path in prefill decode; do
    flag=(); [ "$path" = decode ] && flag=(--decode)
    "$tmp/tiny" logits --weights "$ref/model.safetensors" --tokens "$prompt" \
      --out "$tmp/$path.npy" "${flag[@]}" || { fail "$dtype $path: logits"; continue; }
    if report=$(max_abs_error "$ref/logits.npy" "$tmp/$path.npy" 1e-4); then
      pass "$dtype $path logits vs PyTorch: $report"
    else
      fail "$dtype $path: $report"
    fi
  done
  for pool in all last mean; do
    flag=(); [ "$pool" = all ] || flag=(--pool "$pool")
    "$tmp/tiny" embed --weights "$ref/model.safetensors" --tokens "$prompt" \
      --out "$tmp/embed-$pool.npy" "${flag[@]}" || fail "$dtype embed --pool $pool"
  done
  if report=$(/usr/bin/python3 - "$ref/hidden.npy" "$tmp" <<'PY'
import sys
import numpy as np
ref = np.load(sys.argv[1])
want = {"all": ref, "last": ref[-1], "mean": ref.astype(np.float64).mean(0)}
errs = []
for pool, w in want.items():
    got = np.load(f"{sys.argv[2]}/embed-{pool}.npy")
    assert got.shape == w.shape, (pool, got.shape, w.shape)
    err = float(np.abs(got - w).max())
    assert err <= 1e-4 and np.isfinite(got).all(), f"--pool {pool}: max abs error {err:.2e}"
    errs.append(f"{pool} {err:.2e}")
print(f"max abs error {', '.join(errs)} (values up to {float(np.abs(ref).max()):.2f})")
PY
  ); then
    pass "$dtype embed (final hidden state) vs PyTorch: $report"
  else
    fail "$dtype embed: $report"
  fi
  want=$(cat "$ref/greedy_ids.txt")
  got=$("$tmp/tiny" generate --weights "$ref/model.safetensors" --tokens "$prompt" --ids -n 16 \
    --temperature 0 2>/dev/null)
  [ "$got" = "$want" ] && pass "$dtype greedy ids equal PyTorch's ($got)" ||
    fail "$dtype greedy ids: got '$got', PyTorch '$want'"
  if "$tmp/tiny" perplexity --weights "$ref/model.safetensors" --tokens "$prompt" --ctx 48 \
    --stride 20 --json >"$tmp/ppl.json"; then
    if report=$(/usr/bin/python3 - "$ref/perplexity.json" "$tmp/ppl.json" <<'PY'
import json, sys
want, got = (json.load(open(p)) for p in sys.argv[1:])
for key in ("perplexity", "standard_error"):
    rel = abs(got[key] - want[key]) / want[key]
    assert rel < 1e-4, f"{key}: lmc {got[key]:.6f}, PyTorch {want[key]:.6f} (rel {rel:.1e})"
assert got["scored"] == want["scored"], f"scored {got['scored']} vs {want['scored']}"
print(f"perplexity {got['perplexity']:.5f} +/- {got['standard_error']:.5f}, {got['scored']} scored, "
      f"PyTorch {want['perplexity']:.5f}")
PY
    ); then
      pass "$dtype perplexity (ctx 48, stride 20) vs PyTorch: $report"
    else
      fail "$dtype perplexity: $report"
    fi
  else
    fail "$dtype perplexity failed"
  fi
done
finish
