#!/usr/bin/env bash
# Builds the libFuzzer harnesses (tests/fuzz) with clang-14 into build-fuzz/
# (FUZZ_BUILD_DIR; scripts/test.sh uses its sanitizer build) and runs each for
# FUZZ_SECONDS (default 30) from its seed corpus. Fails if
# any fuzzer finds a crash, leak, hang or sanitizer report; the reproducer is
# left in build-fuzz/artifacts/. Extra arguments go to every fuzzer. Seeds are
# tests/fuzz/seeds/FUZZER, or made now by tests/fuzz/make_seeds.py for the
# fuzzers without checked-in seeds. FUZZERS="a b" runs only those; JOBS
# (default 2) of them run at once.
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${FUZZ_BUILD_DIR:-build-fuzz}
seconds=${FUZZ_SECONDS:-30}
export LMC_ASSETS=${LMC_ASSETS:-$(cd .. && pwd)/shared/assets}
CC=clang-14 CXX=clang++-14 cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DLMC_FUZZ=ON >/dev/null
# lmc too: the whole compiler must build with clang.
cmake --build "$build_dir" -j "${JOBS:-2}" --target lmc_fuzzers lmc
mkdir -p "$build_dir/artifacts"
# The tokenizer loaders' seeds are cut from the shared assets now, not stored.
/usr/bin/python3 tests/fuzz/make_tokenizer_seeds.py "$LMC_ASSETS" "$build_dir/seeds"
fuzzers=${FUZZERS:-fuzz_spec fuzz_checkpoint fuzz_tokenizer fuzz_tokenizer_encode fuzz_args
  fuzz_safetensors fuzz_shard_index fuzz_gguf_checkpoint fuzz_llama2c_header fuzz_ir
  fuzz_load_tiktoken fuzz_load_gpt2_bpe fuzz_load_tokenizer_json fuzz_load_sentencepiece fuzz_load_gguf
  fuzz_import_gguf}
jobs=${JOBS:-2}

# Runs one fuzzer; its output goes to $build_dir/FUZZER.log, its verdict to
# $build_dir/FUZZER.status (0 clean).
run_fuzzer() {
  local fuzzer=$1 corpus="$build_dir/corpus/$1" seeds=tests/fuzz/seeds/$1
  mkdir -p "$corpus" "tests/fuzz/regressions/$fuzzer"
  if [ ! -d "$seeds" ]; then
    seeds=$build_dir/seeds/$fuzzer
    [ -d "$seeds" ] || /usr/bin/python3 tests/fuzz/make_seeds.py "$fuzzer" "$seeds" "$build_dir/bin/lmc" "$PWD" \
      >/dev/null
  fi
  local rc=0
  ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
    "$build_dir/tests/fuzz/$fuzzer" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
    -max_len=65536 -print_final_stats=1 -artifact_prefix="$build_dir/artifacts/$fuzzer-" \
    "${extra[@]}" "$corpus" "$seeds" "tests/fuzz/regressions/$fuzzer" \
    >"$build_dir/$fuzzer.log" 2>&1 || rc=$?
  echo "$rc" >"$build_dir/$fuzzer.status"
}

# JOBS fuzzers at a time (each is single-threaded), then the verdicts in order.
extra=("$@")
rm -f "$build_dir"/*.status
echo "== fuzzing ${seconds}s each, $jobs at a time: $(echo $fuzzers)"
running=0
for fuzzer in $fuzzers; do
  if [ "$running" -ge "$jobs" ]; then
    wait -n
    running=$((running - 1))
  fi
  run_fuzzer "$fuzzer" &
  running=$((running + 1))
done
wait
clean=0 found=0
for fuzzer in $fuzzers; do
  echo "== $fuzzer"
  if [ "$(cat "$build_dir/$fuzzer.status" 2>/dev/null)" != 0 ]; then
    echo "FAIL: $fuzzer found a problem (see $build_dir/$fuzzer.log, $build_dir/artifacts/)"
    grep -E "ERROR|SUMMARY|Test unit written" "$build_dir/$fuzzer.log" | head -5 || true
    found=$((found + 1))
  else
    clean=$((clean + 1))
  fi
  grep -E "stat::number_of_executed_units|stat::peak_rss_mb" "$build_dir/$fuzzer.log" | tr '\n' ' ' ||
    true
  echo
done
echo "fuzz.sh: $clean passed, $found failed"
[ "$found" -eq 0 ]
