#!/usr/bin/env bash
# `MODEL serve` end to end on stories260K, on loopback ports the kernel picks (--port 0):
#  - /health, /v1/models, /tokenize, /detokenize, /metrics;
#  - /v1/completions: greedy text equals `generate`'s, for a short prompt, token ids, and a
#    prompt long enough to be prefilled in several chunks; stop strings; streamed as SSE
#    (every line `data: ...`, ending `data: [DONE]`) with the same text;
#  - /v1/chat/completions with the model's compiled chat template (Zephyr's, as chat_model
#    builds it): greedy reply equals `chat`'s, streamed too; a model without a template: 400;
#  - sampling parameters: logprobs equal to the log-softmax of the CLI's `logits`; logit_bias,
#    frequency, presence and repeat penalties on a crafted case; n = 2; JSON output (json_object,
#    json_schema) that Python parses and a small schema check validates;
#  - errors: bad JSON, wrong types, out-of-range values, context overflow, unknown model, n,
#    penalties, logit_bias, logprobs, an unsupported schema keyword,
#    unknown path and method, a 2 MB body (413), a client sending its request too slowly (408),
#    API keys (401);
#  - 4 concurrent streaming clients on 2 slots (2 queue) each get their greedy text; a client
#    that disconnects mid-stream does not disturb the others; SIGTERM with a stream in flight:
#    exit 0.
# usage: serve_test.sh LMC SOURCE_DIR ASSETS PLAIN_MODEL WORK_DIR
source "$(dirname "$0")/lib.sh"
lmc=$1 src=$2 assets=$3 plain_model=$4 work=$5
mkdir -p "$work"
A=$assets/llama2c-stories260K
require_asset "$A/stories260K.bin"
require_asset "$A/tok512.bin"
W=(--weights "$A/stories260K.bin" --tokenizer "$A/tok512.bin")

# stories260K with Zephyr's chat template, as the chat_model test builds it.
zephyr_chat_files "$src" "$work"
model=$work/stories260k-chat
expect_status 0 "lmc build with a chat template" -- \
  "$lmc" build "$src/specs/stories260k.yaml" --native -o "$model" \
  --set tokenizer.chat_template="$work/tokenizer_config.json" --cache-dir "$work/lmc-cache"

# start_server NAME BINARY FLAGS...: runs it in the background on a free port; sets
# ${NAME}_pid and ${NAME}_url.
start_server() {
  local name=$1 binary=$2
  shift 2
  launch_server "$name" "$binary" serve "${W[@]}" --port 0 "$@"
}
# The servers are stopped at the end, whatever happens.
trap 'for p in ${main_pid:-} ${plain_pid:-} ${keyed_pid:-} ${busy_pid:-}; do kill "$p" 2>/dev/null; done; rm -rf "$tmp"' EXIT

start_server main "$model" --slots 2 --queue 8 --timeout 1
echo "main server: $main_url"

# Bad flags: one line, before serving.
expect_error "serve without --weights" 2 "needs --weights" -- "$model" serve --port 0
expect_error "serve --host NAME" 1 "expected an IP address" -- "$model" serve "${W[@]}" --host example.com
expect_error "serve on a port in use" 1 "Address already in use" -- \
  "$model" serve "${W[@]}" --port "${main_url##*:}"
expect_error "serve --api-key-file missing" 2 "--api-key-file" -- \
  "$model" serve "${W[@]}" --api-key-file "$work/no-such-key"

# request METHOD PATH [BODY] [CURL FLAGS...]: sets $code and $body.
request() {
  local method=$1 path=$2 data=${3:-}
  shift 3 2>/dev/null || shift $#
  local args=(-s -o "$tmp/body" -w '%{http_code}' -X "$method" "$@")
  [ -n "$data" ] && args+=(-H 'Content-Type: application/json' --data-binary "$data")
  code=$(curl "${args[@]}" "$main_url$path") || code="curl-failed"
  body=$(cat "$tmp/body" 2>/dev/null)
}
# jget EXPR: evaluates a Python expression over the JSON in $body (as `j`).
jget() { printf '%s' "$body" | /usr/bin/python3 -c "import json,sys; j=json.load(sys.stdin); print($1)"; }

