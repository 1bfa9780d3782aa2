#!/usr/bin/env bash
# The main job on a fresh clone, with nothing outside the repository: install
# what is missing, build lmc, compile specs/tinytales.yaml into a model binary,
# and let it tell a story from the project's own model (models/default/).
# Then: `lmc check` on a broken variant of the spec, and a `--set` variant.
#   PROMPT="Once upon a time" STEPS=200 TEMPERATURE=0 examples/tell_a_story.sh
set -euo pipefail
cd "$(dirname "$0")/.."
model=models/default
scripts/setup.sh
TARGETS=lmc scripts/build.sh
lmc=build/bin/lmc

echo "== lmc check, lmc build, and a story"
$lmc check specs/tinytales.yaml
$lmc build specs/tinytales.yaml -o build/tinytales
build/tinytales generate --weights $model/model.bin --tokenizer $model/tokenizer.bin \
  --prompt "${PROMPT:-Once upon a time}" -n "${STEPS:-200}" --temperature "${TEMPERATURE:-0}"

echo "== a broken variant: lmc check points at the mistake"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cat >"$tmp/broken.yaml" <<YAML
extends: $PWD/specs/tinytales.yaml
attention:
  n_head: 8
YAML
cat -n "$tmp/broken.yaml"
if $lmc check "$tmp/broken.yaml"; then echo "expected lmc check to fail" >&2; exit 1; fi

echo "== a --set variant: multi-query attention (one KV head), compiled in"
$lmc build specs/tinytales.yaml --set attention.n_kv_heads=1 -o build/tinytales-mqa
build/tinytales-mqa info | grep -E '^model:|n_kv_heads'
echo "its layout differs, so it refuses the committed checkpoint with one line:"
if build/tinytales-mqa generate --weights $model/model.bin --tokenizer $model/tokenizer.bin; then
  echo "expected the MQA variant to refuse the GQA checkpoint" >&2
  exit 1
fi
