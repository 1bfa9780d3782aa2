#!/usr/bin/env bash
# lmc import: Hugging Face config.json files (as the hub publishes them) to
# specs. Each imported spec parses and validates, gives the published
# parameter count through lmc inspect, says what it should key by key, and
# passes lmc check or is refused only by "not supported yet". Unknown keys are
# warned about one line each; configs the spec cannot express are refused in
# one line naming the file and the key.
# usage: import_test.sh LMC SOURCE_DIR
source "$(dirname "$0")/lib.sh"
lmc=$1 src=$2
out_dir=$tmp/specs
mkdir -p "$out_dir"

# folder NAME JSON: a model folder holding config.json.
folder() {
  mkdir -p "$tmp/hf/$1"
  printf '%s\n' "$2" >"$tmp/hf/$1/config.json"
}

# imports NAME: lmc import succeeds; the spec is $out_dir/NAME.yaml.
imports() {
  expect_status 0 "import $1" -- "$lmc" import "$tmp/hf/$1" -o "$out_dir/$1.yaml"
  spec=$out_dir/$1.yaml
}

# has NAME LINE: the imported spec has a line starting with LINE (after indentation).
has() {
  grep -qE "^ *$2( |$)" "$out_dir/$1.yaml" && pass "$1: '$2'" ||
    fail "$1: no line '$2' in: $(cat "$out_dir/$1.yaml")"
}

# params NAME COUNT: lmc inspect on the imported spec.
params() {
  local got
  got=$("$lmc" inspect "$out_dir/$1.yaml" --json | grep -o '"parameters": [0-9]*' | sed 's/.*: //')
  [ "$got" = "$2" ] && pass "$1: $2 parameters" || fail "$1: $got parameters, expected $2"
}

# checks NAME: lmc check passes, or refuses only with "not supported yet".
checks() {
  "$lmc" check "$out_dir/$1.yaml" >/dev/null 2>"$tmp/check.err" && { pass "$1: lmc check ok"; return; }
  if grep ': error: ' "$tmp/check.err" | grep -vq 'not supported yet'; then
    fail "$1: lmc check: $(cat "$tmp/check.err")"
  else
    pass "$1: lmc check: not supported yet only"
  fi
}

# warns NAME SUBSTRING: the last import warned, in one line, with SUBSTRING.
warns() {
  printf '%s\n' "$err" | grep -F -- "$2" | grep -q '^lmc: warning: ' && pass "$1 warns: $2" ||
    fail "$1: no warning '$2' in: $err"
}

# ---- Llama 2 7B (meta-llama/Llama-2-7b-hf) ----
folder llama2 '{"architectures": ["LlamaForCausalLM"], "bos_token_id": 1, "eos_token_id": 2,
 "hidden_act": "silu", "hidden_size": 4096, "initializer_range": 0.02, "intermediate_size": 11008,
 "max_position_embeddings": 4096, "model_type": "llama", "num_attention_heads": 32,
 "num_hidden_layers": 32, "num_key_value_heads": 32, "pretraining_tp": 1, "rms_norm_eps": 1e-05,
 "rope_scaling": null, "tie_word_embeddings": false, "torch_dtype": "float16",
 "transformers_version": "4.31.0.dev0", "use_cache": true, "vocab_size": 32000}'
printf '\x02\0\0\0\0\0\0\0{}' >"$tmp/hf/llama2/model.safetensors"  # a valid, empty checkpoint
imports llama2
params llama2 6738415616
has llama2 "kind: rmsnorm"
has llama2 "style: half"
has llama2 "layout: llama"
has llama2 "tied: false"
has llama2 "kind: none"
has llama2 "bos: 1"
[ -z "$err" ] && pass "llama2: no warnings" || fail "llama2 warned: $err"
"$lmc" check "$spec" >/dev/null 2>&1 && pass "llama2: imported spec passes lmc check" ||
  fail "llama2: lmc check: $("$lmc" check "$spec" 2>&1)"

# With its SentencePiece model the tokenizer kind follows (and is not lowered yet).
cp -r "$tmp/hf/llama2" "$tmp/hf/llama2_spm"
: >"$tmp/hf/llama2_spm/tokenizer.model"
imports llama2_spm
has llama2_spm "kind: sentencepiece"
file=$(sed -n 's/^ *file: "\(.*\)".*/\1/p' "$spec")
[ -f "$out_dir/$file" ] && [ "$(cd "$out_dir" && realpath "$file")" = "$(realpath "$tmp/hf/llama2_spm/tokenizer.model")" ] &&
  pass "tokenizer.file is relative to the spec ($file)" || fail "tokenizer.file '$file'"