request GET /health
[ "$code" = 200 ] && [ "$(jget 'j["status"]')" = ok ] && pass "/health" || fail "/health: $code $body"
request GET /v1/models
[ "$code" = 200 ] && [ "$(jget 'j["data"][0]["id"]')" = stories260k ] && pass "/v1/models" ||
  fail "/v1/models: $code $body"
request POST /tokenize '{"content": "Once upon a time", "add_special": true}'
[ "$(jget 'j["tokens"]')" = "[1, 403, 407, 261, 378]" ] && pass "/tokenize" || fail "/tokenize: $body"
request POST /detokenize '{"tokens": [403, 407, 261, 378]}'
[ "$(jget 'j["content"]')" = "Once upon a time" ] && pass "/detokenize" || fail "/detokenize: $body"

# Greedy completions equal generate's continuation.
# complete PROMPT_JSON N: the greedy completion's text in $text.
complete() {
  request POST /v1/completions "{\"model\": \"stories260k\", \"prompt\": $1, \"max_tokens\": $2, \"temperature\": 0}"
  text=$(jget 'j["choices"][0]["text"]')
  finish_reason=$(jget 'j["choices"][0]["finish_reason"]')
}
expected=$("$model" generate "${W[@]}" --prompt "Once upon a time" -n 40 --temperature 0 2>/dev/null)
complete '"Once upon a time"' 40
[ "$code" = 200 ] && [ "Once upon a time$text" = "$expected" ] &&
  pass "greedy completion equals generate's ($finish_reason)" ||
  fail "greedy completion: $code '$text' vs generate '$expected'"
[ "$(jget 'j["usage"]["prompt_tokens"]')" = 5 ] && pass "usage counts the prompt's 5 tokens" ||
  fail "usage: $body"
greedy40=$text
complete '[1, 403, 407, 261, 378]' 40
[ "$text" = "$greedy40" ] && pass "a prompt of token ids gives the same text" || fail "token ids: $text"

# A prompt of ~200 tokens: prefilled in chunks of 64 while nothing else runs.
long_prompt="Once upon a time, there was a little girl named Lily. She loved to play outside in the sun. One day, she saw a big tree with a swing. She wanted to play on the swing, but it was too high. She asked her mom to help her. Her mom said yes and lifted her up. Lily was so happy. She swung back and forth and laughed. Then a bird came and sat on the tree. The bird sang a song. Lily liked the song. She said thank you to the bird. The bird flew away. Lily went home and told her dad about the bird and the swing. He smiled and gave her a hug."
expected=$("$model" generate "${W[@]}" --prompt "$long_prompt" -n 30 --temperature 0 2>/dev/null)
complete "\"$long_prompt\"" 30
prompt_tokens=$(jget 'j["usage"]["prompt_tokens"]')
[ "$long_prompt$text" = "$expected" ] && [ "$prompt_tokens" -gt 128 ] &&
  pass "a $prompt_tokens-token prompt (chunked prefill): greedy equals generate's" ||
  fail "long prompt ($prompt_tokens tokens): '$text' vs '${expected#"$long_prompt"}'"

# Stop strings: the text ends before the first match, finish_reason stop.
stop_word=$(printf '%s' "$greedy40" | /usr/bin/python3 -c "import sys; t=sys.stdin.read(); print(t.split()[4])")
request POST /v1/completions "{\"prompt\": \"Once upon a time\", \"max_tokens\": 40, \"temperature\": 0, \"stop\": [\"zzz\", \" $stop_word\"]}"
want=${greedy40%%" $stop_word"*}
[ "$(jget 'j["choices"][0]["text"]')" = "$want" ] && [ "$(jget 'j["choices"][0]["finish_reason"]')" = stop ] &&
  pass "stop ' $stop_word': text cut before it" || fail "stop: $body (want '$want')"

