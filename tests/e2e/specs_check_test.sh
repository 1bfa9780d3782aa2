#!/usr/bin/env bash
# `lmc check` on every spec in specs/ and every tests/specs/valid/*.yaml (the
# tiny variants): each either passes, or is refused only by "not supported
# yet" (lowering that has not landed: allowed, and listed), or is one of the
# known refusals below with its reason. Any other error fails the test.
# usage: specs_check_test.sh LMC SOURCE_DIR
source "$(dirname "$0")/lib.sh"
lmc=$1 src=$2
cd "$src"

# Refused today for a reason other than lowering, and the reason.
declare -A known_refusal=()
# Must pass: the architectures lowered today.
must_pass="specs/stories260k.yaml specs/tinytales.yaml specs/llama1-7b.yaml specs/llama2-7b.yaml
  specs/llama2-70b.yaml specs/llama3-8b.yaml specs/llama3.1-8b.yaml specs/gpt.yaml specs/gpt2.yaml tests/specs/valid/tiny-llama1-7b.yaml tests/specs/valid/tiny-llama2-7b.yaml
  tests/specs/valid/tiny-llama2-70b.yaml tests/specs/valid/tiny-llama3-8b.yaml"

checked=0 passing=0 unsupported=0
for spec in specs/*.yaml tests/specs/valid/*.yaml; do
  case "$spec" in *.base.yaml) continue ;; esac
  checked=$((checked + 1))
  "$lmc" check "$spec" >"$tmp/out" 2>"$tmp/err" && status=0 || status=$?
  errors=$(grep ': error: ' "$tmp/err" || true)
  others=$(printf '%s\n' "$errors" | grep -v ': error: not supported yet: ' | grep -c . || true)
  if [ "$status" -eq 0 ]; then
    passing=$((passing + 1))
    if [ -n "${known_refusal[$spec]+x}" ]; then
      fail "$spec now passes: remove it from known_refusal in $0"
    else
      pass "$spec: ok"
    fi
  elif [ "$status" -ne 1 ]; then
    fail "$spec: exit $status: $(cat "$tmp/err")"
  elif [ -n "${known_refusal[$spec]+x}" ]; then
    if grep -qF -- "${known_refusal[$spec]}" "$tmp/err"; then
      pass "$spec: refused as known (${known_refusal[$spec]})"
    else
      fail "$spec: expected a refusal with '${known_refusal[$spec]}', got: $errors"
    fi
  elif [ -n "$errors" ] && [ "$others" -eq 0 ]; then
    unsupported=$((unsupported + 1))
    what=$(printf '%s\n' "$errors" | sed 's/.*not supported yet: \(.*\) (.*/\1/' | paste -sd ';' -)
    pass "$spec: not supported yet: $what"
  else
    fail "$spec: refused for another reason than lowering: $(cat "$tmp/err")"
  fi
done
for spec in $must_pass; do
  "$lmc" check "$spec" >/dev/null 2>&1 && pass "$spec lowers" || fail "$spec must pass lmc check"
done
[ "$checked" -ge 20 ] && pass "$checked specs checked" || fail "only $checked specs found"
echo "summary: $checked specs: $passing pass, $unsupported not supported yet"
finish