checks llama2_spm

# ---- Llama 3.1 8B: llama3 RoPE scaling, GQA, an eos list, an unknown key ----
folder llama31 '{"architectures": ["LlamaForCausalLM"], "attention_bias": false, "attention_dropout": 0.0,
 "bos_token_id": 128000, "eos_token_id": [128001, 128008, 128009], "hidden_act": "silu",
 "hidden_size": 4096, "initializer_range": 0.02, "intermediate_size": 14336,
 "max_position_embeddings": 131072, "mlp_bias": false, "model_type": "llama", "num_attention_heads": 32,
 "num_hidden_layers": 32, "num_key_value_heads": 8, "pretraining_tp": 1, "rms_norm_eps": 1e-05,
 "rope_scaling": {"factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
   "original_max_position_embeddings": 8192, "rope_type": "llama3"},
 "rope_theta": 500000.0, "tie_word_embeddings": false, "torch_dtype": "bfloat16",
 "transformers_version": "4.43.0.dev0", "use_cache": true, "vocab_size": 128256,
 "frobnicate": true, "quux_factor": 2}'
printf '{"model": {"type": "BPE", "vocab": {}, "merges": []}}\n' >"$tmp/hf/llama31/tokenizer.json"
imports llama31
params llama31 8030261248
has llama31 "n_kv_heads: 8"
has llama31 "theta: 500000"
has llama31 "scaling: llama3"
has llama31 "factor: 8"
has llama31 "original_max_seq_len: 8192"
has llama31 "max_seq_len: 131072"
has llama31 "kind: huggingface"
has llama31 "eos: 128001"
warns llama31 "eos_token_id: lists 3 ids"
warns llama31 "config.json: frobnicate: not understood"
warns llama31 "config.json: quux_factor: not understood"
n=$(printf '%s\n' "$err" | grep -c 'not understood' || true)
[ "$n" -eq 2 ] && pass "one warning line per unknown key" || fail "$n 'not understood' lines: $err"
grep -q '^# warning: .*frobnicate' "$spec" && pass "warnings kept in the spec's header" ||
  fail "no warning comment in the spec"
warns llama31 "no model.safetensors"
checks llama31

# Linear and dynamic scaling.
folder llama_linear '{"model_type": "llama", "hidden_size": 64, "num_attention_heads": 4,
 "num_hidden_layers": 2, "intermediate_size": 96, "vocab_size": 100, "max_position_embeddings": 256,
 "rope_scaling": {"type": "linear", "factor": 4.0}}'
imports llama_linear
has llama_linear "scaling: linear"
has llama_linear "factor: 4"
case "$err" in *architectures*) fail "llama_linear: warned about architectures: $err" ;;
  *) pass "no architectures: imported by model_type without a warning" ;; esac
folder llama_dynamic '{"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 64,
 "num_attention_heads": 4, "num_hidden_layers": 2, "intermediate_size": 96, "vocab_size": 100,
 "max_position_embeddings": 256, "rope_scaling": {"type": "dynamic", "factor": 2.0}}'
imports llama_dynamic
has llama_dynamic "scaling: dynamic_ntk"
has llama_dynamic "original_max_seq_len: 256"
warns llama_dynamic "dynamic NTK"

# ---- Mistral 7B v0.3 (no sliding window) ----
folder mistral '{"architectures": ["MistralForCausalLM"], "attention_dropout": 0.0, "bos_token_id": 1,
 "eos_token_id": 2, "hidden_act": "silu", "hidden_size": 4096, "initializer_range": 0.02,
 "intermediate_size": 14336, "max_position_embeddings": 32768, "model_type": "mistral",
 "num_attention_heads": 32, "num_hidden_layers": 32, "num_key_value_heads": 8, "rms_norm_eps": 1e-05,
 "rope_theta": 1000000.0, "sliding_window": null, "tie_word_embeddings": false, "torch_dtype": "bfloat16",
 "transformers_version": "4.42.0.dev0", "use_cache": true, "vocab_size": 32768}'
imports mistral
params mistral 7248023552
has mistral "theta: 1000000"
checks mistral