# sse_text FILE: checks the framing of a stream (every event `data: ...` and a blank line,
# `data: [DONE]` last) and prints the text its chunks carry ("ERROR ..." if malformed).
sse_text() {
  /usr/bin/python3 - "$1" <<'PY'
import json, sys
raw = open(sys.argv[1], encoding="utf-8").read()
if not raw.endswith("data: [DONE]\n\n"):
    print("ERROR: no final data: [DONE]"); sys.exit()
events = raw[:-len("\n\n")].split("\n\n")
text, finish = "", None
for e in events[:-1]:
    if not e.startswith("data: ") or "\n" in e:
        print("ERROR: malformed event " + repr(e)); sys.exit()
    c = json.loads(e[6:])["choices"][0]
    text += c.get("text", "") + c.get("delta", {}).get("content", "")
    finish = c["finish_reason"] or finish
print(text + "|" + str(finish))
PY
}
curl -sN "$main_url/v1/completions" -H 'Content-Type: application/json' \
  -d '{"prompt": "Once upon a time", "max_tokens": 40, "temperature": 0, "stream": true}' >"$work/stream.txt"
got=$(sse_text "$work/stream.txt")
[ "$got" = "$greedy40|length" ] || [ "$got" = "$greedy40|stop" ] &&
  pass "streamed completion: SSE framing, [DONE], same text" || fail "stream: $got"
curl -sN "$main_url/v1/completions" -H 'Content-Type: application/json' \
  -d "{\"prompt\": \"Once upon a time\", \"max_tokens\": 40, \"temperature\": 0, \"stream\": true, \"stop\": \" $stop_word\"}" >"$work/stream_stop.txt"
[ "$(sse_text "$work/stream_stop.txt")" = "$want|stop" ] && pass "streamed stop string held back" ||
  fail "streamed stop: $(sse_text "$work/stream_stop.txt")"

# Sampling: same seed, same text.
sample() { request POST /v1/completions "{\"prompt\": \"Once upon a time\", \"max_tokens\": 30, \"temperature\": 1, \"top_p\": 0.9, \"top_k\": 40, \"seed\": $1}"; jget 'j["choices"][0]["text"]'; }
a=$(sample 7) b=$(sample 7)
[ -n "$a" ] && [ "$a" = "$b" ] && pass "sampling with a seed is reproducible" || fail "seeded: '$a' vs '$b'"

# Chat: greedy reply equals `chat`'s; streamed the same.
messages=$(cat "$work/one.json")
expected_chat=$("$model" chat "${W[@]}" --messages "$work/one.json" --temperature 0 -n 24 2>/dev/null)
request POST /v1/chat/completions "{\"model\": \"stories260k\", \"messages\": $messages, \"max_tokens\": 24, \"temperature\": 0}"
reply=$(jget 'j["choices"][0]["message"]["content"]')
[ "$code" = 200 ] && [ "$reply" = "$expected_chat" ] && [ "$(jget 'j["object"]')" = chat.completion ] &&
  pass "chat reply equals chat's" || fail "chat: $code '$reply' vs '$expected_chat' ($body)"
curl -sN "$main_url/v1/chat/completions" -H 'Content-Type: application/json' \
  -d "{\"messages\": $messages, \"max_tokens\": 24, \"temperature\": 0, \"stream\": true}" >"$work/chat_stream.txt"
got=$(sse_text "$work/chat_stream.txt")
[ "${got%|*}" = "$expected_chat" ] && grep -q '"role":"assistant"' "$work/chat_stream.txt" &&
  pass "streamed chat: role first, same reply" || fail "streamed chat: $got"

