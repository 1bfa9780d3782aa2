#!/usr/bin/python3
"""Encode throughput of lmc's SentencePiece tokenizers beside libsentencepiece,
measured in the same run: whole process, one thread, load included, on a
>= 10 MB mixed corpus (tests/tokenizer/gen_corpus.js --bench, one document a
line, inner newlines as spaces so both sides see the same texts): `lmc tokenize
--jsonl` against Debian's `spm_encode --output_format=id` (C++). Then the encode
time alone at 1 KB / 100 KB / 10 MB (lmc's --time; the python bindings' one
encode call per document) to show linearity. Models: a unigram model (nmt_nfkc)
trained here with spm_train on 2 MB of the corpus, and Llama 2's BPE
tokenizer.model. Prints a table; asserts nothing.

Usage (under flock /tmp/lmc-cpu.lock): spm_bench.py LMC ASSETS_DIR WORK_DIR
"""
import json
import os
import subprocess
import sys
import time

import sentencepiece as spm

LMC, ASSETS, WORK = sys.argv[1], sys.argv[2], sys.argv[3]
SRC = os.path.dirname(os.path.abspath(__file__))


def docs(megabytes, seed):
    out = subprocess.run(["node", os.path.join(SRC, "gen_corpus.js"), "--bench", str(megabytes),
                          "--seed", str(seed)], capture_output=True, text=True, check=True).stdout
    texts = [json.loads(line).replace("\n", " ").replace("\r", " ")
             for line in out.split("\n") if line]
    return [t for t in texts if t]


def write(name, texts):
    base = os.path.join(WORK, name)
    with open(base + ".txt", "w") as f:
        f.write("".join(t + "\n" for t in texts))
    with open(base + ".jsonl", "w") as f:
        f.write("".join(json.dumps(t, ensure_ascii=False) + "\n" for t in texts))
    return base, sum(len(t.encode()) for t in texts)


def wall(cmd, stdin_path):
    best = None
    for _ in range(3):
        with open(stdin_path, "rb") as f:
            start = time.perf_counter()
            subprocess.run(cmd, stdin=f, stdout=subprocess.DEVNULL, check=True)
            t = time.perf_counter() - start
        best = t if best is None else min(best, t)
    return best


def main():
    os.makedirs(WORK, exist_ok=True)
    sizes = {"10mb": (10, 1), "100kb": (0.1, 2), "1kb": (0.001, 3)}
    corpora = {name: write(name, docs(mb, seed)) for name, (mb, seed) in sizes.items()}
    train = os.path.join(WORK, "train.txt")
    with open(corpora["10mb"][0] + ".txt") as f, open(train, "w") as out:
        out.write(f.read(2_000_000))
    prefix = os.path.join(WORK, "unigram8k")
    subprocess.run(["spm_train", "--input=" + train, "--model_prefix=" + prefix,
                    "--model_type=unigram", "--vocab_size=8000", "--num_threads=1",
                    "--minloglevel=2", "--character_coverage=1.0", "--random_seed=1",
                    "--hard_vocab_limit=false", "--user_defined_symbols=<sep>"],
                   check=True, capture_output=True)
    models = {"unigram (8k, nmt_nfkc, trained here)": prefix + ".model",
              "BPE (Llama 2 tokenizer.model)":
                  os.path.join(ASSETS, "tokenizers/llama2-spm/tokenizer.model")}
    base, nbytes = corpora["10mb"]
    print(f"corpus: {nbytes / 1e6:.2f} MB of text in {sum(1 for _ in open(base + '.txt'))} "
          "documents; whole process, one thread, load included, best of 3")
    print("| model | lmc MB/s | libsentencepiece (spm_encode) MB/s | speedup |")
    print("|---|---:|---:|---:|")
    for label, model in models.items():
        ours = wall([LMC, "tokenize", "--tokenizer", model, "--jsonl"], base + ".jsonl")
        ref = wall(["spm_encode", "--model=" + model, "--output_format=id"], base + ".txt")
        print(f"| {label} | {nbytes / 1e6 / ours:.1f} | {nbytes / 1e6 / ref:.1f} | "
              f"{ref / ours:.1f}x |")
    print()
    print("encode alone, MB/s at 1 KB / 100 KB / 10 MB (lmc: --time, best of 3; "
          "libsentencepiece: python bindings, encode per document):")
    for label, model in models.items():
        sp = spm.SentencePieceProcessor(model_file=model)
        cells = []
        for size in ("1kb", "100kb", "10mb"):
            b, n = corpora[size]
            best = 0.0
            for _ in range(3):
                with open(b + ".jsonl", "rb") as f:
                    r = subprocess.run([LMC, "tokenize", "--tokenizer", model, "--jsonl", "--time"],
                                       stdin=f, stdout=subprocess.DEVNULL, capture_output=False,
                                       stderr=subprocess.PIPE, text=True, check=True)
                # "load L s, encode E s for N bytes, total T s"
                words = r.stderr.split()
                best = max(best, int(words[7]) / 1e6 / float(words[4]))
            texts = open(b + ".txt").read().split("\n")[:-1]
            start = time.perf_counter()
            for t in texts:
                sp.encode(t)
            ref = n / 1e6 / (time.perf_counter() - start)
            cells.append(f"{best:.1f} / {ref:.1f}")
        print(f"  {label}: lmc / libsentencepiece: " + ", ".join(cells))


main()
