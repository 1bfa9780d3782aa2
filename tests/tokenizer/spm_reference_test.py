#!/usr/bin/python3
"""lmc's SentencePiece, WordPiece and GGUF-vocab tokenizers against independent
references, on a corpus generated here:

- SentencePiece: Debian's libsentencepiece (python3-sentencepiece) on Llama 2's
  tokenizer.model, llama2.c's tok512.model, and models trained now with
  spm_train (unigram + nmt_nfkc with user-defined and control symbols, BPE +
  nmt_nfkc + byte fallback, unigram identity without a dummy prefix).
- GGUF llama-spm: the same libsentencepiece ids as Llama 2's tokenizer.model
  (the GGUF holds that vocab; checked piece by piece here first). GGUF
  baichuan: libsentencepiece on a model file written here from its pieces.
- WordPiece: Hugging Face tokenizers (npm, Rust core) on a BERT tokenizer.json
  written here from the vocab of ggml-vocab-bert-bge.gguf (read by the small
  GGUF reader below), for both lmc's tokenizer.json loader and its GGUF loader.

Usage: spm_reference_test.py SPM_TOOL ASSETS_DIR
"""
import json
import os
import random
import struct
import subprocess
import sys
import tempfile
import unicodedata

import sentencepiece as spm

TOOL, ASSETS = sys.argv[1], sys.argv[2]
HERE = os.path.dirname(os.path.abspath(__file__))
NODE_DIR = os.path.join(HERE, "spm-reference")
failures = []


def fail(msg):
    failures.append(msg)
    print("FAIL:", msg)


# ---------------------------------------------------------------- corpus
def make_corpus():
    rng = random.Random(20261128)
    fixed = [
        "",
        " ",
        "   ",
        "Hello world",
        "Hello, World! How are you?",
        "Once upon a time, there was a little girl named Lily. She loved to play outside.",
        "  leading and trailing spaces  ",
        "multiple    inner     spaces",
        "tabs\tand\t\ttabs",
        "new\nlines\n\nand\r\nCRLF\r\n",
        " \t \n \r\n mixed whitespace runs \t\t\n",
        "def f(x):\n    return x**2  # square\n\tif (a && b) { c[i] = d->e; }",
        "for (int i = 0; i < n; ++i) { sum += a[i] * b[i]; }",
        "3.14159 2718281828459045 1,000,000 -42 +7e-10 0x1F 0b1010",
        "12345678901234567890123456789012345678901234567890",
        "I'm you're he's she'd we'll they've can't won't DON'T I'M YOU'RE Don't",
        "https://example.com/path?query=1&b=2#frag user@example.org",
        "😀 👍🏽 👨‍👩‍👧‍👦 🏳️‍🌈 ❤️‍🔥 🇯🇵",
        "日本語のテキストです。中文文本。",
        "한국어 텍스트입니다. 안녕하세요",
        "النص العربي هنا. مرحبا بالعالم",
        "हिन्दी पाठ यहाँ है। नमस्ते",
        "Ελληνικά κείμενο ΣΊΣΥΦΟΣ",
        "Русский текст, ПРИВЕТ",
        "café naïve résumé",
        unicodedata.normalize("NFD", "café naïve résumé Ångström"),
        unicodedata.normalize("NFC", "café naïve résumé Ångström"),
        "Z̷̢̛a̶̡͝l̸̨̛g̵̢̛o̴̢͝ combining marks e\u0301\u0302\u0303",
        "ﬁ ﬂ ① ② ＡＢＣ ｱｲｳ ㎏ ™ ½ Ⅻ",
        "no\u00a0break\u2009thin\u200bzero\u200dwidth\ufeffbom\u0085nel\u2028ls",
        "ctrl\x00nul\x01soh\x07bel\x1b[0mesc\x7fdel",
        "<s> </s> <unk> <pad> [CLS] [SEP] [MASK] [UNK] [PAD] <0x41> <|endoftext|>",
        "<s>Hello</s>",
        "▁ ▁▁ literal lower one eighth block ▁x",
        "a" * 500,
        "supercalifragilisticexpialidocious" * 8,
        "Pneumonoultramicroscopicsilicovolcanoconiosis antidisestablishmentarianism",
        "İstanbul ǅ ß ẞ ΐ ﬀ",
        "\u00e9" * 50 + "\u0065\u0301" * 50,
        # Unassigned, private-use, format and newer (Unicode 13-14) characters.
        "a\u05edb \u0378x \ue000pua \U000f0000 \u200e\u2066fmt \U0001fae0 \U0001f972 \u31bb",
    ]
    texts = [t.encode("utf-8") for t in fixed]
    # Invalid UTF-8: stray continuation bytes, truncated sequences, overlong
    # forms, surrogates, code points above U+10FFFF, and random bytes.
    texts += [
        b"\xff\xfe bad bytes",
        b"trunc \xe3\x81",
        b"trunc end \xc3",
        b"overlong \xc0\x80 \xe0\x80\xaf",
        b"surrogate \xed\xa0\x80 \xed\xbf\xbf",
        b"too big \xf4\x90\x80\x80 \xf8\x88\x80\x80\x80",
        b"\x80\x81\x82 continuation",
        bytes(rng.randrange(256) for _ in range(300)),
    ]
    pools = [
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ",
        "0123456789",
        " \t\n\r",
        ".,;:!?'\"()[]{}<>-_/\\@#$%^&*+=~`|",
        "éèêëàâäôöûüçñÅØßœæ",
        "日本語中文字漢字テキストひらがなカタカナ",
        "한국어텍스트",
        "العربيةمرحبا",
        "हिन्दीनमस्ते",
        "😀👍🏽👨\u200d👩\u200d👧🎉🔥",
        "\u0301\u0308\u0327\u20dd",
        "ＡＢＣ１２３ﬁ①",
        "▁",
    ]
    for _ in range(250):
        n = rng.randrange(1, 120)
        s = "".join(rng.choice(rng.choice(pools)) for _ in range(n))
        texts.append(s.encode("utf-8"))
    words = ("the of and to in is was for on that with as by at from story little girl "
             "dog happy play sun tree ran big said day").split()
    for _ in range(60):
        texts.append(" ".join(rng.choice(words) for _ in range(rng.randrange(1, 40))).encode())
    # A string of 5,000 code points.
    allchars = "".join(pools)
    texts.append("".join(rng.choice(allchars) for _ in range(5000)).encode("utf-8"))
    return texts


