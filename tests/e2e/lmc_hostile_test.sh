#!/usr/bin/env bash
# lmc against hostile inputs and outputs: usage errors in one line, specs that
# are FIFOs or devices, outputs that are inputs, directories or devices,
# write errors, concurrent builds with one cache, strings that would inject
# code into generated C++. Every check is a reproduction from issue 7.
# usage: lmc_hostile_test.sh LMC SOURCE_DIR
source "$(dirname "$0")/lib.sh"
lmc=$1 src=$2
spec=$src/specs/stories260k.yaml
export LMC_CACHE_DIR=$tmp/cache
cp "$spec" "$src/specs/llama2c.base.yaml" "$tmp/"
local_spec=$tmp/stories260k.yaml

# A fake C++ compiler stands in for c++ where compiling is not the point: it
# warns once per call and writes its -o file.
cat > "$tmp/fakecxx" <<'SH'
#!/bin/sh
out="" prev=""
for a in "$@"; do [ "$prev" = "-o" ] && out=$a; prev=$a; done
echo "fakecxx: warning: made $(basename "$out")" >&2
printf '#!/bin/sh\necho fake model\nexit 0\n' > "$out"
head -c 200000 /dev/zero >> "$out"  # As large as a small real binary.
chmod +x "$out"
sleep 0.2  # Lets concurrent builds overlap.
SH
chmod +x "$tmp/fakecxx"

# --- Usage errors: one line, exit 2.
expect_error "no command" 2 "expected a command" -- "$lmc"
expect_error "check without a spec" 2 "positional argument" -- "$lmc" check
expect_error "build without -o" 2 "build needs -o" -- "$lmc" build "$spec"
expect_error "emit without -o or --ir" 2 "emit needs -o DIR" -- "$lmc" emit "$spec"
expect_error "unknown option" 2 "--bogus" -- "$lmc" check "$spec" --bogus
expect_error "-o given twice" 2 "-o" -- "$lmc" build "$spec" -o a -o b
expect_error "--spec-name with a newline" 2 "control characters" -- \
  "$lmc" emit "$spec" --ir --spec-name "$(printf 'a\nb')"

# --- Write errors on stdout: reported with exit 1, never LLVM's abort.
expect_error "check > /dev/full" 1 "cannot write to standard output" -- \
  bash -c '"$0" check "$1" > /dev/full' "$lmc" "$spec"
expect_error "emit --ir > /dev/full" 1 "cannot write to standard output" -- \
  bash -c '"$0" emit "$1" --ir > /dev/full' "$lmc" "$spec"
# --- IR text whose integers overflow the shape rules' products (a fuzz_ir find).
"$lmc" emit "$spec" --ir | sed 's/dim heads = 8$/dim heads = 4611686018427387904/' >"$tmp/huge.ir"
huge_line=$(grep -n 'dim heads = 4611686018427387904' "$tmp/huge.ir" | cut -d: -f1)
expect_error "opt on a dim beyond int32" 1 "huge.ir:$huge_line:" -- "$lmc" opt "$tmp/huge.ir"
case "$err" in *"out of range"*) pass "the dim is out of range" ;;
  *) fail "no range error: $err" ;; esac

touch "$tmp/a_file"
expect_error "emit -o a file" 1 "is not a directory" -- "$lmc" emit "$spec" -o "$tmp/a_file"

# --- Specs that are not regular files, or too large: refused at once.
mkfifo "$tmp/fifo.yaml"
expect_status 1 "FIFO spec" -- timeout 20 "$lmc" check "$tmp/fifo.yaml"
case "$err" in *"is not a regular file (a FIFO)"*) pass "FIFO spec: says it" ;; *) fail "FIFO spec: $err" ;; esac
expect_status 1 "/dev/zero spec" -- timeout 20 "$lmc" check /dev/zero
case "$err" in *"is not a regular file (a character device)"*) pass "/dev/zero spec: says it" ;; *) fail "/dev/zero spec: $err" ;; esac
printf 'extends: fifo.yaml\n' > "$tmp/extends_fifo.yaml"
expect_status 1 "extends a FIFO" -- timeout 20 "$lmc" check "$tmp/extends_fifo.yaml"
case "$err" in *"extends_fifo.yaml:1:10: error: cannot read spec"*"is not a regular file (a FIFO)"*) pass "located" ;;
  *) fail "$err" ;; esac
