#!/usr/bin/env bash
# GGUF weights end to end: `lmc quantize` rewrites a random safetensors
# checkpoint as GGUF (f32, q8_0, q4_0), and a model built with
# weights.format gguf must give logits bit-identical to the same model reading
# the safetensors file (quantized at load by the same code). The sizes leave
# w_down's rows (100 values) off the 32-value blocks, so that matrix stays f32
# in the file and is quantized at load, while the others map in place. Bad
# input fails with one line.
# A llama2.c checkpoint (stories260K) goes through `lmc quantize --spec` too,
# checked in the reference interpreter.
# usage: gguf_test.sh LMC SOURCE_DIR CACHE_DIR ASSETS
source "$(dirname "$0")/lib.sh"
lmc=$1 src=$2 cache=$3 assets=$4
spec=$src/tests/specs/valid/tiny_llama_hf.yaml
sets=(--set sizes.d_model=64 --set attention.n_heads=4 --set attention.n_kv_heads=2)
weights=$tmp/w.safetensors
"$lmc" random-weights "$spec" "${sets[@]}" -o "$weights" --seed 5 || { fail "weights"; finish; exit 1; }
tokens=$(seq -s, 0 139 | awk -F, '{for (i = 1; i <= NF; i++) printf "%s%d", (i > 1 ? "," : ""), ($i * 13 + 2) % 97}')

build() {  # build NAME FORMAT DTYPE
  "$lmc" build "$spec" "${sets[@]}" --set "weights.format=$2" --set "dtype=$3" -o "$tmp/$1" \
    --cache-dir "$cache" >"$tmp/build.log" 2>&1 || { cat "$tmp/build.log"; fail "build $1"; return 1; }
}
# compare NAME BINARY_A WEIGHTS_A BINARY_B WEIGHTS_B [--decode]: bit-identical logits.
compare() {
  "$2" logits --weights "$3" --tokens "$tokens" --out "$tmp/a.npy" "${@:6}" &&
    "$4" logits --weights "$5" --tokens "$tokens" --out "$tmp/b.npy" "${@:6}" ||
    { fail "$1: logits"; return; }
  if cmp -s "$tmp/a.npy" "$tmp/b.npy"; then
    pass "$1: bit-identical"
  else
    fail "$1: differ: $(max_abs_error "$tmp/a.npy" "$tmp/b.npy" 0)"
  fi
}

# q8_0 with the spec (exactly the tensors the model quantizes); q4_0 and f32 without (by shape
# and name).
"$lmc" quantize "$weights" -o "$tmp/w-q8_0.gguf" --dtype q8_0 --spec "$spec" "${sets[@]}" &&
  "$lmc" quantize "$weights" -o "$tmp/w-q4_0.gguf" --dtype q4_0 &&
  "$lmc" quantize "$weights" -o "$tmp/w-f32.gguf" --dtype f32 || fail "lmc quantize"
for dtype in q8_0 q4_0; do
  build "st-$dtype" safetensors "$dtype" && build "gg-$dtype" gguf "$dtype" || continue
  compare "$dtype GGUF (mapped) vs safetensors (quantized at load), prefill" \
    "$tmp/st-$dtype" "$weights" "$tmp/gg-$dtype" "$tmp/w-$dtype.gguf"
done
compare "q8_0 GGUF vs safetensors, decode" "$tmp/st-q8_0" "$weights" "$tmp/gg-q8_0" \
  "$tmp/w-q8_0.gguf" --decode
# An f32 GGUF holds the same values: the q8_0 model quantizes them at load to the same blocks.
compare "f32 GGUF vs f32 safetensors (q8_0 model)" "$tmp/st-q8_0" "$weights" "$tmp/gg-q8_0" \
  "$tmp/w-f32.gguf"

