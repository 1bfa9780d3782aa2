#!/usr/bin/env bash
# Hugging Face checkpoints against PyTorch, end to end: for each decoder class
# in tests/fixtures/hf (written by tests/reference/make_hf_fixtures.py with
# PyTorch's own modules), `lmc import` turns the folder into a spec, `lmc
# build` compiles it, and the binary's logits through the prefill and the
# decode path must equal PyTorch's to 1e-4, and its greedy continuation must be
# PyTorch's ids exactly.
# usage: hf_fixtures_test.sh LMC SOURCE_DIR CACHE_DIR
source "$(dirname "$0")/lib.sh"
lmc=$1 src=$2 cache=$3
fixtures=$src/tests/fixtures/hf

for name in gpt2 openai-gpt bloom llama3.1 llama-linear mistral qwen2; do
  dir=$fixtures/$name spec=$tmp/$name.yaml bin=$tmp/$name
  "$lmc" import "$dir" -o "$spec" 2>"$tmp/import.log" ||
    { cat "$tmp/import.log"; fail "$name: lmc import"; continue; }
  "$lmc" build "$spec" -o "$bin" --cache-dir "$cache" >"$tmp/build.log" 2>&1 ||
    { cat "$tmp/build.log"; fail "$name: lmc build"; continue; }
  read -r ids want < <(/usr/bin/python3 - "$dir/expected.json" <<'PY'
import json, sys
e = json.load(open(sys.argv[1]))
print(",".join(map(str, e["input_ids"])), " ".join(map(str, e["greedy_new_ids"])))
PY
  )
  for path in prefill decode; do
    flag=(); [ "$path" = decode ] && flag=(--decode)
    "$bin" logits --weights "$dir/model.safetensors" --tokens "$ids" --out "$tmp/$path.npy" \
      "${flag[@]}" || { fail "$name $path: logits"; continue; }
    if report=$(/usr/bin/python3 - "$dir/logits.npy" "$tmp/$path.npy" <<'PY'
import sys
import numpy as np
ref, got = np.load(sys.argv[1]), np.load(sys.argv[2])
assert ref.shape == got.shape, (ref.shape, got.shape)
err = float(np.abs(ref - got).max())
print(f"max abs error {err:.2e} over {ref.shape[0]} positions")
sys.exit(0 if err <= 1e-4 else 1)
PY
    ); then pass "$name $path logits vs PyTorch: $report"; else fail "$name $path: $report"; fi
  done
  got=$("$bin" generate --weights "$dir/model.safetensors" --tokens "$ids" --ids -n 8 \
    --temperature 0 2>/dev/null | tr '\n' ' ' | sed 's/ *$//')
  [ "$got" = "$want" ] && pass "$name greedy ids equal PyTorch's ($got)" ||
    fail "$name greedy ids: got '$got', PyTorch '$want'"
done
finish