printf 'extends: /dev/zero\n' > "$tmp/extends_zero.yaml"
expect_status 1 "extends /dev/zero" -- timeout 20 "$lmc" check "$tmp/extends_zero.yaml"
expect_status 1 "a directory as spec" -- "$lmc" check "$tmp"
case "$err" in *"is a directory"*) pass "a directory as spec: says it" ;; *) fail "a directory as spec: $err" ;; esac
head -c 2000000 /dev/zero | tr '\0' '#' > "$tmp/big.yaml"
expect_status 1 "a 2 MB spec" -- "$lmc" check "$tmp/big.yaml"
case "$err" in *"at most 1.0 MiB is read"*) pass "a 2 MB spec: says it" ;; *) fail "a 2 MB spec: $err" ;; esac

# --- Many keys: linear, and at most 50 errors shown.
/usr/bin/python3 - "$tmp/keys.yaml" <<'PY'
import sys
with open(sys.argv[1], "w") as f:
    f.write("extends: stories260k.yaml\n")
    for i in range(90000):
        f.write(f"k{i}: 1\n")
PY
start=$(date +%s)
expect_status 1 "90k unknown keys" -- timeout 60 "$lmc" check "$tmp/keys.yaml"
elapsed=$(($(date +%s) - start))
[ "$elapsed" -lt 20 ] && pass "90k keys in ${elapsed}s" || fail "90k keys took ${elapsed}s"
lines=$(printf '%s\n' "$err" | wc -l)
[ "$lines" -lt 200 ] && pass "errors capped ($lines lines)" || fail "$lines lines of errors"
case "$err" in *"more than 50 errors"*"90000 errors"*) pass "count kept" ;; *) fail "${err: -300}" ;; esac

# --- Deep nesting: a short message, not the 280 KB line.
/usr/bin/python3 -c 'print("x: " + "[" * 140000 + "]" * 140000)' > "$tmp/deep.yaml"
expect_status 1 "deep nesting" -- "$lmc" check "$tmp/deep.yaml"
[ "${#err}" -lt 1000 ] && pass "short message (${#err} bytes)" || fail "${#err} bytes of message"
case "$err" in *"nested too deep"*) pass "says nesting" ;; *) fail "${err:0:300}" ;; esac

# --- CR-only line ends.
printf 'lmc: 1\rname: x\r' > "$tmp/cr.yaml"
expect_status 1 "CR-only line ends" -- "$lmc" check "$tmp/cr.yaml"
case "$err" in *"cr.yaml:1:7: error: a line ends with a lone CR"*) pass "CR located" ;; *) fail "$err" ;; esac

# --- lmc build -o: never the input, a directory or a device.
cp "$local_spec" "$tmp/before.yaml"
expect_status 1 "-o the spec itself" -- "$lmc" build "$local_spec" -o "$local_spec"
case "$err" in *"is the input"*) pass "-o the spec itself: says it" ;; *) fail "-o the spec itself: $err" ;; esac
cmp -s "$local_spec" "$tmp/before.yaml" && pass "spec unchanged" || fail "spec overwritten"
expect_status 1 "-o the base spec" -- "$lmc" build "$local_spec" -o "$tmp/llama2c.base.yaml"
case "$err" in *"is the input"*) pass "-o the base spec: says it" ;; *) fail "-o the base spec: $err" ;; esac
ln -s stories260k.yaml "$tmp/link.yaml"
expect_status 1 "-o a link to the spec" -- "$lmc" build "$local_spec" -o "$tmp/link.yaml"
case "$err" in *"is the input"*) pass "-o a link to the spec: says it" ;; *) fail "-o a link to the spec: $err" ;; esac
mkdir "$tmp/empty_dir"
expect_status 1 "-o an empty directory" -- "$lmc" build "$local_spec" -o "$tmp/empty_dir"
case "$err" in *"is a directory"*) pass "-o an empty directory: says it" ;; *) fail "-o an empty directory: $err" ;; esac
[ -d "$tmp/empty_dir" ] && pass "directory kept" || fail "directory deleted"
mkfifo "$tmp/out_fifo"
mode_before=$(stat -c %a "$tmp/out_fifo")
expect_status 1 "-o a FIFO" -- "$lmc" build "$local_spec" -o "$tmp/out_fifo"
case "$err" in *"is a FIFO"*) pass "-o a FIFO: says it" ;; *) fail "-o a FIFO: $err" ;; esac
[ -p "$tmp/out_fifo" ] && [ "$(stat -c %a "$tmp/out_fifo")" = "$mode_before" ] &&
  pass "FIFO untouched" || fail "FIFO changed"

