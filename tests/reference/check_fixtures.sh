#!/usr/bin/env bash
# The checked-in Hugging Face fixtures (tests/fixtures/hf/) are what
# tests/reference/make_hf_fixtures.py writes: regenerate them into a temporary
# folder and require every file byte-identical, and no file missing or extra
# (README.md aside). The script's own self-checks (two independent references
# agreeing to 1e-5 per fixture) run on the way.
# usage: check_fixtures.sh PYTHON SOURCE_DIR
set -uo pipefail
py=${1:?usage: check_fixtures.sh PYTHON SOURCE_DIR} src=${2:?usage: check_fixtures.sh PYTHON SOURCE_DIR}
fixtures=$src/tests/fixtures/hf
if ! "$py" -c "import torch, numpy" 2>/dev/null; then
  echo "FAIL: $py cannot import torch and numpy: install Debian's python3-torch and python3-numpy" \
    "(scripts/setup.sh does), or the fixtures in $fixtures cannot be checked"
  exit 1
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if ! "$py" "$src/tests/reference/make_hf_fixtures.py" --out "$tmp"; then
  echo "FAIL: make_hf_fixtures.py failed (above)"
  exit 1
fi
if ! diff -r -q --exclude=README.md "$fixtures" "$tmp"; then
  echo "FAIL: $fixtures differs from what tests/reference/make_hf_fixtures.py writes (files above)."
  echo "If the change is intended, regenerate: $py tests/reference/make_hf_fixtures.py --out tests/fixtures/hf"
  exit 1
fi
echo "PASS: $(find "$tmp" -type f | wc -l) files in $(find "$tmp" -mindepth 1 -maxdepth 1 -type d | wc -l)" \
  "fixtures regenerate byte for byte"
