#!/usr/bin/env bash
# Replays a fuzzer's generated seeds (make_seeds.py) and every crash it ever
# found (tests/fuzz/regressions/FUZZER) through its replay binary.
# usage: replay_generated.sh FUZZER REPLAY_BINARY SOURCE_DIR [LMC]
set -euo pipefail
fuzzer=$1 replay=$2 src=$3 lmc=${4:-}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
/usr/bin/python3 "$src/tests/fuzz/make_seeds.py" "$fuzzer" "$tmp" ${lmc:+"$lmc" "$src"}
"$replay" "$tmp" "$src/tests/fuzz/regressions/$fuzzer"