# --- Three concurrent builds with one cache: all succeed, one cache entry.
for i in 1 2 3; do
  "$lmc" build "$local_spec" -o "$tmp/par$i" --cache-dir "$tmp/shared_cache" --cxx "$tmp/fakecxx" \
    >"$tmp/par$i.log" 2>&1 &
done
ok=0
for job in $(jobs -p); do wait "$job" && ok=$((ok + 1)); done
[ "$ok" -eq 3 ] && pass "3 concurrent builds succeeded" ||
  fail "$ok of 3 concurrent builds succeeded: $(cat "$tmp"/par*.log)"
cmp -s "$tmp/par1" "$tmp/par2" && cmp -s "$tmp/par1" "$tmp/par3" && pass "same binaries" ||
  fail "binaries differ"
entries=$(ls -A "$tmp/shared_cache" | wc -l)
[ "$entries" -eq 1 ] && pass "one cache entry, no temporaries" ||
  fail "cache holds: $(ls -A "$tmp/shared_cache")"
leftovers=$(ls -A "$tmp" | grep -c '\.tmp-' || true)
[ "$leftovers" -eq 0 ] && pass "no temporary files beside outputs" || fail "$(ls -A "$tmp")"

# --- Replacing an existing binary, and a full disk leaving the old one.
expect_status 0 "rebuild over an existing binary" -- \
  "$lmc" build "$local_spec" -o "$tmp/par1" --cache-dir "$tmp/shared_cache" --cxx "$tmp/fakecxx"
[ -x "$tmp/par1" ] && cmp -s "$tmp/par1" "$tmp/par2" && pass "replaced, executable" || fail "replace"
full=$tmp/full
mkdir "$full"
if mount -t tmpfs -o size=64k tmpfs "$full" 2>/dev/null; then
  echo "old binary" > "$full/model"
  expect_status 1 "build onto a full disk" -- \
    "$lmc" build "$local_spec" -o "$full/model" --cache-dir "$tmp/shared_cache" --cxx "$tmp/fakecxx"
  case "$err" in *"$full/model: write failed: No space left on device"*) pass "says why" ;;
    *) fail "$err" ;; esac
  [ "$(cat "$full/model")" = "old binary" ] && pass "old binary kept" || fail "old binary lost"
  [ "$(ls -A "$full")" = "model" ] && pass "no temporary left" || fail "left: $(ls -A "$full")"
  head -c 1000000 /dev/zero > "$full/filler" 2>/dev/null || true
  expect_status 1 "emit onto a full disk" -- "$lmc" emit "$local_spec" -o "$full/gen"
  case "$err" in *"error: $full/gen/"*) pass "emit names the file" ;; *) fail "$err" ;; esac
  [ -z "$(ls -A "$full/gen" 2>/dev/null)" ] && pass "no truncated files" || fail "left: $(ls -A "$full/gen")"
  umount "$full"
else
  echo "skip: cannot mount a small tmpfs (not root?): full-disk checks not run"
fi

# --- Each compiler step's warnings are shown once.
expect_status 0 "build with a warning compiler" -- \
  "$lmc" build "$local_spec" -o "$tmp/fake" --cxx "$tmp/fakecxx" --cache-dir "$tmp/fake_cache"
for made in stories260k.o stories260k_build_info.o stories260k; do
  n=$(printf '%s\n' "$err" | grep -c "warning: made $made\$" || true)
  [ "$n" -eq 1 ] && pass "warning for $made shown once" || fail "warning for $made shown $n times: $err"
done
[ "$("$tmp/fake")" = "fake model" ] && pass "binary from the fake compiler" || fail "fake binary"

# --- Strings that would end a C++ literal are embedded as written.
name='x";int evil=1;//??=\'
expect_status 0 "build with a hostile --spec-name" -- \
  "$lmc" build "$local_spec" -o "$tmp/named" --spec-name "$name" --cache-dir "$tmp/real_cache"
expect_status 0 "info of that binary" -- "$tmp/named" info
case "$out" in *"spec $name;"*) pass "build info holds the name verbatim" ;; *) fail "$out" ;; esac
finish
