#!/usr/bin/env bash
# lmc's own command line: exit codes 0 valid, 1 invalid, 2 usage; located
# errors; refusing what cannot be lowered yet; the build cache.
# usage: lmc_cli_test.sh LMC SOURCE_DIR
source "$(dirname "$0")/lib.sh"
lmc=$1 src=$2
spec=$src/specs/stories260k.yaml

expect_status 0 "check valid spec" -- "$lmc" check "$spec"
expect_status 1 "check invalid spec" -- "$lmc" check "$src/tests/specs/invalid/unknown_key.yaml"
case "$err" in *"unknown_key.yaml:3:3: error: unknown key 'n_head' in attention; did you mean 'n_heads'?"*) pass "located error" ;;
  *) fail "error text: $err" ;; esac
case "$err" in *"^~~~~~"*) pass "caret under the key" ;; *) fail "no caret: $err" ;; esac
expect_status 1 "check missing spec" -- "$lmc" check "$tmp/none.yaml"
case "$err" in *"cannot read spec"*"none.yaml"*) pass "missing spec named" ;; *) fail "$err" ;; esac
expect_status 2 "no command" -- "$lmc"
expect_status 2 "unknown option" -- "$lmc" check "$spec" --bogus
expect_status 2 "build without -o" -- "$lmc" build "$spec"
expect_status 1 "--set with a wrong type" -- "$lmc" check "$spec" --set attention.n_heads=eight
case "$err" in *"<--set>:1:19: error: expected an integer for attention.n_heads, found 'eight'"*) pass "--set error located" ;;
  *) fail "$err" ;; esac
expect_status 0 "--set variant checks" -- "$lmc" check "$spec" --set attention.n_kv_heads=1

# Valid, but not lowered yet: refused by build, never mis-compiled.
expect_status 1 "build refuses dtype f16" -- "$lmc" build "$spec" --set dtype=f16 -o "$tmp/ntk"
case "$err" in *"not supported yet: dtype f16 (<--set>:1:7)"*) pass "not supported yet, located" ;;
  *) fail "$err" ;; esac
[ ! -e "$tmp/ntk" ] && pass "no binary left" || fail "a binary was written"

# IR and emitted C++.
expect_status 0 "emit --ir" -- "$lmc" emit "$spec" --ir
case "$out" in *"gated_linear"*"buffer"*|*"buffer"*"gated_linear"*) pass "IR shows the passes' work" ;;
  *) fail "IR: $out" ;; esac
expect_status 0 "emit -o" -- "$lmc" emit "$spec" -o "$tmp/gen"
[ -s "$tmp/gen/stories260k.h" ] && [ -s "$tmp/gen/stories260k.cpp" ] && pass "emit wrote files" ||
  fail "emit files missing"

# The cache: a second identical build is a cache hit.
"$lmc" build "$spec" -o "$tmp/m1" --cache-dir "$tmp/cache" 2>/dev/null
expect_status 0 "rebuild" -- "$lmc" build "$spec" -o "$tmp/m2" --cache-dir "$tmp/cache"
case "$err" in *"(cached)"*) pass "cache hit" ;; *) fail "no cache hit: $err" ;; esac
cmp -s "$tmp/m1" "$tmp/m2" && pass "same binary" || fail "cached binary differs"
# --depfile: the spec and every spec it extends (a cache hit writes it too), escaped for make.
mkdir -p "$tmp/dep dir"
printf 'extends: %s\n' "$spec" >"$tmp/dep dir/base.yaml"
printf 'extends: base.yaml\n' >"$tmp/dep dir/top.yaml"
expect_status 0 "build --depfile" -- "$lmc" build "$tmp/dep dir/top.yaml" -o "$tmp/m4" \
  --cache-dir "$tmp/cache" --depfile "$tmp/m4.d"
want="$tmp/m4: ${tmp// /\\ }/dep\\ dir/top.yaml ${tmp// /\\ }/dep\\ dir/base.yaml $spec $src/specs/llama2c.base.yaml"
[ "$(cat "$tmp/m4.d")" = "$want" ] && pass "depfile lists the extends chain" ||
  fail "depfile: $(cat "$tmp/m4.d"), expected $want"
expect_status 2 "--depfile without -o" -- "$lmc" build "$spec" --depfile "$tmp/x.d"
expect_status 1 "missing compiler" -- "$lmc" build "$spec" -o "$tmp/m3" --cxx no-such-c++ \
  --cache-dir "$tmp/cache"
case "$err" in *"no C++ compiler named 'no-such-c++'"*) pass "compiler lookup error" ;; *) fail "$err" ;; esac

# Every command answers --help and -h with its usage on stdout, exit 0.
for command in "" check emit build run random-weights quantize opt inspect import tokenize \
  detokenize; do
  for flag in --help -h; do
    expect_status 0 "lmc $command $flag" -- "$lmc" $command $flag
    case "$out" in *"USAGE"* | *"usage"*) pass "lmc $command $flag: usage" ;;
      *) fail "lmc $command $flag: no usage on stdout: $out" ;; esac
  done
done
finish
