#!/usr/bin/env bash
# Pass tests, IR in and IR out: each tests/ir/*.ir names its passes on a
# `# PASSES:` line; `lmc opt` runs them and FileCheck matches the `# CHECK`
# lines. A file with `# EXPECT-ERROR: TEXT` must instead fail with TEXT. A file
# with `# EMIT: cpp` (or h) is an emitter test: `lmc emit` writes its C++ and
# FileCheck matches that file instead.
# usage: run_ir_tests.sh LMC SOURCE_DIR FILECHECK
source "$(dirname "$0")/../e2e/lib.sh"
lmc=$1 src=$2 filecheck=$3
for file in "$src"/tests/ir/*.ir; do
  name=$(basename "$file")
  passes=$(sed -n 's/^# PASSES: *//p' "$file" | tr -d ' ')
  expected=$(sed -n 's/^# EXPECT-ERROR: *//p' "$file")
  emit=$(sed -n 's/^# EMIT: *//p' "$file")
  if [ -n "$emit" ]; then
    rm -rf "$tmp/emit"
    if ! "$lmc" emit "$file" -o "$tmp/emit" 2>"$tmp/err.txt"; then
      fail "$name: lmc emit: $(cat "$tmp/err.txt")"
    elif "$filecheck" --match-full-lines=false "$file" <"$tmp"/emit/*."$emit" 2>"$tmp/fc.txt"; then
      pass "$name"
    else
      fail "$name: FileCheck"
      cat "$tmp/fc.txt"
    fi
    continue
  fi
  if "$lmc" opt "$file" --passes="$passes" >"$tmp/out.ir" 2>"$tmp/err.txt"; then
    if [ -n "$expected" ]; then fail "$name: expected an error"; continue; fi
    if "$filecheck" --match-full-lines=false "$file" <"$tmp/out.ir" 2>"$tmp/fc.txt"; then
      pass "$name"; else fail "$name: FileCheck"; cat "$tmp/fc.txt"; fi
  else
    case "$(cat "$tmp/err.txt")" in
      *"$expected"*) [ -n "$expected" ] && pass "$name: $expected" || fail "$name: $(cat "$tmp/err.txt")" ;;
      *) fail "$name: stderr lacks '$expected': $(cat "$tmp/err.txt")" ;;
    esac
  fi
done
finish
