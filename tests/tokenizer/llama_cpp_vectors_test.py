#!/usr/bin/env python3
"""The vocab-only GGUFs against llama.cpp's own test vectors.

llama.cpp made each ggml-vocab-NAME.gguf.out with Hugging Face's tokenizer for
that model (AutoTokenizer.encode, no special tokens added) on the 46 texts of
ggml-vocab.inp (or its own NAME.gguf.inp); see llama_cpp_vectors/README.md.
Every id must agree.
usage: llama_cpp_vectors_test.py LMC ASSETS
"""
import json
import os
import subprocess
import sys

lmc, assets = sys.argv[1], sys.argv[2]
here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "llama_cpp_vectors")


def read_texts(name):
    with open(os.path.join(here, name), encoding="utf-8") as f:
        return f.read().split("\n__ggml_vocab_test__\n")[:-1]


failures = 0
outs = sorted(n for n in os.listdir(here) if n.endswith(".gguf.out"))
assert len(outs) >= 9, f"expected the vector files in {here}"
for out in outs:
    vocab = os.path.join(assets, "vocab-gguf", out[: -len(".out")])
    if not os.path.exists(vocab):
        print(f"FAIL: {vocab} is missing (set LMC_ASSETS)")
        failures += 1
        continue
    # An older .out comes with the texts of its own time.
    own = out[: -len(".out")] + ".inp"
    texts = read_texts(own if os.path.exists(os.path.join(here, own)) else "ggml-vocab.inp")
    stdin = "".join(json.dumps(t, ensure_ascii=False) + "\n" for t in texts).encode()
    with open(os.path.join(here, out)) as f:
        expected = [[int(x) for x in line.split()] for line in f.read().split("\n")[:-1]]
    assert len(expected) == len(texts), f"{out}: {len(expected)} lines for {len(texts)} texts"
    run = subprocess.run([lmc, "tokenize", "--tokenizer", vocab, "--jsonl"], input=stdin,
                         capture_output=True)
    if run.returncode != 0:
        print(f"FAIL: {out}: lmc tokenize: {run.stderr.decode().strip()}")
        failures += 1
        continue
    ours = [json.loads(line) for line in run.stdout.decode().splitlines()]
    wrong = [i for i, (a, b) in enumerate(zip(ours, expected)) if a != b]
    if len(ours) != len(expected) or wrong:
        failures += 1
        print(f"FAIL: {out}: {len(wrong)} of {len(texts)} texts differ")
        for i in wrong[:3]:
            print(f"  {texts[i][:40]!r}: ours {ours[i][:12]}, llama.cpp {expected[i][:12]}")
    else:
        print(f"PASS: {out}: {len(texts)} texts")
sys.exit(1 if failures else 0)
