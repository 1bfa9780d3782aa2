#!/usr/bin/env bash
# MODEL serve under load, shortened for CI (docs/serving.md has the full 60 s runs on the
# TinyLlama shape): scripts/serve_load.mjs runs 16 streaming clients for 3 s against
# stories260K on 4 slots (12 more requests queue). No request may fail or be lost (the
# server's /metrics count the same completions as the clients did), every stream must be
# well-formed SSE with [DONE], and the server must stay up (and sanitizer-clean under the
# sanitizer build: label family).
# usage: serve_load_test.sh PLAIN_MODEL SOURCE_DIR ASSETS WORK_DIR
source "$(dirname "$0")/lib.sh"
model=$1 src=$2 assets=$3 work=$4
mkdir -p "$work"
A=$assets/llama2c-stories260K
require_asset "$A/stories260K.bin"

trap 'kill "${server_pid:-}" 2>/dev/null; rm -rf "$tmp"' EXIT
launch_server server "$model" serve --weights "$A/stories260K.bin" --tokenizer "$A/tok512.bin" \
  --port 0 --slots 4
pid=$server_pid url=$server_url

node "$src/scripts/serve_load.mjs" --url "$url" --clients 16 --seconds "${LOAD_SECONDS:-3}" \
  --max-tokens 48 --json >"$work/load.json" 2>"$work/load.err"
status=$?
cat "$work/load.json" "$work/load.err"
[ "$status" = 0 ] && pass "serve_load.mjs: 16 clients, none failed or malformed" ||
  fail "serve_load.mjs exited $status"
summary=$(/usr/bin/python3 - "$work/load.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
print(r["requests"], r["failed"], r["malformed"], r["generated_tokens"],
      "%.0f" % r["ttft_ms"]["p50"], "%.0f" % r["ttft_ms"]["p99"], "%.0f" % r["aggregate_tok_s"])
PY
)
read -r requests failed_requests malformed tokens p50 p99 rate <<<"$summary"
[ "${requests:-0}" -ge 16 ] && [ "$failed_requests" = 0 ] && [ "$malformed" = 0 ] &&
  pass "$requests streams, $tokens tokens; TTFT p50 $p50 ms, p99 $p99 ms; $rate tok/s" ||
  fail "load: $summary"

# Nothing lost: the server answered exactly the completions the clients counted, and
# generated the tokens they received.
metrics=$(curl -s "$url/metrics")
served=$(printf '%s\n' "$metrics" | sed -n 's/^lmc_requests_total{path="\/v1\/completions",status="200"} //p')
generated=$(printf '%s\n' "$metrics" | sed -n 's/^lmc_generated_tokens_total //p')
[ "$served" = "$requests" ] && [ "$generated" = "$tokens" ] &&
  pass "/metrics: $served completions and $generated tokens, as the clients counted" ||
  fail "/metrics: $served completions, $generated tokens; clients: $requests, $tokens"
curl -s -o /dev/null -w '%{http_code}' "$url/health" | grep -q 200 && pass "still serving" ||
  fail "the server stopped answering"
kill -TERM "$pid"
wait "$pid" && pass "SIGTERM: exit 0" || fail "SIGTERM: exit $?"
grep -E "Sanitizer|runtime error" "$work/server.log" && fail "sanitizer reports in the server log"
finish
