#!/usr/bin/env bash
# Bad checkpoints, tokenizer files and flags: each is one line on stderr that
# names the file and what was expected, and a non-zero exit; never a crash.
# usage: bad_inputs_test.sh MODEL LMC SOURCE_DIR ASSETS
source "$(dirname "$0")/lib.sh"
model=$1 lmc=$2 src=$3 assets=$4
weights=$assets/llama2c-stories260K/stories260K.bin
tokenizer=$assets/llama2c-stories260K/tok512.bin
require_asset "$weights"
require_asset "$tokenizer"
gen() { "$model" generate --prompt "Once upon a time" -n 5 --temperature 0 "$@"; }

# Checkpoints.
head -c 600000 "$weights" >"$tmp/truncated.bin"
expect_error "truncated checkpoint" 1 "truncated.bin: truncated: expected 1056540 bytes" -- \
  gen --weights "$tmp/truncated.bin" --tokenizer "$tokenizer"
{ cat "$weights"; printf 'junk'; } >"$tmp/longer.bin"
expect_error "checkpoint with trailing bytes" 1 "longer.bin" -- \
  gen --weights "$tmp/longer.bin" --tokenizer "$tokenizer"
expect_error "missing checkpoint" 1 "$tmp/nope.bin" -- \
  gen --weights "$tmp/nope.bin" --tokenizer "$tokenizer"
printf 'this is not a checkpoint at all, just some text\n' >"$tmp/text.bin"
expect_error "garbage checkpoint" 1 "text.bin" -- gen --weights "$tmp/text.bin" --tokenizer "$tokenizer"
expect_error "tokenizer given as checkpoint" 1 "tok512.bin" -- \
  gen --weights "$tokenizer" --tokenizer "$tokenizer"

# A model compiled for other sizes than the checkpoint's header.
"$lmc" build "$src/specs/stories260k.yaml" --set attention.n_kv_heads=8 -o "$tmp/mha" \
  --cache-dir "$(dirname "$model")/lmc-cache" 2>/dev/null
expect_error "header n_kv_heads differs from spec" 1 "header field n_kv_heads is 4, but the model was compiled for 8" -- \
  "$tmp/mha" generate --weights "$weights" --tokenizer "$tokenizer" --prompt "x" -n 1
"$lmc" build "$src/specs/stories260k.yaml" --set embeddings.tied=false -o "$tmp/untied" \
  --cache-dir "$(dirname "$model")/lmc-cache" 2>/dev/null
expect_error "tied checkpoint, untied model" 1 "stories260K.bin" -- \
  "$tmp/untied" generate --weights "$weights" --tokenizer "$tokenizer" --prompt "x" -n 1

# Tokenizer files.
head -c 3000 "$tokenizer" >"$tmp/tok_truncated.bin"
expect_error "truncated tokenizer" 1 "tok_truncated.bin" -- \
  gen --weights "$weights" --tokenizer "$tmp/tok_truncated.bin"
expect_error "missing tokenizer" 1 "$tmp/none.bin" -- gen --weights "$weights" --tokenizer "$tmp/none.bin"
expect_error "checkpoint given as tokenizer" 1 "stories260K.bin" -- \
  gen --weights "$weights" --tokenizer "$weights"
expect_error "tokenize with a bad tokenizer" 1 "text.bin" -- \
  "$model" tokenize --tokenizer "$tmp/text.bin" "hello"

# Flags.
expect_error "unknown flag" 2 "unknown flag --temprature" -- \
  gen --weights "$weights" --tokenizer "$tokenizer" --temprature 0
expect_error "bad number" 2 "--temperature expects a number, found 'hot'" -- \
  "$model" generate --weights "$weights" --tokenizer "$tokenizer" --temperature hot
expect_error "negative -n" 2 "-n must be in [0, 512], found -3" -- \
  "$model" generate --weights "$weights" --tokenizer "$tokenizer" -n -3
