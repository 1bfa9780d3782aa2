#!/usr/bin/env bash
# The spec's tokenizer drives the model binary: two tiny random-weight Llamas,
# one with Llama 2's SentencePiece tokenizer.model (tokenizer.file absolute, via
# --set), one with GPT-2's byte-level BPE folder (tokenizer.file relative to the
# spec). Their `tokenize` must give libsentencepiece's ids and `lmc tokenize`'s
# (which bpe_reference checks against the npm references); `generate` must print
# valid UTF-8 equal to the detokenized ids; a missing default file or a file of
# another kind is one clear error.
# Usage: model_tokenizer_test.sh LMC SOURCE_DIR ASSETS CACHE_DIR
source "$(dirname "$0")/lib.sh"
lmc=$1 src=$2 assets=$3 cache=$4
spm_model=$assets/tokenizers/llama2-spm/tokenizer.model
gpt2=$assets/tokenizers/gpt2
require_asset "$spm_model"
require_asset "$gpt2/encoder.json"
python=/usr/bin/python3
base=$src/tests/specs/valid/tiny_llama_hf.yaml

# A corpus of one JSON string per line: prose, code, whitespace runs, numbers,
# emoji and ZWJ, CJK, Korean, Arabic, Hindi, combining marks, long words.
"$python" - "$tmp/corpus.jsonl" <<'PY'
import json, random, sys
rng = random.Random(6)
fixed = ["", " ", "Hello world", "Once upon a time, there was a little girl named Lily.",
         "  leading and trailing  ", "tabs\tand\nnew\nlines\r\n", "def f(x):\n    return x**2",
         "3.14159 2718281828459045 1,000,000", "I'm DON'T they've", "😀 👨‍👩‍👧‍👦 🇯🇵",
         "日本語のテキスト", "한국어 문장", "مرحبا بالعالم", "नमस्ते दुनिया", "e\u0301 é",
         "<s> </s> <unk> <|endoftext|>", "x" * 300, "https://example.com/a?b=1&c=2#d"]
alphabet = "abcdefghij ABC.,!?'\n\t0123456789éüß😀日本한국ñ\u0301"
lines = fixed + ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 80)))
                 for _ in range(150)]
with open(sys.argv[1], "w", encoding="utf-8") as f:
    for line in lines:
        f.write(json.dumps(line, ensure_ascii=False) + "\n")
PY

build() {  # build OUTPUT SPEC ARGS...: one build, its stderr in $tmp/build.log
  local out=$1
  shift
  "$lmc" build "$@" -o "$out" --cache-dir "$cache" >"$tmp/build.log" 2>&1
}

# is_utf8 FILE: exit 0 when FILE is well-formed UTF-8.
is_utf8() { "$python" -c "import sys; open(sys.argv[1], 'rb').read().decode('utf-8')" "$1" 2>/dev/null; }

# --- SentencePiece: tokenizer.file absolute (from --set), BOS/EOS from the spec.
spm=$tmp/spm_model
set_spm=(--set tokenizer.kind=sentencepiece --set "tokenizer.file=$spm_model"
  --set sizes.vocab=32000 --set tokenizer.bos=1 --set tokenizer.eos=2)
if build "$spm" "$base" "${set_spm[@]}"; then pass "build with a sentencepiece tokenizer"; else
  fail "build with a sentencepiece tokenizer: $(cat "$tmp/build.log")"; finish; exit 1; fi
"$lmc" random-weights "$base" "${set_spm[@]}" -o "$tmp/spm.safetensors" --seed 3 >/dev/null

expect_status 0 "info names the tokenizer file" -- "$spm" info
case "$out" in *"tokenizer file: $spm_model"*) pass "info: tokenizer file" ;;
  *) fail "info lacks the tokenizer file: $out" ;; esac

"$spm" tokenize --jsonl <"$tmp/corpus.jsonl" >"$tmp/spm_bin.jsonl"
"$lmc" tokenize --tokenizer "$spm_model" --jsonl <"$tmp/corpus.jsonl" >"$tmp/spm_lmc.jsonl"
"$python" - "$spm_model" "$tmp/corpus.jsonl" "$tmp/spm_ref.jsonl" <<'PY'
import json, sys
import sentencepiece as spm
sp = spm.SentencePieceProcessor(model_file=sys.argv[1])
with open(sys.argv[2], encoding="utf-8") as f, open(sys.argv[3], "w") as out:
    for line in f:
        out.write(json.dumps(sp.encode(json.loads(line)), separators=(",", ":")) + "\n")
PY
lines=$(grep -c '' "$tmp/corpus.jsonl")
if [ "$(grep -c '' "$tmp/spm_bin.jsonl")" = "$lines" ] && cmp -s "$tmp/spm_bin.jsonl" "$tmp/spm_ref.jsonl"; then
  pass "binary tokenize = libsentencepiece on $lines lines"; else
  fail "binary tokenize differs from libsentencepiece"; diff "$tmp/spm_bin.jsonl" "$tmp/spm_ref.jsonl" | head -5; fi
cmp -s "$tmp/spm_bin.jsonl" "$tmp/spm_lmc.jsonl" && pass "binary tokenize = lmc tokenize" ||
  fail "binary tokenize differs from lmc tokenize"
expect_status 0 "tokenize --bos" -- "$spm" tokenize --bos "Hello world"
[ "$out" = "1 15043 3186" ] && pass "--bos prepends the spec's BOS" || fail "tokenize --bos: $out"
"$spm" detokenize --jsonl <"$tmp/spm_bin.jsonl" >"$tmp/spm_detok_bin.jsonl"
"$lmc" detokenize --tokenizer "$spm_model" --jsonl <"$tmp/spm_bin.jsonl" >"$tmp/spm_detok_lmc.jsonl"
cmp -s "$tmp/spm_detok_bin.jsonl" "$tmp/spm_detok_lmc.jsonl" && pass "binary detokenize = lmc detokenize" ||
  fail "binary detokenize differs from lmc detokenize"

