#!/usr/bin/env bash
# Byte-level BPE tokenizers against independent reference implementations (npm,
# pinned in reference/package-lock.json): tiktoken (OpenAI's Rust core as WASM)
# for cl100k_base, o200k_base, r50k_base, p50k_base and GPT-2; Hugging Face
# tokenizers (Rust, native) for Llama 3's tokenizer.json and a GPT-2
# tokenizer.json it writes itself; gpt-3-encoder for GPT-2. Every id of every
# text of a corpus generated here must agree, and decode(encode(x)) == x.
# usage: bpe_reference_test.sh LMC SOURCE_DIR ASSETS WORK_DIR
set -uo pipefail
lmc=$1 src=$2 assets=$3 work=$4
here=$src/tests/tokenizer
tok=$assets/tokenizers
ref=$work/reference
failures=0
pass() { echo "PASS: $*"; }
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

# The reference packages, installed from the lockfile (again only when it changed).
mkdir -p "$ref"
cp "$here"/reference/{package.json,package-lock.json,encode.js,make_gpt2_tokenizer_json.js} "$ref"/
if ! cmp -s "$ref/package-lock.json" "$ref/installed-lock.json"; then
  if ! npm ci --prefix "$ref" --no-audit --no-fund >"$work/npm.log" 2>&1; then
    cat "$work/npm.log"
    echo "FAIL: npm ci of the reference tokenizers failed (needs node, npm and the npm registry)"
    exit 1
  fi
  cp "$ref/package-lock.json" "$ref/installed-lock.json"
fi

corpus=$work/corpus.jsonl
node "$here/gen_corpus.js" >"$corpus" || { echo "FAIL: corpus generation"; exit 1; }
echo "corpus: $(wc -l <"$corpus") texts, $(wc -c <"$corpus") bytes"

# Rank files for r50k_base and p50k_base, expanded from the reference package's data.
node -e '
const fs = require("fs");
for (const name of ["r50k_base", "p50k_base"]) {
  const j = require(process.argv[1] + "/node_modules/tiktoken/encoders/" + name + ".json");
  let out = "";
  for (const line of j.bpe_ranks.split("\n")) {
    const f = line.split(" ");
    if (f.length < 2) continue;
    let rank = Number(f[1]);
    for (const t of f.slice(2)) out += t + " " + rank++ + "\n";
  }
  fs.writeFileSync(process.argv[2] + "/" + name + ".tiktoken", out);
}' "$ref" "$work" || fail "expanding r50k/p50k rank files"
node "$ref/make_gpt2_tokenizer_json.js" "$tok/gpt2/encoder.json" "$tok/gpt2/vocab.bpe" "$work/gpt2-tokenizer.json" ||
  fail "writing a GPT-2 tokenizer.json with Hugging Face tokenizers"

# check NAME TOKENIZER "REFERENCE ARGS" COMPARE_FLAG|- [LMC FLAGS...]
check() {
  local name=$1 file=$2 refargs=$3 cmpflag=$4
  shift 4
  [ "$cmpflag" = - ] && cmpflag=
  local ours=$work/$name.ours reference=$work/$name.ref
  if ! "$lmc" tokenize --tokenizer "$file" "$@" --jsonl <"$corpus" >"$ours" 2>"$work/$name.err"; then
    fail "$name: lmc tokenize failed: $(cat "$work/$name.err")"
    return
  fi
  if ! node "$ref/encode.js" $refargs <"$corpus" >"$reference"; then
    fail "$name: reference failed"
    return
  fi
  if node "$here/compare.js" ids "$corpus" "$ours" "$reference" $cmpflag; then pass "$name"; else fail "$name"; fi
}
roundtrip() {
  local name=$1 file=$2
  "$lmc" detokenize --tokenizer "$file" --jsonl <"$work/$name.ours" >"$work/$name.decoded" &&
    node "$here/compare.js" roundtrip "$corpus" "$work/$name.decoded" && pass "$name round trip" ||
    fail "$name round trip"
}

for enc in cl100k_base o200k_base; do
  check "$enc" "$tok/tiktoken/$enc.tiktoken" "tiktoken $enc plain" -
  check "$enc-special" "$tok/tiktoken/$enc.tiktoken" "tiktoken $enc special" - --special
  roundtrip "$enc" "$tok/tiktoken/$enc.tiktoken"
