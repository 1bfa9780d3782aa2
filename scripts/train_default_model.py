#!/usr/bin/python3
"""Trains lmc's default model from nothing but this repository.

  nice -n 10 /usr/bin/python3 scripts/train_default_model.py      # the committed model

Steps, each seeded so a rerun gives the same files:
  1. corpus: scripts/story_grammar.py generates the training stories (seed
     --seed) and a held-out set (seed --seed + 1), one story per line;
  2. tokenizer: Debian's spm_train trains a BPE SentencePiece model with byte
     fallback; it is exported to llama2.c's tokenizer.bin;
  3. model: a Llama-architecture decoder (RMSNorm, SwiGLU, interleaved RoPE as
     specs/llama2c.base.yaml declares, grouped-query attention, tied
     embeddings) trained with PyTorch on the CPU, one thread, within a time
     budget; exported to llama2.c's legacy (version 0) checkpoint format;
  4. evaluation: held-out perplexity beside a unigram baseline, the loss curve
     (loss.csv), and the greedy continuation of a fixed prompt
     (greedy_reference.txt, computed here by PyTorch: an implementation
     independent of lmc's generated code).

Uses Debian's python3-torch, python3-numpy, python3-sentencepiece and the
sentencepiece tools (scripts/setup.sh installs them).

--smoke trains a few steps on a tiny corpus (for CI): it checks that the loss
goes down and writes reference logits (reference_logits.npy for the ids in
reference_tokens.txt) so a test can compare the exported checkpoint as lmc
runs it against PyTorch.
"""

import argparse
import hashlib
import json
import math
import os
import shutil
import struct
import subprocess
import sys
import time

import numpy as np
import sentencepiece as spm
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
BOS, EOS = 1, 2
PROMPT = "Once upon a time"


# --------------------------------------------------------------------------- corpus

def generate_corpus(path, seed, count):
    with open(path, "w") as f:
        subprocess.run([sys.executable, os.path.join(HERE, "story_grammar.py"), "--seed",
                        str(seed), "--count", str(count)], stdout=f, check=True)
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


# --------------------------------------------------------------------------- tokenizer

def train_tokenizer(work, vocab):
    """Trains work/tokenizer.model on work/train.txt. Paths are relative to
    work/ so the .model (which records its trainer options) does not depend on
    where the repository is; one thread and the whole input (no sentence
    sampling) make it deterministic."""
    cmd = ["spm_train", "--input=train.txt", "--model_prefix=tokenizer", "--model_type=bpe",
           f"--vocab_size={vocab}", "--character_coverage=1.0", "--byte_fallback=true",
           "--split_digits=true", "--allow_whitespace_only_pieces=true",
           "--normalization_rule_name=identity", "--num_threads=1", "--input_sentence_size=0",
           "--self_test_sample_size=0", "--max_sentence_length=8192",
           "--unk_id=0", "--bos_id=1", "--eos_id=2", "--pad_id=-1"]
    with open(os.path.join(work, "spm_train.log"), "w") as log:
        subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, check=True, cwd=work)
    return cmd


def export_tokenizer(sp, path):
    """llama2.c's tokenizer.bin: int32 max_token_length, then per id float32
    score, int32 byte length, the UTF-8 bytes (SentencePiece's U+2581 as a space,
    BOS/EOS spelled as llama2.c spells them)."""
    pieces = []
    for i in range(sp.get_piece_size()):
        text = sp.id_to_piece(i)
        if i == sp.bos_id():
            text = "\n<s>\n"
        elif i == sp.eos_id():
            text = "\n</s>\n"
        pieces.append((sp.get_score(i), text.replace("\u2581", " ").encode("utf-8")))
    with open(path, "wb") as f:
        f.write(struct.pack("<i", max(len(b) for _, b in pieces)))
        for score, b in pieces:
            f.write(struct.pack("<fi", score, len(b)))
            f.write(b)


# --------------------------------------------------------------------------- model

