#!/usr/bin/env bash
# lmc import of llama.cpp GGUF files.
# quick (label unit): llama.cpp's own vocabulary-only files (../shared/assets/vocab-gguf, real
# metadata, no tensors) import to specs that lmc check accepts, or are refused in one line naming
# general.architecture; a llama.cpp-style stories260K file (llamacpp_gguf.py writes it as
# convert-llama2c-to-ggml does: -1 ids as uint32, no rope.freq_base) gives its chat template,
# warns about a key it does not know; a file of every block type lmc reads (make_kquant_gguf.py)
# gives tiny_llama_gguf_kquant.yaml's IR; and bad files (truncated, unknown architecture, missing key,
# key of the wrong type, what the spec cannot express, -o over the input) give one line naming the
# file and the key, exit 1.
# models (label model): that stories260K file, imported and built, generates llama2.c's known text
# (../shared/reference); a random TinyLlama-shaped model written by `lmc quantize --dtype
# q4_k_m` in llama.cpp's names (Q4_K, Q6_K per layer, F32) imports to a spec whose generated
# forward pass is the hand-written spec's, line for line, and whose binary's logits match the
# reference interpreter's on the hand-written spec.
# usage: import_gguf_test.sh LMC SOURCE_DIR CACHE_DIR ASSETS quick|models
source "$(dirname "$0")/lib.sh"
lmc=$1 src=$2 cache=$3 assets=$4 part=$5
py=/usr/bin/python3
convert=$src/tests/e2e/llamacpp_gguf.py
stories=$assets/llama2c-stories260K
require_asset "$stories/stories260K.bin"

# stories260K as llama.cpp's convert-llama2c-to-ggml writes it (context_length 128, no
# rope.freq_base key, general.name llama); extra arguments edit the metadata.
"$lmc" quantize "$stories/stories260K.bin" -o "$tmp/s-lmc.gguf" --dtype f32 \
  --spec "$src/specs/stories260k.yaml" 2>/dev/null || { fail "lmc quantize stories260K"; finish; exit 1; }
stories_gguf() {  # stories_gguf OUT [llamacpp_gguf.py options...]
  $py "$convert" "$src/specs/stories260k.yaml" "$tmp/s-lmc.gguf" "$1" \
    --llama2c-vocab "$stories/tok512.bin" --drop llama.rope.freq_base \
    --set llama.context_length=u32:128 --set general.name=str:llama "${@:2}"
}
stories_gguf "$tmp/s.gguf" || { fail "llamacpp_gguf.py"; finish; exit 1; }
# ChatML, as Qwen2's and many other GGUFs carry it in tokenizer.chat_template.
chatml=$'{% for message in messages %}{{ \'<|im_start|>\' + message[\'role\'] + \'\\n\' + message[\'content\'] + \'<|im_end|>\\n\' }}{% endfor %}{% if add_generation_prompt %}{{ \'<|im_start|>assistant\\n\' }}{% endif %}'

