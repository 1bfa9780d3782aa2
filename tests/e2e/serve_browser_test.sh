#!/usr/bin/env bash
# MODEL serve's chat page (GET /) in a real browser: headless chromium, driven over the
# DevTools protocol by serve-browser/browser_test.mjs (which types, clicks and reads the page).
# Three servers on loopback ports the kernel picks:
#  - stories260K with Zephyr's chat template (as serve_test builds it): two chat turns, each
#    streamed reply equal to the server's greedy reply for that conversation, tokens/s shown;
#  - stories260K without a template: the page continues the text through /v1/completions;
#  - a slower model (random weights, d_model 512, 8 layers: tens of tokens a second) where
#    Stop is clicked mid-reply: the page keeps what arrived, the server cancels the request.
# Also checked with curl: the page's headers and the settings the server writes into it.
# usage: serve_browser_test.sh LMC SOURCE_DIR ASSETS PLAIN_MODEL WORK_DIR CACHE_DIR
source "$(dirname "$0")/lib.sh"
lmc=$1 src=$2 assets=$3 plain_model=$4 work=$5 cache=$6
mkdir -p "$work"
A=$assets/llama2c-stories260K
require_asset "$A/stories260K.bin"
require_asset "$A/tok512.bin"
chromium=${CHROMIUM:-/usr/bin/chromium}
if [ ! -x "$chromium" ]; then
  fail "no chromium at $chromium (scripts/setup.sh --tests installs Debian's)"
  finish
  exit 1
fi
client=$src/tests/e2e/serve-browser
if [ ! -d "$client/node_modules/ws" ]; then
  (cd "$client" && npm ci --no-audit --no-fund --silent) ||
    { fail "npm ci in $client failed (needs node, npm and the npm registry)"; finish; exit 1; }
fi

/usr/bin/python3 - "$src/tests/chat/templates/zephyr.jinja" "$work" <<'PY'
import json, sys
template, work = open(sys.argv[1]).read(), sys.argv[2]
json.dump({"bos_token": "<s>", "eos_token": "</s>", "chat_template": template},
          open(work + "/tokenizer_config.json", "w"))
PY
spec=$src/specs/stories260k.yaml
expect_status 0 "lmc build with a chat template" -- "$lmc" build "$spec" --native \
  -o "$work/chat-model" --set tokenizer.chat_template="$work/tokenizer_config.json" \
  --cache-dir "$cache"
slow=(--set sizes.d_model=512 --set sizes.n_layers=8 --set feed_forward.hidden=1376
  --set weights.format=safetensors --set name=slow)
expect_status 0 "lmc build of the slow model" -- "$lmc" build "$spec" "${slow[@]}" --native \
  -o "$work/slow-model" --cache-dir "$cache"
expect_status 0 "random weights for it" -- "$lmc" random-weights "$spec" "${slow[@]}" \
  -o "$work/slow.safetensors" --seed 3

# start_server NAME BINARY WEIGHTS: in the background on a free port; sets ${NAME}_pid, _url.
start_server() {
  local name=$1 binary=$2 weights=$3
  launch_server "$name" "$binary" serve --weights "$weights" --tokenizer "$A/tok512.bin" --port 0
}
trap 'for p in ${chat_pid:-} ${plain_pid:-} ${slow_pid:-}; do kill "$p" 2>/dev/null; done; rm -rf "$tmp"' EXIT
start_server chat "$work/chat-model" "$A/stories260K.bin"
start_server plain "$plain_model" "$A/stories260K.bin"
start_server slow "$work/slow-model" "$work/slow.safetensors"

head=$(curl -s -D - -o "$work/page.html" "$chat_url/")
case "$head" in *"200 OK"*"text/html; charset=utf-8"*) pass "GET /: 200 text/html" ;;
  *) fail "GET /: $head" ;; esac
grep -q '^const config = {.*"chat":true.*"model":"stories260k"' "$work/page.html" &&
  pass "the page carries the server's settings" ||
  fail "page config: $(grep -n 'const config' "$work/page.html")"

rm -rf "$work/profile"
start=$(date +%s%N)
node "$client/browser_test.mjs" "$chromium" "$chat_url" "$plain_url" "$slow_url" \
  "$work/profile" >"$work/browser.out" 2>&1
status=$?
cat "$work/browser.out"
passed=$((passed + $(grep -c '^ok:' "$work/browser.out")))
failed=$((failed + $(grep -c '^FAIL:' "$work/browser.out")))
[ "$status" = 0 ] || grep -q '^FAIL:' "$work/browser.out" || fail "browser_test.mjs exited $status"
echo "browser part: $((($(date +%s%N) - start) / 1000000)) ms"

for name in chat plain slow; do
  pid_var=${name}_pid
  kill -TERM "${!pid_var}"
  wait "${!pid_var}" && pass "$name server: SIGTERM exits 0" || fail "$name server exit $?"
done
chat_pid="" plain_pid="" slow_pid=""
grep -E "Sanitizer|runtime error" "$work"/*.log && fail "sanitizer reports in the server logs"
finish
