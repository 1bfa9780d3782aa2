#!/usr/bin/env bash
# lmc inspect: the published parameter counts from specs/, and the parts that
# move them (tied classifier, GQA, biases) against counts derived by hand.
# usage: inspect_test.sh LMC SOURCE_DIR
source "$(dirname "$0")/lib.sh"
lmc=$1 src=$2
cd "$src"

json_int() { grep -o "\"$1\": [0-9]*" | head -1 | sed 's/.*: //'; }

# expect_params SPEC COUNT WHERE [--set ...]: lmc inspect --json gives COUNT.
expect_params() {
  local spec=$1 want=$2 where=$3
  shift 3
  local got
  got=$("$lmc" inspect "$spec" --json "$@" 2>"$tmp/err" | json_int parameters)
  [ "$got" = "$want" ] && pass "$spec $*: $want parameters ($where)" ||
    fail "$spec $*: $got parameters, expected $want ($where); $(cat "$tmp/err")"
}

# Published counts (the issue; the papers and Hugging Face's num_parameters()).
expect_params specs/llama2-7b.yaml 6738415616 "Llama 2 7B, published"
expect_params specs/llama3-8b.yaml 8030261248 "Llama 3 8B, published"
expect_params specs/gpt2.yaml 124439808 "GPT-2, published"
expect_params specs/bert-base.yaml 109482240 "BERT-base with pooler, published"
expect_params specs/t5-small.yaml 60506624 "T5-small, published"
expect_params specs/llama2-70b.yaml 68976648192 "Llama 2 70B, Hugging Face"
expect_params specs/llama1-7b.yaml 6738415616 "LLaMA 7B: Llama 2 7B's shape"
expect_params specs/llama3.1-8b.yaml 8030261248 "Llama 3.1 8B: scaling adds nothing"
# GPT-1 by hand: 40478*768 + 512*768 + 12*(4*(768*768+768) + 2*(768*3072) + 3072 + 768 + 4*768).
expect_params specs/gpt.yaml 116534784 "GPT-1, by hand"

# Variants, by hand from the published ones.
expect_params specs/llama2-7b.yaml $((6738415616 - 32000 * 4096)) "tied drops lm_head" \
  --set embeddings.tied=true
expect_params specs/llama2-7b.yaml $((6738415616 - 32 * 2 * 4096 * 3072)) "GQA 8 KV heads" \
  --set attention.n_kv_heads=8
expect_params specs/llama2-7b.yaml $((6738415616 + 32 * 4 * 4096)) "q, k, v, o biases" \
  --set attention.bias=true
expect_params specs/llama2-7b.yaml $((6738415616 + 32 * 3 * 4096)) "q, k, v biases only" \
  --set attention.bias=true --set attention.out_bias=false
expect_params specs/gpt2.yaml $((124439808 - 12 * 2 * 768 - 768)) "LayerNorm without bias" \
  --set norm.bias=false
expect_params specs/bert-base.yaml $((109482240 - 768 * 768 - 768)) "BERT without pooler" \
  --set pooler=false
expect_params specs/bert-base.yaml $((109482240 - 768)) "BERT with one token type" \
  --set embeddings.token_types=1
expect_params specs/t5-small.yaml $((60506624 + 32128 * 512)) "T5 untied (v1.1 style)" \
  --set embeddings.tied=false

# Bytes, KV cache, FLOPs: the formulas' terms.
"$lmc" inspect specs/llama2-7b.yaml --json >"$tmp/l2.json"
[ "$(json_int f32 <"$tmp/l2.json")" = $((6738415616 * 4)) ] && pass "f32 bytes = 4 x parameters" ||
  fail "f32 bytes: $(cat "$tmp/l2.json")"
[ "$(json_int bytes_per_token <"$tmp/l2.json")" = $((32 * 2 * 4096 * 4)) ] &&
  pass "KV cache per token: layers x 2 x kv_dim x 4 bytes" || fail "kv: $(cat "$tmp/l2.json")"
[ "$(json_int bytes_at_context_limit <"$tmp/l2.json")" = $((32 * 2 * 4096 * 4 * 4096)) ] &&
  pass "KV cache at 4096 tokens" || fail "kv at limit: $(cat "$tmp/l2.json")"
# Decode at position 4096: 2 x (matrices) + 4 x layers x q_dim x 4096, matrices as counted by hand.
matrices=$((32 * (4 * 4096 * 4096 + 3 * 4096 * 11008) + 32000 * 4096))
want=$((2 * matrices + 4 * 32 * 4096 * 4096))
grep -q "\"decode\": $want" "$tmp/l2.json" && pass "decode FLOPs per token $want" ||
  fail "decode FLOPs, expected $want: $(grep decode "$tmp/l2.json")"
"$lmc" inspect specs/bert-base.yaml --json >"$tmp/bert.json"
grep -q '"decode": null' "$tmp/bert.json" && grep -q '"bytes_per_token": 0' "$tmp/bert.json" &&
  pass "an encoder has no decode and no KV cache" || fail "bert: $(cat "$tmp/bert.json")"

# Text report: the total and the parts.
expect_status 0 "inspect text" -- "$lmc" inspect specs/t5-small.yaml
case "$out" in *"60,506,624"*"decoder blocks"*"cross-attention"*) pass "text shows parts" ;;
  *) fail "text: $out" ;; esac

# Errors: one clear exit code each.
expect_status 1 "inspect an invalid spec" -- "$lmc" inspect tests/specs/invalid/unknown_key.yaml
case "$err" in *"unknown key 'n_head'"*) pass "invalid spec reported" ;; *) fail "$err" ;; esac
expect_status 1 "inspect a missing spec" -- "$lmc" inspect "$tmp/none.yaml"
expect_status 2 "inspect without a spec" -- "$lmc" inspect
finish
