#!/usr/bin/env python3
"""A Hugging Face GPT-2 checkpoint (model.safetensors, f32, names with or without `transformer.`)
as llama.cpp's converter writes it: an F32 GGUF of architecture gpt2 with llama.cpp's tensor
names (blk.N.attn_qkv ...), the Conv1D matrices transposed to [out, in] rows, `gpt2.*` metadata
from config.json and the tokenizer.* keys of a vocabulary GGUF (ggml-vocab-gpt-2.gguf). A tied
classifier is left out (llama.cpp reuses token_embd). For llama_quantize.py and logits.mjs.

usage: gpt2_to_llamacpp_gguf.py MODEL_DIR VOCAB.gguf OUT.gguf
"""
import json
import os
import struct
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import to_llamacpp_gguf as gguf  # noqa: E402

STRING, UINT32, FLOAT32 = 8, 4, 6
LAYER = {"ln_1": "attn_norm", "attn.c_attn": "attn_qkv", "attn.c_proj": "attn_output",
         "ln_2": "ffn_norm", "mlp.c_fc": "ffn_up", "mlp.c_proj": "ffn_down"}
TOP = {"wte.weight": "token_embd.weight", "wpe.weight": "position_embd.weight",
       "ln_f.weight": "output_norm.weight", "ln_f.bias": "output_norm.bias"}


def read_safetensors(path):
    with open(path, "rb") as f:
        header = json.loads(f.read(struct.unpack("<Q", f.read(8))[0]))
        base = f.tell()
        out = {}
        for name, t in header.items():
            if name == "__metadata__":
                continue
            if t["dtype"] != "F32":
                sys.exit(f"{path}: {name} is {t['dtype']}; expected F32")
            begin, end = t["data_offsets"]
            f.seek(base + begin)
            out[name] = np.frombuffer(f.read(end - begin), np.float32).reshape(t["shape"])
    return out


def main():
    folder, vocab_path, out_path = sys.argv[1:4]
    config = json.load(open(os.path.join(folder, "config.json")))
    tensors = []
    for name, a in read_safetensors(os.path.join(folder, "model.safetensors")).items():
        name = name.removeprefix("transformer.")
        if name == "lm_head.weight":
            continue  # tied: llama.cpp reuses token_embd
        if name in TOP:
            tensors.append((TOP[name], a))
            continue
        parts = name.split(".")
        role, kind = ".".join(parts[2:-1]), parts[-1]
        if parts[0] != "h" or role not in LAYER or kind not in ("weight", "bias"):
            if name.endswith(".attn.bias") or name.endswith(".attn.masked_bias"):
                continue  # the causal mask buffers of older checkpoints
            sys.exit(f"no llama.cpp name for {name}")
        if kind == "weight" and a.ndim == 2:
            a = np.ascontiguousarray(a.T)  # Conv1D [in, out] -> rows of `in` values
        tensors.append((f"blk.{parts[1]}.{LAYER[role]}.{kind}", a))
    d = config["n_embd"]
    meta = [("general.architecture", STRING, "gpt2"), ("general.name", STRING, "gpt2"),
            ("general.alignment", UINT32, 32),
            ("gpt2.context_length", UINT32, config["n_positions"]),
            ("gpt2.embedding_length", UINT32, d),
            ("gpt2.feed_forward_length", UINT32, config.get("n_inner") or 4 * d),
            ("gpt2.block_count", UINT32, config["n_layer"]),
            ("gpt2.attention.head_count", UINT32, config["n_head"]),
            ("gpt2.attention.layer_norm_epsilon", FLOAT32, config["layer_norm_epsilon"])]
    _, vocab_kv, _, _ = gguf.read_gguf(vocab_path)
    meta += [kv for kv in vocab_kv if kv[0].startswith("tokenizer.")]
    tmp = out_path + ".tmp"
    with open(tmp, "wb") as out:
        out.write(b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(meta)))
        for key, kind, value in meta:
            gguf.write_value(out, STRING, key)
            out.write(struct.pack("<I", kind))
            gguf.write_value(out, kind, value)
        offset = 0
        for name, a in tensors:
            gguf.write_value(out, STRING, name)
            dims = a.shape[::-1]  # GGUF lists the fastest-varying dimension first
            out.write(struct.pack(f"<I{len(dims)}QIQ", len(dims), *dims, 0, offset))
            offset = -(-(offset + a.nbytes) // 32) * 32
        out.write(b"\0" * (-out.tell() % 32))
        base = out.tell()
        offset = 0
        for _, a in tensors:
            out.seek(base + offset)
            out.write(a.tobytes())
            offset = -(-(offset + a.nbytes) // 32) * 32
        out.truncate(base + offset)
    os.replace(tmp, out_path)


if __name__ == "__main__":
    main()
