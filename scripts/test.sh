#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test twice: in a Release
# build, then in an AddressSanitizer + UndefinedBehaviorSanitizer build; then
# builds the fuzzers with clang and runs each for FUZZ_SECONDS (default 30).
# Shared assets are read from $LMC_ASSETS (default ../shared/assets).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export LMC_CACHE_DIR=${LMC_CACHE_DIR:-$PWD/build/lmc-cache}

echo "== Release build and tests"
BUILD_DIR=build scripts/build.sh
(cd build && ctest --output-on-failure -j 2)

echo "== ASan + UBSan build and tests"
BUILD_DIR=build-asan BUILD_TYPE=RelWithDebInfo scripts/build.sh -DLMC_SANITIZE=ON
(cd build-asan && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --output-on-failure -j 2)

echo "== Fuzzers (clang-14, libFuzzer + ASan + UBSan): ${FUZZ_SECONDS:-30} s each"
scripts/fuzz.sh
