#!/usr/bin/env bash
# `lmc check SPEC --weights FILE... [--scan]`: checkpoints verified against a spec without
# building. Good files pass with one summary line each (stories260K as llama.c writes it; a
# random safetensors checkpoint of a small spec, whole and sharded; its GGUF rewrites, as
# stored and converted at load). Each broken file (a tensor missing, misshapen, in a block
# type the model cannot read, one too many, a classifier that is not the embedding it is tied
# to, a NaN or an Inf under --scan, a truncated file) gives exactly the expected line on
# stderr and exit 1.
# usage: check_weights_test.sh LMC SOURCE_DIR ASSETS
source "$(dirname "$0")/lib.sh"
lmc=$1 src=$2 assets=$3
stories=$assets/llama2c-stories260K/stories260K.bin
require_asset "$stories"
# d_model 64: rows of whole 32-value blocks (w_down's 100 are not: it stays f32 in a GGUF).
spec=$src/tests/specs/valid/tiny_llama_hf.yaml
sets=(--set sizes.d_model=64 --set attention.n_heads=4 --set attention.n_kv_heads=2)
weights=$tmp/w.safetensors

# expect_ok DESCRIPTION SUMMARY -- COMMAND...: exit 0, SUMMARY on stdout, nothing on stderr.
expect_ok() {
  local what=$1 needle=$2
  shift 3
  expect_status 0 "$what" -- "$@"
  [ -z "$err" ] && pass "$what: quiet" || fail "$what: stderr: $err"
  case "$out" in
    *"$needle"*) pass "$what: says '$needle'" ;;
    *) fail "$what: stdout lacks '$needle': $out" ;;
  esac
}

# edit IN OUT ACTION [ARGS]: rewrites a safetensors file (stdlib only).
edit() {
  /usr/bin/python3 - "$@" <<'PY'
import json, struct, sys
src, dst, action, *args = sys.argv[1:]
blob = open(src, "rb").read()
n = struct.unpack("<Q", blob[:8])[0]
header = json.loads(blob[8:8 + n])
data = blob[8 + n:]
meta = header.pop("__metadata__", None)
tensors = {k: (v, bytearray(data[v["data_offsets"][0]:v["data_offsets"][1]])) for k, v in header.items()}
if action == "drop":
    del tensors[args[0]]
elif action == "reshape":  # same bytes, another shape
    tensors[args[0]][0]["shape"] = json.loads(args[1])
elif action == "copy":  # tensor args[0] also as args[1]
    info, raw = tensors[args[0]]
    tensors[args[1]] = (dict(info), bytearray(raw))
elif action == "poke":  # f32 element args[1] of args[0] set to args[2]
    raw = tensors[args[0]][1]
    struct.pack_into("<f", raw, 4 * int(args[1]), float(args[2]))
out_header, chunks, at = {}, [], 0
if meta is not None:
    out_header["__metadata__"] = meta
for name, (info, raw) in tensors.items():
    out_header[name] = dict(info, data_offsets=[at, at + len(raw)])
    chunks.append(bytes(raw))
    at += len(raw)
text = json.dumps(out_header).encode()
text += b" " * (-len(text) % 8)
open(dst, "wb").write(struct.pack("<Q", len(text)) + text + b"".join(chunks))
PY
}

# --- good files ---
expect_ok "stories260K (llama2c)" "stories260K.bin: ok (stories260k: 48 tensors)" -- \
  "$lmc" check "$src/specs/stories260k.yaml" --weights "$stories"
expect_ok "stories260K --scan" "48 tensors, all values finite)" -- \
  "$lmc" check "$src/specs/stories260k.yaml" --weights "$stories" --scan
"$lmc" random-weights "$spec" "${sets[@]}" -o "$weights" --seed 3 || { fail "random-weights"; finish; exit 1; }
expect_ok "random safetensors" "w.safetensors: ok (tiny_llama_hf: 21 tensors, all values finite)" -- \
  "$lmc" check "$spec" "${sets[@]}" --weights "$weights" --scan