def write_records(path, texts):
    with open(path, "wb") as f:
        for t in texts:
            f.write(struct.pack("<I", len(t)) + t)


def read_records(data):
    out, pos = [], 0
    while pos < len(data):
        (n,) = struct.unpack_from("<I", data, pos)
        out.append(data[pos + 4:pos + 4 + n])
        pos += 4 + n
    return out


def run_tool(mode, kind, model, input_path, *flags):
    r = subprocess.run([TOOL, mode, kind, model, input_path, *flags], capture_output=True)
    if r.returncode != 0:
        raise SystemExit(f"spm_tool {mode} {kind} {model} failed: {r.stderr.decode()}")
    return r.stdout


def parse_ids(stdout):
    return [[int(x) for x in line.split()] for line in stdout.decode().split("\n")[:-1]]


def show(t):
    r = repr(t)
    return r if len(r) < 120 else r[:117] + "..."


def is_utf8(b):
    try:
        b.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


# ---------------------------------------------------------------- SentencePiece
def check_spm(name, kind, path, ref_model, texts, corpus_path, tmp, round_trip):
    sp = spm.SentencePieceProcessor(model_file=ref_model)
    ours = parse_ids(run_tool("encode", kind, path, corpus_path))
    ours_be = parse_ids(run_tool("encode", kind, path, corpus_path, "--bos", "--eos"))
    bad = 0
    for i, t in enumerate(texts):
        ref = sp.encode(t)
        if ours[i] != ref:
            bad += 1
            if bad <= 3:
                fail(f"{name}: text {i} {show(t)}:\n  ours {ours[i][:40]}\n  spm  {ref[:40]}")
        ref_be = ([sp.bos_id()] if sp.bos_id() >= 0 else []) + ref + (
            [sp.eos_id()] if sp.eos_id() >= 0 else [])
        if ours_be[i] != ref_be and bad <= 3:
            bad += 1
            fail(f"{name}: text {i} with BOS/EOS: ours {ours_be[i][:10]}... spm {ref_be[:10]}...")
    # Decoding: the reference's decode of the reference ids, where it is valid
    # UTF-8 (libsentencepiece maps broken byte runs to U+FFFD; lmc keeps the
    # bytes so streams can join them). Also decode random id sequences.
    rng = random.Random(7)
    id_lists = [sp.encode(t) for t in texts]
    id_lists += [[rng.randrange(sp.vocab_size()) for _ in range(rng.randrange(1, 30))]
                 for _ in range(200)]
    ids_path = os.path.join(tmp, name + ".ids")
    with open(ids_path, "w") as f:
        for ids in id_lists:
            f.write(" ".join(map(str, ids)) + "\n")
    decoded = read_records(run_tool("decode", kind, path, ids_path))
    dbad = 0
    for ids, d in zip(id_lists, decoded):
        ref = sp.decode(ids).encode("utf-8")
        if is_utf8(d) and d != ref:
            dbad += 1
            if dbad <= 3:
                fail(f"{name}: decode {ids[:12]}: ours {show(d)} spm {show(ref)}")
    rt_bad = 0
    if round_trip:
        for t, d in zip(texts, decoded):
            # "▁" in the text decodes as a space: not promised.
            if is_utf8(t) and "\u2581".encode() not in t and d != t:
                rt_bad += 1
                if rt_bad <= 3:
                    fail(f"{name}: decode(encode(x)) != x for {show(t)}: {show(d)}")
    print(f"{name}: {len(texts)} texts, {bad} encode mismatches; {len(id_lists)} decodes, "
          f"{dbad} mismatches; round trip {'checked, %d bad' % rt_bad if round_trip else 'n/a'}")


