#!/usr/bin/env bash
# Configures and builds lmc and its runtime into BUILD_DIR (default build/):
# every target, or only TARGETS (e.g. TARGETS=lmc: the compiler and the runtime
# it links models against, no tests). Extra arguments go to CMake (e.g.
# -DLMC_SANITIZE=ON).
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${BUILD_DIR:-build}
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=${BUILD_TYPE:-Release} "$@" >/dev/null
# shellcheck disable=SC2086  # TARGETS is a list
cmake --build "$build_dir" -j "${JOBS:-2}" ${TARGETS:+--target $TARGETS}
