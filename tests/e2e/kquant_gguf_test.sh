#!/usr/bin/env bash
# GGUF block types end to end: make_kquant_gguf.py writes a tiny Llama whose matrices are
# stored in every block type lmc reads (Q2_K..Q6_K, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, IQ4_NL), mixed
# per tensor and per layer, and the token embedding in Q4_K (gathered from its blocks); the spec
# (tiny_llama_gguf_kquant.yaml) names each matrix's types in weights.dtypes. The built binary
# maps the blocks in place and must give the reference interpreter's logits (`lmc run`, which
# reads the same blocks through the scalar kernels of kquant_scalar.h), through prefill and
# decode: position 0 to 1e-4 (there both compute the same integers, and the other ops differ
# in their last bits only), every position to 5e-2 of the largest logit with top-1 agreeing on
# 90% of them. Past position 0, an activation within f32 rounding of a rounding boundary can
# quantize to neighbouring integers in the two programs (a step of amax / 127 over a 256-value
# Q8_K block) and the difference reaches later positions through the KV cache, as the
# differential test's q8_0 / q4_0 variants explain. A spec whose dtypes disagree with the file
# is refused naming the tensor.
# lmc quantize --dtype q4_k_m (ggml's reference quantizers, whose bytes ggml_blocks_reference
# checks) writes a random 8-layer model as llama.cpp's Q4_K_M recipe types it (q6_k for the
# classifier and for wv / w_down in layers 0, 3, 6, 7) and prints the weights.dtypes that read
# it; the model built with them matches the reference interpreter as above, and the f32 model
# within the quantization's noise.
# usage: kquant_gguf_test.sh LMC SOURCE_DIR CACHE_DIR
source "$(dirname "$0")/lib.sh"
lmc=$1 src=$2 cache=$3
spec=$src/tests/specs/valid/tiny_llama_gguf_kquant.yaml
gguf=$tmp/model.gguf
/usr/bin/python3 "$src/tests/e2e/make_kquant_gguf.py" "$gguf" || { fail "make_kquant_gguf.py"; finish; exit 1; }
tokens=$(seq -s, 0 149 | awk -F, '{for (i = 1; i <= NF; i++) printf "%s%d", (i > 1 ? "," : ""), ($i * 7 + 3) % 61}')

"$lmc" build "$spec" -o "$tmp/model" --cache-dir "$cache" >"$tmp/build.log" 2>&1 ||
  { cat "$tmp/build.log"; fail "lmc build"; finish; exit 1; }
pass "lmc build"
"$lmc" emit "$spec" --ir | grep -q 'weight @w_down "blk.{layer}.ffn_down.weight" : q6_k\[d_model, hidden\] per_layer layer_dtypes (q6_k, q4_1, q5_1)' &&
  pass "IR: w_down's types per layer" || fail "IR: w_down's types per layer"
"$lmc" emit "$spec" --ir | grep -q 'weight @token_embedding "token_embd.weight" : q4_k\[vocab, d_model\]' &&
  pass "IR: the token embedding read as its blocks" || fail "IR: the token embedding's type"
"$lmc" run "$spec" --weights "$gguf" --tokens "$tokens" --out "$tmp/ref.npy" ||
  { fail "lmc run"; finish; exit 1; }
for path in prefill decode; do
  flag=()
  [ $path = decode ] && flag=(--decode)
  "$tmp/model" logits --weights "$gguf" --tokens "$tokens" --out "$tmp/$path.npy" "${flag[@]}" ||
    { fail "$path: logits"; continue; }
  if report=$(/usr/bin/python3 - "$tmp/ref.npy" "$tmp/$path.npy" <<'PY'
import sys
import numpy as np
ref, got = np.load(sys.argv[1]), np.load(sys.argv[2])
assert ref.shape == got.shape == (150, 64), (ref.shape, got.shape)
scale = max(1.0, float(np.abs(ref).max()))
first = float(np.abs(ref[0] - got[0]).max()) / scale
err = float(np.abs(ref - got).max()) / scale
top1 = float((ref.argmax(1) == got.argmax(1)).mean())
print(f"position 0 {first:.1e}, all {err:.1e} of the largest logit, top-1 agreement {top1:.3f}")
ok = first <= 1e-4 and err <= 5e-2 and top1 >= 0.9 and np.isfinite(got).all()
sys.exit(0 if ok else 1)
PY
  ); then pass "$path: $report"; else fail "$path: $report"; fi
done

