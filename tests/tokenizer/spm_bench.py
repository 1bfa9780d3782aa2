#!/usr/bin/python3
"""Encode throughput (MB/s, one thread) of lmc's SentencePiece BPE beside
libsentencepiece's, on a generated >= 10 MB mixed corpus, and the time of one
Encode call at 1 KB, 100 KB and 10 MB (linear, not quadratic). Prints figures;
asserts nothing.

Usage: spm_bench.py SPM_TOOL ASSETS_DIR   (spm_tool is built in build/tests/)
"""
import os
import random
import subprocess
import sys
import tempfile
import time

import sentencepiece as spm

TOOL, ASSETS = sys.argv[1], sys.argv[2]


def corpus(size):
    """Zipf-distributed made-up words, code lines, digits and non-Latin text."""
    rng = random.Random(42)
    syll = ["ka", "to", "ri", "an", "the", "ing", "er", "on", "se", "mo", "lu", "pre", "str",
            "qu", "ex", "ta", "ble", "ni", "ous", "co"]
    words = ["".join(rng.choice(syll) for _ in range(rng.randrange(1, 5))) for _ in range(30000)]
    weights = [1.0 / (i + 1) for i in range(len(words))]
    uni = ["日本語のテキストです。", "한국어 텍스트입니다", "Привет, мир", "café naïve résumé",
           "😀 👍🏽 👨‍👩‍👧", "مرحبا بالعالم", "नमस्ते दुनिया"]
    code = ["for (int i = 0; i < n; ++i) {", "    return x * 2 + y;", "}", "def f(a, b):",
            "\tif a is None:", "        raise ValueError('bad')"]
    out, total = [], 0
    while total < size:
        r = rng.random()
        if r < 0.75:
            n = rng.randrange(4, 30)
            line = " ".join(rng.choices(words, weights, k=n)).capitalize() + "."
        elif r < 0.85:
            line = rng.choice(code)
        elif r < 0.93:
            line = " ".join(rng.choice(uni) for _ in range(rng.randrange(1, 4)))
        else:
            line = " ".join(str(rng.randrange(10 ** rng.randrange(1, 12))) for _ in range(8))
        out.append(line)
        total += len(line.encode()) + 1
    return "\n".join(out) + "\n"


def tool_bench(model, path, *flags):
    r = subprocess.run([TOOL, "bench", "sentencepiece", model, path, *flags], capture_output=True,
                       text=True, check=True)
    return r.stdout.strip()


def main():
    model = os.path.join(ASSETS, "tokenizers/llama2-spm/tokenizer.model")
    text = corpus(10_500_000)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "corpus.txt")
        with open(path, "w") as f:
            f.write(text)
        mb = os.path.getsize(path) / 1e6
        print(f"corpus: {mb:.2f} MB, {text.count(chr(10))} lines; model: Llama 2 tokenizer.model")
        print("lmc (spm_tool bench, line by line):", tool_bench(model, path))
        start = time.perf_counter()
        with open(path, "rb") as f:
            subprocess.run(["spm_encode", "--model=" + model, "--output_format=id"], stdin=f,
                           stdout=subprocess.DEVNULL, check=True)
        secs = time.perf_counter() - start
        print(f"libsentencepiece (spm_encode, one thread, line by line, load included): "
              f"{mb:.2f} MB in {secs:.3f} s: {mb / secs:.2f} MB/s")
        print("one Encode call on the first N bytes (linear time):")
        sp = spm.SentencePieceProcessor(model_file=model)
        for n in (1_000, 100_000, 10_000_000):
            part = text.encode()[:n].decode("utf-8", errors="ignore")
            p = os.path.join(tmp, f"part{n}.txt")
            with open(p, "w") as f:
                f.write(part)
            ours = tool_bench(model, p, "--whole")
            start = time.perf_counter()
            sp.encode(part)
            ref = time.perf_counter() - start
            print(f"  {n:>10} bytes: lmc {ours}; libsentencepiece {ref:.4f} s "
                  f"({n / 1e6 / ref:.2f} MB/s)")


main()
