#!/usr/bin/env bash
# A model binary's `chat`, end to end on stories260K built with a chat template (Zephyr's,
# from a tokenizer_config.json written here, bos/eos as AddedToken and string):
#  - `chat --messages F --render` prints exactly what the template renders (no newline added);
#  - piping two user turns keeps the KV cache: turn 2 prefills only what follows turn 1's
#    prompt and reply, and its greedy reply equals answering the whole conversation at once;
#  - bad messages files, a model built without a template, and lmc check on a template lmc
#    cannot compile fail in one line.
# usage: chat_model_test.sh LMC SOURCE_DIR ASSETS PLAIN_MODEL WORK_DIR
source "$(dirname "$0")/../e2e/lib.sh"
lmc=$1 src=$2 assets=$3 plain_model=$4 work=$5
mkdir -p "$work"
A=$assets/llama2c-stories260K
W=(--weights "$A/stories260K.bin" --tokenizer "$A/tok512.bin" --temperature 0 -n 24)

/usr/bin/python3 - "$src/tests/chat/templates/zephyr.jinja" "$work" <<'PY'
import json, sys
template, work = open(sys.argv[1]).read(), sys.argv[2]
json.dump({"bos_token": {"__type": "AddedToken", "content": "<s>", "lstrip": False},
           "eos_token": "</s>", "chat_template": template},
          open(work + "/tokenizer_config.json", "w"))
json.dump([{"role": "system", "content": "You tell stories."},
           {"role": "user", "content": "Once upon a time"}], open(work + "/one.json", "w"))
PY
model=$work/stories260k-chat
expect_status 0 "lmc build with tokenizer.chat_template" -- \
  "$lmc" build "$src/specs/stories260k.yaml" --native -o "$model" \
  --set tokenizer.chat_template="$work/tokenizer_config.json" --cache-dir "$work/lmc-cache"

# --render: the template's bytes, nothing added.
expected=$'<|system|>\nYou tell stories.</s>\n<|user|>\nOnce upon a time</s>\n<|assistant|>\n'
"$model" chat --messages "$work/one.json" --render >"$work/rendered" 2>"$tmp/stderr"
if [ "$(cat "$work/rendered"; printf x)" = "${expected}x" ]; then
  pass "--render prints the rendered prompt exactly"
else
  fail "--render: $(od -c "$work/rendered" | head -5)"
fi

# Two turns through stdin, greedy.
printf 'Once upon a time\nTell me about a cat\n' >"$work/turns"
"$model" chat "${W[@]}" --system "You tell stories." <"$work/turns" >"$work/two.out" 2>"$work/two.err" ||
  fail "two turns: $(cat "$work/two.err")"
cat "$work/two.err"
turn1=$(grep '^turn 1:' "$work/two.err")
turn2=$(grep '^turn 2:' "$work/two.err")
num() { printf '%s' "$1" | sed -E "s/.*$2.*/\\1/"; }
p1=$(num "$turn1" 'prompt ([0-9]+) tokens') r1=$(num "$turn1" 'reply ([0-9]+) tokens')
p2=$(num "$turn2" 'prompt ([0-9]+) tokens') new2=$(num "$turn2" 'prefill ([0-9]+) new')
reused2=$(num "$turn2" '\(([0-9]+) from the cache\)')
# The cache holds turn 1's prompt and every reply token but the last (never run): all of it
# is turn 2's prefix when the reply's text tokenizes back the same.
if [ -n "$reused2" ] && [ "$reused2" -gt "$p1" ] && [ "$reused2" -le $((p1 + r1)) ] &&
   [ "$new2" -eq $((p2 - reused2)) ]; then
  pass "turn 2 prefills $new2 new tokens of $p2; $reused2 come from the cache (turn 1: $p1 + $r1)"
else
  fail "turn 2 did not reuse the cache: $turn1 / $turn2"
fi

# The same conversation answered at once: turn 1's reply, then turn 2's from a full prefill.
"$model" chat "${W[@]}" --messages "$work/one.json" >"$work/a1" 2>/dev/null
/usr/bin/python3 - "$work" <<'PY'
import json, sys
work = sys.argv[1]
reply = open(work + "/a1", encoding="utf-8").read()[:-1]  # chat ends each reply with "\n"
json.dump([{"role": "system", "content": "You tell stories."},
           {"role": "user", "content": "Once upon a time"},
           {"role": "assistant", "content": reply},
           {"role": "user", "content": "Tell me about a cat"}], open(work + "/two.json", "w"))
PY
"$model" chat "${W[@]}" --messages "$work/two.json" >"$work/a2" 2>"$work/a2.err"
if [ -s "$work/a1" ] && cmp -s "$work/two.out" <(cat "$work/a1" "$work/a2"); then
  pass "replies with the cache kept equal replies to the whole conversation prefilled"
else
  fail "kept cache vs whole conversation differ: $(cat "$work/two.out") /// $(cat "$work/a1" "$work/a2")"
fi

# Bad input: one line, exit 1.
echo '{"role": "user"}' >"$work/object.json"
expect_error "messages file not an array" 1 "expected an array of messages" -- \
  "$model" chat --messages "$work/object.json" --render
echo '[{"role": "user", "content": "x", "tool_calls": []}]' >"$work/tools.json"
expect_error "a message with tool_calls" 1 'message 0 has key "tool_calls"' -- \
  "$model" chat --messages "$work/tools.json" --render
echo '[{"role": "user", "content": 3}]' >"$work/number.json"
expect_error "content not a string" 1 '"content" is not a string' -- \
  "$model" chat --messages "$work/number.json" --render
printf '[{"role": "user", "content": "x"' >"$work/truncated.json"
expect_error "truncated JSON" 1 "truncated.json" -- \
  "$model" chat --messages "$work/truncated.json" --render
expect_error "--render without --messages" 2 "--render needs --messages" -- \
  "$model" chat --render
expect_error "a model built without a template" 1 "no chat template" -- \
  "$plain_model" chat --messages "$work/one.json" --render
printf '{%% for m in messages %%}{{ m.content | upper }}{%% endfor %%}' >"$work/upper.jinja"
expect_status 1 "lmc check: a template lmc cannot compile" -- \
  "$lmc" check "$src/specs/stories260k.yaml" --set tokenizer.chat_template="$work/upper.jinja"
case "$err" in
  *"error: tokenizer.chat_template: $work/upper.jinja:1:37: the filter 'upper' is not supported"*)
    pass "lmc check names the spec key and the template's line:col" ;;
  *) fail "lmc check: $err" ;;
esac
finish
