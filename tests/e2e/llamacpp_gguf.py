#!/usr/bin/env python3
"""Rewrites a GGUF written by `lmc quantize` (llama2.c's, Hugging Face's or llama.cpp's names) as
llama.cpp's tools write a llama model: llama.cpp's tensor names, `llama.*` metadata from the spec,
and a tokenizer: a llama2.c tokenizer.bin's vocabulary as llama.cpp's convert-llama2c-to-ggml
stores it (tokenizer.ggml.model llama, types unknown/control/byte/normal, no separator or padding
id: -1 as a uint32), or the tokenizer.* keys of another GGUF. Tensor data is copied byte for byte.
--drop KEY and --set KEY=TYPE:VALUE (TYPE u32, i32, f32, bool, str) edit the metadata, to make bad
files; --no-tensors writes the metadata alone (a vocabulary-only file); --rope-freqs F,F,... adds
an F32 tensor rope_freqs.weight of those values (Llama 3's rope scaling as llama.cpp stores it).

usage: llamacpp_gguf.py SPEC.yaml IN.gguf OUT.gguf (--llama2c-vocab TOK.bin | --vocab-gguf V.gguf)
                        [--drop KEY]... [--set KEY=TYPE:VALUE]... [--no-tensors]
                        [--rope-freqs F,F,...]
"""
import argparse
import os
import re
import struct
import sys

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "bench", "llamacpp"))
import to_llamacpp_gguf as llamacpp  # noqa: E402  GGUF reading/writing, HF names -> llama.cpp's

STRING, ARRAY, UINT32, INT32, FLOAT32, BOOL = 8, 9, 4, 5, 6, 7
# llama2.c's (Meta's) names -> llama.cpp's.
LLAMA2C_TOP = {"tok_embeddings.weight": "token_embd.weight", "norm.weight": "output_norm.weight",
               "output.weight": "output.weight"}
LLAMA2C_LAYER = {"attention_norm": "attn_norm", "attention.wq": "attn_q", "attention.wk": "attn_k",
                 "attention.wv": "attn_v", "attention.wo": "attn_output", "ffn_norm": "ffn_norm",
                 "feed_forward.w1": "ffn_gate", "feed_forward.w2": "ffn_down",
                 "feed_forward.w3": "ffn_up"}


def load_spec(path):
    """The spec with its `extends` chain merged (the base first)."""
    spec = yaml.safe_load(open(path))
    base = spec.pop("extends", None)
    if base is None:
        return spec
    merged = load_spec(os.path.join(os.path.dirname(path), base))

    def merge(a, b):
        for k, v in b.items():
            a[k] = merge(a.get(k, {}), v) if isinstance(v, dict) and isinstance(a.get(k), dict) else v
        return a
    return merge(merged, spec)


def llama2c_vocab(path, n_vocab):
    """tokenizer.ggml.* as convert-llama2c-to-ggml writes a llama2.c tokenizer.bin: spaces as
    U+2581, the SentencePiece way."""
    f = open(path, "rb")
    f.read(4)  # max_token_length
    tokens, scores, types = [], [], []
    for i in range(n_vocab):
        (score,) = struct.unpack("<f", f.read(4))
        (n,) = struct.unpack("<i", f.read(4))
        text = f.read(n)
        kind = 1  # normal
        if i == 0:
            text, kind = b"<unk>", 2
        elif i in (1, 2):
            text, kind = (b"<s>", b"</s>")[i - 1], 3
        elif not text:
            kind = 3
        elif len(text) == 6 and text.startswith(b"<0x") and text.endswith(b">"):
            kind = 6
        tokens.append(text.replace(b" ", "\u2581".encode()))  # llama_escape_whitespaces
        scores.append(score)
        types.append(kind)
    none = 0xFFFFFFFF  # -1 stored as a uint32
    return [("tokenizer.ggml.model", STRING, "llama"),
            ("tokenizer.ggml.tokens", ARRAY, (STRING, tokens)),
            ("tokenizer.ggml.scores", ARRAY, (FLOAT32, scores)),
            ("tokenizer.ggml.token_type", ARRAY, (INT32, types)),
            ("tokenizer.ggml.unknown_token_id", UINT32, 0),
            ("tokenizer.ggml.bos_token_id", UINT32, 1),
            ("tokenizer.ggml.eos_token_id", UINT32, 2),
            ("tokenizer.ggml.seperator_token_id", UINT32, none),
            ("tokenizer.ggml.padding_token_id", UINT32, none)]


def parse_set(text):
    key, _, typed = text.partition("=")
    kind, _, value = typed.partition(":")
    if kind == "u32":
        return key, UINT32, int(value)
    if kind == "i32":
        return key, INT32, int(value)
    if kind == "f32":
        return key, FLOAT32, float(value)
    if kind == "bool":
        return key, BOOL, value == "true"
    if kind == "str":
        return key, STRING, value
    sys.exit(f"--set {text}: expected KEY=TYPE:VALUE with TYPE u32, i32, f32, bool or str")