def train_models(tmp):
    rng = random.Random(99)
    words = ("the quick brown fox jumps over lazy dog once upon a time there was little girl "
             "named lily she loved play outside sun tree happy said big day Café naïve résumé "
             "ＦＵＬＬ ﬁne ① 日本語 テキスト 한국어 123 4567 hello world code def return").split()
    corpus = os.path.join(tmp, "train.txt")
    letters = "abcdefghijklmnopqrstuvwxyzéàüß日本語한국어ＡＢ①ﬁ0123456789"
    with open(corpus, "w") as f:
        for _ in range(3000):
            f.write(" ".join(rng.choice(words) for _ in range(rng.randrange(3, 15))) + " ")
            f.write(" ".join("".join(rng.choice(letters) for _ in range(rng.randrange(1, 8)))
                             for _ in range(rng.randrange(1, 6))) + "\n")
    models = {}
    common = ["--input=" + corpus, "--num_threads=1", "--minloglevel=2",
              "--character_coverage=1.0", "--random_seed=1", "--hard_vocab_limit=false"]
    specs = {
        "unigram_nfkc": ["--model_type=unigram", "--vocab_size=300",
                         "--normalization_rule_name=nmt_nfkc",
                         "--user_defined_symbols=<sep>,foo", "--control_symbols=<ctl>"],
        "bpe_nfkc_bytes": ["--model_type=bpe", "--vocab_size=400",
                           "--normalization_rule_name=nmt_nfkc", "--byte_fallback=true"],
        "bpe_identity_unk": ["--model_type=bpe", "--vocab_size=150",
                             "--normalization_rule_name=identity", "--character_coverage=0.98",
                             "--user_defined_symbols=<sep>,qq"],
        # Long pieces (whole words and phrases): deep trie walks, many lattice edges.
        "unigram_2k": ["--model_type=unigram", "--vocab_size=2000",
                       "--normalization_rule_name=nmt_nfkc", "--user_defined_symbols=<sep>",
                       "--max_sentencepiece_length=24"],
        "unigram_identity": ["--model_type=unigram", "--vocab_size=600",
                             "--normalization_rule_name=identity", "--add_dummy_prefix=false",
                             "--remove_extra_whitespaces=false", "--byte_fallback=true"],
    }
    for name, extra in specs.items():
        prefix = os.path.join(tmp, name)
        r = subprocess.run(["spm_train", "--model_prefix=" + prefix, *common, *extra],
                           capture_output=True)
        if r.returncode != 0:
            raise SystemExit(f"spm_train {name} failed: {r.stderr.decode()[-2000:]}")
        models[name] = prefix + ".model"
    return models


# ---------------------------------------------------------------- GGUF
def read_gguf(path):
    """Independent minimal GGUF reader: the tokenizer.ggml.* metadata."""
    data = open(path, "rb").read()
    pos = 0

    def rd(fmt):
        nonlocal pos
        v = struct.unpack_from("<" + fmt, data, pos)
        pos += struct.calcsize("<" + fmt)
        return v[0]

    def rstr():
        nonlocal pos
        n = rd("Q")
        s = data[pos:pos + n]
        pos += n
        return s.decode("utf-8")

    scalar = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q",
              12: "d"}

    def value(t):
        if t == 8:
            return rstr()
        if t == 9:
            et, n = rd("I"), rd("Q")
            return [value(et) for _ in range(n)]
        return rd(scalar[t])

    assert data[:4] == b"GGUF"
    pos = 4
    rd("I")
    rd("Q")
    meta = {}
    for _ in range(rd("Q")):
        k = rstr()
        meta[k] = value(rd("I"))
    return meta


