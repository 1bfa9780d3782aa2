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

for name in gpt2 openai-gpt bloom llama3.1 llama-linear llama-partial llama-dynamic mistral qwen2 bert \
  t5 vaswani cope; do
  dir=$fixtures/$name spec=$tmp/$name.yaml bin=$tmp/$name
  if [ -f "$dir/spec.yaml" ]; then  # No Hugging Face class: the fixture has its spec.
    cp "$dir/spec.yaml" "$spec"
  else
    "$lmc" import "$dir" -o "$spec" 2>"$tmp/import.log" ||
      { cat "$tmp/import.log"; fail "$name: lmc import"; continue; }
  fi
  # Dynamic NTK acts beyond max_position_embeddings (64): give the binary room for
  # the 72 ids and 8 new ones.
  set_flags=()
  [ "$name" = llama-dynamic ] && set_flags=(--set sizes.max_seq_len=128)
  "$lmc" build "$spec" "${set_flags[@]}" -o "$bin" --cache-dir "$cache" >"$tmp/build.log" 2>&1 ||
    { cat "$tmp/build.log"; fail "$name: lmc build"; continue; }
  # ids: the decoder's (or encoder's) input; source: an encoder-decoder's. Dynamic
  # NTK: the KV-cached decode is HF generate's with its cache (each key keeps the
  # rotation of the length it was computed at), not a full forward per step.
  read -r ids source want < <(/usr/bin/python3 - "$dir/expected.json" <<'PY'
import json, sys
e = json.load(open(sys.argv[1]))
ids = e.get("input_ids", e.get("decoder_input_ids"))
source = e.get("encoder_input_ids", [])
want = e.get("greedy_new_ids_hf_cache", e.get("greedy_new_ids", []))
print(",".join(map(str, ids)), ",".join(map(str, source)) or "-", " ".join(map(str, want)))
PY
  )
  # A decoder's logits through both paths; an encoder's last hidden state.
  # Under dynamic NTK a token-by-token decode rotates each key with its own
  # length, so only the one-chunk prefill equals the full forward's logits.
  paths="prefill decode" want_file=logits.npy encoder=()
  [ "$name" = llama-dynamic ] && paths=prefill
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
  if [ "$name" = bert ]; then
    # BertModel's pooler_output: tanh(dense(h[CLS])).
    if "$bin" embed --pool pooler --weights "$dir/model.safetensors" --tokens "$ids" \
      --out "$tmp/pooler.npy" && report=$(max_abs_error "$dir/pooler_output.npy" "$tmp/pooler.npy" 1e-4); then
      pass "bert pooler vs PyTorch: $report"
    else
      fail "bert pooler: ${report:-embed --pool pooler failed}"
    fi
    bert_ids=$ids
    continue
  fi
  # A decoder continues its input; an encoder-decoder decodes from its start id.
  # The fixtures' greedy runs treat EOS as any id.
  prompt=(--tokens "$ids")
  [ "$source" != - ] && prompt=("${encoder[@]}")
  got=$("$bin" generate --weights "$dir/model.safetensors" "${prompt[@]}" --ids -n 8 --ignore-eos \
    --temperature 0 2>/dev/null | tr '\n' ' ' | sed 's/ *$//')
  [ "$got" = "$want" ] && pass "$name greedy ids equal PyTorch's ($got)" ||
    fail "$name greedy ids: got '$got', PyTorch '$want'"
done
# A BertModel saved without its pooler (add_pooling_layer=False): the import
# leaves `pooler` out and the binary refuses --pool pooler.
nopool=$tmp/bert-nopool
mkdir -p "$nopool" && cp "$fixtures/bert/config.json" "$nopool/"
/usr/bin/python3 - "$fixtures/bert/model.safetensors" "$nopool/model.safetensors" <<'PY'
import json, struct, sys
blob = open(sys.argv[1], "rb").read()
n = struct.unpack("<Q", blob[:8])[0]
header = json.loads(blob[8:8 + n])
data = blob[8 + n:]
out_header, chunks, at = {}, [], 0
for name, t in header.items():
    if name == "__metadata__" or name.startswith("pooler."):
        continue
    begin, end = t["data_offsets"]
    out_header[name] = dict(t, data_offsets=[at, at + end - begin])
    chunks.append(data[begin:end])
    at += end - begin
text = json.dumps(out_header).encode()
text += b" " * (-len(text) % 8)
open(sys.argv[2], "wb").write(struct.pack("<Q", len(text)) + text + b"".join(chunks))
PY
if "$lmc" import "$nopool" -o "$tmp/nopool.yaml" >/dev/null 2>"$tmp/import.log"; then
  grep -q '^pooler: false' "$tmp/nopool.yaml" && pass "bert without pooler.dense: import sets pooler: false" ||
    fail "bert without pooler.dense: $(grep pooler "$tmp/nopool.yaml")"
  if "$lmc" build "$tmp/nopool.yaml" -o "$tmp/nopool" --cache-dir "$cache" >"$tmp/build.log" 2>&1; then
    expect_error "bert without pooler: embed --pool pooler" 2 "has no pooler" -- \
      "$tmp/nopool" embed --pool pooler --weights "$nopool/model.safetensors" --tokens "$bert_ids" \
      --out "$tmp/nopool.npy"
  else
    cat "$tmp/build.log"; fail "bert without pooler: lmc build"
  fi
else
  cat "$tmp/import.log"; fail "bert without pooler: lmc import"
fi
finish
