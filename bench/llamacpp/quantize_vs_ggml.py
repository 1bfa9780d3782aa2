#!/usr/bin/env python3
"""`lmc quantize` beside llama.cpp's own quantizer, byte for byte (scripts/quantize_vs_llamacpp.sh).

Makes f32 matrices of several kinds (normal weights at three magnitudes, uniform, heavy-tailed,
all-positive, sparse, one outlier per block, small integers with many ties, constant and zero
rows, values whose scales are binary16 subnormals), writes them as one safetensors file, has
`lmc quantize --dtype TYPE` write each block type lmc writes, and quantizes the same values with
ggml_quantize_chunk from node-llama-cpp's libggml-base.so (ctypes; no importance matrix, as
llama-quantize without --imatrix). Per type and kind: blocks equal byte for byte, out of all;
for a differing block, which fields differ. Exits 1 if any block differs.

usage: quantize_vs_ggml.py LMC LIBGGML_BASE.so WORK_DIR [TYPE ...]
"""
import ctypes
import json
import os
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from to_llamacpp_gguf import read_gguf  # noqa: E402

# name: (ggml type id, values per block, bytes per block, fields as (name, begin, end)).
TYPES = {
    "q8_0": (8, 32, 34, [("d", 0, 2), ("qs", 2, 34)]),
    "q4_0": (2, 32, 18, [("d", 0, 2), ("qs", 2, 18)]),
    "q4_1": (3, 32, 20, [("d", 0, 2), ("m", 2, 4), ("qs", 4, 20)]),
    "q5_0": (6, 32, 22, [("d", 0, 2), ("qh", 2, 6), ("qs", 6, 22)]),
    "q5_1": (7, 32, 24, [("d", 0, 2), ("m", 2, 4), ("qh", 4, 8), ("qs", 8, 24)]),
    "iq4_nl": (20, 32, 18, [("d", 0, 2), ("qs", 2, 18)]),
    "q2_k": (10, 256, 84, [("scales", 0, 16), ("qs", 16, 80), ("d", 80, 82), ("dmin", 82, 84)]),
    "q3_k": (11, 256, 110, [("hmask", 0, 32), ("qs", 32, 96), ("scales", 96, 108), ("d", 108, 110)]),
    "q4_k": (12, 256, 144, [("d", 0, 2), ("dmin", 2, 4), ("scales", 4, 16), ("qs", 16, 144)]),
    "q5_k": (13, 256, 176, [("d", 0, 2), ("dmin", 2, 4), ("scales", 4, 16), ("qh", 16, 48),
                            ("qs", 48, 176)]),
    "q6_k": (14, 256, 210, [("ql", 0, 128), ("qh", 128, 192), ("scales", 192, 208), ("d", 208, 210)]),
}
COLS = 512


def kinds(rng):
    """name -> f32 matrix [rows, COLS]."""
    out = {}
    out["normal"] = rng.standard_normal((256, COLS))
    out["normal_0.02"] = 0.02 * rng.standard_normal((256, COLS))
    out["normal_1e-4"] = 1e-4 * rng.standard_normal((64, COLS))
    out["uniform"] = rng.uniform(-1, 1, (64, COLS))
    out["student_t3"] = 0.05 * rng.standard_t(3, (128, COLS))
    out["positive"] = np.abs(rng.standard_normal((64, COLS)))
    sparse = rng.standard_normal((64, COLS))
    sparse[rng.random((64, COLS)) < 0.9] = 0
    out["sparse"] = sparse
    outlier = 0.02 * rng.standard_normal((64, COLS))
    outlier.reshape(-1, 32)[:, 0] = 1.0  # one per 32-value block
    out["outlier"] = outlier
    out["integers"] = rng.integers(-8, 9, (64, COLS)).astype(np.float64)
    const = np.ones((16, COLS)) * rng.uniform(-1, 1, (16, 1))
    const[:4] = 0
    out["constant_zero"] = const
    out["tiny_1e-6"] = 1e-6 * rng.standard_normal((32, COLS))
    out["tiny_1e-9"] = 1e-9 * rng.standard_normal((32, COLS))
    return {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in out.items()}


def write_safetensors(path, tensors):
    header, offset = {}, 0
    for name, a in tensors.items():
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [offset, offset + a.nbytes]}
        offset += a.nbytes
    blob = json.dumps(header).encode()
    blob += b" " * (-len(blob) % 8)
    with open(path, "wb") as f:
        f.write(len(blob).to_bytes(8, "little") + blob)
        for a in tensors.values():
            f.write(a.tobytes())


def gguf_tensors(path):
    f, _, tensors, data_start = read_gguf(path)
    ends = sorted(t[3] for t in tensors) + [os.path.getsize(path) - data_start]
    size_at = {start: ends[i + 1] - start for i, start in enumerate(ends[:-1])}
    out = {}
    for name, dims, kind, offset in tensors:
        f.seek(data_start + offset)
        out[name] = (kind, f.read(size_at[offset]))
    return out


def main():
    lmc, libpath, work = sys.argv[1:4]
    types = sys.argv[4:] or list(TYPES)
    ggml = ctypes.CDLL(libpath)
    ggml.ggml_quantize_chunk.restype = ctypes.c_size_t
    ggml.ggml_quantize_chunk.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64,
                                         ctypes.c_int64, ctypes.c_int64, ctypes.c_void_p]
    ggml.ggml_quantize_requires_imatrix.restype = ctypes.c_bool
    data = kinds(np.random.default_rng(21))
    os.makedirs(work, exist_ok=True)
    src = os.path.join(work, "quantize_in.safetensors")
    write_safetensors(src, {f"w.{k}": v for k, v in data.items()})
    failed = False
    print("| type | blocks equal | differing blocks: kind (count, fields) |")
    print("|---|---|---|")
    for t in types:
        type_id, per_block, block_bytes, fields = TYPES[t]
        assert not ggml.ggml_quantize_requires_imatrix(type_id)
        out = os.path.join(work, f"quantize_{t}.gguf")
        subprocess.run([lmc, "quantize", src, "-o", out, "--dtype", t], check=True,
                       stderr=subprocess.DEVNULL)
        written = gguf_tensors(out)
        equal = total = 0
        notes = []
        for kind, a in data.items():
            stored_kind, mine = written[f"w.{kind}"]
            if stored_kind != type_id:
                sys.exit(f"lmc wrote w.{kind} as ggml type {stored_kind}, not {type_id} ({t})")
            rows, cols = a.shape
            theirs = ctypes.create_string_buffer(rows * cols // per_block * block_bytes)
            n = ggml.ggml_quantize_chunk(type_id, a.ctypes.data, theirs, 0, rows, cols, None)
            assert n == len(theirs.raw) == len(mine), (t, kind, n, len(mine))
            x = np.frombuffer(mine, np.uint8).reshape(-1, block_bytes)
            y = np.frombuffer(theirs.raw, np.uint8).reshape(-1, block_bytes)
            same = (x == y).all(1)
            equal += int(same.sum())
            total += len(same)
            if not same.all():
                where = sorted({name for name, b, e in fields for i in np.where(~same)[0]
                                if (x[i, b:e] != y[i, b:e]).any()})
                notes.append(f"{kind} ({int((~same).sum())}, {'/'.join(where)})")
        failed |= equal != total
        print(f"| {t} | {equal}/{total} | {', '.join(notes) or '-'} |")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