# ---- Qwen2-0.5B: q/k/v biases, no o bias, tied ----
folder qwen2 '{"architectures": ["Qwen2ForCausalLM"], "attention_dropout": 0.0, "bos_token_id": 151643,
 "eos_token_id": 151643, "hidden_act": "silu", "hidden_size": 896, "initializer_range": 0.02,
 "intermediate_size": 4864, "max_position_embeddings": 131072, "max_window_layers": 24,
 "model_type": "qwen2", "num_attention_heads": 14, "num_hidden_layers": 24, "num_key_value_heads": 2,
 "rms_norm_eps": 1e-06, "rope_theta": 1000000.0, "sliding_window": 131072, "tie_word_embeddings": true,
 "torch_dtype": "bfloat16", "transformers_version": "4.40.1", "use_cache": true,
 "use_sliding_window": false, "vocab_size": 151936}'
imports qwen2
params qwen2 494032768
has qwen2 "bias: true"
has qwen2 "out_bias: false"
has qwen2 "tied: true"
checks qwen2

# ---- GPT-2 (openai-community/gpt2) with its BPE files ----
folder gpt2 '{"activation_function": "gelu_new", "architectures": ["GPT2LMHeadModel"], "attn_pdrop": 0.1,
 "bos_token_id": 50256, "embd_pdrop": 0.1, "eos_token_id": 50256, "initializer_range": 0.02,
 "layer_norm_epsilon": 1e-05, "model_type": "gpt2", "n_ctx": 1024, "n_embd": 768, "n_head": 12,
 "n_layer": 12, "n_positions": 1024, "resid_pdrop": 0.1, "summary_activation": null,
 "summary_first_dropout": 0.1, "summary_proj_to_labels": true, "summary_type": "cls_index",
 "summary_use_proj": true, "task_specific_params": {"text-generation": {"do_sample": true,
 "max_length": 50}}, "vocab_size": 50257}'
echo '{}' >"$tmp/hf/gpt2/vocab.json"
echo '#version: 0.2' >"$tmp/hf/gpt2/merges.txt"
imports gpt2
params gpt2 124439808
has gpt2 "activation: gelu_tanh"
has gpt2 "placement: pre"
has gpt2 "kind: learned"
has gpt2 "layout: gpt2"
has gpt2 "tied: true"
has gpt2 "kind: gpt2_bpe"
checks gpt2

# ---- GPT-1 (openai-community/openai-gpt): post-LN; n_special is not understood ----
folder gpt1 '{"afn": "gelu", "architectures": ["OpenAIGPTLMHeadModel"], "attn_pdrop": 0.1,
 "embd_pdrop": 0.1, "initializer_range": 0.02, "layer_norm_epsilon": 1e-05, "model_type": "openai-gpt",
 "n_ctx": 512, "n_embd": 768, "n_head": 12, "n_layer": 12, "n_positions": 512, "n_special": 0,
 "predict_special_tokens": true, "resid_pdrop": 0.1, "summary_activation": null,
 "summary_first_dropout": 0.1, "summary_proj_to_labels": true, "summary_type": "cls_index",
 "summary_use_proj": true, "vocab_size": 40478}'
imports gpt1
params gpt1 116534784
has gpt1 "placement: post"
has gpt1 "final: false"
has gpt1 "activation: gelu_tanh"
has gpt1 "layout: openai_gpt"
warns gpt1 "n_special: not understood"
checks gpt1

# ---- BLOOM-560m: ALiBi, embedding LayerNorm ----
folder bloom '{"apply_residual_connection_post_layernorm": false, "architectures": ["BloomForCausalLM"],
 "attention_dropout": 0.0, "attention_softmax_in_fp32": true, "bias_dropout_fusion": true,
 "bos_token_id": 1, "eos_token_id": 2, "hidden_dropout": 0.0, "hidden_size": 1024,
 "initializer_range": 0.02, "layer_norm_epsilon": 1e-05, "masked_softmax_fusion": true,
 "model_type": "bloom", "n_head": 16, "n_inner": null, "n_layer": 24, "offset_alibi": 100,
 "pad_token_id": 3, "pretraining_tp": 1, "skip_bias_add": true, "skip_bias_add_qkv": false,
 "slow_but_exact": false, "unk_token_id": 0, "use_cache": true, "vocab_size": 250880}'
imports bloom
params bloom 559214592
has bloom "kind: alibi"
has bloom "embedding: true"
has bloom "layout: bloom"
has bloom "activation: gelu_tanh"
warns bloom "seq_length"
checks bloom

