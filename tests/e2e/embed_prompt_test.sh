#!/usr/bin/env bash
# A BERT encoder's `embed --prompt`: the text is tokenized with the model's
# tokenizer (here the WordPiece vocab of ggml-vocab-bert-bge.gguf) and wrapped as
# [CLS] ... [SEP]; special tokens in the text are their ids. The ids must be
# Hugging Face tokenizers' encoding with special tokens (npm, on a
# tokenizer.json written from the same vocab): embedding them
# with --tokens gives the same bytes. The spec's tokenizer.cls / sep win over the
# tokenizer's; with neither, --prompt is one clear error.
# Usage: embed_prompt_test.sh LMC SOURCE_DIR ASSETS CACHE_DIR
source "$(dirname "$0")/lib.sh"
lmc=$1 src=$2 assets=$3 cache=$4
gguf=$assets/vocab-gguf/ggml-vocab-bert-bge.gguf
require_asset "$gguf"
python=/usr/bin/python3
node_dir=$src/tests/tokenizer/spm-reference
spec=$src/tests/specs/valid/tiny-bert-base.yaml
sizes=(--set sizes.vocab=30522)

# The reference: tokenizers' ids with [CLS]/[SEP] for each text.
"$python" - "$src/tests/tokenizer" "$gguf" "$tmp" <<'PY'
import json, os, sys
here, gguf, tmp = sys.argv[1:4]
sys.argv = ["spm_reference_test.py", "", ""]
sys.path.insert(0, here)
import spm_reference_test as ref  # noqa: E402  (read_gguf, bert_tokenizer_json)
vocab = []
for t in ref.read_gguf(gguf)["tokenizer.ggml.tokens"]:  # llama.cpp's phantom-space form, undone
    vocab.append(t if t.startswith("[") and t.endswith("]") else
                 t[1:] if t.startswith("\u2581") else "##" + t)
ref.bert_tokenizer_json(vocab, os.path.join(tmp, "tokenizer.json"))
texts = ["Hello, world!", "", "The quick brown fox jumped over the lazy dog's back.",
         "Naïve café RÉSUMÉ — 日本語 tokenization, unaffable ##x [CLS] 3.14"]
with open(os.path.join(tmp, "texts.json"), "w") as f:
    json.dump(texts, f, ensure_ascii=False)
PY
node "$node_dir/wordpiece_reference.js" "$tmp/tokenizer.json" "$tmp/texts.json" "$tmp/ref.json" ||
  { fail "node reference (npm ci in tests/tokenizer/spm-reference)"; finish; exit 1; }

build() {  # build OUTPUT ARGS...
  local out=$1
  shift
  "$lmc" build "$spec" "${sizes[@]}" "$@" -o "$out" --cache-dir "$cache" >"$tmp/build.log" 2>&1 ||
    { fail "lmc build $*: $(cat "$tmp/build.log")"; finish; exit 1; }
}
build "$tmp/bert"
build "$tmp/bert_ids" --set tokenizer.cls=7 --set tokenizer.sep=9
"$lmc" random-weights "$spec" "${sizes[@]}" -o "$tmp/w.safetensors" --seed 5 >/dev/null

# ids N [CLS SEP]: the reference ids of text N, comma-separated, optionally with
# the first and last replaced.
ids() {
  "$python" -c '
import json, sys
row = json.load(open(sys.argv[1]))["ids"][int(sys.argv[2])]
if len(sys.argv) > 3: row = [int(sys.argv[3])] + row[1:-1] + [int(sys.argv[4])]
print(",".join(map(str, row)))' "$tmp/ref.json" "$@"
}
text() { "$python" -c 'import json, sys; print(json.load(open(sys.argv[1]))[int(sys.argv[2])])' \
  "$tmp/texts.json" "$1"; }