class RMSNorm(nn.Module):
    def __init__(self, dim, eps):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def rope_tables(head_size, seq_len, theta):
    inv = 1.0 / theta ** (torch.arange(0, head_size, 2, dtype=torch.float64) / head_size)
    angles = torch.outer(torch.arange(seq_len, dtype=torch.float64), inv)
    return torch.cos(angles).float(), torch.sin(angles).float()


def apply_rope(x, cos, sin):
    # Interleaved: dimensions (2i, 2i+1) of each head rotate by position * inv[i].
    T = x.shape[-2]
    even, odd = x[..., 0::2], x[..., 1::2]
    c, s = cos[:T], sin[:T]
    return torch.stack((even * c - odd * s, even * s + odd * c), dim=-1).flatten(-2)


class Block(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        d, hs = cfg["dim"], cfg["dim"] // cfg["n_heads"]
        self.n_heads, self.n_kv, self.hs = cfg["n_heads"], cfg["n_kv_heads"], hs
        self.attention_norm = RMSNorm(d, cfg["eps"])
        self.wq = nn.Linear(d, cfg["n_heads"] * hs, bias=False)
        self.wk = nn.Linear(d, cfg["n_kv_heads"] * hs, bias=False)
        self.wv = nn.Linear(d, cfg["n_kv_heads"] * hs, bias=False)
        self.wo = nn.Linear(cfg["n_heads"] * hs, d, bias=False)
        self.ffn_norm = RMSNorm(d, cfg["eps"])
        self.w1 = nn.Linear(d, cfg["hidden_dim"], bias=False)
        self.w2 = nn.Linear(cfg["hidden_dim"], d, bias=False)
        self.w3 = nn.Linear(d, cfg["hidden_dim"], bias=False)

    def forward(self, x, cos, sin, mask):
        B, T, _ = x.shape
        h = self.attention_norm(x)
        q = self.wq(h).view(B, T, self.n_heads, self.hs).transpose(1, 2)
        k = self.wk(h).view(B, T, self.n_kv, self.hs).transpose(1, 2)
        v = self.wv(h).view(B, T, self.n_kv, self.hs).transpose(1, 2)
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        group = self.n_heads // self.n_kv  # query heads per KV head
        k = k.repeat_interleave(group, dim=1)
        v = v.repeat_interleave(group, dim=1)
        att = (q @ k.transpose(-2, -1)) / math.sqrt(self.hs)
        att = att.masked_fill(mask[:T, :T], float("-inf")).softmax(-1)
        x = x + self.wo((att @ v).transpose(1, 2).reshape(B, T, -1))
        h = self.ffn_norm(x)
        return x + self.w2(F.silu(self.w1(h)) * self.w3(h))


class Llama(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.tok_embeddings = nn.Embedding(cfg["vocab_size"], cfg["dim"])
        self.layers = nn.ModuleList(Block(cfg) for _ in range(cfg["n_layers"]))
        self.norm = RMSNorm(cfg["dim"], cfg["eps"])
        cos, sin = rope_tables(cfg["dim"] // cfg["n_heads"], cfg["seq_len"], cfg["theta"])
        self.register_buffer("cos", cos, persistent=False)
        self.register_buffer("sin", sin, persistent=False)
        mask = torch.triu(torch.ones(cfg["seq_len"], cfg["seq_len"], dtype=torch.bool), 1)
        self.register_buffer("mask", mask, persistent=False)
        for name, p in self.named_parameters():
            if p.dim() == 2:
                # Projections into the residual stream start smaller (GPT-2's scaled init).
                residual = name.endswith(("wo.weight", "w2.weight"))
                nn.init.normal_(p, 0.0, 0.02 / math.sqrt(2 * cfg["n_layers"]) if residual else 0.02)

    def forward(self, tokens):
        x = self.tok_embeddings(tokens)
        for layer in self.layers:
            x = layer(x, self.cos, self.sin, self.mask)
        return self.norm(x) @ self.tok_embeddings.weight.t()  # tied classifier


def export_checkpoint(model, path):
    """llama2.c's legacy version 0 .bin: seven int32 (dim, hidden_dim, n_layers,
    n_heads, n_kv_heads, vocab_size (positive: tied classifier), seq_len), then
    float32 tensors, each stacked over layers: token embedding, attention norms,
    wq, wk, wv, wo, ffn norms, w1, w2, w3, final norm, RoPE cos and sin tables."""
    c = model.cfg
    with open(path, "wb") as f:
        f.write(struct.pack("<7i", c["dim"], c["hidden_dim"], c["n_layers"], c["n_heads"],
                            c["n_kv_heads"], c["vocab_size"], c["seq_len"]))

        def write(t):
            f.write(t.detach().to(torch.float32).contiguous().numpy().astype("<f4").tobytes())

        write(model.tok_embeddings.weight)
        for name in ["attention_norm", "wq", "wk", "wv", "wo", "ffn_norm", "w1", "w2", "w3"]:
            for layer in model.layers:
                write(getattr(layer, name).weight)
        write(model.norm.weight)
        write(model.cos)
        write(model.sin)


# --------------------------------------------------------------------------- data

def encode_stories(sp, path):
    """One id sequence per story: BOS, the story's ids, EOS."""
    with open(path) as f:
        lines = [line.rstrip("\n") for line in f]
    return [[BOS] + ids + [EOS] for ids in sp.encode(lines)]


def batches(stream, seq_len, batch, gen):
    """Random windows of seq_len + 1 ids from the concatenated stream."""
    starts = torch.randint(0, len(stream) - seq_len - 1, (batch,), generator=gen)
    rows = torch.stack([stream[s:s + seq_len + 1] for s in starts.tolist()])
    return rows[:, :-1], rows[:, 1:]


@torch.no_grad()
def heldout_nll(model, stories):
    """Mean negative log-likelihood (nats/token) of each held-out story's ids
    after BOS (EOS excluded), each story scored on its own from position 0:
    exactly what the compiled binary's `logits` gives for BOS + ids."""
    model.eval()
    total, count = 0.0, 0
    for ids in stories:
        seq = torch.tensor(ids[:-1][:model.cfg["seq_len"]])
        logits = model(seq[None, :-1])[0]
        total += F.cross_entropy(logits, seq[1:], reduction="sum").item()
        count += len(seq) - 1
    model.train()
    return total / count, count


def unigram_nll(train_stories, heldout_stories, vocab):
    """Two unigram baselines on the same held-out ids: frequencies from the
    training ids (add-one smoothed), and the held-out text's own frequencies
    (the best any unigram model can do on it)."""
    held = np.concatenate([np.array(s[1:-1]) for s in heldout_stories])
    train = np.concatenate([np.array(s[1:-1]) for s in train_stories])
    p_train = (np.bincount(train, minlength=vocab) + 1.0) / (len(train) + vocab)
    counts = np.bincount(held, minlength=vocab)
    p_held = counts / counts.sum()
    nz = counts > 0
    return (float(-np.log(p_train[held]).mean()),
            float(-(counts[nz] * np.log(p_held[nz])).sum() / counts.sum()))


@torch.no_grad()
def greedy(model, sp, prompt, n):
    model.eval()
    ids = [BOS] + sp.encode(prompt)
    prompt_ids = list(ids)
    for _ in range(n):
        nxt = int(model(torch.tensor([ids]))[0, -1].argmax())
        if nxt in (BOS, EOS):
            break
        ids.append(nxt)
    model.train()
    return prompt_ids, ids


# --------------------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(description="Train lmc's default model (see the docstring).")
    ap.add_argument("--out", default=os.path.normpath(os.path.join(HERE, "..", "models",
                                                                   "default")))
    ap.add_argument("--work", default="/tmp/lmc-default-model", help="corpus and scratch files")
    ap.add_argument("--seed", type=int, default=20261128)
    ap.add_argument("--stories", type=int, default=20000)
    ap.add_argument("--heldout-stories", type=int, default=200)
    ap.add_argument("--vocab", type=int, default=1024)
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--kv-heads", type=int, default=2)
    ap.add_argument("--hidden", type=int, default=352)
    ap.add_argument("--seq-len", type=int, default=256)
    ap.add_argument("--window", type=int, default=0,
                    help="training window in ids (default: --seq-len)")
    ap.add_argument("--batch", type=int, default=12)
    ap.add_argument("--steps", type=int, default=1100)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--warmup", type=int, default=50)
    ap.add_argument("--eval-every", type=int, default=100)
    ap.add_argument("--time-budget", type=float, default=24 * 60,
                    help="seconds; training stops early (and says so) past this")
    ap.add_argument("--greedy-tokens", type=int, default=250)
    ap.add_argument("--smoke", action="store_true",
                    help="CI: tiny corpus, a few steps, check the loss falls")
    args = ap.parse_args()
    window = args.window or args.seq_len

    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    torch.use_deterministic_algorithms(True)
    os.makedirs(args.out, exist_ok=True)
    os.makedirs(args.work, exist_ok=True)
    start = time.time()

    def log(msg):
        print(f"[{time.time() - start:7.1f}s] {msg}", flush=True)

    train_txt = os.path.join(args.work, "train.txt")
    heldout_txt = os.path.join(args.work, "heldout.txt")
    train_sha = generate_corpus(train_txt, args.seed, args.stories)
    heldout_sha = generate_corpus(heldout_txt, args.seed + 1, args.heldout_stories)
    log(f"corpus: {args.stories} stories sha256 {train_sha}; held-out {args.heldout_stories} "
        f"(seed {args.seed + 1}) sha256 {heldout_sha}")

    spm_cmd = train_tokenizer(args.work, args.vocab)
    prefix = os.path.join(args.out, "tokenizer")
    shutil.copyfile(os.path.join(args.work, "tokenizer.model"), prefix + ".model")
    sp = spm.SentencePieceProcessor(model_file=prefix + ".model")
    assert sp.bos_id() == BOS and sp.eos_id() == EOS and sp.get_piece_size() == args.vocab
    export_tokenizer(sp, prefix + ".bin")
    log(f"tokenizer: {args.vocab} pieces -> {prefix}.bin")

    train_stories = encode_stories(sp, train_txt)
    heldout_stories = encode_stories(sp, heldout_txt)
    stream = torch.tensor([i for s in train_stories for i in s], dtype=torch.long)
    log(f"train ids: {len(stream)}; held-out ids: {sum(len(s) - 2 for s in heldout_stories)}")

    cfg = dict(dim=args.dim, hidden_dim=args.hidden, n_layers=args.layers, n_heads=args.heads,
               n_kv_heads=args.kv_heads, vocab_size=args.vocab, seq_len=args.seq_len,
               eps=1e-5, theta=10000.0)
    model = Llama(cfg)
    n_params = sum(p.numel() for p in model.parameters())
    log(f"model: {json.dumps(cfg)}; {n_params} parameters ({n_params * 4 / 1e6:.2f} MB f32)")

    decay = [p for p in model.parameters() if p.dim() == 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=args.lr, betas=(0.9, 0.95))
    gen = torch.Generator().manual_seed(args.seed)
    # A fixed validation batch from the held-out stories, for the curve.
    val_stream = torch.tensor([i for s in heldout_stories for i in s], dtype=torch.long)
    vx, vy = batches(val_stream, min(args.seq_len, len(val_stream) // 2 - 1), 8,
                     torch.Generator().manual_seed(args.seed + 1))

    def lr_at(step):
        if step < args.warmup:
            return args.lr * (step + 1) / args.warmup
        frac = (step - args.warmup) / max(1, args.steps - args.warmup)
        return args.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, frac))))

    curve = []
    first_loss = None
    steps_done = 0
    train_start = time.time()
    for step in range(args.steps):
        if time.time() - train_start > args.time_budget:
            log(f"time budget reached at step {step}")
            break
        for g in opt.param_groups:
            g["lr"] = lr_at(step)
        x, y = batches(stream, window, args.batch, gen)
        loss = F.cross_entropy(model(x).view(-1, args.vocab), y.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        steps_done = step + 1
        if first_loss is None:
            first_loss = loss.item()
        if step % args.eval_every == 0 or step == args.steps - 1:
            with torch.no_grad():
                model.eval()
                val = F.cross_entropy(model(vx).view(-1, args.vocab), vy.reshape(-1)).item()
                model.train()
            curve.append((step, (step + 1) * args.batch * window, loss.item(), val,
                          time.time() - train_start))
            log(f"step {step:5d} lr {lr_at(step):.2e} train {loss.item():.4f} val {val:.4f}")
    train_seconds = time.time() - train_start
    last_loss = loss.item()

    with open(os.path.join(args.out, "loss.csv"), "w") as f:
        f.write("step,tokens_seen,train_loss,val_loss,seconds\n")
        for row in curve:
            f.write("%d,%d,%.4f,%.4f,%.1f\n" % row)
    export_checkpoint(model, os.path.join(args.out, "model.bin"))
    torch.save(model.state_dict(), os.path.join(args.work, "model.pt"))

    results = dict(command=" ".join(["scripts/train_default_model.py"] + sys.argv[1:]),
                   args={k: v for k, v in vars(args).items() if k not in ("out", "work")},
                   seed=args.seed, heldout_seed=args.seed + 1,
                   stories=args.stories, heldout_stories=args.heldout_stories,
                   steps=steps_done, train_seconds=round(train_seconds, 1),
                   params=n_params, config=cfg, train_sha256=train_sha,
                   heldout_sha256=heldout_sha, spm_train=" ".join(spm_cmd),
                   first_train_loss=round(first_loss, 4), final_train_loss=round(last_loss, 4),
                   final_val_batch_loss=round(curve[-1][3], 4))
    if args.smoke:
        ok = last_loss < first_loss - 0.5
        log(f"smoke: loss {first_loss:.4f} -> {last_loss:.4f} ({'ok' if ok else 'DID NOT FALL'})")
        # Reference logits for the compiled binary to match: the first held-out story.
        ids = heldout_stories[0][:-1][:args.seq_len]
        with torch.no_grad():
            model.eval()
            np.save(os.path.join(args.out, "reference_logits.npy"),
                    model(torch.tensor([ids]))[0].numpy().astype(np.float32))
        with open(os.path.join(args.out, "reference_tokens.txt"), "w") as f:
            f.write(",".join(map(str, ids)) + "\n")
        if not ok:
            sys.exit(1)
    else:
        nll, count = heldout_nll(model, heldout_stories)
        uni_train, uni_held = unigram_nll(train_stories, heldout_stories, args.vocab)
        prompt_ids, ids = greedy(model, sp, PROMPT, args.greedy_tokens)
        text = sp.decode(ids[1:])
        with open(os.path.join(args.out, "greedy_reference.txt"), "w") as f:
            f.write(text + "\n")
        results.update(heldout_tokens=count, heldout_nll=round(nll, 4),
                       heldout_ppl=round(math.exp(nll), 3),
                       unigram_train_ppl=round(math.exp(uni_train), 3),
                       unigram_heldout_ppl=round(math.exp(uni_held), 3),
                       greedy_prompt=PROMPT, greedy_prompt_ids=prompt_ids,
                       greedy_tokens=args.greedy_tokens)
        log(f"held-out: ppl {math.exp(nll):.3f} over {count} ids; unigram ppl "
            f"{math.exp(uni_train):.3f} (train frequencies), {math.exp(uni_held):.3f} "
            f"(held-out's own)")
        log(f"greedy: {text}")
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump(results, f, indent=1)
        f.write("\n")
    log("done")


if __name__ == "__main__":
    main()