# llama2.c in, GGUF out (llama2.c's names kept, so weights.layout llama2c), same logits.
stories=$assets/llama2c-stories260K/stories260K.bin
require_asset "$stories"
s260k=(--set dtype=q8_0)
ids=$(seq -s, 1 40 | awk -F, '{for (i = 1; i <= NF; i++) printf "%s%d", (i > 1 ? "," : ""), ($i * 29) % 512}')
"$lmc" quantize "$stories" -o "$tmp/s.gguf" --dtype q8_0 --spec "$src/specs/stories260k.yaml" \
  2>/dev/null &&
  "$lmc" run "$src/specs/stories260k.yaml" "${s260k[@]}" --weights "$stories" --tokens "$ids" \
    --out "$tmp/a.npy" &&
  "$lmc" run "$src/specs/stories260k.yaml" "${s260k[@]}" --set weights.format=gguf \
    --set weights.layout=llama2c --weights "$tmp/s.gguf" --tokens "$ids" --out "$tmp/b.npy" &&
  cmp -s "$tmp/a.npy" "$tmp/b.npy" && pass "stories260K llama2.c -> q8_0 GGUF: bit-identical (lmc run)" ||
  fail "stories260K llama2.c -> q8_0 GGUF"
# The same file with llama.cpp's tensor names (weights.layout gguf): Meta's q/k
# order, which llama.cpp's converter also writes, so the same logits.
/usr/bin/python3 "$src/tests/e2e/gguf_rename.py" "$tmp/s.gguf" "$tmp/s-llama.cpp.gguf" &&
  "$lmc" run "$src/specs/stories260k.yaml" "${s260k[@]}" --set weights.format=gguf \
    --set weights.layout=gguf --weights "$tmp/s-llama.cpp.gguf" --tokens "$ids" --out "$tmp/c.npy" &&
  cmp -s "$tmp/a.npy" "$tmp/c.npy" && pass "stories260K with llama.cpp's tensor names: bit-identical" ||
  fail "stories260K with llama.cpp's tensor names (weights.layout gguf)"
expect_status 1 "weights.layout gguf with safetensors" -- "$lmc" check "$spec" --set weights.layout=gguf
case "$err" in
  *"error: weights.layout gguf (llama.cpp's tensor names) goes with weights.format gguf"*)
    pass "weights.layout gguf with safetensors: the diagnostic says why" ;;
  *) fail "weights.layout gguf with safetensors: $err" ;;
esac
expect_error "quantize llama2.c without a spec" 1 "llama2.c needs --spec" -- \
  "$lmc" quantize "$stories" -o "$tmp/x.gguf" --dtype q8_0

# The files hold what they should: q8_0 matrices take 34/128 of f32, q4_0 18/128.
st_bytes=$(stat -c %s "$weights")
for dtype in q8_0 q4_0; do
  bytes=$(stat -c %s "$tmp/w-$dtype.gguf" 2>/dev/null || echo 0)
  if [ "$bytes" -gt 0 ] && [ "$bytes" -lt $((st_bytes * 6 / 10)) ]; then
    pass "$dtype GGUF is $bytes bytes against $st_bytes for f32"
  else
    fail "$dtype GGUF is $bytes bytes against $st_bytes for f32"
  fi
done

# Refusals: one line each, the output left alone.
expect_error "quantize over its input" 1 "is the input" -- \
  "$lmc" quantize "$weights" -o "$weights" --dtype q8_0
expect_error "quantize to a dtype it does not write" 1 "--dtype iq2_xs: expected f32, f16, bf16, q8_0, q4_0, q4_1, q5_0, q5_1, iq4_nl, q2_k, q3_k, q4_k, q5_k, q6_k or q4_k_m" -- \
  "$lmc" quantize "$weights" -o "$tmp/x.gguf" --dtype iq2_xs
[ ! -e "$tmp/x.gguf" ] && pass "no output on a refusal" || fail "output written on a refusal"
expect_error "quantize a missing file" 1 "$tmp/none.safetensors: cannot open" -- \
  "$lmc" quantize "$tmp/none.safetensors" -o "$tmp/x.gguf" --dtype q8_0
if [ -f "$tmp/w-q8_0.gguf" ] && [ -x "$tmp/gg-q4_0" ]; then
  expect_error "a q4_0 model on q8_0 blocks" 1 "is stored as q8_0, the model reads it as q4_0" -- \
    "$tmp/gg-q4_0" logits --weights "$tmp/w-q8_0.gguf" --tokens 1,2 --out "$tmp/x.npy"
  head -c 1000 "$tmp/w-q8_0.gguf" >"$tmp/cut.gguf"
  expect_error "a truncated GGUF" 1 "$tmp/cut.gguf: truncated at byte offset" -- \
    "$tmp/gg-q8_0" logits --weights "$tmp/cut.gguf" --tokens 1,2 --out "$tmp/x.npy"
fi
finish