if [ "$part" = quick ]; then
  # llama.cpp's vocabulary-only files.
  for name in llama-spm deepseek-llm deepseek-coder gpt-2 bert-bge; do
    file=$assets/vocab-gguf/ggml-vocab-$name.gguf
    require_asset "$file"
    expect_status 0 "import $name" -- "$lmc" import "$file" -o "$tmp/$name.yaml"
    expect_status 0 "lmc check $name" -- "$lmc" check "$tmp/$name.yaml"
  done
  has() {  # has NAME LINE: the imported spec has a line starting with LINE (after indentation).
    grep -qE "^ *$2( |$)" "$tmp/$1.yaml" && pass "$1: '$2'" || fail "$1: no line '$2' in: $(cat "$tmp/$1.yaml")"
  }
  has llama-spm "vocab: 32000" && has llama-spm "style: interleaved" && has llama-spm "kind: gguf"
  has llama-spm "bos: 1" && has llama-spm "eps: 1e-05" && has llama-spm "layout: gguf"
  has deepseek-coder "scaling: linear" && has deepseek-coder "factor: 4" &&
    has deepseek-coder "theta: 100000"
  has gpt-2 "layout: torch_transformer" && has gpt-2 'wq: "blk.{layer}.attn_qkv.weight"' &&
    has gpt-2 "activation: gelu_tanh" && has gpt-2 "eos: 50256"
  grep -qE "^ *bos:" "$tmp/gpt-2.yaml" && fail "gpt-2: bos without add_bos_token" ||
    pass "gpt-2: no bos (llama.cpp adds none to gpt2 vocabularies)"
  has bert-bge "family: encoder" && has bert-bge "token_types: 2" && has bert-bge "cls: 101" &&
    has bert-bge 'attn_norm: "blk.{layer}.attn_output_norm.weight"'
  for name in baichuan falcon gpt-neox mpt phi-3 refact starcoder; do
    file=$assets/vocab-gguf/ggml-vocab-$name.gguf
    expect_error "import $name" 1 "$file: general.architecture: '" -- \
      "$lmc" import "$file" -o "$tmp/$name.yaml"
  done

  # The stories260K file: its spec, a chat template, an unknown key.
  expect_status 0 "import stories260K" -- "$lmc" import "$tmp/s.gguf" -o "$tmp/s.yaml"
  has s "max_seq_len: 128" && has s "theta: 10000" && has s "n_kv_heads: 4" && has s "unk: 0"
  grep -q "pad:" "$tmp/s.yaml" && fail "stories260K: padding id -1 became a pad" ||
    pass "stories260K: padding id -1 (4294967295) is none"
  stories_gguf "$tmp/chat.gguf" --set "tokenizer.chat_template=str:$chatml" --set llama.novel_key=u32:7
  expect_status 0 "import with a chat template and an unknown key" -- \
    "$lmc" import "$tmp/chat.gguf" -o "$tmp/chat.yaml"
  has chat 'chat_template: "chat.gguf"'
  case "$err" in
    "lmc: warning: $tmp/chat.gguf: llama.novel_key: not understood; the spec ignores it")
      pass "one warning line naming the unknown key" ;;
    *) fail "unknown key: stderr: $err" ;;
  esac
  grep -q "^# warning: .*llama.novel_key: not understood" "$tmp/chat.yaml" &&
    pass "the spec lists the unknown key" || fail "the spec does not list the unknown key"
  expect_status 0 "lmc check compiles the file's chat template" -- "$lmc" check "$tmp/chat.yaml"
  stories_gguf "$tmp/badchat.gguf" --set "tokenizer.chat_template=str:{% macro x() %}{% endmacro %}"
  expect_status 0 "import with a template lmc cannot compile" -- \
    "$lmc" import "$tmp/badchat.gguf" -o "$tmp/badchat.yaml"
  grep -q "^  chat_template:" "$tmp/badchat.yaml" && fail "an uncompilable template kept" ||
    pass "an uncompilable template is left out, with a warning: ${err:0:120}"

  # Every block type lmc reads, mixed per layer, and a Q4_K token embedding (make_kquant_gguf.py,
  # given llama.* metadata): the imported spec lowers to the hand-written spec's IR.
  kquant=$src/tests/specs/valid/tiny_llama_gguf_kquant.yaml
  $py "$src/tests/e2e/make_kquant_gguf.py" "$tmp/kq-lmc.gguf" &&
    $py "$convert" "$kquant" "$tmp/kq-lmc.gguf" "$tmp/kq.gguf" --llama2c-vocab "$stories/tok512.bin" ||
    fail "make_kquant_gguf.py, llamacpp_gguf.py"
  expect_status 0 "import the block types" -- \
    "$lmc" import "$tmp/kq.gguf" -o "$tmp/kq.yaml" --name tiny_llama_gguf_kquant
  has kq 'w_down: \[q6_k, q4_1, q5_1\]' && has kq "token_embedding: q4_k"
  ir() { "$lmc" emit "$1" --ir | tail -n +2 | grep -v '^ *info'; }
  cmp -s <(ir "$kquant") <(ir "$tmp/kq.yaml") &&
    pass "block types: the imported spec's IR is tiny_llama_gguf_kquant.yaml's" ||
    fail "block types: IR differs: $(diff <(ir "$kquant") <(ir "$tmp/kq.yaml") | head -5)"
  # lmc check --weights reads each layer's own block type (weights.dtypes lists per layer).
  expect_status 0 "lmc check --weights: block types that differ per layer" -- \
    "$lmc" check "$tmp/kq.yaml" --weights "$tmp/kq.gguf"

  # Llama 3's rope scaling as llama.cpp's converter stores it, a tensor rope_freqs.weight of one
  # factor per rotated pair (stories260K: head_dim 8, theta 10000), becomes the spec's llama3
  # scaling, whose factors are those; factors it does not give are refused.
  # (Python: Hugging Face's llama3 formula in float32, factor 8, low 1, high 4, original 8192.)
  stories_gguf "$tmp/rf.gguf" --rope-freqs 1,1,1,4.681482315063477 ||
    fail "llamacpp_gguf.py --rope-freqs"
  expect_status 0 "import rope_freqs.weight" -- "$lmc" import "$tmp/rf.gguf" -o "$tmp/rf.yaml"
  has rf "scaling: llama3" && has rf "factor: 8" && has rf "low_freq_factor: 1" &&
    has rf "high_freq_factor: 4" && has rf "original_max_seq_len: 8192"
  expect_status 0 "lmc check: the llama3 scaling from rope_freqs.weight" -- \
    "$lmc" check "$tmp/rf.yaml" --weights "$tmp/rf.gguf"
  # The original context from the file's key; factor read off the low-frequency pairs.
  stories_gguf "$tmp/rf512.gguf" --rope-freqs 1,1,8,8 \
    --set llama.rope.scaling.original_context_length=u32:512 || fail "llamacpp_gguf.py --rope-freqs"
  expect_status 0 "import rope_freqs.weight, original context 512" -- \
    "$lmc" import "$tmp/rf512.gguf" -o "$tmp/rf512.yaml"
  has rf512 "factor: 8" && has rf512 "original_max_seq_len: 512"
  stories_gguf "$tmp/rf1.gguf" --rope-freqs 1,1,1,1 || fail "llamacpp_gguf.py --rope-freqs"
  expect_status 0 "import rope_freqs.weight of ones" -- "$lmc" import "$tmp/rf1.gguf" -o "$tmp/rf1.yaml"
  grep -qE "^ *scaling:" "$tmp/rf1.yaml" && fail "factors of 1 gave a scaling" ||
    pass "factors of 1: no scaling"

  # Bad files: one line naming the file and the key.
  bad() {  # bad DESCRIPTION NEEDLE [llamacpp_gguf.py options...]
    stories_gguf "$tmp/bad.gguf" "${@:3}" || { fail "$1: llamacpp_gguf.py"; return; }
    expect_error "$1" 1 "$tmp/bad.gguf: $2" -- "$lmc" import "$tmp/bad.gguf" -o "$tmp/bad.yaml"
  }
  bad "unknown architecture" "general.architecture: 'grok1' is not an architecture lmc imports" \
    --set general.architecture=str:grok1
  bad "no architecture" "general.architecture: missing" --drop general.architecture
  bad "missing required key" "llama.embedding_length: missing" --drop llama.embedding_length
  bad "key of the wrong type" "llama.block_count: is string, expected an integer" \
    --set llama.block_count=str:five
  bad "eps of the wrong type" "llama.attention.layer_norm_rms_epsilon: is bool, expected a number" \
    --set llama.attention.layer_norm_rms_epsilon=bool:true
  bad "yarn rope scaling" "llama.rope.scaling.type: 'yarn' is not expressible" \
    --set llama.rope.scaling.type=str:yarn --set llama.rope.scaling.factor=f32:4
  bad "mixture of experts" "llama.expert_count: 8 experts" --set llama.expert_count=u32:8
  bad "rope_freqs.weight that is not Llama 3's scaling" \
    "tensor rope_freqs.weight: factor 2 is 2, but Llama 3's rope scaling" --rope-freqs 1,1,2,8
  bad "rope_freqs.weight of the wrong length" \
    "tensor rope_freqs.weight: has shape [3], expected [4]" --rope-freqs 1,1,4
  bad "rope_freqs.weight below 1" "tensor rope_freqs.weight: factor 0 is 0.5" --rope-freqs 0.5,1,1,1
  bad "rope_freqs.weight beside a scaling type" \
    "llama.rope.scaling.type: 'linear' beside a tensor rope_freqs.weight" --rope-freqs 1,1,1,1 \
    --set llama.rope.scaling.type=str:linear --set llama.rope.scaling.factor=f32:2
  bad "sliding window" "llama.attention.sliding_window: a window of 64 tokens" \
    --set llama.attention.sliding_window=u32:64
  bad "vocabulary larger than the model" "tokenizer.ggml.tokens: holds 512 tokens" \
    --set llama.vocab_size=u32:100 --no-tensors
  head -c 3000 "$tmp/s.gguf" >"$tmp/cut.gguf"
  expect_error "file cut in its metadata" 1 "$tmp/cut.gguf: byte offset" -- \
    "$lmc" import "$tmp/cut.gguf" -o "$tmp/cut.yaml"
  head -c $(($(stat -c %s "$tmp/s.gguf") - 100)) "$tmp/s.gguf" >"$tmp/cut.gguf"
  expect_error "file cut in its tensor data" 1 "$tmp/cut.gguf: tensor '" -- \
    "$lmc" import "$tmp/cut.gguf" -o "$tmp/cut.yaml"
  printf 'not a gguf' >"$tmp/junk.gguf"
  expect_error "not a GGUF" 1 "$tmp/junk.gguf" -- "$lmc" import "$tmp/junk.gguf" -o "$tmp/junk.yaml"
  cp "$tmp/s.gguf" "$tmp/keep.gguf"
  expect_error "-o over the input" 1 "is the input" -- "$lmc" import "$tmp/s.gguf" -o "$tmp/s.gguf"
  cmp -s "$tmp/s.gguf" "$tmp/keep.gguf" && pass "the input is untouched" || fail "the input changed"
  for f in bad cut junk; do [ -e "$tmp/$f.yaml" ] && fail "$f: a spec was written"; done
  finish
  exit