# ---- BERT-base uncased: BertModel, and a BertForMaskedLM config ----
bert='"attention_probs_dropout_prob": 0.1, "gradient_checkpointing": false, "hidden_act": "gelu",
 "hidden_dropout_prob": 0.1, "hidden_size": 768, "initializer_range": 0.02, "intermediate_size": 3072,
 "layer_norm_eps": 1e-12, "max_position_embeddings": 512, "model_type": "bert",
 "num_attention_heads": 12, "num_hidden_layers": 12, "pad_token_id": 0,
 "position_embedding_type": "absolute", "transformers_version": "4.6.0.dev0", "type_vocab_size": 2,
 "use_cache": true, "vocab_size": 30522'
folder bert "{\"architectures\": [\"BertModel\"], $bert}"
printf '{"model": {"type": "WordPiece", "vocab": {}}}\n' >"$tmp/hf/bert/tokenizer.json"
imports bert
params bert 109482240
has bert "family: encoder"
has bert "placement: post"
has bert "embedding: true"
has bert "token_types: 2"
has bert "pooler: true"
has bert "activation: gelu"
has bert "kind: wordpiece"
has bert "token_type_embedding: embeddings.token_type_embeddings.weight"
checks bert
folder bert_mlm "{\"architectures\": [\"BertForMaskedLM\"], $bert}"
imports bert_mlm
warns bert_mlm "'BertForMaskedLM' is imported as BertModel"

# ---- T5-small ----
folder t5 '{"architectures": ["T5ForConditionalGeneration"], "d_ff": 2048, "d_kv": 64, "d_model": 512,
 "decoder_start_token_id": 0, "dropout_rate": 0.1, "eos_token_id": 1, "initializer_factor": 1.0,
 "is_encoder_decoder": true, "layer_norm_epsilon": 1e-06, "model_type": "t5", "n_positions": 512,
 "num_heads": 8, "num_layers": 6, "output_past": true, "pad_token_id": 0,
 "relative_attention_num_buckets": 32, "vocab_size": 32128}'
: >"$tmp/hf/t5/spiece.model"
imports t5
params t5 60506624
has t5 "family: encoder-decoder"
has t5 "n_decoder_layers: 6"
has t5 "head_dim: 64"
has t5 "scale: 1"
has t5 "kind: t5_relative"
has t5 "kind: sentencepiece"
has t5 "output_scale: 0.044194173824159216"
has t5 "decoder_start: 0"
has t5 "layout: t5"
checks t5

# ---- T5 v1.1 (google/t5-v1_1-small): gated GELU, untied, so no rescale ----
folder t5v11 '{"architectures": ["T5ForConditionalGeneration"], "d_ff": 1024, "d_kv": 64,
 "d_model": 512, "decoder_start_token_id": 0, "eos_token_id": 1, "feed_forward_proj": "gated-gelu",
 "is_encoder_decoder": true, "layer_norm_epsilon": 1e-06, "model_type": "t5", "num_decoder_layers": 8,
 "num_heads": 6, "num_layers": 8, "pad_token_id": 0, "relative_attention_num_buckets": 32,
 "tie_word_embeddings": false, "vocab_size": 32128}'
imports t5v11
has t5v11 "activation: geglu"
has t5v11 "tied: false"
has t5v11 'enc_w_gate: "encoder.block.\{layer\}.layer.1.DenseReluDense.wi_0.weight"'
has t5v11 'w_up: "decoder.block.\{layer\}.layer.2.DenseReluDense.wi_1.weight"'
grep -q "output_scale" "$spec" && fail "t5v11: an untied T5 has no output_scale" ||
  pass "t5v11: no output_scale (untied)"
checks t5v11

# ---- Folders: sharded weights, deterministic output, overwrite ----
cp -r "$tmp/hf/llama_linear" "$tmp/hf/sharded"
echo '{"weight_map": {}}' >"$tmp/hf/sharded/model.safetensors.index.json"
imports sharded
warns sharded "weight_map must be a non-empty object"
cp "$spec" "$tmp/first.yaml"
imports sharded
cmp -s "$spec" "$tmp/first.yaml" && pass "import is deterministic; an old spec is replaced" ||
  fail "second import differs"
expect_status 0 "import --name" -- "$lmc" import "$tmp/hf/gpt2" -o "$out_dir/named.yaml" --name my-gpt2
grep -q '^name: "my-gpt2"' "$out_dir/named.yaml" && pass "--name sets the name" || fail "--name"