expect_error "flag without value" 2 "--weights expects a value" -- "$model" generate --weights
expect_error "missing --weights" 2 "needs --weights" -- "$model" generate --tokenizer "$tokenizer"
expect_error "unknown command" 2 "unknown command 'generat'" -- "$model" generat
expect_error "bad token list" 2 "--tokens expects comma-separated integers" -- \
  "$model" logits --weights "$weights" --tokens 1,x,3 --out "$tmp/x.npy"
expect_error "token id out of range" 2 "--tokens: id 512 is outside the vocabulary" -- \
  "$model" logits --weights "$weights" --tokens 1,512 --out "$tmp/x.npy"
expect_error "unwritable npy" 1 "$tmp/no/such/dir/x.npy" -- \
  "$model" logits --weights "$weights" --tokens 1,2 --out "$tmp/no/such/dir/x.npy"
expect_error "prompt longer than max_seq_len" 2 "the prompt needs at least" -- \
  "$model" generate --weights "$weights" --tokenizer "$tokenizer" -n 1 \
  --prompt "$(head -c 20000 /dev/zero | tr '\0' 'a')"
# A header max_token_length as large as the file changes nothing: encoding is
# O(n log n) whatever the header says, so a 100 KB prompt is encoded and
# refused for its length well within the timeout.
python3 - "$tokenizer" "$tmp/tok_maxlen.bin" <<'PY'
import os, struct, sys
data = bytearray(open(sys.argv[1], "rb").read())
data[0:4] = struct.pack("<i", len(data))
open(sys.argv[2], "wb").write(data)
PY
expect_error "prompt guard with a huge max_token_length" 2 "the prompt needs at least 100001 tokens; the context holds 512" -- \
  timeout 20 "$model" generate --weights "$weights" --tokenizer "$tmp/tok_maxlen.bin" -n 1 \
  --prompt "$(head -c 100000 /dev/zero | tr '\0' 'a')"
expect_error "subnormal temperature" 1 "too small to divide by" -- \
  "$model" generate --weights "$weights" --tokenizer "$tokenizer" -n 1 --temperature 1e-45
# Finite header, NaN weights: a clear error, not a crash in the sampler.
python3 - "$weights" "$tmp/nan.bin" <<'PY'
import sys
data = bytearray(open(sys.argv[1], "rb").read())
data[28:28 + 4 * 512 * 64] = b"\x00\x00\xc0\x7f" * (512 * 64)  # every embedding a NaN
open(sys.argv[2], "wb").write(data)
PY
expect_error "NaN weights" 1 "non-finite logit" -- \
  "$model" generate --weights "$tmp/nan.bin" --tokenizer "$tokenizer" -n 3 --temperature 1

# --help and -h: the binary's commands, each command's usage and flags (from the lists its
# parser reads), on stdout with exit 0; lmc tokenize and detokenize alike. A flag's value
# that reads "-h" is a value.
declare -A wants=([main]="generate logits embed bench tokenize detokenize info"
  [generate]="--weights --prompt --tokens --ids -n --temperature --top-p --ctx --threads"
  [logits]="--weights --tokens --out --decode --ctx" [embed]="--weights --prompt --out --pool"
  [bench]="--weights -p -n --depth --reps --json --target" [tokenize]="--tokenizer --kind --bos --stdin --jsonl"
  [detokenize]="--tokenizer --kind --stdin --jsonl" [info]="")
for command in main generate logits embed bench tokenize detokenize info; do
  words=("usage: $model $command [flags]" "-h, --help")
  [ "$command" = info ] && words=("usage: $model info" "-h, --help")
  [ "$command" = main ] && words=("usage: $model COMMAND")
  for flag in --help -h; do
    cmd=${command#main}
    what="$(basename "$model")${cmd:+ $cmd} $flag"
    expect_status 0 "$what" -- "$model" $cmd $flag
    missing=""
    for word in "${words[@]}" ${wants[$command]}; do
      case "$out" in *"$word"*) ;; *) missing+=" '$word'" ;; esac
    done
    [ -z "$missing" ] && [ -z "$err" ] && pass "$what: usage with its flags" ||
      fail "$what: lacks$missing; stdout: $out; stderr: $err"
  done