# Sharded: the same tensors split over two files and an index.
mkdir -p "$tmp/sharded"
/usr/bin/python3 - "$weights" "$tmp/sharded" <<'PY'
import json, struct, sys
blob = open(sys.argv[1], "rb").read()
n = struct.unpack("<Q", blob[:8])[0]
header = json.loads(blob[8:8 + n])
data = blob[8 + n:]
names = [k for k in header if k != "__metadata__"]
weight_map = {}
for i, part in enumerate([names[: len(names) // 2], names[len(names) // 2:]]):
    shard = f"model-{i + 1:05d}-of-00002.safetensors"
    out_header, chunks, at = {}, [], 0
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
open(f"{sys.argv[2]}/model.safetensors.index.json", "w").write(json.dumps(index))
PY
expect_ok "sharded safetensors (folder)" "ok (tiny_llama_hf: 21 tensors, all values finite)" -- \
  "$lmc" check "$spec" "${sets[@]}" --weights "$tmp/sharded" --scan
# GGUF: q8_0 blocks mapped as stored (w_down's f32 quantized at load, in both layers); an f32
# GGUF's 15 matrices quantized at load; several files at once.
"$lmc" quantize "$weights" -o "$tmp/q8.gguf" --dtype q8_0 --spec "$spec" "${sets[@]}" --set dtype=q8_0 2>/dev/null &&
  "$lmc" quantize "$weights" -o "$tmp/q4.gguf" --dtype q4_0 2>/dev/null &&
  "$lmc" quantize "$weights" -o "$tmp/f32.gguf" --dtype f32 2>/dev/null || fail "lmc quantize"
gguf=(--set weights.format=gguf --set weights.layout=llama)
expect_ok "q8_0 GGUF, dtype q8_0" "q8.gguf: ok (tiny_llama_hf: 21 tensors, 2 converted at load, all values finite)" -- \
  "$lmc" check "$spec" "${sets[@]}" "${gguf[@]}" --set dtype=q8_0 --weights "$tmp/q8.gguf" --scan
expect_ok "f32 and q8_0 GGUFs, dtype q8_0" "f32.gguf: ok (tiny_llama_hf: 21 tensors, 15 converted at load)" -- \
  "$lmc" check "$spec" "${sets[@]}" "${gguf[@]}" --set dtype=q8_0 --weights "$tmp/q8.gguf" "$tmp/f32.gguf"

# --- broken files: one line each, exit 1 ---
layer0=model.layers.0
edit "$weights" "$tmp/missing.safetensors" drop "$layer0.mlp.up_proj.weight"
expect_error "missing tensor" 1 \
  "missing.safetensors: no tensor named '$layer0.mlp.up_proj.weight'; did you mean 'model.layers.1.mlp.up_proj.weight'? (role w_up, layer 0)" -- \
  "$lmc" check "$spec" "${sets[@]}" --weights "$tmp/missing.safetensors"
edit "$weights" "$tmp/shape.safetensors" reshape "$layer0.mlp.down_proj.weight" "[100, 64]"
expect_error "wrong shape" 1 \
  "shape.safetensors: tensor '$layer0.mlp.down_proj.weight' has shape [100, 64], expected [64, 100] (role w_down, layer 0)" -- \
  "$lmc" check "$spec" "${sets[@]}" --weights "$tmp/shape.safetensors"
# Blocks of one type where the model reads another: requantizing would round twice. (w_down's
# rows of 100 values are off the blocks, stored f32: one line for each other matrix.)
expect_status 1 "q4_0 GGUF, dtype q8_0" -- \
  "$lmc" check "$spec" "${sets[@]}" "${gguf[@]}" --set dtype=q8_0 --weights "$tmp/q4.gguf"
case "$err" in
  *"q4.gguf: tensor 'lm_head.weight' is stored as q4_0, the model reads it as q8_0 (dtype q8_0); requantizing would round twice (role classifier)"*)
    pass "wrong dtype: says so" ;;
  *) fail "wrong dtype: $err" ;;
esac
[ "$(printf '%s\n' "$err" | grep -c 'stored as q4_0')" -eq "$(printf '%s\n' "$err" | grep -c '')" ] &&
  pass "wrong dtype: one line per tensor" || fail "wrong dtype: other lines: $err"
edit "$weights" "$tmp/extra.safetensors" copy "model.norm.weight" "model.norm.bias"
expect_error "extra tensor" 1 \
  "extra.safetensors: unexpected tensor 'model.norm.bias' (f32 [64]): the model does not read it" -- \
  "$lmc" check "$spec" "${sets[@]}" --weights "$tmp/extra.safetensors"
# Tied: a stored classifier must be the embedding itself.
edit "$weights" "$tmp/tied.safetensors" copy "model.embed_tokens.weight" "lm_head.weight"
expect_ok "tied, identical copy" "tied.safetensors: ok (tiny_llama_hf: 21 tensors" -- \
  "$lmc" check "$spec" "${sets[@]}" --set embeddings.tied=true --weights "$tmp/tied.safetensors"
expect_error "tied, classifier differs" 1 \
  "w.safetensors: tensor 'lm_head.weight' (f32 [97, 64]) differs from 'model.embed_tokens.weight' (f32 [97, 64]), the token embedding the spec ties the classifier to (embeddings.tied: true)" -- \
  "$lmc" check "$spec" "${sets[@]}" --set embeddings.tied=true --weights "$weights"
edit "$weights" "$tmp/nan.safetensors" poke "$layer0.self_attn.k_proj.weight" 100 nan
expect_ok "NaN without --scan" "nan.safetensors: ok" -- \
  "$lmc" check "$spec" "${sets[@]}" --weights "$tmp/nan.safetensors"
expect_error "NaN with --scan" 1 \
  "nan.safetensors: tensor '$layer0.self_attn.k_proj.weight' has NaN at index 100 (row 1, column 36)" -- \
  "$lmc" check "$spec" "${sets[@]}" --weights "$tmp/nan.safetensors" --scan
edit "$weights" "$tmp/inf.safetensors" poke "model.norm.weight" 7 -inf
expect_error "-Inf with --scan" 1 \
  "inf.safetensors: tensor 'model.norm.weight' has -Inf at index 7" -- \
  "$lmc" check "$spec" "${sets[@]}" --weights "$tmp/inf.safetensors" --scan
head -c 5000 "$weights" >"$tmp/cut.safetensors"
expect_error "truncated safetensors" 1 "cut.safetensors: " -- \
  "$lmc" check "$spec" "${sets[@]}" --weights "$tmp/cut.safetensors"
head -c 3000 "$tmp/q8.gguf" >"$tmp/cut.gguf"
expect_error "truncated GGUF" 1 "cut.gguf: " -- \
  "$lmc" check "$spec" "${sets[@]}" "${gguf[@]}" --weights "$tmp/cut.gguf"
head -c 100000 "$stories" >"$tmp/cut.bin"
expect_error "truncated llama2c" 1 "cut.bin: truncated: expected 1056540 bytes" -- \
  "$lmc" check "$src/specs/stories260k.yaml" --weights "$tmp/cut.bin"
expect_error "spec disagrees with the llama2c header" 1 \
  "stories260K.bin: header field dim is 64, but the model was compiled for 32" -- \
  "$lmc" check "$src/specs/stories260k.yaml" --set sizes.d_model=32 --weights "$stories"
# One good file and one bad: the good one's summary, the bad one's line, exit 1.
expect_status 1 "good and bad together" -- \
  "$lmc" check "$spec" "${sets[@]}" --weights "$weights" "$tmp/extra.safetensors"
case "$out" in *"w.safetensors: ok"*) pass "good and bad: good one ok" ;; *) fail "good and bad: $out" ;; esac

# --- usage ---
expect_error "files without --weights" 2 "checkpoints to verify go after --weights" -- \
  "$lmc" check "$spec" "${sets[@]}" "$weights"
expect_error "--scan without --weights" 2 "--scan needs --weights FILE" -- \
  "$lmc" check "$spec" "${sets[@]}" --scan
finish
