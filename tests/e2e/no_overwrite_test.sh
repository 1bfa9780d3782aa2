#!/usr/bin/env bash
# No command writes over a file it reads (runtime/util/output_file.h): every
# writing command of lmc and of a model binary, aimed at each of its inputs
# directly, through a symlink and through a hard link, is refused in one line
# naming both files, and the input is left as it was. Targets that are not
# regular files are refused; SIGTERM in the middle of a write leaves the old
# file and no temporary one; killing lmc build ends its compiler and leaves
# no build folder.
# usage: no_overwrite_test.sh MODEL LMC SOURCE_DIR ASSETS
source "$(dirname "$0")/lib.sh"
model=$1 lmc=$2 src=$3 assets=$4
export LMC_CACHE_DIR=$tmp/cache
require_asset "$assets/llama2c-stories260K/stories260K.bin"

# A spec that extends a base, both in $tmp; its random weights; a HF folder.
cp "$src/tests/specs/valid/tiny_llama_hf.yaml" "$tmp/base.yaml"
printf 'extends: base.yaml\nname: child\n' >"$tmp/spec.yaml"
spec=$tmp/spec.yaml
"$lmc" random-weights "$spec" -o "$tmp/w.safetensors" --seed 3 || fail "random-weights"
cp "$assets/llama2c-stories260K/stories260K.bin" "$tmp/stories.bin"
cp -r "$src/tests/fixtures/hf/gpt2" "$tmp/hf"

# refused WHAT INPUT TARGET -- COMMAND...: exit 1, one line naming TARGET and INPUT,
# INPUT unchanged.
refused() {
  local what=$1 input=$2 target=$3
  shift 4
  local before
  before=$(sha256sum <"$input")
  expect_error "$what" 1 "is the input" -- "$@"
  case "$err" in
    *"$target"*"$input"*) pass "$what: names both files" ;;
    *) fail "$what: the error names not both $target and $input: $err" ;;
  esac
  [ "$(sha256sum <"$input")" = "$before" ] && pass "$what: input unchanged" ||
    fail "$what: $input changed"
}

# Each input through three names: itself, a symlink, a hard link.
links() {
  ln -sf "$1" "$tmp/symlink"
  ln -f "$1" "$tmp/hardlink"
  echo "$1" "$tmp/symlink" "$tmp/hardlink"
}

for input in "$spec" "$tmp/base.yaml"; do
  for target in $(links "$input"); do
    refused "random-weights -o $target" "$input" "$target" -- \
      "$lmc" random-weights "$spec" -o "$target"
    refused "build -o $target" "$input" "$target" -- "$lmc" build "$spec" -o "$target"
    refused "run --out $target" "$input" "$target" -- \
      "$lmc" run "$spec" --weights "$tmp/w.safetensors" --tokens 1,2 --out "$target"
    refused "quantize -o $target --spec" "$input" "$target" -- \
      "$lmc" quantize "$tmp/w.safetensors" -o "$target" --spec "$spec" --dtype q8_0
  done
done
for target in $(links "$tmp/w.safetensors"); do
  refused "run --out (weights) $target" "$tmp/w.safetensors" "$target" -- \
    "$lmc" run "$spec" --weights "$tmp/w.safetensors" --tokens 1,2 --out "$target"
  refused "quantize -o (its input) $target" "$tmp/w.safetensors" "$target" -- \
    "$lmc" quantize "$tmp/w.safetensors" -o "$target" --dtype q8_0
done
for target in $(links "$tmp/stories.bin"); do
  refused "MODEL logits --out $target" "$tmp/stories.bin" "$target" -- \
    "$model" logits --weights "$tmp/stories.bin" --tokens 1,2,3 --out "$target"
done
# emit writes NAME.h, NAME.cpp and NAME.ir: an input of that name (here the module's IR,
# which emit also takes) is refused.
mkdir "$tmp/emit"
"$lmc" emit "$spec" -o "$tmp/emit" >/dev/null || fail "emit child"
rm "$tmp/emit/child.h" "$tmp/emit/child.cpp"
refused "emit -o over the spec" "$tmp/emit/child.ir" "$tmp/emit/child.ir" -- \
  "$lmc" emit "$tmp/emit/child.ir" -o "$tmp/emit"
ln "$tmp/hf/config.json" "$tmp/config-link.yaml"
refused "import -o (a hard link to config.json)" "$tmp/hf/config.json" "$tmp/config-link.yaml" -- \
  "$lmc" import "$tmp/hf" -o "$tmp/config-link.yaml"