done
for command in tokenize detokenize; do
  expect_status 0 "lmc $command --help" -- "$lmc" $command --help
  case "$out" in "usage: lmc $command [flags]"*"--tokenizer"*"--jsonl"*) pass "lmc $command --help: flags" ;;
    *) fail "lmc $command --help: $out" ;; esac
done
expect_status 0 "--prompt -h is a prompt" -- \
  "$model" generate --weights "$weights" --tokenizer "$tokenizer" -n 2 --temperature 0 --prompt -h
case "$out" in "-h"*) pass "--prompt -h generates from '-h'" ;; *) fail "--prompt -h: $out" ;; esac

# stdout on a full disk: one line saying so, exit 1, from every command that prints results.
full=(No space left on device)
expect_error "generate > /dev/full" 1 "error: cannot write to standard output: ${full[*]}" -- \
  bash -c '"$@" >/dev/full' - "$model" generate --weights "$weights" --tokenizer "$tokenizer" -n 5
for tool in "$model" "$lmc"; do
  name=$(basename "$tool")
  expect_error "$name tokenize > /dev/full" 1 \
    "$name tokenize: error: cannot write to standard output: ${full[*]}" -- \
    bash -c '"$@" >/dev/full' - "$tool" tokenize --tokenizer "$tokenizer" "Once upon a time"
  expect_error "$name detokenize > /dev/full" 1 \
    "$name detokenize: error: cannot write to standard output: ${full[*]}" -- \
    bash -c '"$@" >/dev/full' - "$tool" detokenize --tokenizer "$tokenizer" 403 407
done

# The weights truncated while the model runs: the ids already generated stay printed (as they
# come, to a pipe), then one line naming the file and exit 1, not a silent SIGBUS. stdout is a
# one-page pipe filled to within 32 bytes, so the model blocks after a few ids; the file is
# truncated then, and the pipe read.
cp "$weights" "$tmp/shrinks.bin"
python3 - "$tmp/shrinks.bin" "$tmp/shrinks.out" "$tmp/shrinks.err" "$tmp/shrinks.status" \
  "$model" generate --weights "$tmp/shrinks.bin" --tokens 1 --ids -n 500 --ignore-eos <<'PY'
import fcntl, os, struct, subprocess, sys, termios, time
weights, out_path, err_path, status_path, cmd = *sys.argv[1:5], sys.argv[5:]
r, w = os.pipe()
size = fcntl.fcntl(w, 1031, 4096)  # F_SETPIPE_SZ
filler = b"#" * (size - 32)
os.write(w, filler)
with open(err_path, "wb") as err:
    p = subprocess.Popen(cmd, stdout=w, stderr=err)
os.close(w)
queued = lambda: struct.unpack("i", fcntl.ioctl(r, termios.FIONREAD, b"\0" * 4))[0]
deadline = time.time() + 20
while queued() < size - 8 and p.poll() is None and time.time() < deadline:
    time.sleep(0.005)
os.truncate(weights, 0)
out = b""
while chunk := os.read(r, 65536):
    out += chunk
open(out_path, "wb").write(out[len(filler):])
open(status_path, "w").write(str(p.wait()))
PY
status=$(cat "$tmp/shrinks.status") out=$(cat "$tmp/shrinks.out") err=$(cat "$tmp/shrinks.err")
[ "$status" = 1 ] && pass "weights truncated while in use: exit 1" ||
  fail "weights truncated while in use: exit $status, expected 1; stderr: $err"
[ "$err" = "$(basename "$model"): error: $tmp/shrinks.bin: the file was truncated or changed while in use" ] &&
  pass "weights truncated while in use: one line naming the file" ||
  fail "weights truncated while in use: stderr: $err"
[[ "$out" =~ ^[0-9]+( [0-9]+)+$ ]] && pass "weights truncated while in use: the ids before stay: $out" ||
  fail "weights truncated while in use: stdout: '$out'"
finish