# generate: the text is the detokenized ids, whole characters only.
gen_spm() { "$spm" generate --weights "$tmp/spm.safetensors" --temperature 1 --seed "$1" -n 60 "${@:2}"; }
for seed in 1 2 3 4; do
  gen_spm "$seed" --prompt "Hello wörld 日本" >"$tmp/text" 2>/dev/null
  ids=$(gen_spm "$seed" --prompt "Hello wörld 日本" --ids 2>/dev/null)
  prompt=$("$spm" tokenize --bos "Hello wörld 日本")
  # shellcheck disable=SC2086
  "$spm" detokenize $prompt $ids >"$tmp/want"
  if is_utf8 "$tmp/text" && "$python" - "$tmp/text" "$tmp/want" <<'PY'; then
import sys
text = open(sys.argv[1], "rb").read()
want = open(sys.argv[2], "rb").read().decode("utf-8", "replace").encode() + b"\n"
sys.exit(0 if text == want else 1)
PY
    pass "seed $seed: generate prints the detokenized ids as valid UTF-8"; else
    fail "seed $seed: generate's text is not the detokenized ids: $(od -c "$tmp/text" | head -3)"; fi
done
# A prompt that ends inside a character (the first three bytes of U+1F600 as
# byte tokens): the partial character is never printed raw.
"$spm" generate --weights "$tmp/spm.safetensors" --tokens 1,243,162,155 -n 3 --seed 1 >"$tmp/text" 2>/dev/null
is_utf8 "$tmp/text" && pass "a split character prints as valid UTF-8" ||
  fail "broken UTF-8 printed: $(od -c "$tmp/text" | head -3)"
"$spm" generate --weights "$tmp/spm.safetensors" --tokens 1,243,162,155,131 -n 0 >"$tmp/text" 2>/dev/null
[ "$(cat "$tmp/text")" = "😀" ] && pass "byte tokens join into one character" ||
  fail "byte tokens: $(od -c "$tmp/text" | head -3)"

# --tokenizer overrides the spec's file; a file of another kind is refused.
cp "$spm_model" "$tmp/copy.model"
expect_status 0 "--tokenizer override" -- "$spm" tokenize --tokenizer "$tmp/copy.model" "Hello world"
[ "$out" = "15043 3186" ] && pass "override gives the same ids" || fail "override ids: $out"
expect_error "a GPT-2 folder given to a sentencepiece model" 1 "$gpt2" -- \
  "$spm" tokenize --tokenizer "$gpt2" "Hello"
expect_error "a tokenizer larger than the vocabulary" 1 "vocab" -- \
  "$spm" tokenize --tokenizer "$assets/tokenizers/tiktoken/cl100k_base.tiktoken" --kind tiktoken "Hello"

# --- GPT-2 byte-level BPE: tokenizer.file relative to the spec, which lives
# elsewhere; built and run from other directories.
mkdir -p "$tmp/spec/tok" "$tmp/elsewhere"
cp "$gpt2/encoder.json" "$gpt2/vocab.bpe" "$tmp/spec/tok/"
sed -e 's/^  kind: none$/  kind: gpt2_bpe\n  file: tok\n  eos: 50256/' -e 's/^  vocab: 97$/  vocab: 50257/' \
  "$base" >"$tmp/spec/gpt2.yaml"
bpe=$tmp/bpe_model
if (cd "$tmp/elsewhere" && build "$bpe" ../spec/gpt2.yaml); then pass "build with a relative gpt2_bpe file"; else
  fail "build gpt2_bpe: $(cat "$tmp/build.log")"; finish; exit 1; fi
"$lmc" random-weights "$tmp/spec/gpt2.yaml" -o "$tmp/bpe.safetensors" --seed 4 >/dev/null
(cd / && "$bpe" tokenize --jsonl <"$tmp/corpus.jsonl" >"$tmp/bpe_bin.jsonl")
"$lmc" tokenize --tokenizer "$gpt2" --jsonl <"$tmp/corpus.jsonl" >"$tmp/bpe_lmc.jsonl"
if [ "$(grep -c '' "$tmp/bpe_bin.jsonl")" = "$lines" ] && cmp -s "$tmp/bpe_bin.jsonl" "$tmp/bpe_lmc.jsonl"; then
  pass "gpt2 binary tokenize = lmc tokenize, run from /"; else fail "gpt2 binary tokenize differs"; fi
for seed in 1 2; do
  "$bpe" generate --weights "$tmp/bpe.safetensors" --prompt "日本" --temperature 1 --seed $seed -n 80 \
    >"$tmp/text" 2>/dev/null
  is_utf8 "$tmp/text" && pass "gpt2 seed $seed: valid UTF-8" ||
    fail "gpt2 seed $seed: broken UTF-8: $(od -c "$tmp/text" | head -3)"
done
mv "$tmp/spec/tok" "$tmp/spec/gone"
expect_error "the spec's tokenizer file is gone" 1 "pass --tokenizer" -- \
  "$bpe" generate --weights "$tmp/bpe.safetensors" --prompt "x" -n 1
expect_error "tokenize without the spec's file" 1 "pass --tokenizer" -- "$bpe" tokenize "x"
expect_status 0 "--tokenizer instead of the missing file" -- "$bpe" tokenize --tokenizer "$tmp/spec/gone" "Hello world"
[ "$out" = "15496 995" ] && pass "GPT-2 ids for Hello world" || fail "GPT-2 ids: $out"

finish
