#!/usr/bin/env bash
# Hugging Face checkpoints against PyTorch, end to end: for each class in
# tests/fixtures/hf that lowers (written by tests/reference/make_hf_fixtures.py
# with PyTorch's own modules), `lmc import` turns the folder into a spec, `lmc
# build` compiles it, and a decoder's logits through the prefill and the decode
# path (an encoder's last hidden state) must equal PyTorch's to 1e-4, and a
# decoder's greedy continuation must be PyTorch's ids exactly. An
# encoder-decoder (T5, nn.Transformer) encodes its source first: its encoder
# output and its decoder logits must equal PyTorch's, and greedy decoding from
# the decoder start id give PyTorch's ids. A fixture without a Hugging Face
# class (CoPE) carries its spec.yaml instead of being imported.
# usage: hf_fixtures_test.sh LMC SOURCE_DIR CACHE_DIR
source "$(dirname "$0")/lib.sh"
lmc=$1 src=$2 cache=$3
fixtures=$src/tests/fixtures/hf

for name in gpt2 openai-gpt bloom llama3.1 llama-linear mistral qwen2 bert t5 vaswani cope; do
  dir=$fixtures/$name spec=$tmp/$name.yaml bin=$tmp/$name
  if [ -f "$dir/spec.yaml" ]; then  # No Hugging Face class: the fixture has its spec.
    cp "$dir/spec.yaml" "$spec"
  else
    "$lmc" import "$dir" -o "$spec" 2>"$tmp/import.log" ||
      { cat "$tmp/import.log"; fail "$name: lmc import"; continue; }
  fi
  "$lmc" build "$spec" -o "$bin" --cache-dir "$cache" >"$tmp/build.log" 2>&1 ||
    { cat "$tmp/build.log"; fail "$name: lmc build"; continue; }
  # ids: the decoder's (or encoder's) input; source: an encoder-decoder's.
  read -r ids source want < <(/usr/bin/python3 - "$dir/expected.json" <<'PY'
import json, sys
e = json.load(open(sys.argv[1]))
ids = e.get("input_ids", e.get("decoder_input_ids"))
source = e.get("encoder_input_ids", [])
print(",".join(map(str, ids)), ",".join(map(str, source)) or "-",
      " ".join(map(str, e.get("greedy_new_ids", []))))
PY
  )
  # A decoder's logits through both paths; an encoder's last hidden state.
  paths="prefill decode" want_file=logits.npy encoder=()
  [ "$name" = bert ] && paths=embed want_file=last_hidden_state.npy
  [ "$source" != - ] && encoder=(--encoder-tokens "$source")
  [ -f "$dir/encoder_last_hidden_state.npy" ] && paths="$paths encoder"
  for path in $paths; do
    case $path in
      prefill) run=(logits "${encoder[@]}" --tokens "$ids") ;;
      decode) run=(logits --decode "${encoder[@]}" --tokens "$ids") ;;
      embed) run=(embed --tokens "$ids") ;;
      encoder) run=(embed --tokens "$source") want_file=encoder_last_hidden_state.npy ;;
    esac
    "$bin" "${run[@]}" --weights "$dir/model.safetensors" --out "$tmp/$path.npy" ||
      { fail "$name $path: ${run[*]}"; continue; }
    if report=$(max_abs_error "$dir/$want_file" "$tmp/$path.npy" 1e-4); then
      pass "$name $path vs PyTorch: $report"
    else
      fail "$name $path: $report"
    fi
  done
  if [ "$name" = bert ]; then continue; fi
  # A decoder continues its input; an encoder-decoder decodes from its start id.
  prompt=(--tokens "$ids")
  [ "$source" != - ] && prompt=("${encoder[@]}")
  got=$("$bin" generate --weights "$dir/model.safetensors" "${prompt[@]}" --ids -n 8 \
    --temperature 0 2>/dev/null | tr '\n' ' ' | sed 's/ *$//')
  [ "$got" = "$want" ] && pass "$name greedy ids equal PyTorch's ($got)" ||
    fail "$name greedy ids: got '$got', PyTorch '$want'"
done
finish
