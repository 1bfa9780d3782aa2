#!/usr/bin/python3
"""The llama2.c tokenizer (llama2c_tool) against a transcription of llama2.c's
run.c encode(): same ids for varied text, made at test time from a fixed seed.

The reference is run.c's algorithm as written there (rescan every adjacent
pair, merge the best-scoring one, the first on ties), in Python, quadratic.

usage: llama2c_reference_test.py LLAMA2C_TOOL TOKENIZER.bin...
"""
import random
import struct
import subprocess
import sys
import tempfile


def load(path):
    """(pieces, scores, ids) of a tokenizer.bin; the vocab size is what the file holds."""
    data = open(path, "rb").read()
    pieces, scores = [], []
    at = 4
    while at < len(data):
        score, length = struct.unpack_from("<fi", data, at)
        at += 8
        pieces.append(data[at:at + length])
        scores.append(score)
        at += length
    ids = {}
    for i, piece in enumerate(pieces):
        ids.setdefault(piece, i)  # duplicate pieces: the lowest id
    return pieces, scores, ids


def encode(tok, text):
    """run.c encode(text, bos=1, eos=0), for text without NUL bytes."""
    pieces, scores, ids = tok
    tokens = [1]
    if text:
        tokens.append(ids.get(b" ", -1))
    buf = b""
    for i, c in enumerate(text):
        if c & 0xC0 != 0x80:
            buf = b""
        buf += bytes([c])
        if i + 1 < len(text) and text[i + 1] & 0xC0 == 0x80 and len(buf) < 4:
            continue
        if buf in ids:
            tokens.append(ids[buf])
        else:
            tokens.extend(b + 3 for b in buf)
        buf = b""
    while True:
        best_score, best_id, best_idx = -1e10, -1, -1
        for i in range(len(tokens) - 1):
            merged = ids.get(pieces[tokens[i]] + pieces[tokens[i + 1]], -1)
            if merged != -1 and scores[merged] > best_score:
                best_score, best_id, best_idx = scores[merged], merged, i
        if best_idx == -1:
            break
        tokens[best_idx:best_idx + 2] = [best_id]
    return tokens


def texts(tok, rng):
    """Varied text: words from the vocab, prose, Unicode, invalid UTF-8, whitespace."""
    pieces = [p.strip() for p in tok[0] if p.strip() and not p.startswith(b"<")]
    out = [b"Once upon a time", b"x", b" ", b"  two  spaces", b"\n\n\t", b"12345 + 678 = 999"]
    prose = (b"Lily and Ben went to the park. They saw a big dog! \"Hello,\" said the cat. "
             b"The end.\n")
    out.append(prose * 4)
    for _ in range(12):
        words = [rng.choice(pieces) for _ in range(rng.randint(5, 120))]
        seps = [b" ", b"  ", b"\n", b", ", b". ", b""]
        out.append(b"".join(w + rng.choice(seps) for w in words))
    for _ in range(6):  # Unicode: accents, CJK, emoji, mixed with ASCII
        chars = [chr(rng.choice([rng.randint(0x20, 0x7E), rng.randint(0xA0, 0x17F),
                                 rng.randint(0x4E00, 0x4FFF), rng.randint(0x1F600, 0x1F64F)]))
                 for _ in range(rng.randint(1, 200))]
        out.append("".join(chars).encode())
    for _ in range(6):  # arbitrary bytes (no NUL: run.c reads C strings)
        out.append(bytes(rng.randint(1, 255) for _ in range(rng.randint(1, 300))))
    return out


def main():
    tool, paths = sys.argv[1], sys.argv[2:]
    rng = random.Random(20261129)
    failed = 0
    for path in paths:
        tok = load(path)
        cases = texts(tok, rng)
        with tempfile.NamedTemporaryFile() as corpus:
            for t in cases:
                corpus.write(struct.pack("<I", len(t)) + t)
            corpus.flush()
            got = subprocess.run([tool, path, str(len(tok[0])), corpus.name], check=True,
                                 capture_output=True).stdout.decode().splitlines()
        if len(got) != len(cases):
            print(f"FAIL: {path}: {len(got)} lines for {len(cases)} texts")
            failed += 1
            continue
        bad = 0
        for t, line in zip(cases, got):
            want = encode(tok, t)
            ids = [int(x) for x in line.split()]
            if ids != want:
                bad += 1
                if bad <= 3:
                    print(f"FAIL: {path}: text {t[:60]!r}...: ids {ids[:20]}..., "
                          f"run.c gives {want[:20]}...")
        n_ids = sum(len(line.split()) for line in got)
        print(f"{'FAIL' if bad else 'ok'}: {path}: {len(cases) - bad}/{len(cases)} texts "
              f"({n_ids} ids) as run.c encodes them")
        failed += bad
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