# Errors: OpenAI's shape, the right status, the field named.
# expect_api_error STATUS PARAM PATH BODY [CURL FLAGS]
expect_api_error() {
  local status=$1 param=$2 path=$3 data=$4
  shift 4
  request POST "$path" "$data" "$@"
  local got
  got=$(jget '"%s|%s|%s" % (j["error"]["type"], j["error"]["param"], bool(j["error"]["message"]))' 2>/dev/null)
  if [ "$code" = "$status" ] && [[ "$got" == *"|$param|True" ]]; then
    pass "$status for $path ${data:0:60}"
  else
    fail "expected $status ($param) for ${data:0:80}: $code $body"
  fi
}
expect_api_error 400 None /v1/completions '{"prompt": "x", '
expect_api_error 400 body /v1/completions '[1, 2]'
expect_api_error 400 temperature /v1/completions '{"prompt": "x", "temperature": -1}'
expect_api_error 400 top_p /v1/completions '{"prompt": "x", "top_p": 1.5}'
expect_api_error 400 max_tokens /v1/completions '{"prompt": "x", "max_tokens": "ten"}'
expect_api_error 400 max_tokens /v1/completions '{"prompt": "x", "max_tokens": 100000}'
expect_api_error 400 max_tokens /v1/completions '{"prompt": "x", "max_tokens": 510}'
expect_api_error 400 prompt /v1/completions '{"max_tokens": 5}'
expect_api_error 400 prompt /v1/completions '{"prompt": [1, 99999]}'
expect_api_error 400 n /v1/completions '{"prompt": "x", "n": 0}'
expect_api_error 400 n /v1/completions '{"prompt": "x", "n": 17}'
expect_api_error 400 n /v1/completions '{"prompt": "x", "n": 12}'
expect_api_error 400 presence_penalty /v1/completions '{"prompt": "x", "presence_penalty": 3}'
expect_api_error 400 repeat_penalty /v1/completions '{"prompt": "x", "repeat_penalty": 0}'
expect_api_error 400 logit_bias /v1/completions '{"prompt": "x", "logit_bias": {"9999": 1}}'
expect_api_error 400 logprobs /v1/completions '{"prompt": "x", "logprobs": 21}'
expect_api_error 400 top_logprobs /v1/chat/completions '{"messages": [{"role": "user", "content": "x"}], "top_logprobs": 2}'
expect_api_error 400 stop /v1/completions '{"prompt": "x", "stop": 5}'
expect_api_error 404 model /v1/completions '{"prompt": "x", "model": "gpt-4"}'
expect_api_error 400 messages /v1/chat/completions '{"messages": "hi"}'
expect_api_error 400 'messages[0].content' /v1/chat/completions '{"messages": [{"role": "user"}]}'
long=$(printf 'Once upon a time %.0s' $(seq 200))
expect_api_error 400 prompt /v1/completions "{\"prompt\": \"$long\"}"
# Sampling parameters. Logprobs: each generated token's equals the log-softmax of the CLI's
# `logits` at its position (greedy: the most likely of its alternatives, whose probabilities
# sum to at most 1).
ids=$("$model" generate "${W[@]}" --tokens 1,403,407,261,378 --ids -n 6 --temperature 0 2>/dev/null)
"$model" logits --weights "$A/stories260K.bin" --tokens "1,403,407,261,378,$(echo $ids | cut -d' ' -f1-5 | tr ' ' ,)" \
  --out "$work/logits.npy" 2>/dev/null
request POST /v1/completions '{"prompt": [1, 403, 407, 261, 378], "max_tokens": 6, "temperature": 0, "logprobs": 3}'
printf '%s' "$body" >"$work/logprobs.json"
got=$(/usr/bin/python3 - "$work/logprobs.json" "$work/logits.npy" <<'PY'
import ast, json, math, struct, sys
lp = json.load(open(sys.argv[1]))["choices"][0]["logprobs"]
raw = open(sys.argv[2], "rb").read()
header_len = struct.unpack("<H", raw[8:10])[0]
header = ast.literal_eval(raw[10:10 + header_len].decode())
rows, vocab = header["shape"]
values = struct.unpack("<%df" % (rows * vocab), raw[10 + header_len:])
errors = []
for i, (chosen, top) in enumerate(zip(lp["token_logprobs"], lp["top_logprobs"])):
    row = values[(4 + i) * vocab:(5 + i) * vocab]
    m = max(row)
    log_z = m + math.log(sum(math.exp(v - m) for v in row))
    want = m - log_z  # greedy: the argmax
    if abs(chosen - want) > 1e-4: errors.append("token %d: %f vs %f" % (i, chosen, want))
    if len(top) != 3 or sum(math.exp(v) for v in top.values()) > 1 + 1e-6: errors.append("top %d" % i)
    if abs(max(top.values()) - chosen) > 1e-6: errors.append("token %d is not the most likely" % i)
offsets_ok = lp["text_offset"] == [sum(len(t.encode()) for t in lp["tokens"][:i]) for i in range(len(lp["tokens"]))]
print("ok" if not errors and len(lp["tokens"]) == 6 and offsets_ok else "; ".join(errors) or json.dumps(lp))
PY
)
[ "$got" = ok ] && pass "logprobs: 6 tokens equal the log-softmax of the CLI's logits (1e-4), top 3 sum <= 1" ||
  fail "logprobs: $got"

