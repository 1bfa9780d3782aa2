#!/usr/bin/env python3
"""Rewrites a GGUF file with its tensors renamed from Meta's Llama names
(llama2.c's) to llama.cpp's (token_embd.weight, blk.N.attn_q.weight, ...), as
llama.cpp's converter names a Llama checkpoint. Metadata, tensor types, shapes
and data are copied unchanged; only the header grows or shrinks.
usage: gguf_rename.py IN.gguf OUT.gguf
"""
import re
import struct
import sys

LLAMA_CPP_NAMES = [
    (r"tok_embeddings\.weight", "token_embd.weight"),
    (r"norm\.weight", "output_norm.weight"),
    (r"output\.weight", "output.weight"),
    (r"layers\.(\d+)\.attention_norm\.weight", r"blk.\1.attn_norm.weight"),
    (r"layers\.(\d+)\.attention\.wq\.weight", r"blk.\1.attn_q.weight"),
    (r"layers\.(\d+)\.attention\.wk\.weight", r"blk.\1.attn_k.weight"),
    (r"layers\.(\d+)\.attention\.wv\.weight", r"blk.\1.attn_v.weight"),
    (r"layers\.(\d+)\.attention\.wo\.weight", r"blk.\1.attn_output.weight"),
    (r"layers\.(\d+)\.ffn_norm\.weight", r"blk.\1.ffn_norm.weight"),
    (r"layers\.(\d+)\.feed_forward\.w1\.weight", r"blk.\1.ffn_gate.weight"),
    (r"layers\.(\d+)\.feed_forward\.w2\.weight", r"blk.\1.ffn_down.weight"),
    (r"layers\.(\d+)\.feed_forward\.w3\.weight", r"blk.\1.ffn_up.weight"),
]
SCALAR_SIZES = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}


def rename(name):
    for pattern, replacement in LLAMA_CPP_NAMES:
        if re.fullmatch(pattern, name):
            return re.sub(pattern, replacement, name)
    raise SystemExit(f"gguf_rename.py: no llama.cpp name for tensor '{name}'")


data = open(sys.argv[1], "rb").read()
pos = 0


def take(n):
    global pos
    pos += n
    return data[pos - n:pos]


def u32():
    return struct.unpack("<I", take(4))[0]


def u64():
    return struct.unpack("<Q", take(8))[0]


def skip_value(kind):
    if kind == 8:
        take(u64())
    elif kind == 9:
        item, count = u32(), u64()
        for _ in range(count):
            skip_value(item)
    else:
        take(SCALAR_SIZES[kind])


assert take(4) == b"GGUF", "not a GGUF file"
version, n_tensors, n_kv = u32(), u64(), u64()
alignment = 32
kv_start = pos
for _ in range(n_kv):
    key = take(u64()).decode()
    kind = u32()
    if key == "general.alignment":
        alignment = struct.unpack("<I", data[pos:pos + 4])[0]
    skip_value(kind)
kv_bytes = data[kv_start:pos]
infos = b""
for _ in range(n_tensors):
    name = rename(take(u64()).decode()).encode()
    n_dims = u32()
    rest = take(8 * n_dims + 4 + 8)  # dims, type, offset
    infos += struct.pack("<Q", len(name)) + name + struct.pack("<I", n_dims) + rest
data_start = -(-pos // alignment) * alignment
header = b"GGUF" + struct.pack("<IQQ", version, n_tensors, n_kv) + kv_bytes + infos
header += b"\0" * (-len(header) % alignment)
with open(sys.argv[2], "wb") as out:
    out.write(header + data[data_start:])