for i in 0 1 2 3; do
  t=$(text "$i")
  # The tokenizer's own [CLS] / [SEP] (the spec sets none).
  "$tmp/bert" embed --weights "$tmp/w.safetensors" --tokenizer "$gguf" --prompt "$t" \
    --out "$tmp/p$i.npy" 2>"$tmp/err" || fail "text $i: embed --prompt: $(cat "$tmp/err")"
  "$tmp/bert" embed --weights "$tmp/w.safetensors" --tokens "$(ids "$i")" --out "$tmp/t$i.npy"
  if cmp -s "$tmp/p$i.npy" "$tmp/t$i.npy"; then pass "text $i: --prompt embeds tokenizers' ids"
  else fail "text $i: --prompt differs from --tokens $(ids "$i")"; fi
  # The spec's cls 7 / sep 9 instead.
  "$tmp/bert_ids" embed --weights "$tmp/w.safetensors" --tokenizer "$gguf" --prompt "$t" \
    --pool mean --out "$tmp/q$i.npy" 2>"$tmp/err" || fail "text $i: spec ids: $(cat "$tmp/err")"
  "$tmp/bert_ids" embed --weights "$tmp/w.safetensors" --tokens "$(ids "$i" 7 9)" --pool mean \
    --out "$tmp/u$i.npy"
  if cmp -s "$tmp/q$i.npy" "$tmp/u$i.npy"; then pass "text $i: the spec's cls/sep wrap the prompt"
  else fail "text $i: spec cls/sep: --prompt differs from --tokens $(ids "$i" 7 9)"; fi
done
# Sanity: the spec's ids change the embedding (the check above could not pass by accident).
"$tmp/bert" embed --weights "$tmp/w.safetensors" --tokens "$(ids 0)" --pool mean --out "$tmp/m0.npy"
if cmp -s "$tmp/m0.npy" "$tmp/u0.npy"; then fail "cls/sep 7/9 embed as 101/102"
else pass "other cls/sep give another embedding"; fi

# No cls/sep anywhere: a byte-level BPE of the 256 byte symbols alone has no BOS/EOS.
mkdir -p "$tmp/bpe"
"$python" - "$tmp/bpe" <<'PY'
import json, os, sys
bs = [*range(33, 127), *range(161, 173), *range(174, 256)]
cs = bs + [256 + i for i in range(256 - len(bs))]
bs += [b for b in range(256) if b not in bs]
json.dump({chr(c): i for i, c in enumerate(cs)}, open(os.path.join(sys.argv[1], "encoder.json"), "w"))
open(os.path.join(sys.argv[1], "vocab.bpe"), "w").write("#version: 0.2\n")
PY
expect_error "no cls/sep in the spec or the tokenizer" 1 "no [CLS] id" -- \
  "$tmp/bert" embed --weights "$tmp/w.safetensors" --tokenizer "$tmp/bpe" --prompt "ab" \
  --out "$tmp/x.npy"
expect_error "--prompt and --tokens" 2 "not both" -- \
  "$tmp/bert" embed --weights "$tmp/w.safetensors" --tokenizer "$gguf" --prompt "a" --tokens 1 \
  --out "$tmp/x.npy"
expect_error "--prompt without a tokenizer" 2 "needs --tokenizer" -- \
  "$tmp/bert" embed --weights "$tmp/w.safetensors" --prompt "a" --out "$tmp/x.npy"
# embed --out never names an input: the weights through a hard link, the tokenizer through a
# symlink (no_overwrite_test covers the other writing commands).
ln "$tmp/w.safetensors" "$tmp/w-link"
expect_error "embed --out a hard link to the weights" 1 "is the input $tmp/w.safetensors" -- \
  "$tmp/bert" embed --weights "$tmp/w.safetensors" --tokens 101,102 --out "$tmp/w-link"
cp "$gguf" "$tmp/vocab.gguf"
ln -s "$tmp/vocab.gguf" "$tmp/vocab-link"
expect_error "embed --out a symlink to the tokenizer" 1 "is the input $tmp/vocab.gguf" -- \
  "$tmp/bert" embed --weights "$tmp/w.safetensors" --tokenizer "$tmp/vocab.gguf" --prompt "a" \
  --out "$tmp/vocab-link"
cmp -s "$gguf" "$tmp/vocab.gguf" && pass "the tokenizer is unchanged" || fail "the tokenizer changed"
finish