done
for enc in r50k_base p50k_base; do
  check "$enc" "$work/$enc.tiktoken" "tiktoken $enc plain" -
  check "$enc-special" "$work/$enc.tiktoken" "tiktoken $enc special" - --special
done
check gpt2-vs-tiktoken "$tok/gpt2" "tiktoken r50k_base plain" -
check gpt2-special "$tok/gpt2" "tiktoken r50k_base special" - --special
check gpt2-vs-gpt-3-encoder "$tok/gpt2" "gpt-3-encoder" --skip-js-whitespace
roundtrip gpt2-vs-tiktoken "$tok/gpt2"
check llama3 "$tok/llama3/tokenizer.json" "huggingface $tok/llama3/tokenizer.json plain" -
check llama3-special "$tok/llama3/tokenizer.json" "huggingface $tok/llama3/tokenizer.json special" - --special
roundtrip llama3 "$tok/llama3/tokenizer.json"
check gpt2-json "$work/gpt2-tokenizer.json" "huggingface $work/gpt2-tokenizer.json plain" - --kind huggingface
check gpt2-json-bos "$work/gpt2-tokenizer.json" "huggingface $work/gpt2-tokenizer.json bos" - --kind huggingface --bos --special
# A Sequence pre-tokenizer: Digits, Split and ByteLevel with its regex, in order.
node -e '
const fs = require("fs");
const j = JSON.parse(fs.readFileSync(process.argv[1], "utf8"));
j.pre_tokenizer = { type: "Sequence", pretokenizers: [
  { type: "Digits", individual_digits: true },
  { type: "Split", pattern: { Regex: "[A-Z][a-z]+" }, behavior: "Isolated", invert: false },
  { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: true } ] };
fs.writeFileSync(process.argv[2], JSON.stringify(j));' "$work/gpt2-tokenizer.json" "$work/gpt2-sequence.json" &&
  check gpt2-sequence "$work/gpt2-sequence.json" "huggingface $work/gpt2-sequence.json plain" - --kind huggingface ||
  fail "writing a tokenizer.json with a Sequence pre-tokenizer"

# GGUF vocabs with tokenizer.ggml.model gpt2 (byte-level BPE): GPT-2's against
# tiktoken's r50k_base; the others against Hugging Face tokenizers on a
# tokenizer.json holding the GGUF's own tokens and merges, and for the split
# chains (deepseek, falcon, starcoder, refact) llama.cpp's regexes as Split
# steps; Llama 3's tokenizer.json written as a GGUF (pre llama-bpe) against
# tokenizers on the original. Falcon's and StarCoder's vocabs lack a few bytes,
# which both sides drop, so only the others round-trip.
gguf=$assets/vocab-gguf
check gguf-gpt2 "$gguf/ggml-vocab-gpt-2.gguf" "tiktoken r50k_base plain" -
check gguf-gpt2-special "$gguf/ggml-vocab-gpt-2.gguf" "tiktoken r50k_base special" - --special
roundtrip gguf-gpt2 "$gguf/ggml-vocab-gpt-2.gguf"
for name in gpt-neox mpt deepseek-coder deepseek-llm falcon refact starcoder; do
  if node "$here/reference/gguf_tokenizer_json.js" to-json "$gguf/ggml-vocab-$name.gguf" "$work/$name.json"; then
    check "gguf-$name" "$gguf/ggml-vocab-$name.gguf" "huggingface $work/$name.json plain" -
    check "gguf-$name-special" "$gguf/ggml-vocab-$name.gguf" "huggingface $work/$name.json special" - --special
    case $name in falcon | refact | starcoder) ;; *) roundtrip "gguf-$name" "$gguf/ggml-vocab-$name.gguf" ;; esac
  else
    fail "gguf-$name: writing its tokenizer.json"
  fi
done
if node "$here/reference/gguf_tokenizer_json.js" to-gguf "$tok/llama3/tokenizer.json" llama-bpe "$work/llama3.gguf"; then
  check gguf-llama3 "$work/llama3.gguf" "huggingface $tok/llama3/tokenizer.json plain" -
  check gguf-llama3-special "$work/llama3.gguf" "huggingface $tok/llama3/tokenizer.json special" - --special
  roundtrip gguf-llama3 "$work/llama3.gguf"
else
  fail "gguf-llama3: writing the GGUF"
