#!/usr/bin/env bash
# MODEL serve's persistent connections (stories260K, loopback):
#  - curl sends several requests (GETs, then POSTs) over one connection: one connect, each
#    answer right (`Connection: keep-alive`, `Keep-Alive: timeout=N`);
#  - `Connection: close` honoured (a connect per request); HTTP/1.0 closes unless it asks for
#    keep-alive; a streamed response closes its connection after [DONE]; --keep-alive 0: one
#    request per connection;
#  - raw sockets: two pipelined requests in one write are answered in order; a connection
#    idle past --keep-alive is closed by the server; SIGTERM with an idle persistent
#    connection open exits at once.
# usage: serve_keepalive_test.sh PLAIN_MODEL ASSETS WORK_DIR
source "$(dirname "$0")/lib.sh"
model=$1 assets=$2 work=$3
mkdir -p "$work"
A=$assets/llama2c-stories260K
require_asset "$A/stories260K.bin"
W=(--weights "$A/stories260K.bin" --tokenizer "$A/tok512.bin")

start_server() {  # NAME FLAGS...: sets ${NAME}_pid and ${NAME}_url
  local name=$1
  shift
  launch_server "$name" "$model" serve "${W[@]}" --port 0 "$@"
}
trap 'for p in ${main_pid:-} ${single_pid:-}; do kill "$p" 2>/dev/null; done; rm -rf "$tmp"' EXIT
start_server main --keep-alive 1
U=$main_url

# Three GETs, one connection.
got=$(curl -s -o /dev/null -w '%{num_connects}:%{http_code} ' "$U/health" -o /dev/null "$U/v1/models" -o /dev/null "$U/health")
[ "$got" = "1:200 0:200 0:200 " ] && pass "3 GETs over one connection ($got)" || fail "3 GETs: $got"
curl -s -D "$work/head.txt" -o /dev/null "$U/health"
grep -qi '^Connection: keep-alive' "$work/head.txt" && grep -qi '^Keep-Alive: timeout=1' "$work/head.txt" &&
  pass "Connection: keep-alive, Keep-Alive: timeout=1" || fail "headers: $(cat "$work/head.txt")"

# POSTs with bodies, one connection; the same texts as on connections of their own.
body() { printf '{"prompt": "%s", "max_tokens": 20, "temperature": 0}' "$1"; }
prompts=("Once upon a time" "The cat" "Tom and Sue went")
args=()
for i in 0 1 2; do
  [ "$i" -gt 0 ] && args+=(--next)
  args+=(-s -o "$work/reused$i.json" -w '%{num_connects} ' -H 'Content-Type: application/json'
    -d "$(body "${prompts[$i]}")" "$U/v1/completions")
done
connects=$(curl "${args[@]}")
same=0
for i in 0 1 2; do
  curl -s -o "$work/alone$i.json" -H 'Connection: close' -H 'Content-Type: application/json' \
    -d "$(body "${prompts[$i]}")" "$U/v1/completions"
  text=$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["choices"][0]["text"])' "$work/reused$i.json")
  alone=$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["choices"][0]["text"])' "$work/alone$i.json")
  [ -n "$text" ] && [ "$text" = "$alone" ] && same=$((same + 1))
done
[ "$connects" = "1 0 0 " ] && [ "$same" = 3 ] &&
  pass "3 completions over one connection, each as on its own connection" ||
  fail "POSTs: connects '$connects', $same of 3 texts the same"

# Connection: close, HTTP/1.0, a stream: closed after the response.
got=$(curl -s -H 'Connection: close' -o /dev/null -w '%{num_connects} ' "$U/health" -o /dev/null "$U/health")
[ "$got" = "1 1 " ] && pass "Connection: close honoured ($got)" || fail "Connection: close: $got"
curl -s -D "$work/head10.txt" -o /dev/null --http1.0 "$U/health"
grep -qi '^Connection: close' "$work/head10.txt" && pass "HTTP/1.0: Connection: close" ||
  fail "HTTP/1.0: $(cat "$work/head10.txt")"