# Other outputs still work, and replace a file that is no input.
echo old >"$tmp/out.npy"
"$model" logits --weights "$tmp/stories.bin" --tokens 1,2,3 --out "$tmp/out.npy" &&
  [ "$(head -c 6 "$tmp/out.npy" | tail -c 5)" = NUMPY ] && pass "logits replaces an old output" ||
  fail "logits over an old output"

# A target that is not a regular file (a FIFO; as root, /dev/null was once replaced).
mkfifo "$tmp/fifo"
expect_error "quantize -o FIFO" 1 "is a FIFO" -- \
  "$lmc" quantize "$tmp/w.safetensors" -o "$tmp/fifo" --dtype q8_0
[ -p "$tmp/fifo" ] && pass "the FIFO is still a FIFO" || fail "the FIFO was replaced"
expect_error "random-weights -o FIFO" 1 "is a FIFO" -- "$lmc" random-weights "$spec" -o "$tmp/fifo"
expect_error "logits --out FIFO" 1 "is a FIFO" -- \
  "$model" logits --weights "$tmp/stories.bin" --tokens 1 --out "$tmp/fifo"
expect_error "random-weights -o a directory" 1 "is a directory" -- \
  "$lmc" random-weights "$spec" -o "$tmp/emit"

# SIGTERM while a large checkpoint is written: the old file stays, the
# temporary one goes. Should the write win the race, again with a larger one.
echo "the old checkpoint" >"$tmp/big.safetensors"
for layers in 16 32 64; do
  "$lmc" random-weights "$spec" --set sizes.d_model=384 --set feed_forward.hidden=1536 \
    --set sizes.n_layers=$layers -o "$tmp/big.safetensors" &
  pid=$!
  for _ in $(seq 3000); do
    compgen -G "$tmp/.big.safetensors.tmp-*" >/dev/null && break
    sleep 0.005
  done
  kill -TERM "$pid"
  wait "$pid" && status=0 || status=$?
  [ "$status" -eq 0 ] || break
  echo "the write of $layers layers finished before SIGTERM; again, larger"
  echo "the old checkpoint" >"$tmp/big.safetensors"
done
[ "$status" -eq 143 ] && pass "SIGTERM mid-write: died of it (exit $status)" ||
  fail "SIGTERM mid-write: exit $status, expected 143"
[ "$(cat "$tmp/big.safetensors")" = "the old checkpoint" ] && pass "SIGTERM: the old file stays" ||
  fail "SIGTERM: the old file changed"
compgen -G "$tmp/.big.safetensors.tmp-*" >/dev/null && fail "SIGTERM: a temporary file remains" ||
  pass "SIGTERM: no temporary file remains"

# Killing lmc build ends its compiler (a process group of its own) and removes
# its build folder from the cache.
"$lmc" build "$spec" -o "$tmp/model" --no-cache >"$tmp/build.log" 2>&1 &
pid=$!
for _ in $(seq 3000); do
  compgen -G "$LMC_CACHE_DIR/*.tmp-*/step1-output.txt" >/dev/null && break
  sleep 0.01
done
sleep 0.5  # The compiler is running.
kill -TERM "$pid"
wait "$pid" && status=0 || status=$?
[ "$status" -eq 143 ] && pass "SIGTERM lmc build: died of it" || fail "SIGTERM lmc build: exit $status"
# The compiler got the signal; a loaded machine may take a moment to end it.
for _ in $(seq 50); do
  pgrep -f "$LMC_CACHE_DIR" >/dev/null || break
  sleep 0.1
done
if pgrep -f "$LMC_CACHE_DIR" >/dev/null; then
  fail "SIGTERM lmc build: its compiler still runs: $(pgrep -af "$LMC_CACHE_DIR" | head -3)"
  pkill -KILL -f "$LMC_CACHE_DIR"  # Not left to hold a core.
else
  pass "SIGTERM lmc build: no compiler left"
fi
compgen -G "$LMC_CACHE_DIR/*.tmp-*" >/dev/null && fail "SIGTERM lmc build: a build folder remains" ||
  pass "SIGTERM lmc build: no build folder remains"
[ -e "$tmp/model" ] && fail "SIGTERM lmc build: a binary appeared" || pass "SIGTERM lmc build: no binary"

finish
