#!/usr/bin/env bash
# Installs lmc's dependencies from Debian: what building lmc and running models
# need; with --tests, also what only the tests need (PyTorch references, clang
# for the sanitizer and fuzzer build, sentencepiece, the npm reference
# tokenizers). Safe to run again: apt-get is only called when a package is missing.
set -euo pipefail
packages=(
  build-essential cmake ninja-build ccache git
  llvm-dev        # LLVM support library: command line, SourceMgr diagnostics, host CPU, program lookup
  libfmt-dev libyaml-cpp-dev
  libhwy-dev      # Highway SIMD kernels with dynamic dispatch
  nlohmann-json3-dev  # safetensors headers, tokenizer.json / encoder.json
  catch2          # Catch2 v2 unit tests (CMake finds it at configure time)
  libpcre2-dev    # pre-tokenizer regexes other than the built-in ones
  pkg-config      # finds PCRE2
)
tests=0
[ "${1:-}" = "--tests" ] && tests=1
if [ "$tests" = 1 ]; then
  packages+=(
    llvm-14-tools   # FileCheck, for the IR pass tests
    python3 python3-numpy  # test helpers (npy reader, reference checks)
    # PyTorch references (tests/reference/*.py) and the default model's training test.
    python3-torch
    libopenblas0-serial   # single-threaded OpenBLAS: torch on CPU trains ~6x faster than reference BLAS
    sentencepiece python3-sentencepiece   # spm_train; the Python encoder the tests compare with
    clang-14 libclang-rt-14-dev   # the sanitizer + libFuzzer build (scripts/test.sh, scripts/fuzz.sh)
    procps          # pgrep, in the tests of killed builds
    # A real browser for MODEL serve's chat page (tests/e2e/serve_browser_test.sh), headless;
    # about 120 MB in 15 packages, 19 s to fetch and install on the dev machine.
    chromium
    # MPI for tensor-parallel binaries (lmc build --tensor-parallel; docs/distributed.md) and
    # mpirun for their test; lmc builds without them (the flag then says so).
    libopenmpi-dev openmpi-bin
  )
fi
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Node and npm run the reference tokenizers (tests/tokenizer/*, npm ci); any install that
# provides both commands will do (Debian's, or the one a machine image ships).
if [ "$tests" = 1 ] && { ! command -v node >/dev/null || ! command -v npm >/dev/null; }; then
  missing+=(nodejs npm)
fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -q --no-install-recommends "${missing[@]}"
else
  echo "setup: all dependencies present"
fi

# Hugging Face tokenizers (npm, pinned by package-lock.json): the WordPiece reference.
spm_ref="$(dirname "$0")/../tests/tokenizer/spm-reference"
if [ "$tests" = 1 ] && [ ! -d "$spm_ref/node_modules/tokenizers" ]; then
  echo "setup: npm ci in tests/tokenizer/spm-reference"
  (cd "$spm_ref" && npm ci --no-audit --no-fund --silent)
fi

# @huggingface/jinja (npm, pinned): the reference the compiled chat templates are compared with.
chat_ref="$(dirname "$0")/../tests/chat/reference"
if [ "$tests" = 1 ] && [ ! -d "$chat_ref/node_modules/@huggingface/jinja" ]; then
  echo "setup: npm ci in tests/chat/reference"
  (cd "$chat_ref" && npm ci --no-audit --no-fund --silent)
fi

# The official openai client (npm, pinned): MODEL serve's client test (tests/e2e/serve_test.sh).
serve_client="$(dirname "$0")/../tests/e2e/serve-openai"
if [ "$tests" = 1 ] && [ ! -d "$serve_client/node_modules/openai" ]; then
  echo "setup: npm ci in tests/e2e/serve-openai"
  (cd "$serve_client" && npm ci --no-audit --no-fund --silent)
fi

# ws (npm, pinned): the WebSocket the chat page's browser test speaks CDP over.
serve_browser="$(dirname "$0")/../tests/e2e/serve-browser"
if [ "$tests" = 1 ] && [ ! -d "$serve_browser/node_modules/ws" ]; then
  echo "setup: npm ci in tests/e2e/serve-browser"
  (cd "$serve_browser" && npm ci --no-audit --no-fund --silent)
fi
