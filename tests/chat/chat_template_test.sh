#!/usr/bin/env bash
# lmc chat-template: every template of templates/ compiles; constructs it cannot compile are
# refused in one line naming FILE:LINE:COL and the construct, only where they can run; the
# template is read from a .jinja file, a tokenizer_config.json (string or AddedToken special
# tokens) or a GGUF's tokenizer.chat_template.
# usage: chat_template_test.sh LMC SOURCE_DIR ASSETS WORK_DIR
set -uo pipefail
lmc=$1 src=$2 assets=$3 work=$4
mkdir -p "$work"
failures=0
pass() { echo "PASS: $*"; }
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

for t in "$src"/tests/chat/templates/*.jinja; do
  if "$lmc" chat-template "$t" -o "$work/out.cpp" 2>"$work/err"; then
    pass "compiles $(basename "$t")"
  else
    fail "$(basename "$t"): $(cat "$work/err")"
  fi
done

# Llama 3.1's tool branches fold away: no tojson(indent=4), reject or items is emitted.
"$lmc" chat-template "$src/tests/chat/templates/llama3.1.jinja" >"$work/l31.cpp"
if grep -q "tools\|Today Date: 26 Jul 2024" "$work/l31.cpp" && ! grep -q "v_tools\b.*Print\|reject" "$work/l31.cpp"; then
  pass "llama3.1: the date is folded into the text, the tool branches are gone"
else
  fail "llama3.1's generated code: $(head -c 400 "$work/l31.cpp")"
fi

# refuse NAME 'TEMPLATE' 'EXPECTED ERROR (a substring, with line:col)'
refuse() {
  printf '%s' "$2" >"$work/$1.jinja"
  if "$lmc" chat-template "$work/$1.jinja" >"$work/out" 2>"$work/err"; then
    fail "$1: compiled; expected '$3'"
  elif [ "$(wc -l <"$work/err")" -ne 1 ]; then
    fail "$1: not one line: $(cat "$work/err")"
  elif grep -qF -- "$work/$1.jinja:$3" "$work/err"; then
    pass "$1 refused: $(cat "$work/err")"
  else
    fail "$1: expected '$3', got: $(cat "$work/err")"
  fi
}
refuse macro '{% macro f() %}x{% endmacro %}' "1:4: error: the statement {% macro %} is not supported"
refuse filter $'line one\n{{ messages | map(attribute="role") | join(",") }}' "2:13: error: the filter 'map' with arguments"
refuse upper '{{ messages[0].content | upper }}' "1:24: error: the filter 'upper' is not supported"
refuse dict '{% set x = {"a": 1} %}{{ x }}' "1:12: error: a dict literal is not supported"
refuse unpack '{% for a, b in messages %}{% endfor %}' "1:9: error: a for loop over several variables"
refuse method "{{ messages[0].content.title() }}" "1:23: error: the method 'title'"
refuse loopattr '{% for m in messages %}{{ loop.previtem }}{% endfor %}' "1:31: error: loop.previtem"
refuse call '{{ strftime_now("%Y") }}' "1:4: error: the function 'strftime_now'"
refuse float '{{ 1.5 }}' "1:4: error: floating-point numbers are not supported"
refuse unclosed '{% if true %}x' "1:15: error: expected {% endif %} before the end"
refuse string "{{ 'abc }}" "1:4: error: a string literal is never closed"
refuse bool '{{ true }}' "1:1: error: printing a boolean"
refuse list '{{ messages }}' "1:1: error: printing a list"
refuse cmp '{{ messages[0].role == "user" }}' "1:1: error: printing a boolean"
refuse generation '{% generation %}x{% endgeneration %}' "1:4: error: the statement {% generation %}"
# The same constructs in a branch that cannot run are not compiled, so not refused.
printf '%s' '{% if tools is defined %}{{ tools | tojson(indent=4) }}{% for k, v in tools | items %}{% endfor %}{% endif %}ok' >"$work/dead.jinja"
if "$lmc" chat-template "$work/dead.jinja" >"$work/out" 2>"$work/err"; then
  pass "unsupported constructs in a branch that cannot run are not compiled"
else
  fail "dead branch refused: $(cat "$work/err")"
fi

# Hostile nesting: refused in one line, never a stack overflow.
deep() {
  /usr/bin/python3 -c "import sys; sys.stdout.write($2)" >"$work/$1.jinja"
  if "$lmc" chat-template "$work/$1.jinja" >"$work/out" 2>"$work/err"; then
    fail "$1: compiled"
  elif [ "$(wc -l <"$work/err")" -eq 1 ] && grep -q "deeper than" "$work/err"; then
    pass "$1 refused: $(cut -c1-160 "$work/err")"
  else
    fail "$1: $(head -c 300 "$work/err")"
  fi
}
deep parens "'{{ ' + '(' * 100000 + '1' + ')' * 100000 + ' }}'"
deep sum "'{{ 1' + ' + 1' * 200000 + ' }}'"
deep ifs "'{% if true %}' * 50000 + '{% endif %}' * 50000"
deep attrs "'{{ messages' + '.a' * 100000 + ' }}'"
deep nots "'{{ ' + 'not ' * 100000 + 'true }}'"
printf '%s' '{% for a in messages %}{% for b in messages %}{% for c in messages %}{% for d in messages %}{% for e in messages %}{% endfor %}{% endfor %}{% endfor %}{% endfor %}{% endfor %}' >"$work/loops.jinja"
if ! "$lmc" chat-template "$work/loops.jinja" >/dev/null 2>"$work/err" && grep -q "nested more than 4 deep" "$work/err"; then
  pass "five nested loops refused"
else
  fail "five nested loops: $(cat "$work/err")"
fi

# tokenizer_config.json: chat_template, and bos/eos as strings or AddedToken objects.
cat >"$work/tokenizer_config.json" <<'JSON'
{"bos_token": {"__type": "AddedToken", "content": "<s>", "lstrip": false},
 "eos_token": "</s>", "chat_template": "{{ bos_token }}{% for m in messages %}{{ m.content }}{% endfor %}"}
JSON
if "$lmc" chat-template "$work/tokenizer_config.json" >"$work/out" 2>"$work/err" && grep -q 'v_m_1' "$work/out"; then
  pass "tokenizer_config.json"
else
  fail "tokenizer_config.json: $(cat "$work/err")"
fi
echo '{"chat_template": [{"name": "default", "template": "x"}]}' >"$work/list_config.json"
if ! "$lmc" chat-template "$work/list_config.json" 2>"$work/err" >/dev/null &&
   grep -q "list of named templates" "$work/err"; then
  pass "a list of named templates is refused: $(cat "$work/err")"
else
  fail "list of named templates: $(cat "$work/err")"
fi
# The GGUF's tokenizer.chat_template (Phi-3's vocab file from llama.cpp) is phi3.jinja.
"$lmc" chat-template "$assets/vocab-gguf/ggml-vocab-phi-3.gguf" --namespace phi3 >"$work/gguf.cpp" 2>"$work/err" &&
  "$lmc" chat-template "$src/tests/chat/templates/phi3.jinja" --namespace phi3 >"$work/file.cpp"
if [ -s "$work/gguf.cpp" ] && diff <(tail -n +2 "$work/gguf.cpp") <(tail -n +2 "$work/file.cpp") >/dev/null; then
  pass "GGUF tokenizer.chat_template"
else
  fail "GGUF: $(cat "$work/err")"
fi
printf 'GGUF\x03\x00\x00\x00' >"$work/truncated.gguf"
if ! "$lmc" chat-template "$work/truncated.gguf" 2>"$work/err" >/dev/null &&
   [ "$(wc -l <"$work/err")" -eq 1 ] && grep -q "truncated.gguf" "$work/err"; then
  pass "truncated GGUF: $(cat "$work/err")"
else
  fail "truncated GGUF: $(cat "$work/err")"
fi

echo "chat_template_test: $failures failure(s)"
[ "$failures" -eq 0 ]
