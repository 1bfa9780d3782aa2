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
  nlohmann-json3-dev  # tokenizer.json / encoder.json
  libpcre2-dev    # pre-tokenizer regexes other than the built-in ones
  pkg-config      # finds PCRE2
  python3         # test helpers (npy reader, reference checks)
)
missing=()
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
