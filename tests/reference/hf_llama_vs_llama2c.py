#!/usr/bin/python3
"""Checks make_hf_llama.py's Llama modules against an independent
implementation: llama2.c's published greedy output for stories260K.

The llama2.c checkpoint is converted as transformers' convert_llama_weights_to_hf.py
does (Meta names -> HF names; wq and wk rows permuted from interleaved RoPE pairs
to rotate_half halves), run through LlamaForCausalLM greedily from the prompt
ids, decoded with tok512 the way run.c prints, and compared byte for byte.

Usage: hf_llama_vs_llama2c.py ASSETS_DIR REFERENCE_DIR
"""

import os
import struct
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_hf_llama import LlamaForCausalLM  # noqa: E402


def load_llama2c(path):
    with open(path, "rb") as f:
        data = f.read()
    dim, hidden, layers, heads, kv_heads, vocab, seq_len = struct.unpack("<7i", data[:28])
    tied = vocab > 0
    vocab = abs(vocab)
    floats = np.frombuffer(data, "<f4", offset=28)
    at = 0

    def take(*shape):
        nonlocal at
        n = int(np.prod(shape))
        block = torch.tensor(floats[at : at + n].copy()).reshape(shape)
        at += n
        return block

    head_dim = dim // heads
    w = {"tok": take(vocab, dim), "att_norm": take(layers, dim), "wq": take(layers, dim, dim),
         "wk": take(layers, kv_heads * head_dim, dim), "wv": take(layers, kv_heads * head_dim, dim),
         "wo": take(layers, dim, dim), "ffn_norm": take(layers, dim), "w1": take(layers, hidden, dim),
         "w2": take(layers, dim, hidden), "w3": take(layers, hidden, dim), "norm": take(dim)}
    take(seq_len, head_dim // 2)  # freq_cis_real, unused
    take(seq_len, head_dim // 2)  # freq_cis_imag
    w["out"] = w["tok"] if tied else take(vocab, dim)
    assert at == len(floats), "checkpoint size does not match its header"
    cfg = {"vocab_size": vocab, "hidden_size": dim, "intermediate_size": hidden, "num_hidden_layers": layers,
           "num_attention_heads": heads, "num_key_value_heads": kv_heads, "head_dim": head_dim,
           "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "tie_word_embeddings": tied}
    return cfg, w


def permute(w, n_heads):
    """convert_llama_weights_to_hf.py's permute: interleaved pairs -> halves."""
    dim1, dim2 = w.shape
    return w.view(n_heads, dim1 // n_heads // 2, 2, dim2).transpose(1, 2).reshape(dim1, dim2)


def hf_state(cfg, w):
    s = {"model.embed_tokens.weight": w["tok"], "model.norm.weight": w["norm"], "lm_head.weight": w["out"]}
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}."
        s[p + "input_layernorm.weight"] = w["att_norm"][i]
        s[p + "self_attn.q_proj.weight"] = permute(w["wq"][i], cfg["num_attention_heads"])
        s[p + "self_attn.k_proj.weight"] = permute(w["wk"][i], cfg["num_key_value_heads"])
        s[p + "self_attn.v_proj.weight"] = w["wv"][i]
        s[p + "self_attn.o_proj.weight"] = w["wo"][i]
        s[p + "post_attention_layernorm.weight"] = w["ffn_norm"][i]
        s[p + "mlp.gate_proj.weight"] = w["w1"][i]
        s[p + "mlp.down_proj.weight"] = w["w2"][i]
        s[p + "mlp.up_proj.weight"] = w["w3"][i]
    return s


def load_vocab(path, vocab_size):
    with open(path, "rb") as f:
        data = f.read()
    at = 4  # max_token_length
    pieces = []
    for _ in range(vocab_size):
        _score, n = struct.unpack("<fi", data[at : at + 8])
        pieces.append(data[at + 8 : at + 8 + n])
        at += 8 + n
    return pieces


def decode(pieces, ids):
    """What run.c prints for ids (BOS first): its decode() and safe_printf()."""
    out = b""
    for prev, tok in zip(ids, ids[1:]):
        piece = pieces[tok]
        if prev == 1 and piece.startswith(b" "):
            piece = piece[1:]
        if len(piece) == 6 and piece.startswith(b"<0x") and piece.endswith(b">"):
            piece = bytes([int(piece[3:5], 16)])
        if len(piece) == 1 and not (chr(piece[0]).isprintable() or chr(piece[0]).isspace()):
            continue
        out += piece
    return out


def main():
    assets, reference = sys.argv[1], sys.argv[2]
    cfg, w = load_llama2c(os.path.join(assets, "llama2c-stories260K/stories260K.bin"))
    model = LlamaForCausalLM(cfg)
    missing, unexpected = model.load_state_dict(hf_state(cfg, w), strict=False)
    assert not unexpected and set(missing) <= {"lm_head.weight"}, (missing, unexpected)
    model = model.to(torch.float64).eval()

    ids = [1, 403, 407, 261, 378]  # "Once upon a time" with BOS
    steps = 64  # llama2.c's -n: positions, prompt included
    with torch.no_grad():
        while len(ids) < steps + 1:
            nxt = int(torch.argmax(model(torch.tensor([ids]))[0, -1]))
            if nxt == 1:  # run.c stops at BOS
                break
            ids.append(nxt)
    text = decode(load_vocab(os.path.join(assets, "llama2c-stories260K/tok512.bin"), cfg["vocab_size"]), ids)
    with open(os.path.join(reference, "stories260K_greedy_once_upon_a_time_n64.txt"), "rb") as f:
        want = f.read()
    if text != want:
        sys.exit(f"hf_llama_vs_llama2c.py: HF Llama greedy output differs from llama2.c's\n got: {text!r}\nwant: {want!r}")
    print(f"hf_llama_vs_llama2c.py: HF Llama modules reproduce llama2.c's stories260K output ({len(ids) - 5} tokens)")


if __name__ == "__main__":
    main()
