#!/usr/bin/env bash
# Speculative decoding with a draft model linked into the binary (lmc build --draft,
# generate --speculate draft:W) on the default model: greedy output is plain greedy's token
# for token, whether the draft agrees always (the model itself), sometimes (its weights with
# noise) or with a different checkpoint of another size; sampling is reproducible from a seed;
# bad uses fail with one line. (The rule's distribution: sampler_test and
# speculative_rule_reference.)
# usage: speculative_draft_test.sh LMC SOURCE_DIR CACHE_DIR PLAIN_MODEL
source "$(dirname "$0")/lib.sh"
lmc=$1 src=$2 cache=$3 plain=$4
dir=$src/models/default
weights=$dir/model.bin tokenizer=$dir/tokenizer.bin
prompt="Once upon a time"

# The draft: the default model's architecture under another name, and a smaller one (1 layer,
# narrower feed-forward) for random weights.
cat >"$tmp/draft.yaml" <<YAML
extends: $src/specs/tinytales.yaml
name: tinytales_draft
YAML
expect_status 0 "lmc build --draft" -- "$lmc" build "$src/specs/tinytales.yaml" \
  --draft "$tmp/draft.yaml" --native --cache-dir "$cache" -o "$tmp/model"
case "$err" in *"the draft model"*) pass "the draft is compiled in" ;; *) fail "build log: $err" ;; esac

# Its weights with noise: a model that agrees with the target on some tokens, not all.
/usr/bin/python3 - "$weights" "$tmp/noisy.bin" <<'PY'
import sys
import numpy as np
raw = open(sys.argv[1], "rb").read()
header, floats = raw[:28], np.frombuffer(raw[28:], dtype=np.float32)
noise = np.random.default_rng(7).normal(0, 0.35, floats.shape).astype(np.float32)
open(sys.argv[2], "wb").write(header + (floats * (1 + noise)).astype(np.float32).tobytes())
PY

generate() {
  "$tmp/model" generate --weights "$weights" --tokenizer "$tokenizer" --prompt "$prompt" -n 120 \
    --ids "$@"
}
expect_status 0 "plain greedy" -- generate --temperature 0
plain_ids=$out
for draft in model.bin:"$weights" noisy:"$tmp/noisy.bin"; do
  name=${draft%%:*} file=${draft#*:}
  for k in 1 4; do
    expect_status 0 "greedy with the $name draft, $k per step" -- generate --temperature 0 \
      --speculate "draft:$file" --draft "$k"
    [ "$out" = "$plain_ids" ] && pass "$name draft ($k): equals plain greedy" ||
      fail "$name draft ($k) differs: $out"
    report=$(printf '%s\n' "$err" | grep '^speculate:' || true)
    echo "  $name draft, $k per step: $report"
    case "$name:$report" in
      model.bin:*"(100%)") pass "the model as its own draft: every draft kept" ;;
      noisy:*"(100%)"|noisy:*" 0 accepted"*) fail "noisy draft: expected some drafts kept, some not: $report" ;;
      noisy:*accepted*) pass "noisy draft: some drafts kept, some not" ;;
      *) fail "$name draft: $report" ;;
    esac
  done
done

# Sampling: the same seed gives the same tokens; they stay in the vocabulary.
expect_status 0 "sampling with a draft" -- generate --temperature 0.8 --seed 5 \
  --speculate "draft:$tmp/noisy.bin"
first=$out
expect_status 0 "sampling with a draft, again" -- generate --temperature 0.8 --seed 5 \
  --speculate "draft:$tmp/noisy.bin"
[ "$out" = "$first" ] && pass "same seed, same tokens" || fail "not reproducible: $first / $out"

expect_error "no draft linked in" 2 "has no draft model linked in" -- "$plain" generate \
  --weights "$weights" --tokenizer "$tokenizer" --prompt "$prompt" -n 4 --speculate "draft:$weights"
expect_error "draft weights missing" 1 "$tmp/missing.bin" -- "$tmp/model" generate \
  --weights "$weights" --tokenizer "$tokenizer" --prompt "$prompt" -n 4 \
  --speculate "draft:$tmp/missing.bin"
expect_error "draft of another vocabulary" 1 "same tokenizer" -- bash -c \
  "'$lmc' build '$src/specs/tinytales.yaml' --draft '$src/specs/stories260k.yaml' --native \
   --cache-dir '$cache' -o '$tmp/mismatched' >/dev/null 2>&1 && '$tmp/mismatched' generate \
   --weights '$weights' --tokenizer '$tokenizer' --prompt x -n 4 --speculate draft:'$weights'"
expect_error "draft named as the model" 1 "another name" -- "$lmc" build \
  "$src/specs/tinytales.yaml" --draft "$src/specs/tinytales.yaml" --cache-dir "$cache" \
  -o "$tmp/same"
finish
