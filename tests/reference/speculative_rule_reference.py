#!/usr/bin/python3
"""Speculative sampling with a draft model, transcribed from its definition (Leviathan et al.
2023, "Fast Inference from Transformers via Speculative Decoding", Algorithm 1; Chen et al.
2023): keep the draft token x ~ q with probability min(1, p(x)/q(x)), otherwise draw from
norm(max(0, p - q)). The random numbers are the sampler's xorshift64* stream (llama2.c's), so
the C++ sampler (runtime/sampling/sampler.cc, through speculative_rule_tool) must give the very
same tokens for the same seed, case by case, in float32 arithmetic.

  speculative_rule_reference.py TOOL
"""

import subprocess
import sys

import numpy as np

MASK = (1 << 64) - 1


class Xorshift:
    def __init__(self, seed):
        self.state = seed if seed != 0 else 0x9E3779B97F4A7C15

    def u32(self):
        s = self.state
        s ^= s >> 12
        s ^= (s << 25) & MASK
        s ^= s >> 27
        self.state = s
        return ((s * 0x2545F4914F6CDD1D) & MASK) >> 32

    def f32(self):  # uniform in [0, 1): 24 random bits
        return np.float32(self.u32() >> 8) / np.float32(16777216.0)


def draw(rng, probs, coin=None):
    """The token at `coin` * mass of the cumulative distribution, in id order."""
    r = rng.f32() if coin is None else coin
    cdf = np.float32(0)
    last = -1
    for i, p in enumerate(probs):
        if p <= 0:
            continue
        cdf = np.float32(cdf + p)
        last = i
        if r < cdf:
            return i
    return last if last >= 0 else 0


def verify(rng, p, q, draft):
    if q[draft] > 0 and rng.f32() < np.float32(p[draft] / q[draft]):
        return draft, True
    residual = np.maximum(np.float32(0), (p - q).astype(np.float32))
    mass = np.float32(0)
    for r in residual:
        mass = np.float32(mass + r)
    if not mass > 0:
        token = draw(rng, p)
        return token, token == draft
    return draw(rng, residual, np.float32(rng.f32() * mass)), False


def distribution(gen, vocab, kind):
    if kind == "onehot":
        p = np.zeros(vocab, np.float32)
        p[gen.integers(vocab)] = 1
        return p
    logits = gen.normal(0, 2, vocab)
    if kind == "sparse":  # top-k style: some tokens left out
        logits[gen.random(vocab) < 0.5] = -np.inf
        logits[gen.integers(vocab)] = 0
    e = np.exp(logits - logits.max())
    return (e / e.sum()).astype(np.float32)


def main():
    tool = sys.argv[1]
    gen = np.random.default_rng(20261206)
    cases, lines = [], []
    for n in range(600):
        vocab = int(gen.choice([2, 3, 7, 32, 100]))
        seed = int(gen.integers(1, 2**63))
        p = distribution(gen, vocab, gen.choice(["dense", "sparse", "onehot"]))
        q = p.copy() if n % 10 == 0 else distribution(gen, vocab, gen.choice(["dense", "sparse", "onehot"]))
        draft = draw(Xorshift(seed ^ 1), q)  # a token the draft model could have drawn
        cases.append(("verify", seed, p, q, draft))
        lines.append(f"verify {seed} {vocab} {draft} " + " ".join(f"{v:.9g}" for v in np.concatenate([p, q])))
        cases.append(("draw", seed, p, None, None))
        lines.append(f"draw {seed} {vocab} " + " ".join(f"{v:.9g}" for v in p))
    out = subprocess.run([tool], input="\n".join(lines) + "\n", capture_output=True, text=True, check=True)
    got = out.stdout.split("\n")
    mismatches = accepted = verified = 0
    for (what, seed, p, q, draft), line in zip(cases, got):
        rng = Xorshift(seed)
        if what == "verify":
            token, keep = verify(rng, p, q, draft)
            want = f"{token} {int(keep)}"
            verified += 1
            accepted += keep
        else:
            want = f"{draw(rng, p)}"
        if line != want:
            mismatches += 1
            if mismatches <= 5:
                print(f"FAIL {what} seed {seed}: C++ gave '{line}', the transcription '{want}'")
    print(f"{len(cases) - mismatches} of {len(cases)} cases equal ({verified} verifications, "
          f"{accepted} drafts kept)")
    sys.exit(1 if mismatches or len(got) < len(cases) else 0)


if __name__ == "__main__":
    main()
