#!/usr/bin/env bash
# Builds the stories260k model binary through lmc (the CTest fixture the
# model tests use) and checks the build is clean, and static unless sanitized.
# usage: build_model.sh LMC SOURCE_DIR OUTPUT static|dynamic
source "$(dirname "$0")/lib.sh"
lmc=$1 src=$2 output=$3 linkage=$4
expect_status 0 "lmc build specs/stories260k.yaml" -- \
  "$lmc" build "$src/specs/stories260k.yaml" --spec-name specs/stories260k.yaml -o "$output" \
  --cache-dir "$(dirname "$output")/lmc-cache"
echo "$err"
case "$err" in *warning*) fail "generated code compiles with warnings" ;; *) pass "no warnings" ;; esac
[ -x "$output" ] && pass "binary exists" || fail "no binary at $output"
# Static: no shared library to map and relocate at each start (README, Speed: start-up).
if [ "$linkage" = static ]; then
  case "$(readelf -d "$output" 2>&1)" in
    *"no dynamic section"*) pass "statically linked" ;;
    *) fail "the binary links shared libraries: $(readelf -d "$output" | grep NEEDED | tr -s ' ')" ;;
  esac
fi
finish