fi
node "$here/reference/gguf_tokenizer_json.js" to-gguf "$tok/llama3/tokenizer.json" no-such-pre "$work/unknown-pre.gguf" &&
  "$lmc" tokenize --tokenizer "$work/unknown-pre.gguf" x >/dev/null 2>"$work/err"
[ $? = 1 ] && grep -q 'tokenizer.ggml.pre is "no-such-pre"' "$work/err" && pass "unknown GGUF pre-tokenizer named" ||
  fail "unknown GGUF pre-tokenizer: $(cat "$work/err")"

# An arbitrary --pattern runs through PCRE2: cl100k's regex, spelled differently.
cp "$tok/tiktoken/cl100k_base.tiktoken" "$work/custom.tiktoken"
pattern=$(node -p 'require(process.argv[1] + "/node_modules/tiktoken/encoders/cl100k_base.json").pat_str' "$ref")
check cl100k-pcre2 "$work/custom.tiktoken" "tiktoken cl100k_base plain" - --pattern "(?:$pattern)"

# Invalid UTF-8 on --stdin is decoded lossily, as Node hands it to the reference.
printf 'ok \xff\xfe caf\xc3 \xe2\x82 \xf0\x9f\x98 \xc0\x80 \xed\xa0\x80 end\xe2' >"$work/invalid.txt"
for enc in cl100k_base o200k_base; do
  a=$("$lmc" tokenize --tokenizer "$tok/tiktoken/$enc.tiktoken" --stdin <"$work/invalid.txt")
  b=$(node "$ref/encode.js" bytes-tiktoken "$enc" "$work/invalid.txt")
  [ "$a" = "$b" ] && pass "$enc invalid UTF-8" || fail "$enc invalid UTF-8: ours $a, reference $b"
done

# --bos: Llama 3 prepends <|begin_of_text|> (from tokenizer_config.json).
first=$("$lmc" tokenize --tokenizer "$tok/llama3/tokenizer.json" --bos "Hello" | cut -d' ' -f1)
[ "$first" = 128000 ] && pass "llama3 --bos" || fail "llama3 --bos gave $first"

# The command line: usage errors exit 2, bad files and input exit 1, one line each.
expect() {
  local want=$1 what=$2
  shift 2
  "$@" >"$work/out" 2>"$work/err" </dev/null
  local got=$?
  if [ "$got" = "$want" ] && [ "$(head -c 1 "$work/err" | wc -c)" -gt 0 ]; then pass "$what (exit $got: $(head -1 "$work/err"))"
  else fail "$what: exit $got, want $want; stderr: $(cat "$work/err")"; fi
}
expect 2 "tokenize without text" "$lmc" tokenize --tokenizer "$tok/gpt2"
expect 2 "tokenize without --tokenizer" "$lmc" tokenize hello
expect 2 "unknown option" "$lmc" tokenize --tokenizer "$tok/gpt2" --bogus hello
expect 1 "missing tokenizer file" "$lmc" tokenize --tokenizer "$work/none.tiktoken" hello
printf 'IQ== 0\n' >"$work/cl100k_base.tiktoken"
expect 1 "truncated rank file" "$lmc" tokenize --tokenizer "$work/cl100k_base.tiktoken" hello
grep -q "cl100k_base.tiktoken: 1 ranks, but cl100k_base has 100256 (truncated?)" "$work/err" &&
  [ "$(wc -l <"$work/err")" = 1 ] && pass "truncated rank file: one line naming the file" || fail "$(cat "$work/err")"
expect 1 "detokenize an id out of range" "$lmc" detokenize --tokenizer "$tok/gpt2" 50257
echo '"ok"' >"$work/ok.jsonl"; echo 'not json' >>"$work/ok.jsonl"
"$lmc" tokenize --tokenizer "$tok/gpt2" --jsonl <"$work/ok.jsonl" >/dev/null 2>"$work/err"
[ $? = 1 ] && grep -q "stdin:2: expected one JSON string per line" "$work/err" && pass "bad JSON line named" ||
  fail "bad JSON line: $(cat "$work/err")"
[ "$("$lmc" detokenize --tokenizer "$tok/gpt2" 15496 995)" = "Hello world" ] && pass "detokenize ids" || fail "detokenize ids"
[ "$("$lmc" tokenize --tokenizer "$tok/gpt2" "Hello world")" = "15496 995" ] && pass "tokenize text" || fail "tokenize text"

echo "$failures failure(s)"
[ "$failures" -eq 0 ]
