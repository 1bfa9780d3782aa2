#!/usr/bin/env bash
# generated/ holds lmc's output for every spec in specs/; regenerate and fail
# on any difference. To update: scripts/regenerate.sh. Specs lmc check refuses
# (not lowered yet; specs_check_test.sh says which refusals are allowed) have
# no generated output. Each generated .ir, emitted again, gives the same files:
# the IR text holds the whole module (`lmc emit X.ir`, `lmc build X.ir`).
# usage: generated_test.sh LMC SOURCE_DIR
source "$(dirname "$0")/lib.sh"
lmc=$1 src=$2
cd "$src"
for spec in specs/*.yaml; do
  case "$spec" in *.base.yaml) continue ;; esac
  name=$(basename "$spec" .yaml)
  if ! "$lmc" check "$spec" >/dev/null 2>&1; then
    [ ! -e "generated/$name" ] && pass "$spec is refused by lmc check: no generated/$name" ||
      fail "generated/$name exists but lmc check refuses $spec (run scripts/regenerate.sh)"
    continue
  fi
  "$lmc" emit "$spec" -o "$tmp/$name" || { fail "emit $spec"; continue; }
  if diff -r "generated/$name" "$tmp/$name" >"$tmp/diff.txt"; then pass "generated/$name is current"; else
    fail "generated/$name differs from lmc's output for $spec (run scripts/regenerate.sh):"
    cat "$tmp/diff.txt"
  fi
  ir=$(ls "generated/$name"/*.ir)
  "$lmc" emit "$ir" --spec-name "$spec" -o "$tmp/$name.from-ir" || { fail "emit $ir"; continue; }
  if diff -r "generated/$name" "$tmp/$name.from-ir" >"$tmp/diff.txt"; then
    pass "$ir emits generated/$name again"
  else
    fail "$ir does not emit generated/$name again:"
    cat "$tmp/diff.txt"
  fi
done
finish