# The file's types are the truth: a spec that says otherwise is refused at load, naming it.
"$lmc" build "$spec" --set weights.dtypes.wq=q5_k -o "$tmp/wrong" --cache-dir "$cache" \
  >"$tmp/build.log" 2>&1 || { cat "$tmp/build.log"; fail "build wrong"; }
expect_error "dtype other than the file's" 1 "tensor 'blk.0.attn_q.weight' is stored as q4_k, the model was compiled to read it as q5_k" -- \
  "$tmp/wrong" logits --weights "$gguf" --tokens 1,2 --out "$tmp/x.npy"

# lmc quantize --dtype q4_k_m, then a spec with the weights.dtypes it prints.
base=$(cd "$src" && pwd)/tests/specs/valid/tiny_llama_hf.yaml
sets=(--set sizes.d_model=256 --set attention.n_heads=4 --set attention.n_kv_heads=2
  --set feed_forward.hidden=512 --set sizes.n_layers=8 --set sizes.vocab=64)
"$lmc" random-weights "$base" "${sets[@]}" -o "$tmp/w.safetensors" --seed 3 ||
  { fail "random-weights"; finish; exit 1; }
"$lmc" quantize "$tmp/w.safetensors" -o "$tmp/q.gguf" --dtype q4_k_m --spec "$base" "${sets[@]}" \
  2>"$tmp/quantize.log" || { cat "$tmp/quantize.log"; fail "lmc quantize q4_k_m"; finish; exit 1; }
grep -q '    w_down: \[q6_k, q4_k, q4_k, q6_k, q4_k, q4_k, q6_k, q6_k\]' "$tmp/quantize.log" &&
  grep -q '    classifier: q6_k' "$tmp/quantize.log" && grep -q '    wq: q4_k' "$tmp/quantize.log" &&
  pass "quantize q4_k_m: llama.cpp's types per role and layer" ||
  { cat "$tmp/quantize.log"; fail "quantize q4_k_m: types"; }
{
  echo "extends: $base"
  echo "weights:"
  echo "  format: gguf"
  sed -n '/^  dtypes:/,$p' "$tmp/quantize.log"
} >"$tmp/q4_k_m.yaml"
expect_error "q4_k_m without --spec" 1 "--dtype q4_k_m needs --spec" -- \
  "$lmc" quantize "$tmp/w.safetensors" -o "$tmp/x.gguf" --dtype q4_k_m
"$lmc" build "$tmp/q4_k_m.yaml" "${sets[@]}" -o "$tmp/q4km" --cache-dir "$cache" >"$tmp/build.log" 2>&1 ||
  { cat "$tmp/build.log"; fail "build q4_k_m"; finish; exit 1; }
"$lmc" build "$base" "${sets[@]}" -o "$tmp/f32" --cache-dir "$cache" >"$tmp/build.log" 2>&1 ||
  { cat "$tmp/build.log"; fail "build f32"; finish; exit 1; }
"$lmc" run "$tmp/q4_k_m.yaml" "${sets[@]}" --weights "$tmp/q.gguf" --tokens "$tokens" --out "$tmp/qref.npy" &&
  "$tmp/q4km" logits --weights "$tmp/q.gguf" --tokens "$tokens" --out "$tmp/q.npy" &&
  "$tmp/f32" logits --weights "$tmp/w.safetensors" --tokens "$tokens" --out "$tmp/f.npy" ||
  { fail "q4_k_m logits"; finish; exit 1; }
if report=$(/usr/bin/python3 - "$tmp/qref.npy" "$tmp/q.npy" "$tmp/f.npy" <<'PY'
import sys
import numpy as np
ref, got, f32 = (np.load(p) for p in sys.argv[1:4])
scale = max(1.0, float(np.abs(ref).max()))
first = float(np.abs(ref[0] - got[0]).max()) / scale
err = float(np.abs(ref - got).max()) / scale
noise = float(np.abs(f32 - got).max()) / max(1.0, float(np.abs(f32).max()))
top1 = float((f32.argmax(1) == got.argmax(1)).mean())
print(f"vs interpreter: position 0 {first:.1e}, all {err:.1e}; vs f32: {noise:.1e}, "
      f"top-1 {top1:.3f}")
sys.exit(0 if first <= 1e-4 and err <= 5e-2 and noise <= 0.25 and top1 >= 0.8 else 1)
PY
); then pass "q4_k_m model: $report"; else fail "q4_k_m model: $report"; fi
finish
