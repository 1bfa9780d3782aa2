#!/usr/bin/env bash
# Chat templates compiled by lmc against @huggingface/jinja (npm, pinned in
# reference/package-lock.json; the renderer transformers.js uses): every template of
# templates/ over every conversation of conversations.json, add_generation_prompt false and
# true, byte for byte. Where the reference raises (raise_exception, an operation it refuses),
# the compiled template must fail too.
# usage: chat_reference_test.sh RENDER_TOOL SOURCE_DIR WORK_DIR
set -uo pipefail
tool=$1 src=$2 work=$3
here=$src/tests/chat
ref=$work/reference
mkdir -p "$ref"
cp "$here"/reference/{package.json,package-lock.json,render.js} "$ref"/
if ! cmp -s "$ref/package-lock.json" "$ref/installed-lock.json"; then
  if ! npm ci --prefix "$ref" --no-audit --no-fund >"$work/npm.log" 2>&1; then
    cat "$work/npm.log"
    echo "FAIL: npm ci of @huggingface/jinja failed (needs node, npm and the npm registry)"
    exit 1
  fi
  cp "$ref/package-lock.json" "$ref/installed-lock.json"
fi
node "$ref/render.js" "$here/templates" "$here/conversations.json" >"$work/reference.jsonl" ||
  { echo "FAIL: the reference renderer"; exit 1; }
"$tool" "$here/templates/templates.json" "$here/conversations.json" >"$work/lmc.jsonl" ||
  { echo "FAIL: chat_render_tool"; exit 1; }
/usr/bin/python3 - "$work/reference.jsonl" "$work/lmc.jsonl" <<'PY'
import json, sys
ref = [json.loads(l) for l in open(sys.argv[1], encoding="utf-8")]
got = [json.loads(l) for l in open(sys.argv[2], encoding="utf-8")]
key = lambda r: (r["template"], r["conversation"], r["add_generation_prompt"])
got = {key(r): r for r in got}
failures = rendered = raised = 0
for r in ref:
    g = got.get(key(r))
    where = "%s conversation %d add_generation_prompt=%s" % key(r)
    if g is None:
        print("FAIL: %s: no rendering from lmc" % where); failures += 1; continue
    if r["ok"]:
        if not g["ok"]:
            print("FAIL: %s: lmc raised %r; the reference rendered %r" % (where, g["error"], r["text"]))
            failures += 1
        elif g["text"] != r["text"]:
            print("FAIL: %s:\n  reference %r\n  lmc       %r" % (where, r["text"], g["text"]))
            failures += 1
        else:
            rendered += 1
    else:
        if g["ok"]:
            print("FAIL: %s: the reference raised %r; lmc rendered %r" % (where, r["error"], g["text"]))
            failures += 1
        else:
            raised += 1
templates = len({r["template"] for r in ref})
print("%d templates, %d renderings identical, %d raised by both, %d failures"
      % (templates, rendered, raised, failures))
sys.exit(1 if failures or rendered == 0 else 0)
PY
