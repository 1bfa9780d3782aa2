#!/usr/bin/python3
"""Writes a tiny Llama as GGUF (llama.cpp's tensor names) whose matrices are stored in every
block type lmc reads, mixed per tensor and per layer as llama.cpp's Q4_K_M mixes them: the
types below must be the spec's weights.dtypes (tests/specs/valid/tiny_llama_gguf_kquant.yaml).
Block contents are random bytes with scales chosen so that weights stay within about 0.1
(the model computes something finite and non-trivial); norms are f32 near 1.
usage: make_kquant_gguf.py OUT.gguf
"""
import struct
import sys

import numpy as np

D, KV, HIDDEN, VOCAB, LAYERS = 256, 128, 512, 64, 3
# ggml type id, block values, block bytes, offsets of (d, dmin or m) binary16 scales
TYPES = {
    "f32": (0, 1, 4, []), "q4_0": (2, 32, 18, [0]), "q4_1": (3, 32, 20, [0, 2]),
    "q5_0": (6, 32, 22, [0]), "q5_1": (7, 32, 24, [0, 2]), "q8_0": (8, 32, 34, [0]),
    "q2_k": (10, 256, 84, [80, 82]), "q3_k": (11, 256, 110, [108]),
    "q4_k": (12, 256, 144, [0, 2]), "q5_k": (13, 256, 176, [0, 2]),
    "q6_k": (14, 256, 210, [208]), "iq4_nl": (20, 32, 18, [0]),
}
# The largest |integer| a scale multiplies (d), and the min's (dmin; for Q4_1 / Q5_1 m is a value).
D_FACTOR = {"q4_0": 8, "q4_1": 15, "q5_0": 16, "q5_1": 31, "q8_0": 127, "iq4_nl": 127,
            "q2_k": 45, "q3_k": 128, "q4_k": 945, "q5_k": 1953, "q6_k": 4096}
MIN_FACTOR = {"q2_k": 15, "q4_k": 63, "q5_k": 63}
PER_LAYER = {  # role -> (gguf name, [rows, cols], dtype per layer)
    "wq": ("attn_q", [D, D], ["q4_k"] * 3),
    "wk": ("attn_k", [KV, D], ["q5_k"] * 3),
    "wv": ("attn_v", [KV, D], ["q6_k", "q4_k", "q3_k"]),
    "wo": ("attn_output", [D, D], ["q2_k", "q8_0", "q4_0"]),
    "w_gate": ("ffn_gate", [HIDDEN, D], ["q4_k", "q5_0", "iq4_nl"]),
    "w_up": ("ffn_up", [HIDDEN, D], ["q4_k", "q5_0", "iq4_nl"]),
    "w_down": ("ffn_down", [D, HIDDEN], ["q6_k", "q4_1", "q5_1"]),
}

rng = np.random.default_rng(17)


def half(v):
    return np.float16(v).tobytes()


def blocks(dtype, rows, cols):
    if dtype == "f32":
        return (1.0 + 0.1 * rng.standard_normal(rows * cols)).astype("<f4").tobytes()
    _, per, size, scales = TYPES[dtype]
    out = bytearray(rng.integers(0, 256, rows * cols // per * size, dtype=np.uint8).tobytes())
    for b in range(rows * cols // per):
        at = b * size
        d = 0.1 / D_FACTOR[dtype] * (0.5 + rng.random())
        out[at + scales[0]:at + scales[0] + 2] = half(d)
        if len(scales) > 1:
            second = 0.1 / MIN_FACTOR[dtype] * rng.random() if dtype in MIN_FACTOR else -0.05
            out[at + scales[1]:at + scales[1] + 2] = half(second)
    return bytes(out)


tensors = [("token_embd.weight", "q4_k", [VOCAB, D]), ("output_norm.weight", "f32", [1, D]),
           ("output.weight", "q6_k", [VOCAB, D])]
for layer in range(LAYERS):
    tensors.append((f"blk.{layer}.attn_norm.weight", "f32", [1, D]))
    tensors.append((f"blk.{layer}.ffn_norm.weight", "f32", [1, D]))
    for role, (name, shape, dtypes) in PER_LAYER.items():
        tensors.append((f"blk.{layer}.{name}.weight", dtypes[layer], shape))


def string(s):
    b = s.encode()
    return struct.pack("<Q", len(b)) + b


header = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), 1)
header += string("general.architecture") + struct.pack("<I", 8) + string("llama")
data = b""
infos = b""
for name, dtype, shape in tensors:
    rows, cols = shape
    dims = [cols] if rows == 1 else [cols, rows]  # innermost first
    infos += string(name) + struct.pack("<I", len(dims)) + b"".join(struct.pack("<Q", d) for d in dims)
    infos += struct.pack("<IQ", TYPES[dtype][0], len(data))
    data += blocks(dtype, rows, cols)
    data += bytes(-len(data) % 32)
out = header + infos
out += bytes(-len(out) % 32)
with open(sys.argv[1], "wb") as f:
    f.write(out + data)
