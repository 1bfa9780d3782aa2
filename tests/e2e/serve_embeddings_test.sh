#!/usr/bin/env bash
# MODEL serve's POST /v1/embeddings, through the official openai npm client:
#  - an encoder (BERT in miniature with the BGE WordPiece vocabulary, random weights) served
#    three times, with --pooling mean (the default), cls and pooler: texts (the client's
#    default base64, and floats), token ids and arrays of them give the model binary's
#    `embed --prompt/--tokens --pool P` vectors; usage counts [CLS] text [SEP]; bad inputs are
#    400s naming the field, another model's name 404;
#  - a decoder (stories260K) served twice, with --pooling last (the default) and mean: texts
#    (BOS, then the text, as a completion's prompt) and token ids give `embed --prompt/--tokens
#    --pool P`'s final hidden state, d_model floats; usage counts BOS and the text;
#  - the encoder's completions: 400 saying why; --pooling cls on a decoder, last on an encoder
#    or a bad value: one line, before serving; the chat page says the encoder only embeds.
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
# The decoder's: --pool last and mean for each text, last for token ids.
D=(--weights "$A/stories260K.bin" --tokenizer "$A/tok512.bin")
dtexts=("Once upon a time" "Lily saw a big dog. She was happy!")
for i in "${!dtexts[@]}"; do
  for pool in last mean; do
    "$plain_model" embed "${D[@]}" --prompt "${dtexts[$i]}" --pool $pool \
      --out "$work/d$i-$pool.npy" || fail "decoder embed --prompt ${dtexts[$i]} --pool $pool"
  done
done
dids=1,403,407,300
"$plain_model" embed "${D[@]}" --tokens "$dids" --pool last --out "$work/dids.npy" ||
  fail "decoder embed --tokens"

start_server() {  # NAME BINARY FLAGS...: sets ${NAME}_pid and ${NAME}_url
  local name=$1 binary=$2
  shift 2
  launch_server "$name" "$binary" serve --port 0 "$@"
}
trap 'for p in ${mean_pid:-} ${cls_pid:-} ${pooler_pid:-} ${plain_pid:-} ${dmean_pid:-}; do kill "$p" 2>/dev/null; done; rm -rf "$tmp"' EXIT
start_server mean "$bert" "${W[@]}"
start_server cls "$bert" "${W[@]}" --pooling cls
start_server pooler "$bert" "${W[@]}" --pooling pooler
start_server plain "$plain_model" "${D[@]}"
start_server dmean "$plain_model" "${D[@]}" --pooling mean

# The token counts ([CLS] text [SEP]) from the server's /tokenize, and the expected vectors.
for i in "${!texts[@]}"; do
  body=$(/usr/bin/python3 -c 'import json, sys; print(json.dumps({"content": sys.argv[1], "parse_special": True}))' "${texts[$i]}")
  curl -s "$mean_url/tokenize" -d "$body" >"$work/tok$i.json"
done
for i in "${!dtexts[@]}"; do  # The decoder's: the text's tokens, then BOS.
  body=$(/usr/bin/python3 -c 'import json, sys; print(json.dumps({"content": sys.argv[1]}))' "${dtexts[$i]}")
  curl -s "$plain_url/tokenize" -d "$body" >"$work/dtok$i.json"
done
/usr/bin/python3 - "$work" "$ids" "$dids" "$plain_url" "$dmean_url" "${#texts[@]}" "${texts[@]}" \
  "${dtexts[@]}" <<'PY'
import json, sys
import numpy as np
work, ids, dids, last_url, mean_url, n = sys.argv[1:7]
texts, dtexts = sys.argv[7 : 7 + int(n)], sys.argv[7 + int(n) :]
out = {"model": "tiny-bert-base", "ids": {ids: np.load(f"{work}/ids.npy").tolist()}, "tokens": {}}
for pool in ("mean", "cls", "pooler"):
    out[pool] = {t: np.load(f"{work}/e{i}-{pool}.npy").tolist() for i, t in enumerate(texts)}
for i, t in enumerate(texts):
    out["tokens"][t] = len(json.load(open(f"{work}/tok{i}.json"))["tokens"]) + 2
dec = {"model": "stories260k", "d_model": 64, "urls": {"last": last_url, "mean": mean_url},
       "ids": {dids: np.load(f"{work}/dids.npy").tolist()}, "tokens": {}}
for pool in ("last", "mean"):
    dec[pool] = {t: np.load(f"{work}/d{i}-{pool}.npy").tolist() for i, t in enumerate(dtexts)}
for i, t in enumerate(dtexts):
    dec["tokens"][t] = len(json.load(open(f"{work}/dtok{i}.json"))["tokens"]) + 1
out["decoder"] = dec
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

# Poolings that do not fit the model: one line, before serving.
expect_error "serve --pooling cls on a decoder" 2 "expected last or mean for a decoder" -- \
  "$plain_model" serve "${D[@]}" --pooling cls
expect_error "serve --pooling last on an encoder" 2 "expected mean, cls or pooler" -- \
  "$bert" serve "${W[@]}" --pooling last
expect_error "serve --pooling max" 2 "expected mean, cls or pooler" -- \
  "$bert" serve "${W[@]}" --pooling max
expect_error "embed --pool cls on a decoder" 2 "expected last or mean for a decoder" -- \
  "$plain_model" embed "${D[@]}" --tokens 1,2 --pool cls --out "$work/x.npy"

for name in mean cls pooler plain dmean; do
  pid_var=${name}_pid
  kill -TERM "${!pid_var}"
  wait "${!pid_var}" && pass "$name server: SIGTERM exits 0" || fail "$name server exit $?"
done
mean_pid="" cls_pid="" pooler_pid="" plain_pid="" dmean_pid=""
grep -E "Sanitizer|runtime error" "$work"/*.log && fail "sanitizer reports in the server logs"
finish