# Penalties on a crafted case: a +100 logit_bias makes " Once" every token; a frequency
# penalty of 2 per repeat ends the run, a presence penalty (a constant 2) does not; the repeat
# penalty changes the greedy story.
once() { request POST /v1/completions "{\"prompt\": \"Once upon a time\", \"max_tokens\": $1, \"temperature\": 0, \"logit_bias\": {\"403\": 100}$2}"; jget 'j["choices"][0]["text"].split().count("Once")'; }
[ "$(once 8 '')" = 8 ] && pass "logit_bias +100: the token every time" || fail "logit_bias: $body"
n_freq=$(once 60 ', "frequency_penalty": 2')
n_pres=$(once 60 ', "presence_penalty": 2')
[ "$n_freq" -gt 1 ] && [ "$n_freq" -lt 60 ] && [ "$n_pres" = 60 ] &&
  pass "frequency_penalty 2 ends the run after $n_freq; presence_penalty 2 does not" ||
  fail "penalties: frequency $n_freq, presence $n_pres of 60"
complete '"Once upon a time"' 60
greedy60=$text
request POST /v1/completions '{"prompt": "Once upon a time", "max_tokens": 60, "temperature": 0, "repeat_penalty": 1.5}'
repeat60=$(jget 'j["choices"][0]["text"]')
[ "$repeat60" != "$greedy60" ] && [ "${repeat60:0:20}" = "${greedy60:0:20}" ] &&
  pass "repeat_penalty 1.5 changes the greedy text once words repeat" || fail "repeat_penalty: '$repeat60'"

# n: choice 0 is the request's seed, as with n = 1; choice 1 another draw.
request POST /v1/completions '{"prompt": "Once upon a time", "max_tokens": 20, "seed": 11, "n": 2}'
two=$body
request POST /v1/completions '{"prompt": "Once upon a time", "max_tokens": 20, "seed": 11}'
one=$(jget 'j["choices"][0]["text"]')
body=$two
[ "$(jget '[c["index"] for c in j["choices"]]')" = "[0, 1]" ] &&
  [ "$(jget 'j["choices"][0]["text"]')" = "$one" ] &&
  [ "$(jget 'j["choices"][1]["text"] != j["choices"][0]["text"]')" = True ] &&
  [ "$(jget 'j["usage"]["completion_tokens"]')" = 40 ] &&
  pass "n=2: two choices, the first as n=1 with the same seed" || fail "n=2: $two vs '$one'"

# Constrained output, checked by Python's json and a small schema check of its own.
schema='{"type": "object", "properties": {"animal": {"enum": ["cat", "dog", "bird"]}, "happy": {"type": "boolean"}, "age": {"type": "integer"}, "name": {"type": "string"}, "toys": {"type": "array", "items": {"type": "string"}, "maxItems": 2}}, "required": ["animal", "happy", "age"], "additionalProperties": false}'
validate() {
  /usr/bin/python3 - "$1" "$2" <<'PY'
import json, sys
def check(v, s, where="$"):
    types = s.get("type")
    types = [types] if isinstance(types, str) else types
    kinds = {"object": dict, "array": list, "string": str, "boolean": bool, "null": type(None)}
    if "enum" in s and v not in s["enum"]: raise ValueError(where + ": not in enum")
    if types:
        ok = any((t == "integer" and isinstance(v, int) and not isinstance(v, bool)) or
                 (t == "number" and isinstance(v, (int, float)) and not isinstance(v, bool)) or
                 (t in kinds and isinstance(v, kinds[t])) for t in types)
        if not ok: raise ValueError(where + ": not of type " + str(types))
    if isinstance(v, dict):
        props = s.get("properties", {})
        for k in s.get("required", []):
            if k not in v: raise ValueError(where + ": no " + k)
        for k, x in v.items():
            if k in props: check(x, props[k], where + "." + k)
            elif s.get("additionalProperties") is False: raise ValueError(where + ": extra " + k)
    if isinstance(v, list):
        if len(v) > s.get("maxItems", len(v)): raise ValueError(where + ": too many items")
        for i, x in enumerate(v): check(x, s.get("items", {}), "%s[%d]" % (where, i))
reply = json.loads(sys.argv[1])
c = reply["choices"][0]
text = c["message"]["content"] if "message" in c else c["text"]
doc = json.loads(text)
check(doc, json.loads(sys.argv[2]))
print("valid", c["finish_reason"], len(text))
PY
}
request POST /v1/chat/completions "{\"messages\": $messages, \"max_tokens\": 200, \"temperature\": 0, \"response_format\": {\"type\": \"json_schema\", \"json_schema\": {\"name\": \"pet\", \"schema\": $schema}}}"
got=$(validate "$body" "$schema" 2>&1)
[[ "$got" == "valid stop "* ]] && pass "json_schema (greedy chat): parses and validates ($got)" ||
  fail "json_schema: $got ($body)"
