# Shared helpers for the end-to-end tests: counts checks and ends with the
# "N passed, N failed" line CTest's output shows.
set -u
passed=0
failed=0

pass() { passed=$((passed + 1)); echo "ok: $1"; }
fail() { failed=$((failed + 1)); echo "FAIL: $1"; }

# expect_status CODE DESCRIPTION -- COMMAND...: runs COMMAND, keeps its
# stdout/stderr in $out/$err, and checks the exit status.
expect_status() {
  local want=$1 what=$2
  shift 3
  out=$("$@" 2>"$tmp/stderr") && status=0 || status=$?
  err=$(cat "$tmp/stderr")
  if [ "$status" -eq "$want" ]; then pass "$what (exit $status)"; else
    fail "$what: exit $status, expected $want; stderr: $err"; fi
}

# expect_error DESCRIPTION CODE SUBSTRING -- COMMAND...: a failure with one
# clear line on stderr containing SUBSTRING, and nothing on stdout.
expect_error() {
  local what=$1 code=$2 needle=$3
  shift 4
  expect_status "$code" "$what" -- "$@"
  local lines
  lines=$(printf '%s' "$err" | grep -c '' || true)
  [ "$lines" -eq 1 ] && pass "$what: one line" || fail "$what: $lines lines on stderr: $err"
  case "$err" in
    *"$needle"*) pass "$what: says '$needle'" ;;
    *) fail "$what: stderr lacks '$needle': $err" ;;
  esac
  case "$err" in
    *"Segmentation"*|*"Sanitizer"*|*"terminate"*) fail "$what: crashed: $err" ;;
  esac
}

# launch_server NAME COMMAND...: runs a server (a `MODEL serve --port 0 ...` command line,
# which prints its http://127.0.0.1:PORT address on stderr) in the background, its stderr in
# $work/NAME.log (or $tmp's), and waits for the address; sets ${NAME}_pid and ${NAME}_url, or
# fails the test when the server exits first.
launch_server() {
  local name=$1 log=${work:-$tmp}/$1.log
  shift
  "$@" 2>"$log" &
  local pid=$! port=""
  for _ in $(seq 200); do
    port=$(sed -n 's|.*http://127.0.0.1:\([0-9]*\) .*|\1|p' "$log")
    [ -n "$port" ] && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  if [ -z "$port" ]; then
    fail "$name: the server did not start: $(cat "$log")"
    finish
    exit 1
  fi
  eval "${name}_pid=$pid ${name}_url=http://127.0.0.1:$port"
}

# max_abs_error REF.npy GOT.npy TOL: prints "max abs error E over N positions";
# succeeds when the shapes agree and E <= TOL.
max_abs_error() {
  /usr/bin/python3 - "$@" <<'PY'
import sys
import numpy as np
ref, got = np.load(sys.argv[1]), np.load(sys.argv[2])
assert ref.shape == got.shape, (ref.shape, got.shape)
err = float(np.abs(ref - got).max())
print(f"max abs error {err:.2e} over {ref.shape[0]} positions (values up to {float(np.abs(ref).max()):.2f})")
sys.exit(0 if err <= float(sys.argv[3]) and np.isfinite(got).all() else 1)
PY
}

require_asset() {
  if [ ! -f "$1" ]; then
    echo "FAIL: missing shared asset $1 (set LMC_ASSETS to the folder holding ../shared/assets)"
    exit 1
  fi
}

finish() {
  echo "$passed passed, $failed failed"
  [ "$failed" -eq 0 ]
}

# zephyr_chat_files SOURCE_DIR DIR: DIR/tokenizer_config.json with Zephyr's chat template (bos
# "<s>", eos "</s>"), for `lmc build --set tokenizer.chat_template=`, and DIR/one.json, a system
# message and one user turn for `chat --messages`.
zephyr_chat_files() {
  /usr/bin/python3 - "$1/tests/chat/templates/zephyr.jinja" "$2" <<'PY'
import json, sys
template, out = open(sys.argv[1]).read(), sys.argv[2]
json.dump({"bos_token": "<s>", "eos_token": "</s>", "chat_template": template},
          open(out + "/tokenizer_config.json", "w"))
json.dump([{"role": "system", "content": "You tell stories."},
           {"role": "user", "content": "Once upon a time"}], open(out + "/one.json", "w"))
PY
}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

