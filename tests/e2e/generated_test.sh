#!/usr/bin/env bash
# generated/ holds lmc's output for every spec in specs/; regenerate and fail
# on any difference. To update: scripts/regenerate.sh
# usage: generated_test.sh LMC SOURCE_DIR
source "$(dirname "$0")/lib.sh"
lmc=$1 src=$2
cd "$src"
for spec in specs/*.yaml; do
  case "$spec" in *.base.yaml) continue ;; esac
  name=$(basename "$spec" .yaml)
  "$lmc" emit "$spec" -o "$tmp/$name" || { fail "emit $spec"; continue; }
  if diff -r "generated/$name" "$tmp/$name" >"$tmp/diff.txt"; then pass "generated/$name is current"; else
    fail "generated/$name differs from lmc's output for $spec (run scripts/regenerate.sh):"
    cat "$tmp/diff.txt"
  fi
done
finish