# Sampled, with a schema of bounded values only (this model's strings may run past max_tokens).
closed='{"type": "object", "properties": {"animal": {"enum": ["cat", "dog"]}, "legs": {"type": "integer"}, "pets": {"type": "array", "items": {"type": ["boolean", "null"]}, "maxItems": 3}}, "required": ["animal", "legs", "pets"]}'
request POST /v1/completions "{\"prompt\": \"Once upon a time\", \"max_tokens\": 120, \"temperature\": 0.8, \"seed\": 3, \"response_format\": {\"type\": \"json_schema\", \"json_schema\": {\"schema\": $closed}}}"
got=$(validate "$body" "$closed" 2>&1)
[[ "$got" == "valid stop "* ]] && pass "json_schema (sampled completion): parses and validates" ||
  fail "json_schema sampled: $got ($body)"
# json_object: any object ('}' made a little likelier, so that this model closes it soon).
request POST /v1/completions '{"prompt": "Once upon a time", "max_tokens": 100, "temperature": 0, "response_format": {"type": "json_object"}, "logit_bias": {"128": 6}}'
got=$(validate "$body" '{"type": "object"}' 2>&1)
[[ "$got" == "valid stop "* ]] && pass "json_object: an object that parses" || fail "json_object: $got ($body)"
expect_api_error 400 response_format /v1/completions '{"prompt": "x", "response_format": {"type": "json_schema", "json_schema": {"schema": {"type": "string", "pattern": "a"}}}}'
case "$(jget 'j["error"]["message"]')" in *"'pattern' is not supported"*) pass "the unsupported keyword is named" ;;
  *) fail "unsupported keyword: $body" ;; esac

request GET /nowhere
[ "$code" = 404 ] && pass "404 for an unknown path" || fail "unknown path: $code $body"
request GET /v1/completions
[ "$code" = 405 ] && pass "405 for GET /v1/completions" || fail "GET completions: $code"
head -c 2000000 /dev/zero | tr '\0' 'a' >"$work/big.txt"
code=$(curl -s -o "$tmp/body" -w '%{http_code}' -H 'Content-Type: application/json' \
  --data-binary @"$work/big.txt" "$main_url/v1/completions")
[ "$code" = 413 ] && pass "413 for a 2 MB body" || fail "big body: $code $(cat "$tmp/body")"

# A client sending its request a byte at a time: dropped after --timeout (1 s) with 408,
# while others are served meanwhile.
/usr/bin/python3 - "${main_url#http://}" >"$work/slow.out" 2>&1 <<'PY' &
import socket, sys, time
host, port = sys.argv[1].split(":")
s = socket.create_connection((host, int(port)))
start = time.time()
try:
    for b in b"POST /v1/completions HTTP/1.1\r\nHost: x\r\n":
        s.send(bytes([b])); time.sleep(0.1)
except OSError:
    pass
reply = s.recv(1000).decode(errors="replace")
print(reply.split("\r\n")[0], round(time.time() - start, 1))
PY
slow=$!
sleep 0.3
request GET /health
[ "$code" = 200 ] && pass "served while a slow client sends" || fail "health during slow client: $code"
wait "$slow"
case "$(cat "$work/slow.out")" in *"408"*) pass "slow client: $(cat "$work/slow.out") s" ;;
  *) fail "slow client: $(cat "$work/slow.out")" ;; esac

