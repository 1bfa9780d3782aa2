#!/usr/bin/env bash
# A sharded Hugging Face checkpoint (model.safetensors.index.json + shards, as
# save_pretrained writes a large model): the llama3.1 fixture split into two
# shards is imported from its folder (names read through the index), built,
# and its logits must equal PyTorch's and, bit for bit, the single file's,
# whether --weights names the folder or the index. A missing shard and an
# index that disagrees with its shards are refused in one line.
# usage: sharded_checkpoint_test.sh LMC SOURCE_DIR CACHE_DIR
source "$(dirname "$0")/lib.sh"
lmc=$1 src=$2 cache=$3
fixture=$src/tests/fixtures/hf/llama3.1
sharded=$tmp/llama3.1-sharded
mkdir -p "$sharded" && cp "$fixture/config.json" "$sharded/"

# Splits the fixture's tensors, in header order, into two shards and writes the index.
/usr/bin/python3 - "$fixture/model.safetensors" "$sharded" <<'PY'
import json, struct, sys
blob = open(sys.argv[1], "rb").read()
n = struct.unpack("<Q", blob[:8])[0]
header = json.loads(blob[8:8 + n])
data = blob[8 + n:]
names = [k for k in header if k != "__metadata__"]
halves = [names[: len(names) // 2], names[len(names) // 2:]]
weight_map = {}
for i, part in enumerate(halves):
    shard = f"model-{i + 1:05d}-of-00002.safetensors"
    out_header, chunks, at = {"__metadata__": {"format": "pt"}}, [], 0
    for name in part:
        begin, end = header[name]["data_offsets"]
        out_header[name] = dict(header[name], data_offsets=[at, at + end - begin])
        chunks.append(data[begin:end])
        at += end - begin
        weight_map[name] = shard
    text = json.dumps(out_header).encode()
    text += b" " * (-len(text) % 8)
    open(f"{sys.argv[2]}/{shard}", "wb").write(struct.pack("<Q", len(text)) + text + b"".join(chunks))
index = {"metadata": {"total_size": len(data)}, "weight_map": weight_map}
open(f"{sys.argv[2]}/model.safetensors.index.json", "w").write(json.dumps(index, indent=2))
PY

if "$lmc" import "$sharded" -o "$tmp/sharded.yaml" 2>"$tmp/import.log"; then
  ! grep -q "shard" "$tmp/import.log" && pass "import reads the sharded folder without a warning" ||
    fail "import warned: $(cat "$tmp/import.log")"
else
  cat "$tmp/import.log"; fail "lmc import of the sharded folder"
fi
"$lmc" build "$tmp/sharded.yaml" -o "$tmp/model" --cache-dir "$cache" >"$tmp/build.log" 2>&1 ||
  { cat "$tmp/build.log"; fail "lmc build"; finish; exit; }

ids=$(/usr/bin/python3 -c 'import json,sys; print(",".join(map(str, json.load(open(sys.argv[1]))["input_ids"])))' \
  "$fixture/expected.json")
"$tmp/model" logits --weights "$fixture/model.safetensors" --tokens "$ids" --out "$tmp/single.npy" ||
  fail "logits from the single file"
for weights in "$sharded" "$sharded/model.safetensors.index.json"; do
  what=${weights#"$tmp/"}
  if "$tmp/model" logits --weights "$weights" --tokens "$ids" --out "$tmp/sharded.npy"; then
    report=$(max_abs_error "$fixture/logits.npy" "$tmp/sharded.npy" 1e-4) &&
      pass "$what: logits vs PyTorch: $report" || fail "$what: $report"
    cmp -s "$tmp/single.npy" "$tmp/sharded.npy" && pass "$what: logits identical to the single file's" ||
      fail "$what: logits differ from the single file's"
  else
    fail "$what: logits"
  fi
done

# A shard gone, and an index that puts a tensor in the wrong shard.
mv "$sharded/model-00002-of-00002.safetensors" "$tmp/shard2"
expect_error "a missing shard" 1 "shard 'model-00002-of-00002.safetensors' (holding '" -- \
  "$tmp/model" logits --weights "$sharded" --tokens "$ids" --out "$tmp/x.npy"
mv "$tmp/shard2" "$sharded/model-00002-of-00002.safetensors"
sed -i '0,/00001-of-00002/s//00002-of-00002/' "$sharded/model.safetensors.index.json"
expect_error "an index naming the wrong shard" 1 "does not list for this shard" -- \
  "$tmp/model" logits --weights "$sharded" --tokens "$ids" --out "$tmp/x.npy"
[ ! -e "$tmp/x.npy" ] && pass "no output written on a refused checkpoint" || fail "x.npy was written"
finish
