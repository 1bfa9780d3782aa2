#!/usr/bin/env bash
# Encode throughput of every lmc tokenizer kind beside its reference
# implementation, measured in the same run on the same machine: byte-level BPE
# and WordPiece beside the npm packages, then SentencePiece beside
# libsentencepiece (spm_bench.py). Whole process
# (`lmc tokenize --jsonl`, load included, one thread) on a >= 10 MB mixed corpus,
# then lmc's encode throughput at 1 KB / 100 KB / 10 MB (timed inside the process
# by --time) to show encoding is linear.
# MB/s counts the UTF-8 bytes of the texts. Best of 3 runs for lmc, 1 for the references.
# usage: scripts/bench_tokenizers.sh [BUILD_DIR]   (run it under flock /tmp/lmc-cpu.lock)
set -euo pipefail
cd "$(dirname "$0")/.."
src=$PWD
build=${1:-build}
lmc=$build/bin/lmc
assets=${LMC_ASSETS:-$src/../shared/assets}
tok=$assets/tokenizers
work=$build/bench-tokenizers
ref=$work/reference
mkdir -p "$ref"
cp tests/tokenizer/reference/{package.json,package-lock.json,encode.js,gguf_tokenizer_json.js} "$ref"/
if ! cmp -s "$ref/package-lock.json" "$ref/installed-lock.json"; then
  npm ci --prefix "$ref" --no-audit --no-fund >/dev/null
  cp "$ref/package-lock.json" "$ref/installed-lock.json"
fi

text_bytes() { node -e 'let n=0;for(const l of require("fs").readFileSync(process.argv[1],"utf8").split("\n"))if(l)n+=Buffer.byteLength(JSON.parse(l));console.log(n)' "$1"; }
# seconds CMD... : wall-clock seconds of one run, output discarded.
seconds() {
  local start end
  start=$(date +%s.%N)
  "$@" >/dev/null
  end=$(date +%s.%N)
  awk -v a="$start" -v b="$end" 'BEGIN { printf "%.4f\n", b - a }'
}
best_of_3() {
  local best=999999 t
  for _ in 1 2 3; do
    t=$(seconds "$@")
    best=$(awk -v a="$t" -v b="$best" 'BEGIN { print (a < b ? a : b) }')
  done
  echo "$best"
}
mbs() { awk -v n="$1" -v t="$2" 'BEGIN { printf "%.1f", n / 1e6 / t }'; }

node tests/tokenizer/gen_corpus.js --bench 10 >"$work/10mb.jsonl"
node tests/tokenizer/gen_corpus.js --bench 0.1 --seed 2 >"$work/100kb.jsonl"
node tests/tokenizer/gen_corpus.js --bench 0.001 --seed 3 >"$work/1kb.jsonl"
echo '""' >"$work/empty.jsonl"
bytes=$(text_bytes "$work/10mb.jsonl")
echo "corpus: $bytes bytes of text in $(wc -l <"$work/10mb.jsonl") documents (prose, code, numbers, other scripts)"
echo
printf "%-14s %10s %10s %-26s %10s %8s\n" kind "lmc s" "lmc MB/s" reference "ref MB/s" speedup
run() {
  local name=$1 file=$2
  shift 2
  local ours t_ours best_ref=0 best_name=""
  t_ours=$(best_of_3 sh -c "'$lmc' tokenize --tokenizer '$file' --jsonl <'$work/10mb.jsonl'")
  ours=$(mbs "$bytes" "$t_ours")
  while [ $# -gt 0 ]; do
    local label=$1 args=$2
    shift 2
    local t_ref r
    t_ref=$(seconds sh -c "node '$ref/encode.js' $args <'$work/10mb.jsonl'")
    r=$(mbs "$bytes" "$t_ref")
    printf "%-14s %10.2f %10s %-26s %10s %7.1fx\n" "$name" "$t_ours" "$ours" "$label" "$r" "$(awk -v a="$t_ref" -v b="$t_ours" 'BEGIN { print a / b }')"
  done
}
run cl100k_base "$tok/tiktoken/cl100k_base.tiktoken" "tiktoken (Rust/WASM)" "tiktoken cl100k_base plain"
run o200k_base "$tok/tiktoken/o200k_base.tiktoken" "tiktoken (Rust/WASM)" "tiktoken o200k_base plain"
run gpt2 "$tok/gpt2" "tiktoken r50k (Rust/WASM)" "tiktoken r50k_base plain" "gpt-3-encoder (JS)" "gpt-3-encoder"
run llama3 "$tok/llama3/tokenizer.json" "HF tokenizers (Rust)" "huggingface $tok/llama3/tokenizer.json plain"
# WordPiece: BERT's tokenizer.json, written from the bert-bge vocab GGUF.
node "$ref/gguf_tokenizer_json.js" to-json "$assets/vocab-gguf/ggml-vocab-bert-bge.gguf" "$work/bert.json"
run wordpiece "$work/bert.json" "HF tokenizers (Rust)" "huggingface $work/bert.json plain"

echo
echo "lmc encode throughput by input size (encode only, timed inside the process, best of 3):"
printf "%-14s %8s %12s %12s %12s\n" kind "load s" "1 KB MB/s" "100 KB MB/s" "10 MB MB/s"
for spec in "cl100k_base:$tok/tiktoken/cl100k_base.tiktoken" "o200k_base:$tok/tiktoken/o200k_base.tiktoken" \
            "gpt2:$tok/gpt2" "llama3:$tok/llama3/tokenizer.json" "wordpiece:$work/bert.json"; do
  name=${spec%%:*} file=${spec#*:}
  row=$(printf "%-14s" "$name") cells=""
  load=999
  for size in 1kb 100kb 10mb; do
    best=0
    for _ in 1 2 3; do
      # "load L s, encode E s for N bytes, total T s"
      read -r l e n < <("$lmc" tokenize --tokenizer "$file" --jsonl --time <"$work/$size.jsonl" 2>&1 >/dev/null |
        awk '{ print $2, $5, $8 }')
      load=$(awk -v a="$l" -v b="$load" 'BEGIN { print (a < b ? a : b) }')
      best=$(awk -v n="$n" -v e="$e" -v b="$best" 'BEGIN { r = n / 1e6 / e; print (r > b ? r : b) }')
    done
    cells+=$(printf " %12.1f" "$best")
  done
  printf "%s %8.3f%s\n" "$row" "$load" "$cells"
  cells=""
done

echo
echo "SentencePiece beside libsentencepiece (tests/tokenizer/spm_bench.py):"
/usr/bin/python3 tests/tokenizer/spm_bench.py "$lmc" "$assets" "$build/bench-spm"
