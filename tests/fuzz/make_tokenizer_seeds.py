#!/usr/bin/python3
"""Seed corpora for the tokenizer-loader fuzzers (fuzz_load_*), cut at run time
from the real files in the shared assets (never copied into the repository):
small but well-formed subsets, so the fuzzers start from files that load.
A seed is one byte n, n bytes of text, then the file (tokenizer_loader_fuzz.h).

Usage: make_tokenizer_seeds.py ASSETS OUT_DIR  (writes OUT_DIR/fuzz_load_*/)
"""
import json
import os
import struct
import sys

ASSETS, OUT = sys.argv[1], sys.argv[2]
TEXTS = [b"Hello world, it's 2024!", "héllo 日本 😀 <|endoftext|> [CLS]".encode(), b"  a\tb\n\n"]


def seed(fuzzer, name, data, text=TEXTS[0]):
    d = os.path.join(OUT, fuzzer)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(bytes([len(text)]) + text + data)


def asset(*parts):
    return os.path.join(ASSETS, *parts)


# ---------------------------------------------------------------- GGUF
def read_gguf(path):
    b = open(path, "rb").read()
    pos = 0

    def take(fmt):
        nonlocal pos
        v = struct.unpack_from("<" + fmt, b, pos)
        pos += struct.calcsize(fmt)
        return v[0]

    def string():
        nonlocal pos
        n = take("Q")
        s = b[pos:pos + n]
        pos += n
        return s

    fmts = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}

    def value(t):
        if t == 8:
            return string()
        if t == 9:
            et, n = take("I"), take("Q")
            return (et, [value(et) for _ in range(n)])
        return take(fmts[t])

    assert b[:4] == b"GGUF"
    pos = 4
    take("I")
    take("Q")
    kv = []
    for _ in range(take("Q")):
        key = string().decode()
        t = take("I")
        kv.append((key, t, value(t)))
    return kv


def write_gguf(kv):
    fmts = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}
    out = bytearray(b"GGUF" + struct.pack("<IQQ", 3, 0, len(kv)))

    def put(t, v):
        if t == 8:
            out.extend(struct.pack("<Q", len(v)) + v)
        elif t == 9:
            et, items = v
            out.extend(struct.pack("<IQ", et, len(items)))
            for item in items:
                put(et, item)
        else:
            out.extend(struct.pack("<" + fmts[t], v))

    for key, t, v in kv:
        out.extend(struct.pack("<Q", len(key)) + key.encode() + struct.pack("<I", t))
        put(t, v)
    out.extend(b"\0" * (-len(out) % 32))
    return bytes(out)


def gguf_subset(path, n):
    """The first n tokens of a vocab GGUF, with the merges among them."""
    kv = read_gguf(path)
    tokens = next(v[1] for k, t, v in kv if k == "tokenizer.ggml.tokens")[:n]
    keep = set(tokens)
    out = []
    for key, t, v in kv:
        if key in ("tokenizer.ggml.tokens", "tokenizer.ggml.scores", "tokenizer.ggml.token_type"):
            v = (v[0], v[1][:n])
        elif key == "tokenizer.ggml.merges":
            merges = []
            for m in v[1]:
                left, _, right = m.partition(b" ")
                if left in keep and right in keep and left + right in keep:
                    merges.append(m)
            v = (v[0], merges)
        elif key.endswith("_token_id") and v >= n:
            continue
        out.append((key, t, v))
    return write_gguf(out), tokens


gguf_dir = asset("vocab-gguf")
for name, n in (("gpt-2", 400), ("llama-spm", 600), ("bert-bge", 1200)):
    data, tokens = gguf_subset(os.path.join(gguf_dir, f"ggml-vocab-{name}.gguf"), n)
    for i, text in enumerate(TEXTS):
        seed("fuzz_load_gguf", f"{name}-{i}", data, text)
    if name == "bert-bge":
        bert_tokens = tokens

# ---------------------------------------------------------------- tiktoken
for name, lines in (("cl100k_base", 400), ("o200k_base", 300)):
    with open(asset("tokenizers", "tiktoken", f"{name}.tiktoken"), "rb") as f:
        data = b"".join(f.readline() for _ in range(lines))
    for i, text in enumerate(TEXTS):
        seed("fuzz_load_tiktoken", f"{name}-{i}", data, text)

# ---------------------------------------------------------------- GPT-2 folder
encoder = json.load(open(asset("tokenizers", "gpt2", "encoder.json"), encoding="utf-8"))
small = {t: i for t, i in encoder.items() if i < 400}
small["<|endoftext|>"] = 400
merges = open(asset("tokenizers", "gpt2", "vocab.bpe"), encoding="utf-8").read().split("\n")
kept = [merges[0]] + [m for m in merges[1:] if m and m.split(" ")[0] in small and
                      m.split(" ")[1] in small and "".join(m.split(" ")) in small]
enc = json.dumps(small, ensure_ascii=False).encode()
for i, text in enumerate(TEXTS):
    seed("fuzz_load_gpt2_bpe", f"gpt2-{i}", struct.pack("<I", len(enc)) + enc +
         ("\n".join(kept) + "\n").encode(), text)

# ---------------------------------------------------------------- tokenizer.json
llama3 = json.load(open(asset("tokenizers", "llama3", "tokenizer.json"), encoding="utf-8"))
vocab = {t: i for t, i in llama3["model"]["vocab"].items() if i < 600}
llama3["model"]["vocab"] = vocab
llama3["model"]["merges"] = [m for m in llama3["model"]["merges"]
                             if all(p in vocab for p in m.split(" ")) and m.replace(" ", "") in vocab]
llama3["added_tokens"] = [dict(a, id=600 + k) for k, a in enumerate(llama3["added_tokens"][:4])]
llama3["post_processor"] = None
for i, text in enumerate(TEXTS):
    seed("fuzz_load_tokenizer_json", f"llama3-{i}",
         json.dumps(llama3, ensure_ascii=False).encode(), text)
# A BERT WordPiece tokenizer.json from the bge GGUF's vocab (stored by llama.cpp
# with "▁" before word-initial pieces and no "##" on continuations).
wp_vocab = {}
for i, t in enumerate(bert_tokens):
    s = t.decode("utf-8", "replace")
    s = s if s.startswith("[") and s.endswith("]") else s[1:] if s.startswith("\u2581") else "##" + s
    wp_vocab.setdefault(s, i)
bert = {
    "version": "1.0", "truncation": None, "padding": None,
    "added_tokens": [{"id": wp_vocab[s], "content": s, "single_word": False, "lstrip": False,
                      "rstrip": False, "normalized": False, "special": True}
                     for s in ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]") if s in wp_vocab],
    "normalizer": {"type": "BertNormalizer", "clean_text": True, "handle_chinese_chars": True,
                   "strip_accents": None, "lowercase": True},
    "pre_tokenizer": {"type": "BertPreTokenizer"},
    "post_processor": None,
    "decoder": {"type": "WordPiece", "prefix": "##", "cleanup": True},
    "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
              "max_input_chars_per_word": 100, "vocab": wp_vocab},
}
for i, text in enumerate(TEXTS):
    seed("fuzz_load_tokenizer_json", f"bert-{i}", json.dumps(bert, ensure_ascii=False).encode(), text)

# ---------------------------------------------------------------- SentencePiece
spm_model = open(asset("llama2c-stories260K", "tok512.model"), "rb").read()
for i, text in enumerate(TEXTS):
    seed("fuzz_load_sentencepiece", f"tok512-{i}", spm_model, text)
