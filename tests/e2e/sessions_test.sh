#!/usr/bin/env bash
# Sessions and batched steps through the C API (tests/api/sessions_test.cc): four models
# linked into one program, with stories260K's real weights and seeded random ones.
# usage: sessions_test.sh LMC SESSIONS_TEST SOURCE_DIR ASSETS
source "$(dirname "$0")/lib.sh"
lmc=$1 test=$2 src=$3 assets=$4
stories=$assets/llama2c-stories260K/stories260K.bin
[ -f "$stories" ] || fail "missing asset $stories (set LMC_ASSETS)"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
specs=$src/tests/specs/valid
# The same --set as the model's lmc_add_model in tests/CMakeLists.txt.
"$lmc" random-weights "$specs/tiny_llama_hf.yaml" --set dtype=q4_0 --set name=tiny_q4 \
  -o "$tmp/q4.safetensors" --seed 1 >/dev/null || fail "random weights (q4)"
"$lmc" random-weights "$specs/tiny-t5-small.yaml" --set sizes.max_seq_len=160 \
  -o "$tmp/t5.safetensors" --seed 2 >/dev/null || fail "random weights (t5)"
"$lmc" random-weights "$specs/tiny-bert-base.yaml" -o "$tmp/bert.safetensors" --seed 3 \
  >/dev/null || fail "random weights (bert)"
"$test" "$stories" "$tmp/q4.safetensors" "$tmp/t5.safetensors" "$tmp/bert.safetensors" ||
  fail "sessions_test"
pass "sessions and batched steps"
finish