fi

# stories260K with a ChatML template: the imported spec's binary generates llama2.c's text, and
# its chat renders the file's template and holds two turns on one KV cache.
stories_gguf "$tmp/chat.gguf" --set "tokenizer.chat_template=str:$chatml" ||
  { fail "llamacpp_gguf.py"; finish; exit 1; }
expect_status 0 "import stories260K" -- "$lmc" import "$tmp/chat.gguf" -o "$tmp/s.yaml"
"$lmc" build "$tmp/s.yaml" -o "$tmp/s" --cache-dir "$cache" >"$tmp/build.log" 2>&1 ||
  { cat "$tmp/build.log"; fail "build stories260K"; }
reference=$assets/../reference/stories260K_greedy_once_upon_a_time_n64.txt
require_asset "$reference"
got=$("$tmp/s" generate --weights "$tmp/chat.gguf" --prompt "Once upon a time" -n 60 --temperature 0 2>/dev/null)
[ "$got" = "$(cat "$reference")" ] && pass "stories260K from GGUF: llama2.c's text" ||
  fail "stories260K from GGUF: '$got'"
printf '%s' '[{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Once upon a time"},
  {"role": "user", "content": "Tell me more"}]' >"$tmp/messages.json"
"$tmp/s" chat --messages "$tmp/messages.json" --render >"$tmp/rendered" 2>"$tmp/stderr"
want=$'<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nOnce upon a time<|im_end|>\n<|im_start|>user\nTell me more<|im_end|>\n<|im_start|>assistant\n'
[ "$(cat "$tmp/rendered"; printf x)" = "${want}x" ] && pass "chat renders the GGUF's ChatML template" ||
  fail "chat --render: $(cat "$tmp/rendered" "$tmp/stderr")"
