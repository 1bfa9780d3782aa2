#!/usr/bin/env bash
# The real stories260K checkpoint against llama2.c's published output.
# usage: stories260k_test.sh MODEL ASSETS REFERENCE_DIR
source "$(dirname "$0")/lib.sh"
model=$1 assets=$2 reference=$3
weights=$assets/llama2c-stories260K/stories260K.bin
tokenizer=$assets/llama2c-stories260K/tok512.bin
require_asset "$weights"
require_asset "$tokenizer"
require_asset "$reference/stories260K_greedy_once_upon_a_time_n64.txt"

# Greedy, 60 new tokens: llama2.c's output byte for byte (it ends with a newline).
expect_status 0 "generate greedy" -- "$model" generate --weights "$weights" \
  --tokenizer "$tokenizer" --prompt "Once upon a time" -n 60 --temperature 0
"$model" generate --weights "$weights" --tokenizer "$tokenizer" --prompt "Once upon a time" \
  -n 60 --temperature 0 >"$tmp/story.txt" 2>/dev/null
{ cat "$reference/stories260K_greedy_once_upon_a_time_n64.txt"; echo; } >"$tmp/expected.txt"
if cmp -s "$tmp/story.txt" "$tmp/expected.txt"; then pass "greedy output equals llama2.c's"; else
  fail "greedy output differs:"; diff "$tmp/expected.txt" "$tmp/story.txt"; fi
case "$err" in *"tok/s"*) pass "timings on stderr" ;; *) fail "no timings on stderr: $err" ;; esac

# Start-up: the binary does not load libhwy.so, whose static initializer costs milliseconds
# (runtime/kernels/cpu_targets.cc stands in for the dispatch functions).
needed=$(readelf -d "$model" | grep NEEDED)
case "$needed" in *libhwy*) fail "the model loads libhwy: $needed" ;;
  *) pass "no libhwy.so at start-up" ;; esac

# A shorter run is a prefix of the longer one (greedy is deterministic).
"$model" generate --weights "$weights" --tokenizer "$tokenizer" --prompt "Once upon a time" \
  -n 20 --temperature 0 >"$tmp/short.txt" 2>/dev/null
short=$(cat "$tmp/short.txt")
case "$(cat "$tmp/story.txt")" in "$short"*) pass "-n 20 is a prefix of -n 60" ;;
  *) fail "-n 20 output is not a prefix: $short" ;; esac

# Speculative decoding (prompt lookup): greedy output is plain greedy's, token for token,
# whatever the draft length (7 tokens per step take the repacked AVX2 tiles); some drafts
# are accepted.
"$model" generate --weights "$weights" --tokenizer "$tokenizer" --prompt "Once upon a time" \
  -n 200 --temperature 0 --ids >"$tmp/plain_ids.txt" 2>/dev/null
for draft in 1 6 64; do
  expect_status 0 "--speculate lookup --draft $draft" -- "$model" generate --weights "$weights" \
    --tokenizer "$tokenizer" --prompt "Once upon a time" -n 200 --temperature 0 --ids \
    --speculate lookup --draft "$draft"
  [ "$out" = "$(cat "$tmp/plain_ids.txt")" ] && pass "speculative greedy (draft $draft) equals greedy" ||
    fail "speculative greedy (draft $draft) differs: $out"
  case "$err" in *"accepted (0%)"*|*" 0 accepted"*) fail "no draft accepted: $err" ;;
    *"accepted"*) pass "drafts accepted: ${err%%$'\n'*}" ;; *) fail "no speculation report: $err" ;; esac
done
spec_text=$("$model" generate --weights "$weights" --tokenizer "$tokenizer" \
  --prompt "Once upon a time" -n 60 --temperature 0 --speculate lookup 2>/dev/null)
[ "$spec_text" = "$(cat "$tmp/story.txt")" ] && pass "speculative greedy text equals llama2.c's" ||
  fail "speculative greedy text differs: $spec_text"
# Sampling: reproducible with a seed.
run_spec() { "$model" generate --weights "$weights" --tokenizer "$tokenizer" \
  --prompt "Once upon a time" -n 60 --temperature 1 --seed "$1" --speculate lookup 2>/dev/null; }
a=$(run_spec 7) b=$(run_spec 7)
[ -n "$a" ] && [ "$a" = "$b" ] && pass "speculative sampling: same seed, same text" ||
  fail "speculative sampling not reproducible: '$a' vs '$b'"
expect_error "--speculate unknown" 2 "expected lookup" -- "$model" generate --weights "$weights" \
  --tokenizer "$tokenizer" --speculate bogus
expect_error "--draft alone" 2 "--draft needs --speculate" -- "$model" generate \
  --weights "$weights" --tokenizer "$tokenizer" --draft 3

# The prompt's ids.
expect_status 0 "tokenize" -- "$model" tokenize --bos --tokenizer "$tokenizer" "Once upon a time"
[ "$out" = "1 403 407 261 378" ] && pass "prompt ids" || fail "prompt ids: $out"

