#!/usr/bin/python3
"""Held-out perplexity of a compiled model, from the binary's own outputs.

For each held-out story (one per line) the binary tokenizes it (`tokenize`,
BOS first) and scores it (`logits`, float32 [T, vocab] npy); the perplexity
is exp(mean -log p(id_t | ids_<t)) over every id after BOS. SentencePiece's
Python library must tokenize each story the same way (an independent
implementation of the tokenizer). The baseline is the best unigram model of
the same ids: their own frequencies. The model must beat it by MARGIN x.

Stories longer than MAX_SEQ_LEN ids are cut to it.

usage: heldout_perplexity.py MODEL WEIGHTS TOKENIZER_BIN TOKENIZER_MODEL HELDOUT COUNT MAX_SEQ_LEN
                             MARGIN
"""
import math
import os
import subprocess
import sys
import tempfile

import numpy as np
import sentencepiece as spm

model, weights, tok_bin, tok_model, heldout, count, max_seq_len, margin = sys.argv[1:9]
count, max_seq_len, margin = int(count), int(max_seq_len), float(margin)
sp = spm.SentencePieceProcessor(model_file=tok_model)

stories = open(heldout).read().splitlines()[:count]
assert len(stories) == count, f"{heldout}: {len(stories)} stories, expected {count}"
nll, all_ids, mismatched = 0.0, [], 0
with tempfile.TemporaryDirectory() as tmp:
    out = os.path.join(tmp, "logits.npy")
    for story in stories:
        ids = [int(t) for t in subprocess.run([model, "tokenize", "--bos", "--tokenizer", tok_bin, story],
                                              capture_output=True, text=True,
                                              check=True).stdout.split()]
        if ids != [1] + sp.encode(story):
            mismatched += 1
        ids = ids[:max_seq_len]
        subprocess.run([model, "logits", "--weights", weights, "--tokens",
                        ",".join(map(str, ids)), "--out", out], check=True)
        logits = np.load(out).astype(np.float64)
        assert logits.shape == (len(ids), sp.get_piece_size()), logits.shape
        assert np.isfinite(logits).all()
        rows = logits[:-1]
        logz = rows.max(1) + np.log(np.exp(rows - rows.max(1, keepdims=True)).sum(1))
        nll -= (rows[np.arange(len(ids) - 1), ids[1:]] - logz).sum()
        all_ids.extend(ids[1:])

n = len(all_ids)
counts = np.bincount(all_ids)
counts = counts[counts > 0]
unigram = math.exp(-(counts * np.log(counts / n)).sum() / n)
ppl = math.exp(nll / n)
print(f"held-out: {count} stories, {n} ids; model perplexity {ppl:.3f}; "
      f"unigram perplexity {unigram:.3f} (ratio {unigram / ppl:.1f}x, required {margin}x)")
ok = True
if mismatched:
    print(f"FAIL: the binary's tokenizer differs from SentencePiece on {mismatched} stories")
    ok = False
if not unigram / ppl >= margin:
    print(f"FAIL: perplexity {ppl:.3f} does not beat the unigram {unigram:.3f} by {margin}x")
    ok = False
sys.exit(0 if ok else 1)