printf 'Hi\nTell me more\n' | "$tmp/s" chat --weights "$tmp/chat.gguf" --temperature 0 -n 16 \
  >"$tmp/turns.out" 2>"$tmp/turns.err"
grep -q '^turn 2:.*from the cache' "$tmp/turns.err" && [ -s "$tmp/turns.out" ] &&
  pass "chat: two turns, the second on the first's KV cache" ||
  fail "chat turns: $(cat "$tmp/turns.err")"

# A TinyLlama-shaped Q4_K_M file in llama.cpp's names.
base=$src/tests/specs/valid/tiny_llama_hf.yaml
sets=(--set sizes.d_model=256 --set attention.n_heads=4 --set attention.n_kv_heads=2
  --set feed_forward.hidden=512 --set sizes.n_layers=4 --set sizes.vocab=512)
"$lmc" random-weights "$base" "${sets[@]}" -o "$tmp/w.safetensors" --seed 3 &&
  "$lmc" quantize "$tmp/w.safetensors" -o "$tmp/q-lmc.gguf" --dtype q4_k_m --spec "$base" \
    "${sets[@]}" 2>"$tmp/quantize.log" || { fail "random-weights, quantize"; finish; exit 1; }
{
  echo "extends: $base"
  echo "sizes: {d_model: 256, n_layers: 4, vocab: 512}"
  echo "attention: {n_heads: 4, n_kv_heads: 2}"
  echo "feed_forward: {hidden: 512}"
  echo "position: {rope: {style: interleaved}}"
  echo "weights:"
  echo "  format: gguf"
  echo "  layout: gguf"
  sed -n '/^  dtypes:/,$p' "$tmp/quantize.log"
} >"$tmp/hand.yaml"
$py "$convert" "$tmp/hand.yaml" "$tmp/q-lmc.gguf" "$tmp/q.gguf" --llama2c-vocab "$stories/tok512.bin" ||
  { fail "llamacpp_gguf.py q4_k_m"; finish; exit 1; }
