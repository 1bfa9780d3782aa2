#!/usr/bin/env bash
# The installed package: cmake --install this build into a temporary prefix, build
# examples/embed against it (find_package(lmc), lmc_add_model), and its C and C++
# programs print, byte for byte, what the model binary's generate prints for the same
# prompt, greedy. Then the prefix is moved, and the example builds and runs from there, and
# the moved lmc builds a tensor-parallel binary that mpirun runs.
# usage: embed_example_test.sh BUILD_DIR SOURCE_DIR MODEL WITH_MPI (1: lmc was built with MPI)
source "$(dirname "$0")/lib.sh"
build=$1 src=$2 model=$3 with_mpi=${4:-0}
dir=$src/models/default
json() { /usr/bin/python3 -c "import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" \
  "$dir/results.json" "$1"; }
prompt=$(json greedy_prompt) n=$(json greedy_tokens)
export LMC_CACHE_DIR=$tmp/cache  # models compiled here, by the installed lmc

expect_status 0 "cmake --install into a temporary prefix" -- \
  cmake --install "$build" --prefix "$tmp/prefix"
for f in bin/lmc include/lmc/lmc.h include/lmc/lmc.hpp include/lmc/private/runtime/model/model.h \
  include/lmc/private/runtime/kernels/rows-inl.h lib/cmake/lmc/lmcConfig.cmake \
  lib/cmake/lmc/lmcConfigVersion.cmake lib/cmake/lmc/LmcAddModel.cmake share/lmc/toolchain.txt; do
  [ -e "$tmp/prefix/$f" ] && pass "installed $f" || fail "not installed: $f"
done

expect_status 0 "generate (the model binary)" -- "$model" generate --weights "$dir/model.bin" \
  --tokenizer "$dir/tokenizer.bin" --prompt "$prompt" -n "$n" --temperature 0
printf '%s\n' "$out" >"$tmp/cli.txt"

# build_and_run PREFIX NAME: configures and builds the example against PREFIX in $tmp/NAME,
# then runs tell and tell_cpp and compares their text with the CLI's.
build_and_run() {
  local prefix=$1 name=$2
  expect_status 0 "$name: configure examples/embed" -- cmake -S "$src/examples/embed" \
    -B "$tmp/$name" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_BUILD_TYPE=Release
  expect_status 0 "$name: build it" -- cmake --build "$tmp/$name" -j 1
  [ "$status" -eq 0 ] || { echo "$out"; return; }
  for program in tell tell_cpp; do
    expect_status 0 "$name: $program" -- "$tmp/$name/$program" "$dir/model.bin" "$prompt" "$n"
    printf '%s\n' "$out" >"$tmp/$program.txt"
    if cmp -s "$tmp/cli.txt" "$tmp/$program.txt"; then pass "$name: $program prints the CLI's text"
    else
      fail "$name: $program's text differs from generate's:"
      diff "$tmp/cli.txt" "$tmp/$program.txt"
    fi
  done
}
build_and_run "$tmp/prefix" installed

# The library: the model and its build info, and one global symbol (no main, no
# lmc::rt::CreateModel): models link side by side.
lib=$tmp/installed/lmc_models/libtinytales_model.a
members=$(ar t "$lib" | tr '\n' ' ')
[ "$members" = "tinytales.o tinytales_build_info.o " ] && pass "archive members: $members" ||
  fail "archive members: $members"
globals=$(nm -g --defined-only -C "$lib" | sed -n 's/^[0-9a-f]* [TDRB] //p' |
  grep -v -e '^lmc::models::tinytales::' -e '^lmc_open_tinytales$' | sort -u)
if nm -g --defined-only "$lib" | grep -qw lmc_open_tinytales && [ -z "$globals" ]; then
  pass "the library defines lmc_open_tinytales and nothing global outside its namespace"
else fail "the library's global symbols: $(echo "$globals" | head -5)"; fi

# Moved whole, the installation still builds models: lmc finds its runtime beside itself.
mv "$tmp/prefix" "$tmp/moved"
build_and_run "$tmp/moved" moved

# The installed lmc builds tensor-parallel binaries too (toolchain.txt's mpi lines): the
# default model over 2 ranks tells the CLI's story.
if [ "$with_mpi" != 1 ]; then
  echo "lmc was built without MPI: no tensor-parallel build to check"
elif command -v mpirun >/dev/null && grep -q '^mpi ' "$tmp/moved/share/lmc/toolchain.txt"; then
  expect_status 0 "installed lmc build --tensor-parallel 2" -- "$tmp/moved/bin/lmc" build \
    "$src/specs/tinytales.yaml" --tensor-parallel 2 --native -o "$tmp/tp2"
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
  expect_status 0 "mpirun -np 2 of it" -- timeout 120 mpirun --oversubscribe --bind-to none -np 2 \
    "$tmp/tp2" generate --weights "$dir/model.bin" --tokenizer "$dir/tokenizer.bin" \
    --prompt "$prompt" -n "$n" --temperature 0 --threads 1
  [ "$out" = "$(cat "$tmp/cli.txt")" ] && pass "2 ranks print the CLI's text" ||
    fail "2 ranks print '$out'"
else
  fail "no mpirun (openmpi-bin), or the installed toolchain.txt has no mpi lines"
fi

# A toolchain file naming a missing library: one line, naming the file and line.
sed -i 's|^link lib/\(.*\)|link lib/gone-\1|' "$tmp/moved/share/lmc/toolchain.txt"
expect_error "a broken toolchain file" 1 "toolchain.txt:" -- "$tmp/moved/bin/lmc" build \
  "$src/specs/tinytales.yaml" --library -o "$tmp/t.a"
case "$err" in *"does not exist"*) pass "it names the missing path" ;; *) fail "says: $err" ;; esac
finish
