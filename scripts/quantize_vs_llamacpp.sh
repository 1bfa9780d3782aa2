#!/usr/bin/env bash
# `lmc quantize` beside llama.cpp's own quantizer: the same f32 matrices (random weights of
# several kinds, bench/llamacpp/quantize_vs_ggml.py) through `lmc quantize --dtype TYPE` and
# through ggml_quantize_chunk of the libggml-base.so that node-llama-cpp ships (called with
# ctypes, no importance matrix: what llama-quantize runs without --imatrix), compared byte for
# byte per block, for every block type lmc writes. Prints a table; exits 1 if a block differs.
# A measurement, not a CI test (node-llama-cpp is a large download).
# Needs node and npm, python3-numpy.
# usage: scripts/quantize_vs_llamacpp.sh [TYPE ...]
#   env: LMC=build/bin/lmc WORK=build/quantize-vs-llamacpp
set -euo pipefail
cd "$(dirname "$0")/.."
lmc=$(realpath "${LMC:-build/bin/lmc}")
work=${WORK:-build/quantize-vs-llamacpp}
mkdir -p "$work/llamacpp"
work=$(realpath "$work")
cp bench/llamacpp/package.json "$work/llamacpp/"
(cd "$work/llamacpp" && npm install --no-audit --no-fund --loglevel=error >/dev/null)
lib=$(find "$work/llamacpp/node_modules/@node-llama-cpp" -name libggml-base.so -path '*/linux-x64/bins/*' |
  head -n 1)
[ -n "$lib" ] || { echo "quantize_vs_llamacpp.sh: no libggml-base.so under $work/llamacpp" >&2; exit 1; }
/usr/bin/python3 bench/llamacpp/quantize_vs_ggml.py "$lmc" "$lib" "$work" "$@"
