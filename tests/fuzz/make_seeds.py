#!/usr/bin/python3
"""Writes the seed corpus of a fuzzer that has no checked-in seeds, made at
run time so the seeds follow the formats as they are today.

usage: make_seeds.py FUZZER OUTDIR [LMC SOURCE_DIR]
  fuzz_safetensors     small valid files: f32/f16/bf16, scalars, empty tensors, metadata
  fuzz_gguf_checkpoint small GGUF checkpoints: f32/f16/bf16/q8_0/q4_0, k-quants, q4_1/q5_0/iq4_nl, alignment, v2
  fuzz_import_gguf     llama.cpp-style files for `lmc import`: llama (tensors, vocab, chat template),
                       qwen2, gpt2, bloom, bert, t5 metadata
  fuzz_llama2c_header  model dims + a matching llama2.c checkpoint, tied and untied
  fuzz_ir              `LMC emit SPEC --ir` for the repo's specs, and tests/ir/*.ir
"""
import glob
import json
import os
import struct
import subprocess
import sys


def safetensors(tensors, metadata=None):
    """tensors: list of (name, dtype, shape, bytes)."""
    header, data = {}, b""
    if metadata is not None:
        header["__metadata__"] = metadata
    for name, dtype, shape, raw in tensors:
        header[name] = {"dtype": dtype, "shape": shape,
                        "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)  # as the safetensors writer pads
    return struct.pack("<Q", len(text)) + text + data


def safetensors_seeds():
    f32 = lambda n: struct.pack(f"<{n}f", *[i * 0.5 - 1 for i in range(n)])
    u16 = lambda n: struct.pack(f"<{n}H", *[0x3C00 + i for i in range(n)])
    return {
        "one_f32": safetensors([("w", "F32", [2, 3], f32(6))]),
        "metadata": safetensors([("norm.weight", "F32", [4], f32(4))], {"format": "pt"}),
        "f16_bf16": safetensors([("a", "F16", [3], u16(3)), ("b", "BF16", [2, 2], u16(4))]),
        "scalar_and_empty": safetensors([("s", "F32", [], f32(1)), ("e", "F32", [0, 4], b""),
                                         ("v", "F32", [1], f32(1))]),
        "layers": safetensors([(f"model.layers.{i}.self_attn.q_proj.weight", "BF16", [4, 4],
                                u16(16)) for i in range(3)]),
    }


def gguf(tensors, version=3, alignment=None, arch=b"llama", meta=()):
    """tensors: list of (name, ggml type, shape outermost first, bytes); meta: (key, packed type
    and value) pairs after general.architecture."""
    kv = [(b"general.architecture", struct.pack("<I", 8) + struct.pack("<Q", len(arch)) + arch)]
    kv += list(meta)
    if alignment is not None:
        kv.append((b"general.alignment", struct.pack("<II", 4, alignment)))
    align = alignment or 32
    out = b"GGUF" + struct.pack("<IQQ", version, len(tensors), len(kv))
    for key, value in kv:
        out += struct.pack("<Q", len(key)) + key + value
    data, offsets = b"", []
    for _, _, _, raw in tensors:
        data += b"\0" * (-len(data) % align)
        offsets.append(len(data))
        data += raw
    for (name, kind, shape, _), offset in zip(tensors, offsets):
        out += struct.pack("<Q", len(name)) + name.encode() + struct.pack("<I", len(shape))
        out += b"".join(struct.pack("<Q", n) for n in reversed(shape))
        out += struct.pack("<IQ", kind, offset)
    return out + b"\0" * (-len(out) % align) + data


def gguf_seeds():
    f32 = lambda n: struct.pack(f"<{n}f", *[0.5 * i - 1 for i in range(n)])
    q8 = lambda rows: (struct.pack("<H", 0x3C00) + bytes(range(32))) * rows
    q4 = lambda rows: (struct.pack("<H", 0x3800) + bytes(range(16))) * rows
    return {
        "f32": gguf([("w", 0, [2, 3], f32(6)), ("n", 0, [3], f32(3))]),
        "f16_bf16": gguf([("h", 1, [2, 2], b"\0\x3c" * 4), ("b", 30, [3], b"\x80\x3f" * 3)]),
        "q8_0": gguf([("q", 8, [2, 64], q8(4)), ("norm", 0, [64], f32(64))]),
        "q4_0": gguf([("q", 2, [3, 32], q4(3))]),
        "v2_align64": gguf([("a", 0, [5], f32(5)), ("q", 8, [1, 32], q8(1))], 2, 64),
        "k_quants": gguf([("k4", 12, [2, 256], (b"\0\x3c\0\x3c" + bytes(range(140))) * 2),
                          ("k6", 14, [1, 256], bytes(range(208)) + b"\0\x3c"),
                          ("k2", 10, [1, 256], bytes(range(80)) + b"\0\x3c\0\x3c")]),
        "small_blocks": gguf([("a", 3, [1, 32], b"\0\x3c\0\x3c" + bytes(range(16))),
                              ("b", 6, [1, 32], b"\0\x3c" + bytes(range(20))),
                              ("c", 20, [2, 32], (b"\0\x3c" + bytes(range(16))) * 2)]),
        "empty": gguf([]),
    }


def import_gguf_seeds():
    u32 = lambda v: struct.pack("<II", 4, v)
    f32v = lambda v: struct.pack("<If", 6, v)
    boolv = lambda v: struct.pack("<IB", 7, v)
    text = lambda v: struct.pack("<IQ", 8, len(v)) + v
    strings = lambda vs: struct.pack("<IIQ", 9, 8, len(vs)) + b"".join(
        struct.pack("<Q", len(v)) + v for v in vs)
    array = lambda kind, fmt, vs: struct.pack("<IIQ", 9, kind, len(vs)) + b"".join(
        struct.pack(fmt, v) for v in vs)
    f32 = lambda n: struct.pack(f"<{n}f", *[((i * 7) % 11) * 0.1 - 0.5 for i in range(n)])
    tokens = [b"<unk>", b"<s>", b"</s>", b"\xe2\x96\x81a", b"b", b"<0x0A>", b"ab", b"\xe2\x96\x81"]
    vocab = [(b"tokenizer.ggml.model", text(b"llama")), (b"tokenizer.ggml.tokens", strings(tokens)),
             (b"tokenizer.ggml.scores", array(6, "<f", [0.0, 0.0, 0.0, -1.0, -2.0, 0.0, -3.0, -4.0])),
             (b"tokenizer.ggml.token_type", array(5, "<i", [2, 3, 3, 1, 1, 6, 1, 1])),
             (b"tokenizer.ggml.bos_token_id", u32(1)), (b"tokenizer.ggml.eos_token_id", u32(2)),
             (b"tokenizer.ggml.padding_token_id", u32(0xFFFFFFFF))]

    def sizes(arch, d=32, layers=1, heads=2, ffn=64, context=16, eps=b"layer_norm_rms_epsilon"):
        a = arch + b"."
        return [(a + b"context_length", u32(context)), (a + b"embedding_length", u32(d)),
                (a + b"block_count", u32(layers)), (a + b"feed_forward_length", u32(ffn)),
                (a + b"attention.head_count", u32(heads)),
                (a + b"attention." + eps, f32v(1e-5))]
    d, ffn, n = 32, 64, len(tokens)
    llama_tensors = [("token_embd.weight", 0, [n, d], f32(n * d)),
                     ("output_norm.weight", 0, [d], f32(d)), ("output.weight", 0, [n, d], f32(n * d))]
    for name, shape in [("attn_q", [d, d]), ("attn_k", [d // 2, d]), ("attn_v", [d // 2, d]),
                        ("attn_output", [d, d]), ("attn_norm", [d]), ("ffn_gate", [ffn, d]),
                        ("ffn_up", [ffn, d]), ("ffn_down", [d, ffn]), ("ffn_norm", [d])]:
        count = shape[0] * (shape[1] if len(shape) > 1 else 1)
        llama_tensors.append((f"blk.0.{name}.weight", 0, shape, f32(count)))
    chatml = (b"{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + "
              b"message['content'] + '<|im_end|>\\n' }}{% endfor %}")
    return {
        "llama": gguf(llama_tensors, meta=sizes(b"llama") + [
            (b"llama.attention.head_count_kv", u32(1)), (b"llama.rope.freq_base", f32v(1e4)),
            (b"llama.rope.dimension_count", u32(16)), (b"tokenizer.chat_template", text(chatml)),
            (b"general.name", text(b"tiny"))] + vocab),
        "llama_vocab_only": gguf([], meta=sizes(b"llama") + [
            (b"llama.rope.scaling.type", text(b"linear")), (b"llama.rope.scaling.factor", f32v(2)),
            (b"llama.vocab_size", u32(n)), (b"llama.unknown_key", boolv(1))] + vocab),
        "qwen2": gguf([], arch=b"qwen2", meta=sizes(b"qwen2") + vocab),
        "gpt2": gguf([], arch=b"gpt2", meta=sizes(b"gpt2", eps=b"layer_norm_epsilon") + vocab),
        "bloom": gguf([], arch=b"bloom", meta=sizes(b"bloom", eps=b"layer_norm_epsilon") + vocab),
        "bert": gguf([], arch=b"bert", meta=sizes(b"bert", eps=b"layer_norm_epsilon") + [
            (b"bert.attention.causal", boolv(0)), (b"tokenizer.ggml.token_type_count", u32(2))] + vocab),
        "t5": gguf([], arch=b"t5", meta=sizes(b"t5") + [
            (b"t5.attention.key_length", u32(16)), (b"t5.attention.value_length", u32(16)),
            (b"t5.attention.relative_buckets_count", u32(8)),
            (b"t5.decoder_start_token_id", u32(0))] + vocab),
        "falcon": gguf([], arch=b"falcon", meta=vocab),
    }


def llama2c_seeds():
    seeds = {}
    for name, (dim, hidden, layers, heads, kv, vocab, seq, tied) in {
            "tied": (8, 16, 1, 2, 1, 4, 4, 1), "untied": (8, 12, 2, 2, 2, 5, 3, 0),
            "mha": (4, 8, 1, 1, 1, 3, 2, 1)}.items():
        head = dim // heads
        dims = struct.pack("<9i", dim, hidden, layers, heads, kv, head, vocab, seq, tied)
        header = struct.pack("<7i", dim, hidden, layers, heads, kv, vocab if tied else -vocab, seq)
        kv_dim = kv * head
        floats = (vocab * dim + layers * dim * (2 + 2 * dim + 2 * kv_dim) +
                  3 * layers * hidden * dim + dim + seq * head + (0 if tied else vocab * dim))
        body = struct.pack(f"<{floats}f", *[(i % 7) * 0.25 for i in range(floats)])
        seeds[name] = dims + header + body
    return seeds


def ir_seeds(lmc, src):
    seeds = {}
    specs = sorted(glob.glob(os.path.join(src, "specs", "*.yaml")) +
                   glob.glob(os.path.join(src, "tests", "specs", "valid", "*.yaml")))
    for spec in specs:
        if spec.endswith(".base.yaml"):
            continue
        run = subprocess.run([lmc, "emit", spec, "--ir"], capture_output=True)
        if run.returncode == 0:
            seeds[os.path.basename(spec)[:-5] + ".ir"] = run.stdout
    if not seeds:
        sys.exit(f"make_seeds.py: {lmc} emitted no IR for {len(specs)} specs")
    for path in glob.glob(os.path.join(src, "tests", "ir", "*.ir")):
        seeds["test_" + os.path.basename(path)] = open(path, "rb").read()
    return seeds


def main():
    fuzzer, out = sys.argv[1], sys.argv[2]
    if fuzzer == "fuzz_safetensors":
        seeds = safetensors_seeds()
    elif fuzzer == "fuzz_gguf_checkpoint":
        seeds = gguf_seeds()
    elif fuzzer == "fuzz_import_gguf":
        seeds = import_gguf_seeds()
    elif fuzzer == "fuzz_llama2c_header":
        seeds = llama2c_seeds()
    elif fuzzer == "fuzz_ir":
        seeds = ir_seeds(sys.argv[3], sys.argv[4])
    else:
        sys.exit(f"make_seeds.py: no generated seeds for {fuzzer}")
    os.makedirs(out, exist_ok=True)
    for name, data in seeds.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)
    print(f"{fuzzer}: {len(seeds)} seeds in {out}")


if __name__ == "__main__":
    main()
