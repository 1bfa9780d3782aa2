#!/usr/bin/env python3
"""Rewrites a GGUF written by `lmc quantize` (Hugging Face tensor names) as one llama.cpp loads:
llama.cpp's tensor names and `llama.*` metadata from the spec, and the tokenizer of a
vocab-only GGUF. Tensor data is copied byte for byte, so lmc (`weights.layout: gguf`) and
llama.cpp read the same file. Random-weight benchmarks only: q/k rows are not permuted the way
llama.cpp's converter does for real Hugging Face checkpoints.

usage: to_llamacpp_gguf.py SPEC.yaml IN.gguf VOCAB.gguf OUT.gguf
"""
import os
import re
import struct
import sys

import yaml

SCALAR = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q",
          11: "<q", 12: "<d"}
STRING, ARRAY, UINT32, FLOAT32 = 8, 9, 4, 6
LAYER_NAMES = {"input_layernorm": "attn_norm", "post_attention_layernorm": "ffn_norm",
               "self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k",
               "self_attn.v_proj": "attn_v", "self_attn.o_proj": "attn_output",
               "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up", "mlp.down_proj": "ffn_down"}
TOP_NAMES = {"model.embed_tokens.weight": "token_embd.weight", "lm_head.weight": "output.weight",
             "model.norm.weight": "output_norm.weight"}


def read_value(f, kind):
    if kind == STRING:
        (n,) = struct.unpack("<Q", f.read(8))
        return f.read(n)
    if kind == ARRAY:
        item, n = struct.unpack("<IQ", f.read(12))
        return item, [read_value(f, item) for _ in range(n)]
    fmt = SCALAR[kind]
    return struct.unpack(fmt, f.read(struct.calcsize(fmt)))[0]


def write_value(out, kind, value):
    if kind == STRING:
        value = value.encode() if isinstance(value, str) else value
        out.write(struct.pack("<Q", len(value)) + value)
    elif kind == ARRAY:
        item, values = value
        out.write(struct.pack("<IQ", item, len(values)))
        for v in values:
            write_value(out, item, v)
    else:
        out.write(struct.pack(SCALAR[kind], value))


def read_gguf(path):
    f = open(path, "rb")
    if f.read(4) != b"GGUF":
        sys.exit(f"{path}: not a GGUF file")
    _, n_tensors, n_kv = struct.unpack("<IQQ", f.read(20))
    kv = []
    for _ in range(n_kv):
        key = read_value(f, STRING).decode()
        (kind,) = struct.unpack("<I", f.read(4))
        kv.append((key, kind, read_value(f, kind)))
    tensors = []
    for _ in range(n_tensors):
        name = read_value(f, STRING).decode()
        (n_dims,) = struct.unpack("<I", f.read(4))
        dims = struct.unpack(f"<{n_dims}Q", f.read(8 * n_dims))
        kind, offset = struct.unpack("<IQ", f.read(12))
        tensors.append((name, dims, kind, offset))
    align = next((v for k, _, v in kv if k == "general.alignment"), 32)
    return f, kv, tensors, -(-f.tell() // align) * align


def llama_name(name):
    if name in TOP_NAMES:
        return TOP_NAMES[name]
    m = re.fullmatch(r"model\.layers\.(\d+)\.(.*)\.weight", name)
    if not m or m.group(2) not in LAYER_NAMES:
        sys.exit(f"no llama.cpp name for tensor {name}")
    return f"blk.{m.group(1)}.{LAYER_NAMES[m.group(2)]}.weight"


def main():
    spec_path, in_path, vocab_path, out_path = sys.argv[1:5]
    spec = yaml.safe_load(open(spec_path))
    sizes, attention = spec["sizes"], spec["attention"]
    head_dim = sizes["d_model"] // attention["n_heads"]
    meta = [("general.architecture", STRING, "llama"), ("general.name", STRING, spec["name"]),
            ("general.alignment", UINT32, 32),
            ("llama.context_length", UINT32, sizes["max_seq_len"]),
            ("llama.embedding_length", UINT32, sizes["d_model"]),
            ("llama.block_count", UINT32, sizes["n_layers"]),
            ("llama.feed_forward_length", UINT32, spec["feed_forward"]["hidden"]),
            ("llama.attention.head_count", UINT32, attention["n_heads"]),
            ("llama.attention.head_count_kv", UINT32, attention.get("n_kv_heads", attention["n_heads"])),
            ("llama.rope.dimension_count", UINT32, head_dim),
            ("llama.rope.freq_base", FLOAT32, float(spec["position"]["rope"]["theta"])),
            ("llama.attention.layer_norm_rms_epsilon", FLOAT32, float(spec["norm"]["eps"]))]
    _, vocab_kv, _, _ = read_gguf(vocab_path)
    meta += [kv for kv in vocab_kv if kv[0].startswith("tokenizer.")]

    src, _, tensors, data_start = read_gguf(in_path)
    ends = sorted(t[3] for t in tensors) + [os.path.getsize(in_path) - data_start]
    size_at = {start: ends[i + 1] - start for i, start in enumerate(ends[:-1])}
    tmp = out_path + ".tmp"
    with open(tmp, "wb") as out:
        out.write(b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(meta)))
        for key, kind, value in meta:
            write_value(out, STRING, key)
            out.write(struct.pack("<I", kind))
            write_value(out, kind, value)
        offset, copies = 0, []
        for name, dims, kind, old in tensors:
            write_value(out, STRING, llama_name(name))
            out.write(struct.pack(f"<I{len(dims)}QIQ", len(dims), *dims, kind, offset))
            copies.append((old, offset))
            offset = -(-(offset + size_at[old]) // 32) * 32
        out.write(b"\0" * (-out.tell() % 32))
        base = out.tell()
        for old, new in copies:
            out.seek(base + new)
            src.seek(data_start + old)
            left = size_at[old]
            while left:
                chunk = src.read(min(left, 1 << 26))
                out.write(chunk)
                left -= len(chunk)
        out.truncate(base + offset)
    os.replace(tmp, out_path)


if __name__ == "__main__":
    main()