# ---- Refusals: one line naming the file and the key; nothing written ----
refuses() {  # NAME KEY
  expect_error "refuse $1" 1 "config.json: $2" -- "$lmc" import "$tmp/hf/$1" -o "$out_dir/$1.yaml"
  [ ! -e "$out_dir/$1.yaml" ] && pass "$1: no spec written" || fail "$1: a spec was written"
}
folder mistral01 '{"architectures": ["MistralForCausalLM"], "hidden_size": 4096, "intermediate_size": 14336,
 "max_position_embeddings": 32768, "model_type": "mistral", "num_attention_heads": 32,
 "num_hidden_layers": 32, "num_key_value_heads": 8, "sliding_window": 4096, "vocab_size": 32000}'
refuses mistral01 "sliding_window"
folder qwen_window '{"model_type": "qwen2", "hidden_size": 64, "num_attention_heads": 4, "num_hidden_layers": 2,
 "intermediate_size": 96, "vocab_size": 100, "max_position_embeddings": 256, "use_sliding_window": true,
 "sliding_window": 128}'
refuses qwen_window "sliding_window"
folder yarn '{"model_type": "llama", "hidden_size": 64, "num_attention_heads": 4, "num_hidden_layers": 2,
 "intermediate_size": 96, "vocab_size": 100, "rope_scaling": {"type": "yarn", "factor": 4.0}}'
refuses yarn "rope_scaling.type"
folder llama_gelu '{"model_type": "llama", "hidden_act": "gelu", "hidden_size": 64, "num_attention_heads": 4,
 "num_hidden_layers": 2, "intermediate_size": 96, "vocab_size": 100}'
refuses llama_gelu "hidden_act"
folder falcon '{"architectures": ["FalconForCausalLM"], "model_type": "falcon", "hidden_size": 64}'
refuses falcon "architectures"
folder notype '{"hidden_size": 64}'
refuses notype "model_type"
folder badtype '{"model_type": "llama", "hidden_size": "4096"}'
refuses badtype "hidden_size: expected an integer"
folder zero '{"model_type": "gpt2", "n_layer": 0}'
refuses zero "n_layer: expected a positive integer"
folder inv_layer '{"model_type": "gpt2", "scale_attn_by_inverse_layer_idx": true}'
refuses inv_layer "scale_attn_by_inverse_layer_idx"
folder bloom_post '{"model_type": "bloom", "apply_residual_connection_post_layernorm": true}'
refuses bloom_post "apply_residual_connection_post_layernorm"
folder bert_rel '{"model_type": "bert", "position_embedding_type": "relative_key"}'
refuses bert_rel "position_embedding_type"
folder t5_act '{"model_type": "t5", "feed_forward_proj": "gated-relu"}'
refuses t5_act "feed_forward_proj"
# ---- Chat templates: tokenizer_config.json's chat_template (or chat_template.jinja) fills
# tokenizer.chat_template, which lmc check compiles; one it cannot compile is left out with a
# warning. ----
tiny_llama='{"model_type": "llama", "hidden_size": 64, "num_attention_heads": 4,
 "num_hidden_layers": 2, "intermediate_size": 96, "vocab_size": 100, "max_position_embeddings": 256}'
# template_config NAME TEMPLATE_JSON: a folder whose tokenizer_config.json has that chat_template.
template_config() {
  folder "$1" "$tiny_llama"
  printf '{"bos_token": "<s>", "eos_token": {"content": "</s>", "lstrip": false}, "chat_template": %s}\n' \
    "$2" >"$tmp/hf/$1/tokenizer_config.json"
}
template_config chat_llama3 "$(/usr/bin/python3 -c 'import json, sys; print(json.dumps(open(sys.argv[1]).read()))' \
  "$src/tests/chat/templates/llama3.jinja")"
imports chat_llama3
file=$(sed -n 's/^ *chat_template: "\(.*\)".*/\1/p' "$spec")
[ -n "$file" ] && [ "$(cd "$out_dir" && realpath "$file")" = "$(realpath "$tmp/hf/chat_llama3/tokenizer_config.json")" ] &&
  pass "chat_template names tokenizer_config.json relative to the spec ($file)" ||
  fail "chat_template '$file' in: $(cat "$spec")"
