#!/usr/bin/env bash
# Installs what is missing (build and test dependencies), then runs every test:
#   1. a Release build (GCC), and every ctest label in it: unit, model, reference,
#      fuzz-replay, hostile;
#   2. one clang build with AddressSanitizer + UndefinedBehaviorSanitizer and
#      libFuzzer coverage: the labels unit, fuzz-replay, hostile and family (one
#      model per family) under the sanitizers, then each fuzzer for FUZZ_SECONDS
#      (default 12; scripts/fuzz.sh runs longer ones).
# Ends with each stage's wall time and the total of checks. Test models are
# compiled for this CPU only (lmc build --native). Shared assets are read from
# $LMC_ASSETS (default ../shared/assets).
set -uo pipefail
cd "$(dirname "$0")/.."
export LMC_CACHE_DIR=${LMC_CACHE_DIR:-$PWD/build/lmc-cache}

stages=()
failed_stages=()
passed=0 failed=0
start=$SECONDS
report() {
  echo
  echo "== Stage times (wall)"
  printf '%s\n' "${stages[@]}"
  printf '%-44s %5d s\n' "total" $((SECONDS - start))
  [ ${#failed_stages[@]} -eq 0 ] || echo "failed stages: ${failed_stages[*]}"
  echo "test.sh: $passed passed, $failed failed"
}
trap report EXIT

# stage NAME COMMAND...: runs COMMAND, records its wall time and whether it failed.
stage() {
  local name=$1 t0=$SECONDS status=0
  shift
  echo "== $name"
  "$@" || status=$?
  stages+=("$(printf '%-44s %5d s%s' "$name" $((SECONDS - t0)) "$([ $status -eq 0 ] || echo '  FAILED')")")
  [ $status -eq 0 ] || failed_stages+=("$name")
  return $status
}

# ctest_label DIR LABEL: one label's tests, two at a time; counts them.
ctest_label() {
  local log
  log=$(mktemp)
  (cd "$1" && ctest -L "^($2)\$" -j 2 --output-on-failure) 2>&1 | tee "$log"
  local status=${PIPESTATUS[0]}
  local line
  line=$(grep -E "tests passed, [0-9]+ tests failed out of [0-9]+" "$log" | tail -1)
  rm -f "$log"
  if [[ $line =~ ([0-9]+)\ tests\ failed\ out\ of\ ([0-9]+) ]]; then
    failed=$((failed + BASH_REMATCH[1]))
    passed=$((passed + BASH_REMATCH[2] - BASH_REMATCH[1]))
  else
    failed=$((failed + 1))  # ctest itself failed (or ran nothing)
  fi
  return "$status"
}

stage "setup (apt-get, npm)" scripts/setup.sh --tests || exit 1

# configure DIR CMAKE_ARGS...: CMake's progress lines hidden, its errors shown.
configure() { cmake -S . -B "$1" -G Ninja "${@:2}" >/dev/null; }

stage "Release: configure" configure build -DCMAKE_BUILD_TYPE=Release || exit 1
stage "Release: build" cmake --build build -j 2 || exit 1
for label in unit model reference fuzz-replay hostile; do
  stage "Release: ctest -L $label" ctest_label build "$label"
done

export ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1
CC=clang-14 CXX=clang++-14 stage "ASan+UBSan (clang): configure" \
  configure build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLMC_FUZZ=ON || exit 1
stage "ASan+UBSan: build" cmake --build build-asan -j 2 || exit 1
for label in unit fuzz-replay hostile family; do
  LMC_CACHE_DIR=$PWD/build-asan/lmc-cache stage "ASan+UBSan: ctest -L $label" \
    ctest_label build-asan "$label"
done

# fuzz: every fuzzer; counts its closing line "fuzz.sh: N passed, M failed".
fuzz() {
  local log
  log=$(mktemp)
  FUZZ_BUILD_DIR=build-asan FUZZ_SECONDS=${FUZZ_SECONDS:-12} scripts/fuzz.sh 2>&1 | tee "$log"
  local status=${PIPESTATUS[0]}
  if [[ $(tail -1 "$log") =~ ([0-9]+)\ passed,\ ([0-9]+)\ failed ]]; then
    passed=$((passed + BASH_REMATCH[1])) failed=$((failed + BASH_REMATCH[2]))
  else
    failed=$((failed + 1))
  fi
  rm -f "$log"
  return "$status"
}
stage "fuzzers, ${FUZZ_SECONDS:-12} s each" fuzz

[ ${#failed_stages[@]} -eq 0 ]