expect_status 0 "import q4_k_m" -- "$lmc" import "$tmp/q.gguf" -o "$tmp/q.yaml" --name tiny_llama_hf
grep -q '    w_down: \[q4_k, q4_k, q6_k, q6_k\]' "$tmp/q.yaml" && grep -q '    classifier: q6_k' "$tmp/q.yaml" &&
  pass "q4_k_m: each matrix's stored types, per layer" || fail "q4_k_m types: $(cat "$tmp/q.yaml")"
# The generated forward pass (everything before the embedded spec) is the hand-written spec's.
"$lmc" emit "$tmp/hand.yaml" -o "$tmp/gen-hand" >/dev/null && "$lmc" emit "$tmp/q.yaml" -o "$tmp/gen-q" >/dev/null
forward() { sed -n '2,/spec_path/p' "$1" | grep -v spec_path; }
ir() { tail -n +2 "$1" | grep -v '^ *info'; }
if cmp -s <(forward "$tmp/gen-hand/tiny_llama_hf.cpp") <(forward "$tmp/gen-q/tiny_llama_hf.cpp") &&
  cmp -s <(ir "$tmp/gen-hand/tiny_llama_hf.ir") <(ir "$tmp/gen-q/tiny_llama_hf.ir"); then
  pass "q4_k_m: the imported spec's IR and generated code are the hand-written spec's"
else
  fail "q4_k_m: generated code differs from the hand-written spec's"
fi
"$lmc" build "$tmp/q.yaml" -o "$tmp/q" --cache-dir "$cache" >"$tmp/build.log" 2>&1 ||
  { cat "$tmp/build.log"; fail "build q4_k_m"; finish; exit 1; }
tokens=$(seq -s, 0 63 | awk -F, '{for (i = 1; i <= NF; i++) printf "%s%d", (i > 1 ? "," : ""), ($i * 37 + 5) % 512}')
"$lmc" run "$tmp/hand.yaml" --weights "$tmp/q.gguf" --tokens "$tokens" --out "$tmp/ref.npy" &&
  "$tmp/q" logits --weights "$tmp/q.gguf" --tokens "$tokens" --out "$tmp/got.npy" ||
  { fail "q4_k_m logits"; finish; exit 1; }
# As kquant_gguf_test.sh: the same integers at position 0; later, activations quantized to Q8_K
# may round to neighbouring integers in the two programs.
if report=$($py - "$tmp/ref.npy" "$tmp/got.npy" <<'PY'
import sys
import numpy as np
ref, got = np.load(sys.argv[1]), np.load(sys.argv[2])
assert ref.shape == got.shape == (64, 512), (ref.shape, got.shape)
scale = max(1.0, float(np.abs(ref).max()))
first = float(np.abs(ref[0] - got[0]).max()) / scale
err = float(np.abs(ref - got).max()) / scale
top1 = float((ref.argmax(1) == got.argmax(1)).mean())
print(f"position 0 {first:.1e}, all {err:.1e} of the largest logit, top-1 agreement {top1:.3f}")
sys.exit(0 if first <= 1e-4 and err <= 5e-2 and top1 >= 0.9 and np.isfinite(got).all() else 1)
PY
); then pass "q4_k_m imported vs hand-written (reference interpreter): $report"; else
  fail "q4_k_m imported vs hand-written: $report"; fi
finish
