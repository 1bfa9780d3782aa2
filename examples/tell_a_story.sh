#!/usr/bin/env bash
# The main job on a fresh machine: install what is missing, build lmc, compile
# specs/stories260k.yaml into a model binary, and let it tell a story from the
# real llama2.c stories260K checkpoint (read in place from ../shared/assets).
set -euo pipefail
cd "$(dirname "$0")/.."
assets=${LMC_ASSETS:-../shared/assets}/llama2c-stories260K
scripts/setup.sh
scripts/build.sh
build/bin/lmc check specs/stories260k.yaml
build/bin/lmc build specs/stories260k.yaml -o build/stories260k
build/stories260k generate --weights "$assets/stories260K.bin" --tokenizer "$assets/tok512.bin" \
  --prompt "${PROMPT:-Once upon a time}" -n "${STEPS:-60}" --temperature "${TEMPERATURE:-0}"
