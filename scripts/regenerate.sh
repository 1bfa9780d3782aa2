#!/usr/bin/env bash
# Rewrites generated/ from specs/ with the lmc in build/ (after a compiler change).
set -euo pipefail
cd "$(dirname "$0")/.."
lmc=${LMC:-build/bin/lmc}
for spec in specs/*.yaml; do
  case "$spec" in *.base.yaml) continue ;; esac
  name=$(basename "$spec" .yaml)
  rm -rf "generated/$name"
  "$lmc" emit "$spec" -o "generated/$name"
  echo "generated/$name"
done
