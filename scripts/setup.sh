#!/usr/bin/env bash
# Installs lmc's build and test dependencies from Debian. Safe to run again:
# apt-get is only called when a package is missing.
set -euo pipefail
packages=(
  build-essential cmake ninja-build ccache git
  llvm-dev        # LLVM support library: command line, SourceMgr diagnostics, host CPU, program lookup
  llvm-14-tools   # FileCheck, for the IR pass tests
  libfmt-dev libyaml-cpp-dev
  libhwy-dev      # Highway SIMD kernels with dynamic dispatch
  nlohmann-json3-dev  # safetensors headers
  catch2          # Catch2 v2 unit tests
  nlohmann-json3-dev  # tokenizer.json / encoder.json
  libpcre2-dev    # pre-tokenizer regexes other than the built-in ones
  pkg-config      # finds PCRE2
  python3         # test helpers (npy reader, reference checks)
  # The default model: training (scripts/train_default_model.py) and its tests.
  # python3-torch and its libraries are the bulk: roughly 50 MB to download and
  # about a minute to unpack on the development machine.
  python3-torch python3-numpy  # also the PyTorch references: tests/reference/*.py
  sentencepiece python3-sentencepiece   # spm_train; the Python encoder the tests compare with
  libopenblas0-serial   # single-threaded OpenBLAS: torch on CPU trains ~6x faster than reference BLAS
  clang-14 libclang-rt-14-dev   # libFuzzer harnesses (scripts/fuzz.sh), and the clang build
)
missing=()
# Node.js and npm run the reference tokenizers (tests/tokenizer/*, npm ci). This
# machine image ships its own Node.js with npm inside; Debian's are the fallback.
command -v npm >/dev/null || missing+=(nodejs npm)
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Node and npm run the reference tokenizers (tests/tokenizer/reference, npm ci); any
# install that provides both commands will do (Debian's, or NodeSource's nodejs).
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then missing+=(nodejs npm); fi
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
if [ ! -d "$spm_ref/node_modules/tokenizers" ]; then
  echo "setup: npm ci in tests/tokenizer/spm-reference"
  (cd "$spm_ref" && npm ci --no-audit --no-fund --silent)
fi