def check_gguf_spm(texts, corpus_path):
    gguf = os.path.join(ASSETS, "vocab-gguf/ggml-vocab-llama-spm.gguf")
    model = os.path.join(ASSETS, "tokenizers/llama2-spm/tokenizer.model")
    sp = spm.SentencePieceProcessor(model_file=model)
    meta = read_gguf(gguf)
    tokens = meta["tokenizer.ggml.tokens"]
    same = len(tokens) == sp.vocab_size() and all(
        tokens[i] == sp.id_to_piece(i) for i in range(len(tokens)))
    if not same:
        fail("ggml-vocab-llama-spm.gguf does not hold Llama 2's vocab; cannot use spm as reference")
        return
    ours = parse_ids(run_tool("encode", "gguf", gguf, corpus_path))
    bad = 0
    for i, t in enumerate(texts):
        ref = sp.encode(t)
        if ours[i] != ref:
            bad += 1
            if bad <= 3:
                fail(f"gguf llama-spm: text {i} {show(t)}:\n  ours {ours[i][:40]}\n  spm  {ref[:40]}")
    print(f"gguf llama-spm: {len(texts)} texts, {bad} mismatches against libsentencepiece")


def spm_model_from_gguf(meta, path):
    """A SentencePiece ModelProto (protobuf wire format, written by hand) holding a
    GGUF llama vocab: its pieces, scores and types, BPE with byte fallback when it
    has byte pieces, and the normalizer llama.cpp assumes when the GGUF says
    nothing: identity, a dummy prefix, whitespace kept."""
    def varint(n):
        out = b""
        while True:
            byte, n = n & 0x7F, n >> 7
            out += bytes([byte | (0x80 if n else 0)])
            if not n:
                return out

    def field(number, wire, payload):
        key = varint(number << 3 | wire)
        if wire == 2:
            return key + varint(len(payload)) + payload
        return key + payload

    types = meta["tokenizer.ggml.token_type"]
    out = b""
    for piece, score, kind in zip(meta["tokenizer.ggml.tokens"], meta["tokenizer.ggml.scores"],
                                  types):
        out += field(1, 2, field(1, 2, piece.encode()) + field(2, 5, struct.pack("<f", score)) +
                     field(3, 0, varint(kind)))
    trainer = field(3, 0, varint(2)) + field(4, 0, varint(len(types)))  # BPE, vocab size
    trainer += field(35, 0, varint(1 if 6 in types else 0))  # byte_fallback
    for number, key in ((40, "unknown"), (41, "bos"), (42, "eos")):
        token = meta.get(f"tokenizer.ggml.{key}_token_id", -1)
        if token >= 0:
            trainer += field(number, 0, varint(token))
    normalizer = field(1, 2, b"identity") + field(3, 0, varint(1)) + field(4, 0, varint(0))
    out += field(2, 2, trainer) + field(3, 2, normalizer)
    with open(path, "wb") as f:
        f.write(out)


def check_gguf_baichuan(texts, corpus_path, tmp):
    """Baichuan's GGUF vocab (64,000 pieces, no original model file at hand):
    libsentencepiece on a ModelProto written from the GGUF's own pieces."""
    gguf = os.path.join(ASSETS, "vocab-gguf/ggml-vocab-baichuan.gguf")
    model = os.path.join(tmp, "baichuan.model")
    spm_model_from_gguf(read_gguf(gguf), model)
    check_spm("gguf-baichuan", "gguf", gguf, model, texts, corpus_path, tmp, True)


