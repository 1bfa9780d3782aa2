#!/usr/bin/env bash
# Installs lmc's build and test dependencies from Debian. Safe to run again:
# apt-get is only called when a package is missing.
set -euo pipefail
packages=(
  build-essential cmake ninja-build ccache git
  llvm-dev        # LLVM support library: command line, SourceMgr diagnostics, host CPU, program lookup
  libfmt-dev libyaml-cpp-dev
  libhwy-dev      # Highway SIMD kernels with dynamic dispatch
  catch2          # Catch2 v2 unit tests
  python3         # test helpers (npy reader, reference checks)
  nlohmann-json3-dev  # tokenizer.json (WordPiece)
  nodejs npm      # reference tokenizers (tests/tokenizer/spm-reference, npm ci)
  python3-sentencepiece sentencepiece  # libsentencepiece reference and spm_train/spm_encode for tokenizer tests
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
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