def llama_cpp_name(name):
    if name.startswith("blk.") or name in LLAMA2C_TOP.values():  # already llama.cpp's
        return name
    if name in LLAMA2C_TOP:
        return LLAMA2C_TOP[name]
    m = re.fullmatch(r"layers\.(\d+)\.(.*)\.weight", name)
    if m and m.group(2) in LLAMA2C_LAYER:
        return f"blk.{m.group(1)}.{LLAMA2C_LAYER[m.group(2)]}.weight"
    return llamacpp.llama_name(name)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("spec")
    p.add_argument("input")
    p.add_argument("output")
    p.add_argument("--llama2c-vocab")
    p.add_argument("--vocab-gguf")
    p.add_argument("--drop", action="append", default=[])
    p.add_argument("--set", action="append", default=[], dest="sets")
    p.add_argument("--no-tensors", action="store_true")
    p.add_argument("--rope-freqs")
    args = p.parse_args()

    spec = load_spec(args.spec)
    sizes, attention = spec["sizes"], spec["attention"]
    head_dim = sizes["d_model"] // attention["n_heads"]
    meta = [("general.architecture", STRING, "llama"), ("general.name", STRING, spec["name"]),
            ("general.alignment", UINT32, 32),
            ("llama.context_length", UINT32, sizes["max_seq_len"]),
            ("llama.embedding_length", UINT32, sizes["d_model"]),
            ("llama.block_count", UINT32, sizes["n_layers"]),
            ("llama.feed_forward_length", UINT32, spec["feed_forward"]["hidden"]),
            ("llama.attention.head_count", UINT32, attention["n_heads"]),
            ("llama.attention.head_count_kv", UINT32,
             attention.get("n_kv_heads", attention["n_heads"])),
            ("llama.rope.dimension_count", UINT32, head_dim),
            ("llama.rope.freq_base", FLOAT32, float(spec["position"]["rope"]["theta"])),
            ("llama.attention.layer_norm_rms_epsilon", FLOAT32, float(spec["norm"]["eps"]))]
    if args.llama2c_vocab:
        meta += llama2c_vocab(args.llama2c_vocab, sizes["vocab"])
    else:
        _, vocab_kv, _, _ = llamacpp.read_gguf(args.vocab_gguf)
        meta += [kv for kv in vocab_kv if kv[0].startswith("tokenizer.")]
    meta = [kv for kv in meta if kv[0] not in args.drop]
    for text in args.sets:
        key, kind, value = parse_set(text)
        meta = [kv for kv in meta if kv[0] != key] + [(key, kind, value)]

    src, _, tensors, data_start = llamacpp.read_gguf(args.input)
    if args.no_tensors:
        tensors = []
    ends = sorted(t[3] for t in tensors) + [os.path.getsize(args.input) - data_start]
    size_at = {start: ends[i + 1] - start for i, start in enumerate(ends[:-1])}
    extra = []  # (name, dims, ggml type, bytes) appended after the copied tensors
    if args.rope_freqs:
        values = [float(v) for v in args.rope_freqs.split(",")]
        extra.append(("rope_freqs.weight", (len(values),), 0, struct.pack(f"<{len(values)}f", *values)))
    tmp = args.output + ".tmp"
    with open(tmp, "wb") as out:
        out.write(b"GGUF" + struct.pack("<IQQ", 3, len(tensors) + len(extra), len(meta)))
        for key, kind, value in meta:
            llamacpp.write_value(out, STRING, key)
            out.write(struct.pack("<I", kind))
            llamacpp.write_value(out, kind, value)
        offset, copies = 0, []
        for name, dims, kind, old in tensors:
            llamacpp.write_value(out, STRING, llama_cpp_name(name))
            out.write(struct.pack(f"<I{len(dims)}QIQ", len(dims), *dims, kind, offset))
            copies.append((old, offset))
            offset = -(-(offset + size_at[old]) // 32) * 32
        for name, dims, kind, data in extra:
            llamacpp.write_value(out, STRING, name)
            out.write(struct.pack(f"<I{len(dims)}QIQ", len(dims), *dims, kind, offset))
            copies.append((data, offset))
            offset = -(-(offset + len(data)) // 32) * 32
        if tensors or extra:
            out.write(b"\0" * (-out.tell() % 32))
        base = out.tell()
        for old, new in copies:
            out.seek(base + new)
            if isinstance(old, bytes):
                out.write(old)
                continue
            src.seek(data_start + old)
            out.write(src.read(size_at[old]))
        if tensors or extra:
            out.truncate(base + offset)
    os.replace(tmp, args.output)


if __name__ == "__main__":
    main()