# 4 concurrent streams on 2 slots, and a fifth client that disconnects after its first event:
# each stream gets the greedy text it gets alone, with JSON output, penalties and logprobs too.
prompts=("Once upon a time" "The cat" "Tom and Sue went" "One day, a little bird")
extras=("" ", \"response_format\": {\"type\": \"json_schema\", \"json_schema\": {\"schema\": $schema}}"
        ", \"frequency_penalty\": 1.5, \"presence_penalty\": 0.5, \"logit_bias\": {\"403\": 5}"
        ", \"logprobs\": 2, \"repeat_penalty\": 1.3")
for i in 0 1 2 3; do
  complete "\"${prompts[$i]}\"${extras[$i]}" 60
  alone[$i]=$text
done
/usr/bin/python3 - "${main_url#http://}" <<'PY' &
import socket, sys
host, port = sys.argv[1].split(":")
s = socket.create_connection((host, int(port)))
body = b'{"prompt": "Once upon a time", "max_tokens": 500, "stream": true, "temperature": 0}'
s.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
          b"Content-Length: %d\r\n\r\n" % len(body) + body)
s.recv(200)
s.close()
PY
gone=$!
for i in 0 1 2 3; do
  curl -sN "$main_url/v1/completions" -H 'Content-Type: application/json' \
    -d "{\"prompt\": \"${prompts[$i]}\"${extras[$i]}, \"max_tokens\": 60, \"temperature\": 0, \"stream\": true}" \
    >"$work/concurrent$i.txt" &
  pids[$i]=$!
done
wait "$gone" "${pids[@]}"
ok=0
for i in 0 1 2 3; do
  got=$(sse_text "$work/concurrent$i.txt")
  got=$(printf '%s' "${got%|*}")  # without trailing newlines, as $alone
  [ "$got" = "${alone[$i]}" ] && ok=$((ok + 1)) || echo "stream $i: '$got' vs '${alone[$i]}'"
done
[ "$ok" = 4 ] && pass "4 concurrent streams (2 slots; JSON, penalties, logprobs) and a client gone mid-stream: each text as alone" ||
  fail "$ok of 4 concurrent streams correct"

request GET /metrics
cancelled=$(printf '%s\n' "$body" | sed -n 's/^lmc_requests_cancelled_total //p')
[ "${cancelled:-0}" -ge 1 ] && pass "the vanished client's request was cancelled ($cancelled)" ||
  fail "no request cancelled after a client vanished: $body"
case "$body" in *'lmc_requests_total{path="/v1/completions",status="200"}'*lmc_generated_tokens_total*)
  pass "/metrics: requests and tokens" ;; *) fail "/metrics: $body" ;; esac

# The official openai npm client (pinned in serve-openai/package-lock.json).
client=$src/tests/e2e/serve-openai
if [ ! -d "$client/node_modules/openai" ]; then
  (cd "$client" && npm ci --no-audit --no-fund --silent) ||
    fail "npm ci of the openai client failed (needs node, npm and the npm registry)"
fi
node "$client/openai_test.mjs" "$main_url" "$greedy40" "$expected_chat" "$work/one.json" \
  >"$work/openai.out" 2>&1 || fail "the openai client test failed"
cat "$work/openai.out"
passed=$((passed + $(grep -c '^ok:' "$work/openai.out")))
failed=$((failed + $(grep -c '^FAIL:' "$work/openai.out")))

# No chat template: chat answers 400 with a clear message.
start_server plain "$plain_model"
code=$(curl -s -o "$tmp/body" -w '%{http_code}' "$plain_url/v1/chat/completions" \
  -H 'Content-Type: application/json' -d "{\"messages\": $messages}")
case "$code $(cat "$tmp/body")" in "400 "*"no chat template"*) pass "chat without a template: 400" ;;
  *) fail "chat without a template: $code $(cat "$tmp/body")" ;; esac