got=$(curl -sN -o "$work/stream.txt" -w '%{num_connects} ' -H 'Content-Type: application/json' \
  -d '{"prompt": "Once", "max_tokens": 5, "stream": true}' "$U/v1/completions" \
  --next -s -o /dev/null -w '%{num_connects} ' "$U/health")
[ "$got" = "1 1 " ] && [ "$(tail -c 14 "$work/stream.txt" | head -c 12)" = "data: [DONE]" ] &&
  pass "a stream closes its connection after [DONE] ($got)" || fail "stream then GET: $got"

# Raw sockets: pipelining, HTTP/1.0 keep-alive, the idle timeout.
/usr/bin/python3 - "${U#http://}" >"$work/raw.out" 2>&1 <<'PY'
import socket, sys, time
host, port = sys.argv[1].split(":")
def read_response(s, buf):
    """One response (Content-Length body) from s; returns (head, body, rest)."""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(65536)
        if not chunk: raise SystemExit("FAIL: closed before a response")
        buf += chunk
    head, buf = buf.split(b"\r\n\r\n", 1)
    length = int([l.split(b":")[1] for l in head.split(b"\r\n") if l.lower().startswith(b"content-length")][0])
    while len(buf) < length:
        buf += s.recv(65536)
    return head.decode(), buf[:length].decode(), buf[length:]
s = socket.create_connection((host, int(port)))
body = b'{"prompt": "Once upon a time", "max_tokens": 8, "temperature": 0}'
s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n"
          b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
          b"Content-Length: %d\r\n\r\n" % len(body) + body)
h1, b1, rest = read_response(s, b"")
h2, b2, rest = read_response(s, rest)
ok = h1.startswith("HTTP/1.1 200") and '"ok"' in b1 and h2.startswith("HTTP/1.1 200") and "text_completion" in b2
print(("ok" if ok else "FAIL") + ": two pipelined requests answered in order")
start = time.time()
s.settimeout(5)
closed = s.recv(1) == b""
print(("ok" if closed and time.time() - start < 3 else "FAIL") +
      f": idle past --keep-alive 1: closed by the server after {time.time() - start:.1f} s")
s = socket.create_connection((host, int(port)))
s.sendall(b"GET /health HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
h, b, rest = read_response(s, b"")
s.sendall(b"GET /health HTTP/1.0\r\n\r\n")
h2, b2, rest = read_response(s, rest)
print(("ok" if "Connection: keep-alive" in h and "Connection: close" in h2 else "FAIL") +
      ": HTTP/1.0 keeps the connection when asked, and closes it when not")
PY
cat "$work/raw.out"
passed=$((passed + $(grep -c '^ok:' "$work/raw.out")))
failed=$((failed + $(grep -c '^FAIL' "$work/raw.out")))

# --keep-alive 0: one request per connection.
start_server single --keep-alive 0
got=$(curl -s -o /dev/null -w '%{num_connects} ' "$single_url/health" -o /dev/null "$single_url/health")
[ "$got" = "1 1 " ] && pass "--keep-alive 0: a connection per request" || fail "--keep-alive 0: $got"
kill -TERM "$single_pid"
wait "$single_pid"
single_pid=""

# SIGTERM with an idle persistent connection (a request answered, the next not sent).
/usr/bin/python3 -c '
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
s.recv(1000)
time.sleep(8)' "${U##*:}" &
idle=$!
sleep 0.3
start=$(date +%s%N)
kill -TERM "$main_pid"
wait "$main_pid" && pass "SIGTERM exits 0" || fail "SIGTERM: exit $?"
ms=$((($(date +%s%N) - start) / 1000000))
[ "$ms" -lt 1000 ] && pass "an idle persistent connection does not hold up SIGTERM (${ms} ms)" ||
  fail "SIGTERM took $ms ms with an idle persistent connection"
kill "$idle" 2>/dev/null
main_pid=""
grep -E "Sanitizer|runtime error" "$work"/*.log && fail "sanitizer reports in the server logs"
finish