# ---------------------------------------------------------------- WordPiece
def bert_tokenizer_json(vocab, path):
    """A bert-base-uncased style tokenizer.json over `vocab` (list of tokens)."""
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    index = {t: i for i, t in enumerate(vocab)}
    tj = {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [{"id": index[s], "content": s, "single_word": False, "lstrip": False,
                          "rstrip": False, "normalized": False, "special": True}
                         for s in specials],
        "normalizer": {"type": "BertNormalizer", "clean_text": True, "handle_chinese_chars": True,
                       "strip_accents": None, "lowercase": True},
        "pre_tokenizer": {"type": "BertPreTokenizer"},
        "post_processor": {"type": "BertProcessing", "sep": ["[SEP]", index["[SEP]"]],
                           "cls": ["[CLS]", index["[CLS]"]]},
        "decoder": {"type": "WordPiece", "prefix": "##", "cleanup": True},
        "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
                  "max_input_chars_per_word": 100, "vocab": index},
    }
    with open(path, "w") as f:
        json.dump(tj, f, ensure_ascii=False)


def check_wordpiece(texts, tmp):
    gguf = os.path.join(ASSETS, "vocab-gguf/ggml-vocab-bert-bge.gguf")
    meta = read_gguf(gguf)
    vocab = []
    for t in meta["tokenizer.ggml.tokens"]:  # llama.cpp's "phantom space" form, undone
        if t.startswith("[") and t.endswith("]"):
            vocab.append(t)
        elif t.startswith("\u2581"):
            vocab.append(t[1:])
        else:
            vocab.append("##" + t)
    tj = os.path.join(tmp, "bert-tokenizer.json")
    bert_tokenizer_json(vocab, tj)
    strings = [t.decode("utf-8", errors="replace") for t in texts]
    texts_json = os.path.join(tmp, "wp_texts.json")
    with open(texts_json, "w") as f:
        json.dump(strings, f)
    ref_json = os.path.join(tmp, "wp_ref.json")
    r = subprocess.run(["node", os.path.join(NODE_DIR, "wordpiece_reference.js"), tj, texts_json,
                        ref_json], capture_output=True)
    if r.returncode != 0:
        raise SystemExit("node reference failed (run npm ci in tests/tokenizer/spm-reference): " +
                         r.stderr.decode()[-2000:])
    ref = json.load(open(ref_json))
    corpus_path = os.path.join(tmp, "wp_corpus.bin")
    write_records(corpus_path, texts)
    for kind, path in (("wordpiece", tj), ("gguf", gguf)):
        ours = parse_ids(run_tool("encode", kind, path, corpus_path, "--bos", "--eos", "--special"))
        bad = 0
        for i, t in enumerate(texts):
            if ours[i] != ref["ids"][i]:
                bad += 1
                if bad <= 3:
                    fail(f"{kind} bert: text {i} {show(t)}:\n  ours {ours[i][:40]}\n"
                         f"  hf   {ref['ids'][i][:40]}")
        print(f"{kind} bert: {len(texts)} texts, {bad} mismatches against HF tokenizers")
    ids_path = os.path.join(tmp, "wp.ids")
    with open(ids_path, "w") as f:
        for ids in ref["ids"]:
            f.write(" ".join(map(str, ids)) + "\n")
    decoded = read_records(run_tool("decode", "wordpiece", tj, ids_path))
    dbad = 0
    for ids, d, want in zip(ref["ids"], decoded, ref["decoded"]):
        if d.decode("utf-8") != want:
            dbad += 1
            if dbad <= 3:
                fail(f"wordpiece decode {ids[:12]}: ours {show(d)} hf {show(want)}")
    print(f"wordpiece bert: {len(decoded)} decodes, {dbad} mismatches against HF tokenizers")


def main():
    texts = make_corpus()
    with tempfile.TemporaryDirectory() as tmp:
        corpus_path = os.path.join(tmp, "corpus.bin")
        write_records(corpus_path, texts)
        llama2 = os.path.join(ASSETS, "tokenizers/llama2-spm/tokenizer.model")
        check_spm("llama2", "sentencepiece", llama2, llama2, texts, corpus_path, tmp, True)
        tok512 = os.path.join(ASSETS, "llama2c-stories260K/tok512.model")
        if os.path.exists(tok512):
            # tok512 collapses whitespace runs: decode(encode(x)) is not x.
            check_spm("tok512", "sentencepiece", tok512, tok512, texts, corpus_path, tmp, False)
        for name, path in train_models(tmp).items():
            check_spm(name, "sentencepiece", path, path, texts, corpus_path, tmp,
                      name == "unigram_identity")
        check_gguf_spm(texts, corpus_path)
        check_gguf_baichuan(texts, corpus_path, tmp)
        check_wordpiece(texts, tmp)
    if failures:
        print(f"{len(failures)} failures")
        sys.exit(1)
    print("all match")


if __name__ == "__main__":
    main()