# SIGTERM with an idle connection open (nothing sent; --timeout is 10 s): exits at once.
/usr/bin/python3 -c "import socket, sys, time; s = socket.create_connection(('127.0.0.1', int(sys.argv[1]))); time.sleep(8)" "${plain_url##*:}" &
idle=$!
sleep 0.3
start=$(date +%s%N)
kill -TERM "$plain_pid"
wait "$plain_pid" && pass "plain server: SIGTERM exits 0" || fail "plain server exit $?"
ms=$((($(date +%s%N) - start) / 1000000))
[ "$ms" -lt 3000 ] && pass "an idle connection does not hold up SIGTERM (${ms} ms)" ||
  fail "SIGTERM took $ms ms with an idle connection"
kill "$idle" 2>/dev/null

# API keys.
printf 'sk-test-123\n' >"$work/key"
start_server keyed "$model" --api-key-file "$work/key"
keyed() { curl -s -o /dev/null -w '%{http_code}' "$@"; }
[ "$(keyed "$keyed_url/v1/models")" = 401 ] && pass "401 without a key" || fail "no key: not 401"
[ "$(keyed -H 'Authorization: Bearer sk-test-12' "$keyed_url/v1/models")" = 401 ] &&
  pass "401 with a wrong key" || fail "wrong key: not 401"
[ "$(keyed -H 'Authorization: Bearer sk-test-123' "$keyed_url/v1/models")" = 200 ] &&
  pass "200 with the key" || fail "right key: not 200"
[ "$(keyed "$keyed_url/health")" = 200 ] && pass "/health needs no key" || fail "/health with keys"
kill -TERM "$keyed_pid"
wait "$keyed_pid"

# Overload: 1 slot, no queue, 6 clients at once. Each gets its full greedy text, or 503 with
# Retry-After and an error body; none is lost or malformed.
start_server busy "$model" --slots 1 --queue 0
for i in 1 2 3 4 5 6; do
  curl -s -D "$work/burst$i.head" -o "$work/burst$i.body" "$busy_url/v1/completions" \
    -H 'Content-Type: application/json' \
    -d '{"prompt": "Once upon a time", "max_tokens": 40, "temperature": 0}' &
  pids[$i]=$!
done
wait "${pids[@]}"
served=0 refused=0 bad=0
for i in 1 2 3 4 5 6; do
  body=$(cat "$work/burst$i.body")
  case "$(head -1 "$work/burst$i.head")" in
    *" 200 "*) [ "$(jget 'j["choices"][0]["text"]')" = "$greedy40" ] && served=$((served + 1)) || bad=$((bad + 1)) ;;
    *" 503 "*) grep -qi '^Retry-After: 1' "$work/burst$i.head" && [ "$(jget 'j["error"]["type"]')" = overloaded_error ] &&
      refused=$((refused + 1)) || bad=$((bad + 1)) ;;
    *) bad=$((bad + 1)) ;;
  esac
done
[ "$bad" = 0 ] && [ "$served" -ge 1 ] && pass "overload: $served served, $refused refused with 503 + Retry-After" ||
  fail "overload: $served served, $refused refused, $bad wrong"
kill -TERM "$busy_pid"
wait "$busy_pid"
code=$(curl -s -o /dev/null -w '%{http_code}' -H "X-Big: $(head -c 20000 /dev/zero | tr '\0' a)" "$main_url/health")
[ "$code" = 431 ] && pass "431 for 20 KB of headers" || fail "big headers: $code"

# SIGTERM with a stream in flight: the stream finishes (within --shutdown-timeout), the server
# exits 0.
curl -sN "$main_url/v1/completions" -H 'Content-Type: application/json' \
  -d '{"prompt": "Once upon a time", "max_tokens": 500, "temperature": 0, "stream": true}' >"$work/last.txt" &
last=$!
for _ in $(seq 100); do grep -q '^data: ' "$work/last.txt" && break; sleep 0.02; done
kill -TERM "$main_pid"
wait "$main_pid" && pass "SIGTERM with a stream in flight: exit 0" || fail "SIGTERM: exit $?"
wait "$last"
case "$(sse_text "$work/last.txt")" in ERROR*) fail "the stream in flight broke: $(tail -c 300 "$work/last.txt")" ;;
  *) pass "the stream in flight finished with [DONE]" ;; esac
grep -q "stopping" "$work/main.log" && pass "the log says it stopped" || fail "log: $(cat "$work/main.log")"
main_pid=""
grep -E "Sanitizer|runtime error" "$work"/*.log && fail "sanitizer reports in the server logs"
finish