# Sampling is reproducible with --seed and differs across seeds.
run_seed() { "$model" generate --weights "$weights" --tokenizer "$tokenizer" \
  --prompt "Once upon a time" -n 40 --temperature 1 --top-p 0.9 --seed "$1" 2>/dev/null; }
a=$(run_seed 7) b=$(run_seed 7) c=$(run_seed 8)
[ "$a" = "$b" ] && pass "same seed, same text" || fail "same seed gave different text"
[ "$a" != "$c" ] && pass "other seed, other text" || fail "seeds 7 and 8 gave the same text"

# logits: float32 [tokens, vocab] in npy 1.0; causal, so a prefix's rows do not
# depend on what follows.
expect_status 0 "logits" -- "$model" logits --weights "$weights" --tokens 1,403,407,261,378 \
  --out "$tmp/all.npy"
"$model" logits --weights "$weights" --tokens 1,403 --out "$tmp/prefix.npy"
# The greedy story goes on with ","; the id the tokenizer gives it after the prompt.
comma=$("$model" tokenize --tokenizer "$tokenizer" "Once upon a time," | awk '{print $NF}')
python3 - "$tmp/all.npy" "$tmp/prefix.npy" "$comma" <<'PY' && pass "npy shape, finite, causal" || fail "npy checks"
import ast, math, struct, sys
def load(path):
    data = open(path, "rb").read()
    assert data[:6] == b"\x93NUMPY" and data[6:8] == b"\x01\x00", "magic/version"
    n = struct.unpack("<H", data[8:10])[0]
    header = ast.literal_eval(data[10:10 + n].decode())
    assert header["descr"] == "<f4" and not header["fortran_order"], header
    body = data[10 + n:]
    values = struct.unpack("<%df" % (len(body) // 4), body)
    return header["shape"], values
shape, values = load(sys.argv[1])
assert shape == (5, 512), shape
assert all(math.isfinite(v) for v in values)
prefix_shape, prefix = load(sys.argv[2])
assert prefix_shape == (2, 512)
assert list(prefix) == list(values[:2 * 512]), "prefix rows differ"
assert list(values[:512]) != list(values[512:1024]), "rows identical"
row = values[4 * 512:]
best = max(range(512), key=lambda i: row[i])
assert best == int(sys.argv[3]), (best, sys.argv[3])
PY

# perplexity of a text: the model scores its own greedy story as very likely, a shuffled
# one as far less; --tokens gives the same value as the text's ids; bad flags and inputs
# are one line each.
story=$reference/stories260K_greedy_once_upon_a_time_n64.txt
expect_status 0 "perplexity --file" -- "$model" perplexity --weights "$weights" \
  --tokenizer "$tokenizer" --file "$story" --ctx 48 --stride 16 --json
ppl_story=$out
tr ' ' '\n' <"$story" | sort | tr '\n' ' ' >"$tmp/shuffled.txt"
ppl_shuffled=$("$model" perplexity --weights "$weights" --tokenizer "$tokenizer" \
  --file "$tmp/shuffled.txt" --ctx 48 --stride 16 --json 2>/dev/null)
ids=$("$model" tokenize --bos --tokenizer "$tokenizer" --stdin <"$story" | tr ' ' ',')
ppl_ids=$("$model" perplexity --weights "$weights" --tokens "$ids" --ctx 48 --stride 16 --json)
if report=$(python3 - "$ppl_story" "$ppl_shuffled" "$ppl_ids" <<'PY'
import json, sys
story, shuffled, ids = (json.loads(v) for v in sys.argv[1:])
assert 1 < story["perplexity"] < 3, story
assert shuffled["perplexity"] > 10 * story["perplexity"], (story, shuffled)
assert ids == story, (ids, story)
assert story["scored"] == story["tokens"] - 1 and len(story["windows"]) > 1, story
print(f"story {story['perplexity']:.3f} +/- {story['standard_error']:.3f}, "
      f"shuffled {shuffled['perplexity']:.1f}")
PY
); then pass "perplexity: $report"; else fail "perplexity: $report"; fi
: >"$tmp/empty.txt"
expect_error "perplexity of an empty file" 2 "at least 2" -- "$model" perplexity \
  --weights "$weights" --tokenizer "$tokenizer" --file "$tmp/empty.txt"
expect_error "perplexity of a missing file" 1 "$tmp/none.txt" -- "$model" perplexity \
  --weights "$weights" --tokenizer "$tokenizer" --file "$tmp/none.txt"
expect_error "perplexity --stride 0" 2 "--stride" -- "$model" perplexity --weights "$weights" \
  --tokens 1,2,3 --stride 0
expect_error "perplexity --file and --tokens" 2 "--file or --tokens" -- "$model" perplexity \
  --weights "$weights" --tokens 1,2,3 --file "$story"

expect_status 0 "info" -- "$model" info
case "$out" in *"model: stories260k"*"build: lmc"*"name: stories260k"*) pass "info shows spec and build" ;;
  *) fail "info output: $out" ;; esac
finish
