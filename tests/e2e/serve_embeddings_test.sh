#!/usr/bin/env bash
# MODEL serve's POST /v1/embeddings, through the official openai npm client:
#  - an encoder (BERT in miniature with the BGE WordPiece vocabulary, random weights) served
#    three times, with --pooling mean (the default), cls and pooler: texts (the client's
#    default base64, and floats), token ids and arrays of them give the model binary's
#    `embed --prompt/--tokens --pool P` vectors; usage counts [CLS] text [SEP]; bad inputs are
#    400s naming the field, another model's name 404;
#  - the encoder's completions, a decoder's embeddings (stories260K: its compiled code gives
#    logits, not hidden states): 400 saying why; --pooling on a decoder or with a bad value:
#    one line, before serving; the chat page says the encoder only embeds.
# usage: serve_embeddings_test.sh LMC SOURCE_DIR ASSETS PLAIN_MODEL WORK_DIR
source "$(dirname "$0")/lib.sh"
lmc=$1 src=$2 assets=$3 plain_model=$4 work=$5
mkdir -p "$work"
gguf=$assets/vocab-gguf/ggml-vocab-bert-bge.gguf
A=$assets/llama2c-stories260K
require_asset "$gguf"
require_asset "$A/stories260K.bin"
spec=$src/tests/specs/valid/tiny-bert-base.yaml
sizes=(--set sizes.vocab=30522)
client=$src/tests/e2e/serve-openai
if [ ! -d "$client/node_modules/openai" ]; then
  (cd "$client" && npm ci --no-audit --no-fund --silent) ||
    { fail "npm ci of the openai client failed"; finish; exit 1; }
fi

bert=$work/bert
expect_status 0 "lmc build of the encoder" -- "$lmc" build "$spec" "${sizes[@]}" --native \
  -o "$bert" --cache-dir "$work/lmc-cache"
expect_status 0 "random weights" -- "$lmc" random-weights "$spec" "${sizes[@]}" \
  -o "$work/w.safetensors" --seed 5
W=(--weights "$work/w.safetensors" --tokenizer "$gguf")

# The CLI's vectors: embed --pool P for each text and each pooling, and for token ids.
texts=("Hello, world!" "The quick brown fox jumped over the lazy dog's back." "Naïve café, 日本語 [SEP] 3.14")
for i in "${!texts[@]}"; do
  for pool in mean cls pooler; do
    "$bert" embed "${W[@]}" --prompt "${texts[$i]}" --pool $pool --out "$work/e$i-$pool.npy" ||
      fail "embed --prompt ${texts[$i]} --pool $pool"
  done
done
ids=101,7592,1010,2088,999,102
"$bert" embed "${W[@]}" --tokens "$ids" --pool mean --out "$work/ids.npy" || fail "embed --tokens"

start_server() {  # NAME BINARY FLAGS...: sets ${NAME}_pid and ${NAME}_url
  local name=$1 binary=$2
  shift 2
  launch_server "$name" "$binary" serve --port 0 "$@"
}
trap 'for p in ${mean_pid:-} ${cls_pid:-} ${pooler_pid:-} ${plain_pid:-}; do kill "$p" 2>/dev/null; done; rm -rf "$tmp"' EXIT
start_server mean "$bert" "${W[@]}"
start_server cls "$bert" "${W[@]}" --pooling cls
start_server pooler "$bert" "${W[@]}" --pooling pooler

# The token counts ([CLS] text [SEP]) from the server's /tokenize, and the expected vectors.
for i in "${!texts[@]}"; do
  body=$(/usr/bin/python3 -c 'import json, sys; print(json.dumps({"content": sys.argv[1], "parse_special": True}))' "${texts[$i]}")
  curl -s "$mean_url/tokenize" -d "$body" >"$work/tok$i.json"
done
/usr/bin/python3 - "$work" "$ids" "${texts[@]}" <<'PY'
import json, sys
import numpy as np
work, ids, texts = sys.argv[1], sys.argv[2], sys.argv[3:]
out = {"model": "tiny-bert-base", "ids": {ids: np.load(f"{work}/ids.npy").tolist()}, "tokens": {}}
for pool in ("mean", "cls", "pooler"):
    out[pool] = {t: np.load(f"{work}/e{i}-{pool}.npy").tolist() for i, t in enumerate(texts)}
for i, t in enumerate(texts):
    out["tokens"][t] = len(json.load(open(f"{work}/tok{i}.json"))["tokens"]) + 2
json.dump(out, open(f"{work}/expected.json", "w"), ensure_ascii=False)
PY
node "$client/embeddings_test.mjs" "$mean_url" "$cls_url" "$pooler_url" "$work/expected.json" \
  >"$work/embeddings.out" 2>&1
status=$?
cat "$work/embeddings.out"
passed=$((passed + $(grep -c '^ok:' "$work/embeddings.out")))
failed=$((failed + $(grep -c '^FAIL:' "$work/embeddings.out")))
[ "$status" = 0 ] || grep -q '^FAIL:' "$work/embeddings.out" || fail "embeddings_test.mjs exited $status"

# The encoder does not generate; its chat page says it only embeds.
code=$(curl -s -o "$tmp/body" -w '%{http_code}' "$mean_url/v1/completions" -d '{"prompt": "x"}')
case "$code $(cat "$tmp/body")" in "400 "*"is an encoder"*) pass "an encoder's completions: 400" ;;
  *) fail "encoder completions: $code $(cat "$tmp/body")" ;; esac
curl -s "$mean_url/" | grep -q '^const config = {.*"embeddings":true' &&
  pass "the chat page knows the encoder only embeds" || fail "encoder page config"

# A decoder cannot embed.
start_server plain "$plain_model" --weights "$A/stories260K.bin" --tokenizer "$A/tok512.bin"
code=$(curl -s -o "$tmp/body" -w '%{http_code}' "$plain_url/v1/embeddings" -d '{"input": "x"}')
case "$code $(cat "$tmp/body")" in "400 "*"model_cannot_embed"*"logits, not hidden states"*)
  pass "a decoder's embeddings: 400 saying why" ;;
  *) fail "decoder embeddings: $code $(cat "$tmp/body")" ;; esac
expect_error "serve --pooling on a decoder" 2 "--pooling is for encoders" -- \
  "$plain_model" serve --weights "$A/stories260K.bin" --tokenizer "$A/tok512.bin" --pooling mean
expect_error "serve --pooling max" 2 "expected mean, cls or pooler" -- \
  "$bert" serve "${W[@]}" --pooling max

for name in mean cls pooler plain; do
  pid_var=${name}_pid
  kill -TERM "${!pid_var}"
  wait "${!pid_var}" && pass "$name server: SIGTERM exits 0" || fail "$name server exit $?"
done
mean_pid="" cls_pid="" pooler_pid="" plain_pid=""
grep -E "Sanitizer|runtime error" "$work"/*.log && fail "sanitizer reports in the server logs"
finish
