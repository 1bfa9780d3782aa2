#!/usr/bin/env bash
# Issue 7, item 6: the llama2.c tokenizer encodes in O(n log n). A 1 MB prompt
# (prose, then arbitrary bytes) tokenizes within a generous time limit with
# each tokenizer; llama2.c's quadratic loop took 23 s for 40 KB.
# usage: long_prompt_test.sh LLAMA2C_TOOL SOURCE_DIR ASSETS
source "$(dirname "$0")/lib.sh"
tool=$1 src=$2 assets=$3
limit=${LMC_LONG_PROMPT_SECONDS:-60}
tok512=$assets/llama2c-stories260K/tok512.bin
llama2=$assets/tokenizers/llama2-spm/llama2c_tokenizer.bin
require_asset "$tok512"
require_asset "$llama2"

# One record (uint32 little-endian length, bytes) of exactly 1,000,000 bytes.
text=$tmp/text
yes "Once upon a time, Lily and Ben saw a big dog in the park. \"Hello!\" she said." |
  head -c 900000 >"$text"
head -c 100000 /dev/urandom >>"$text"
printf '\x40\x42\x0f\x00' | cat - "$text" >"$tmp/corpus"

for tok in "$tok512:512" "$llama2:32000" "$src/models/default/tokenizer.bin:1024"; do
  path=${tok%:*} vocab=${tok##*:}
  name=$(basename "$path")
  start=$(date +%s%N)
  expect_status 0 "$name: 1 MB in under ${limit}s" -- timeout "$limit" "$tool" "$path" "$vocab" "$tmp/corpus"
  ms=$((($(date +%s%N) - start) / 1000000))
  ids=$(printf '%s' "$out" | wc -w)
  echo "$name: $ids ids in ${ms} ms"
  # At most one id per byte, plus BOS and the dummy prefix; prose merges to far fewer.
  if [ "$ids" -gt 1000 ] && [ "$ids" -le 1000002 ]; then pass "$name: $ids ids"; else
    fail "$name: $ids ids for 1,000,000 bytes"; fi
done
finish