"$lmc" check "$spec" >/dev/null 2>&1 && pass "chat_llama3: its template compiles (lmc check)" ||
  fail "chat_llama3: lmc check: $("$lmc" check "$spec" 2>&1)"
template_config chat_upper '"{{ messages[0][\"content\"] | upper }}"'
imports chat_upper
warns chat_upper "tokenizer.chat_template: left out: "
warns chat_upper "the filter 'upper' is not supported"
grep -q '^ *chat_template:' "$spec" && fail "chat_upper: template kept: $(cat "$spec")" ||
  pass "chat_upper: the template is left out"
checks chat_upper
template_config chat_list '[{"name": "default", "template": "{{ bos_token }}"}]'
imports chat_list
warns chat_list "chat_template is a list of named templates; left out"
folder chat_jinja "$tiny_llama"
printf '{%% for m in messages %%}<|{{ m.role }}|>{{ m.content }}{%% endfor %%}' >"$tmp/hf/chat_jinja/chat_template.jinja"
imports chat_jinja
has chat_jinja 'chat_template: "[^"]*/chat_jinja/chat_template.jinja"'
checks chat_jinja
folder chat_jinja_bos "$tiny_llama"
printf '{{ bos_token }}{%% for m in messages %%}{{ m.content }}{%% endfor %%}' >"$tmp/hf/chat_jinja_bos/chat_template.jinja"
imports chat_jinja_bos
warns chat_jinja_bos "uses bos_token / eos_token, which a .jinja file does not give it"
grep -q '^ *chat_template:' "$spec" && fail "chat_jinja_bos: template kept" || pass "chat_jinja_bos: left out"

folder badjson '{"model_type": "llama",'
expect_error "invalid JSON" 1 "config.json: invalid JSON" -- "$lmc" import "$tmp/hf/badjson" -o "$out_dir/x.yaml"
folder array '[1, 2]'
expect_error "not an object" 1 "expected a JSON object" -- "$lmc" import "$tmp/hf/array" -o "$out_dir/x.yaml"
expect_error "missing folder" 1 "cannot read" -- "$lmc" import "$tmp/hf/none" -o "$out_dir/x.yaml"
expect_error "-o is a directory" 1 "is a directory" -- "$lmc" import "$tmp/hf/gpt2" -o "$out_dir"
cp "$tmp/hf/gpt2/config.json" "$tmp/gpt2-config.json"
expect_error "-o over the input" 1 "does not overwrite its inputs" -- \
  "$lmc" import "$tmp/hf/gpt2" -o "$tmp/hf/gpt2/config.json"
cmp -s "$tmp/hf/gpt2/config.json" "$tmp/gpt2-config.json" && pass "config.json untouched" ||
  fail "config.json changed"
expect_error "-o over a tokenizer file" 1 "does not overwrite its inputs" -- \
  "$lmc" import "$tmp/hf/gpt2" -o "$tmp/hf/gpt2/vocab.json"
expect_status 0 "a new spec inside the folder is fine" -- \
  "$lmc" import "$tmp/hf/gpt2" -o "$tmp/hf/gpt2/spec.yaml"
expect_status 0 "DIR may name config.json" -- \
  "$lmc" import "$tmp/hf/gpt2/config.json" -o "$out_dir/byfile.yaml"
expect_error "import without -o" 2 "import needs -o" -- "$lmc" import "$tmp/hf/gpt2"
expect_status 2 "import without a folder" -- "$lmc" import -o "$out_dir/x.yaml"

# ---- Checkpoints written by PyTorch (tests/fixtures/hf, when present): the
# imported spec's parameter count is the number of elements the safetensors
# file stores (tied tensors are stored once). ----
fixtures=$src/tests/fixtures/hf
for dir in "$fixtures"/*/; do
  [ -f "$dir/config.json" ] && [ -f "$dir/model.safetensors" ] || continue
  name=$(basename "$dir")
  if ! "$lmc" import "$dir" -o "$out_dir/fixture-$name.yaml" >/dev/null 2>"$tmp/err"; then
    echo "note: $name not imported: $(cat "$tmp/err")"
    continue
  fi
  stored=$(/usr/bin/python3 -c '
import json, math, struct, sys
with open(sys.argv[1], "rb") as f:
    header = json.loads(f.read(struct.unpack("<Q", f.read(8))[0]))
header.pop("__metadata__", None)
print(sum(math.prod(t["shape"]) for t in header.values()))' "$dir/model.safetensors")
  params "fixture-$name" "$stored"
done
finish
