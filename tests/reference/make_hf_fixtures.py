#!/usr/bin/python3
"""Tiny Hugging Face checkpoints with seeded random weights, and what PyTorch
computes with them: the fixtures lmc's importer and compiled binaries are
checked against (tests/fixtures/hf/, described in its README.md).

For each class below it writes a model folder as save_pretrained would
(config.json with HF's keys, model.safetensors with HF's tensor names, shapes
and layouts; no tokenizer files) and the expected outputs for fixed ids:

  gpt2            GPT2LMHeadModel           pre-LN, learned positions, Conv1D [in, out], fused c_attn
  openai-gpt      OpenAIGPTLMHeadModel      post-LN, learned positions, Conv1D, no final norm
  bert            BertModel                 post-LN encoder, token types, embedding LN, pooler
  t5              T5ForConditionalGeneration RMS norm, relative buckets, d_model^-0.5 before tied head
  bloom           BloomForCausalLM          ALiBi (6 heads: not a power of 2), embedding LN, fused QKV
  llama3.1        LlamaForCausalLM          GQA, RoPE with llama3 scaling, 72 positions
  llama-linear    LlamaForCausalLM          RoPE with linear scaling
  llama-dynamic   LlamaForCausalLM          RoPE with dynamic NTK scaling, beyond max_position_embeddings
  mistral         MistralForCausalLM        MQA, head_dim != hidden_size / heads
  qwen2           Qwen2ForCausalLM          QKV biases, tied embeddings
  llama-partial   LlamaForCausalLM          partial rotary (partial_rotary_factor 0.5, as GPT-NeoX)
  vaswani         torch.nn.Transformer      post-LN encoder-decoder, ReLU, sinusoidal, sqrt(d) scale
  cope            (no HF class; spec.yaml)  Llama-style decoder with CoPE, 72 positions, 16 CoPE positions

transformers is not installed (and PyTorch 1.13 has no module for most of
these), so each model is computed twice, by two independent formulations that
must agree to 1e-5:
  * where torch has the module, torch's module is the reference written to the
    fixture (nn.TransformerEncoderLayer / nn.Transformer with norm_first,
    nn.MultiheadAttention inside them, nn.LayerNorm, nn.Embedding, F.gelu),
    and a hand-written transcription of the HF modeling code checks it;
  * for RoPE models, a transcription of transformers' modeling_llama.py
    (rotate_half on half-split heads, vectorised rope-scaling functions of
    modeling_rope_utils.py) is the reference, and a transcription of Meta's
    llama reference model.py (complex rotation of interleaved pairs, after
    undoing convert_llama_weights_to_hf.py's permute, with the per-frequency
    apply_scaling loop of llama3.1) checks it;
  * CoPE's reference is a transcription of the paper's code (CoPE and SelfAttn
    modules, heads as the batch), checked by a loop over queries and keys;
  * T5 has no torch module (RMS norm without mean, no attention scale); its
    buckets are checked against a scalar transcription of Mesh TensorFlow's
    _relative_position_bucket, and its full decoder against a cached one (one
    token at a time, cross-attention K/V computed once).
Arithmetic is float64 (weights are float32 as stored); outputs are saved as
float32. Float64 makes regeneration byte-identical across BLAS kernels in
practice, and makes the reference sharper than the 1e-4 the C++ tests allow.
Weights come from numpy's PCG64 (uniform, exactly reproducible everywhere).

Usage: /usr/bin/python3 tests/reference/make_hf_fixtures.py --out DIR [--only NAME ...]
"""

import argparse
import json
import math
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_hf_llama import read_safetensors, write_safetensors  # noqa: E402

torch.set_num_threads(1)
DT = torch.float64  # arithmetic of every reference
CROSS_TOL = 1e-5  # agreement required between two formulations
GAP_MIN = 2e-3  # smallest top-1/top-2 logit gap allowed in greedy decoding
GREEDY_STEPS = 8


# ------------------------------------------------------------------- weights


class Gen:
    """Seeded weights: zero-mean uniform with the given std, as float32."""

    def __init__(self, seed):
        self.rng = np.random.Generator(np.random.PCG64(seed))

    def w(self, shape, std=0.15):
        u = self.rng.random(shape)
        return ((2.0 * u - 1.0) * (std * math.sqrt(3.0))).astype(np.float32)

    def gain(self, n, std=0.1):  # norm weights around 1
        return (1.0 + self.w((n,), std).astype(np.float64)).astype(np.float32)

    def ids(self, n, vocab, low=0):
        return [int(x) for x in self.rng.integers(low, vocab, size=n)]


def T(W, name):
    return torch.from_numpy(W[name]).to(DT)


# ------------------------------------------------------- hand-written math
# Each follows the named HF module; used as the reference only where torch
# 1.13 has no module, otherwise as the cross-check.


def layer_norm(x, w, b, eps):  # nn.LayerNorm's definition (biased variance)
    mu = x.mean(-1, keepdim=True)
    var = ((x - mu) ** 2).mean(-1, keepdim=True)
    return (x - mu) / torch.sqrt(var + eps) * w + b


def rms_norm(x, w, eps):  # LlamaRMSNorm, T5LayerNorm: no mean, no bias
    return w * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps))


def gelu_new(x):  # transformers.activations.NewGELUActivation (GPT-2 "gelu_new")
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


def bloom_gelu(x):  # modeling_bloom.bloom_gelu_forward (its truncated constant)
    return x * 0.5 * (1.0 + torch.tanh(0.79788456 * x * (1 + 0.044715 * x * x)))


def gelu_erf(x):  # BERT "gelu": GELUActivation, erf form
    return x * 0.5 * (1.0 + torch.erf(x / math.sqrt(2.0)))


def gelu_tanh_torch(x):
    return F.gelu(x, approximate="tanh")


def causal_add(tq, tk, offset=0):
    """Additive mask [tq, tk]: query i (at position offset + i) sees keys <= its position."""
    q = torch.arange(tq)[:, None] + offset
    k = torch.arange(tk)[None, :]
    return torch.where(k > q, torch.tensor(torch.finfo(DT).min, dtype=DT), torch.tensor(0.0, dtype=DT))


def attend(q, k, v, scale, add=None):
    """q [H, Tq, d], k/v [H, Tk, d]; softmax(q k^T * scale + add) v."""
    s = torch.matmul(q, k.transpose(-1, -2)) * scale
    if add is not None:
        s = s + add
    return torch.matmul(torch.softmax(s, dim=-1), v)


def heads(x, n):  # [T, n*d] -> [n, T, d]
    return x.view(x.shape[0], n, -1).transpose(0, 1)


def merge(x):  # [n, T, d] -> [T, n*d]
    return x.transpose(0, 1).reshape(x.shape[1], -1)


# ------------------------------------------------------- torch modules


def encoder_layer(d, h, ff, act, eps, norm_first, p):
    """nn.TransformerEncoderLayer loaded from p (keys as in its state_dict)."""
    layer = nn.TransformerEncoderLayer(d, h, ff, dropout=0.0, activation=act, layer_norm_eps=eps,
                                       batch_first=True, norm_first=norm_first)
    return load_module(layer, p)


def load_module(module, p):
    module = module.to(DT).eval()
    state = module.state_dict()
    assert sorted(state) == sorted(p), f"module keys {sorted(state)} vs {sorted(p)}"
    for k in state:
        assert tuple(state[k].shape) == tuple(p[k].shape), f"{k}: {tuple(state[k].shape)} vs {tuple(p[k].shape)}"
    module.load_state_dict({k: v.to(DT).contiguous() for k, v in p.items()})
    return module


def torch_ln(W, name, d, eps):
    """nn.LayerNorm loaded from NAME.weight, NAME.bias."""
    return load_module(nn.LayerNorm(d, eps=eps), {"weight": T(W, name + ".weight"), "bias": T(W, name + ".bias")})


def bool_causal(t):  # True = masked, as nn.MultiheadAttention takes it
    return torch.triu(torch.ones(t, t, dtype=torch.bool), 1)


def max_diff(a, b):
    return float((a - b).abs().max())


# ======================================================================
# GPT-2 (transformers/models/gpt2/modeling_gpt2.py)


def gpt2_config(a):
    return {
        "activation_function": "gelu_new", "architectures": ["GPT2LMHeadModel"], "attn_pdrop": 0.1,
        "bos_token_id": a["V"] - 1, "embd_pdrop": 0.1, "eos_token_id": a["V"] - 1, "initializer_range": 0.02,
        "layer_norm_epsilon": 1e-05, "model_type": "gpt2", "n_embd": a["D"], "n_head": a["H"], "n_inner": a["I"],
        "n_layer": a["L"], "n_positions": a["P"], "reorder_and_upcast_attn": False, "resid_pdrop": 0.1,
        "scale_attn_by_inverse_layer_idx": False, "scale_attn_weights": True, "summary_activation": None,
        "summary_first_dropout": 0.1, "summary_proj_to_labels": True, "summary_type": "cls_index",
        "summary_use_proj": True, "torch_dtype": "float32", "transformers_version": "4.46.3", "use_cache": True,
        "vocab_size": a["V"],
    }


def gpt_weights(a, g, names):
    """GPT-1 and GPT-2 share the block layout; names: (prefix, tok, pos, final_ln or None)."""
    D, V, P = a["D"], a["V"], a["P"]
    pre, tok, pos, lnf = names
    W = {f"{pre}{tok}.weight": g.w((V, D), 0.3), f"{pre}{pos}.weight": g.w((P, D), 0.1)}
    for i in range(a["L"]):
        h = f"{pre}h.{i}."
        W[h + "ln_1.weight"], W[h + "ln_1.bias"] = g.gain(D), g.w((D,), 0.05)
        # Conv1D: [in, out]
        W[h + "attn.c_attn.weight"], W[h + "attn.c_attn.bias"] = g.w((D, 3 * D)), g.w((3 * D,), 0.05)
        W[h + "attn.c_proj.weight"], W[h + "attn.c_proj.bias"] = g.w((D, D)), g.w((D,), 0.05)
        W[h + "ln_2.weight"], W[h + "ln_2.bias"] = g.gain(D), g.w((D,), 0.05)
        W[h + "mlp.c_fc.weight"], W[h + "mlp.c_fc.bias"] = g.w((D, a["I"])), g.w((a["I"],), 0.05)
        W[h + "mlp.c_proj.weight"], W[h + "mlp.c_proj.bias"] = g.w((a["I"], D)), g.w((D,), 0.05)
    if lnf:
        W[f"{pre}{lnf}.weight"], W[f"{pre}{lnf}.bias"] = g.gain(D), g.w((D,), 0.05)
    return W


def gpt_block_params(W, h):
    """Conv1D weights are [in, out]; nn.Linear wants [out, in]: transpose. c_attn's
    columns are [q | k | v], which is nn.MultiheadAttention's in_proj row order."""
    return {
        "self_attn.in_proj_weight": T(W, h + "attn.c_attn.weight").t(),
        "self_attn.in_proj_bias": T(W, h + "attn.c_attn.bias"),
        "self_attn.out_proj.weight": T(W, h + "attn.c_proj.weight").t(),
        "self_attn.out_proj.bias": T(W, h + "attn.c_proj.bias"),
        "linear1.weight": T(W, h + "mlp.c_fc.weight").t(), "linear1.bias": T(W, h + "mlp.c_fc.bias"),
        "linear2.weight": T(W, h + "mlp.c_proj.weight").t(), "linear2.bias": T(W, h + "mlp.c_proj.bias"),
        "norm1.weight": T(W, h + "ln_1.weight"), "norm1.bias": T(W, h + "ln_1.bias"),
        "norm2.weight": T(W, h + "ln_2.weight"), "norm2.bias": T(W, h + "ln_2.bias"),
    }


def gpt_torch(a, W, ids, names, norm_first, eps):
    """Torch modules: nn.Embedding, nn.TransformerEncoderLayer(norm_first, gelu tanh), nn.LayerNorm."""
    pre, tok, pos, lnf = names
    D = a["D"]
    wte = nn.Embedding.from_pretrained(T(W, f"{pre}{tok}.weight"))
    wpe = nn.Embedding.from_pretrained(T(W, f"{pre}{pos}.weight"))
    t = len(ids)
    x = (wte(torch.tensor(ids)) + wpe(torch.arange(t)))[None]
    for i in range(a["L"]):
        layer = encoder_layer(D, a["H"], a["I"], gelu_tanh_torch, eps, norm_first, gpt_block_params(W, f"{pre}h.{i}."))
        x = layer(x, src_mask=bool_causal(t))
    if lnf:
        x = torch_ln(W, f"{pre}{lnf}", D, eps)(x)
    return x[0] @ wte.weight.t()  # tied lm_head


def gpt_manual(a, W, ids, names, post_ln, eps):
    """GPT2Block / OpenAIGPT Block as modeling_gpt2.py / modeling_openai.py write them."""
    pre, tok, pos, lnf = names
    D, H = a["D"], a["H"]
    t = len(ids)
    x = T(W, f"{pre}{tok}.weight")[ids] + T(W, f"{pre}{pos}.weight")[:t]
    mask = causal_add(t, t)

    def attn(h, x):
        qkv = x @ T(W, h + "attn.c_attn.weight") + T(W, h + "attn.c_attn.bias")  # Conv1D: addmm(b, x, W)
        q, k, v = qkv.split(D, dim=-1)
        o = attend(heads(q, H), heads(k, H), heads(v, H), 1.0 / math.sqrt(D // H), mask)
        return merge(o) @ T(W, h + "attn.c_proj.weight") + T(W, h + "attn.c_proj.bias")

    def mlp(h, x):
        x = gelu_new(x @ T(W, h + "mlp.c_fc.weight") + T(W, h + "mlp.c_fc.bias"))
        return x @ T(W, h + "mlp.c_proj.weight") + T(W, h + "mlp.c_proj.bias")

    def ln(h, n, x):
        return layer_norm(x, T(W, h + n + ".weight"), T(W, h + n + ".bias"), eps)

    for i in range(a["L"]):
        h = f"{pre}h.{i}."
        if post_ln:  # OpenAI GPT Block: n = ln_1(x + a); h = ln_2(n + mlp(n))
            x = ln(h, "ln_1", x + attn(h, x))
            x = ln(h, "ln_2", x + mlp(h, x))
        else:  # GPT2Block: x += attn(ln_1(x)); x += mlp(ln_2(x))
            x = x + attn(h, ln(h, "ln_1", x))
            x = x + mlp(h, ln(h, "ln_2", x))
    if lnf:
        x = ln(pre, lnf, x)
    return x @ T(W, f"{pre}{tok}.weight").t()


GPT2_NAMES = ("transformer.", "wte", "wpe", "ln_f")
GPT1_NAMES = ("transformer.", "tokens_embed", "positions_embed", None)


def make_gpt2(g):
    a = dict(V=160, P=96, D=32, H=4, L=2, T=24, I=64)  # n_inner set (None means 4 * n_embd)
    W = gpt_weights(a, g, GPT2_NAMES)
    return a, gpt2_config(a), W, {
        "torch": lambda ids: gpt_torch(a, W, ids, GPT2_NAMES, True, 1e-5),
        "manual": lambda ids: gpt_manual(a, W, ids, GPT2_NAMES, False, 1e-5),
    }


def make_gpt1(g):
    a = dict(V=144, P=80, D=24, H=4, L=2, T=24, I=96)  # OpenAI GPT: always 4 * n_embd
    W = gpt_weights(a, g, GPT1_NAMES)
    cfg = {
        "afn": "gelu", "architectures": ["OpenAIGPTLMHeadModel"], "attn_pdrop": 0.1, "embd_pdrop": 0.1,
        "initializer_range": 0.02, "layer_norm_epsilon": 1e-05, "model_type": "openai-gpt", "n_embd": a["D"],
        "n_head": a["H"], "n_layer": a["L"], "n_positions": a["P"], "predict_special_tokens": True,
        "resid_pdrop": 0.1, "summary_activation": None, "summary_first_dropout": 0.1, "summary_proj_to_labels": True,
        "summary_type": "cls_index", "summary_use_proj": True, "torch_dtype": "float32",
        "transformers_version": "4.46.3", "vocab_size": a["V"],
    }
    return a, cfg, W, {
        "torch": lambda ids: gpt_torch(a, W, ids, GPT1_NAMES, False, 1e-5),
        "manual": lambda ids: gpt_manual(a, W, ids, GPT1_NAMES, True, 1e-5),
    }


# ======================================================================
# BERT (transformers/models/bert/modeling_bert.py), BertModel with pooler


def make_bert(g):
    a = dict(V=120, P=80, D=32, H=4, L=2, I=64, T=20, types=2)
    D, I = a["D"], a["I"]
    eps = 1e-12
    W = {
        "embeddings.word_embeddings.weight": g.w((a["V"], D), 0.3),
        "embeddings.position_embeddings.weight": g.w((a["P"], D), 0.1),
        "embeddings.token_type_embeddings.weight": g.w((a["types"], D), 0.1),
        "embeddings.LayerNorm.weight": g.gain(D), "embeddings.LayerNorm.bias": g.w((D,), 0.05),
    }
    for i in range(a["L"]):
        h = f"encoder.layer.{i}."
        for n in ("query", "key", "value"):
            W[h + f"attention.self.{n}.weight"], W[h + f"attention.self.{n}.bias"] = g.w((D, D)), g.w((D,), 0.05)
        W[h + "attention.output.dense.weight"], W[h + "attention.output.dense.bias"] = g.w((D, D)), g.w((D,), 0.05)
        n = h + "attention.output.LayerNorm."
        W[n + "weight"], W[n + "bias"] = g.gain(D), g.w((D,), 0.05)
        W[h + "intermediate.dense.weight"], W[h + "intermediate.dense.bias"] = g.w((I, D)), g.w((I,), 0.05)
        W[h + "output.dense.weight"], W[h + "output.dense.bias"] = g.w((D, I)), g.w((D,), 0.05)
        W[h + "output.LayerNorm.weight"], W[h + "output.LayerNorm.bias"] = g.gain(D), g.w((D,), 0.05)
    W["pooler.dense.weight"], W["pooler.dense.bias"] = g.w((D, D), 0.3), g.w((D,), 0.05)
    cfg = {
        "architectures": ["BertModel"], "attention_probs_dropout_prob": 0.1, "classifier_dropout": None,
        "hidden_act": "gelu", "hidden_dropout_prob": 0.1, "hidden_size": D, "initializer_range": 0.02,
        "intermediate_size": I, "layer_norm_eps": eps, "max_position_embeddings": a["P"], "model_type": "bert",
        "num_attention_heads": a["H"], "num_hidden_layers": a["L"], "pad_token_id": 0,
        "position_embedding_type": "absolute", "torch_dtype": "float32", "transformers_version": "4.46.3",
        "type_vocab_size": a["types"], "use_cache": True, "vocab_size": a["V"],
    }

    def embed(ids):  # BertEmbeddings: word + token_type (all 0) + absolute position, then LayerNorm
        t = len(ids)
        return (T(W, "embeddings.word_embeddings.weight")[ids]
                + T(W, "embeddings.token_type_embeddings.weight")[[0] * t]
                + T(W, "embeddings.position_embeddings.weight")[:t])

    def with_torch(ids):
        t = len(ids)
        word = nn.Embedding.from_pretrained(T(W, "embeddings.word_embeddings.weight"))
        pos = nn.Embedding.from_pretrained(T(W, "embeddings.position_embeddings.weight"))
        typ = nn.Embedding.from_pretrained(T(W, "embeddings.token_type_embeddings.weight"))
        ln = torch_ln(W, "embeddings.LayerNorm", D, eps)
        x = ln(word(torch.tensor(ids)) + typ(torch.zeros(t, dtype=torch.long)) + pos(torch.arange(t)))[None]
        qkv = ("query", "key", "value")
        for i in range(a["L"]):
            h = f"encoder.layer.{i}."
            p = {
                "self_attn.in_proj_weight": torch.cat([T(W, h + f"attention.self.{n}.weight") for n in qkv]),
                "self_attn.in_proj_bias": torch.cat([T(W, h + f"attention.self.{n}.bias") for n in qkv]),
                "self_attn.out_proj.weight": T(W, h + "attention.output.dense.weight"),
                "self_attn.out_proj.bias": T(W, h + "attention.output.dense.bias"),
                "norm1.weight": T(W, h + "attention.output.LayerNorm.weight"),
                "norm1.bias": T(W, h + "attention.output.LayerNorm.bias"),
                "linear1.weight": T(W, h + "intermediate.dense.weight"),
                "linear1.bias": T(W, h + "intermediate.dense.bias"),
                "linear2.weight": T(W, h + "output.dense.weight"), "linear2.bias": T(W, h + "output.dense.bias"),
                "norm2.weight": T(W, h + "output.LayerNorm.weight"), "norm2.bias": T(W, h + "output.LayerNorm.bias"),
            }
            x = encoder_layer(D, a["H"], I, "gelu", eps, False, p)(x)
        pool = load_module(nn.Linear(D, D), {k: T(W, "pooler.dense." + k) for k in ("weight", "bias")})
        return {"last_hidden_state": x[0], "pooler_output": torch.tanh(pool(x[0, 0]))}

    def manual(ids):
        def lin(n, x):
            return x @ T(W, n + ".weight").t() + T(W, n + ".bias")

        def ln(n, x):
            return layer_norm(x, T(W, n + ".weight"), T(W, n + ".bias"), eps)

        x = ln("embeddings.LayerNorm", embed(ids))
        H = a["H"]
        for i in range(a["L"]):
            h = f"encoder.layer.{i}."
            q, k, v = (heads(lin(h + f"attention.self.{n}", x), H) for n in ("query", "key", "value"))
            ctx = merge(attend(q, k, v, 1.0 / math.sqrt(D // H)))
            x = ln(h + "attention.output.LayerNorm", lin(h + "attention.output.dense", ctx) + x)  # BertSelfOutput
            y = gelu_erf(lin(h + "intermediate.dense", x))  # BertIntermediate
            x = ln(h + "output.LayerNorm", lin(h + "output.dense", y) + x)  # BertOutput
        return {"last_hidden_state": x, "pooler_output": torch.tanh(lin("pooler.dense", x[0]))}  # BertPooler

    return a, cfg, W, {"torch": with_torch, "manual": manual}


# ======================================================================
# T5 (transformers/models/t5/modeling_t5.py), T5ForConditionalGeneration v1.0


def t5_bucket_hf(relative_position, bidirectional, num_buckets, max_distance):
    """T5Attention._relative_position_bucket, with its float32 log."""
    relative_buckets = 0
    if bidirectional:
        num_buckets //= 2
        relative_buckets += (relative_position > 0).to(torch.long) * num_buckets
        relative_position = torch.abs(relative_position)
    else:
        relative_position = -torch.min(relative_position, torch.zeros_like(relative_position))
    max_exact = num_buckets // 2
    is_small = relative_position < max_exact
    relative_position_if_large = max_exact + (
        torch.log(relative_position.float() / max_exact)
        / math.log(max_distance / max_exact)
        * (num_buckets - max_exact)
    ).to(torch.long)
    relative_position_if_large = torch.min(
        relative_position_if_large, torch.full_like(relative_position_if_large, num_buckets - 1))
    return relative_buckets + torch.where(is_small, relative_position, relative_position_if_large)


def t5_bucket_mesh(relative_position, bidirectional, num_buckets, max_distance):
    """Scalar transcription of mesh_tensorflow transformer_layers._relative_position_bucket
    (n = -relative_position), in double precision."""
    ret = 0
    n = -relative_position
    if bidirectional:
        num_buckets //= 2
        ret += (n < 0) * num_buckets
        n = abs(n)
    else:
        n = max(n, 0)
    max_exact = num_buckets // 2
    if n < max_exact:
        return ret + n
    val = max_exact + int(math.log(n / max_exact) / math.log(max_distance / max_exact) * (num_buckets - max_exact))
    return ret + min(val, num_buckets - 1)


def make_t5(g):
    a = dict(V=96, D=32, H=4, dkv=4, ff=32, L=2, Ld=2, buckets=32, maxdist=64, T=72, Tdec=66)
    D, H, inner, ff = a["D"], a["H"], a["H"] * a["dkv"], a["ff"]
    eps = 1e-6
    W = {"shared.weight": g.w((a["V"], D), 0.5)}

    def attn_w(pre, rel):
        W[pre + "q.weight"], W[pre + "k.weight"] = g.w((inner, D), 0.3), g.w((inner, D), 0.3)
        W[pre + "v.weight"], W[pre + "o.weight"] = g.w((inner, D), 0.3), g.w((D, inner), 0.4)
        if rel:
            W[pre + "relative_attention_bias.weight"] = g.w((a["buckets"], H), 1.0)

    for i in range(a["L"]):
        h = f"encoder.block.{i}.layer."
        attn_w(h + "0.SelfAttention.", i == 0)
        W[h + "0.layer_norm.weight"] = g.gain(D)
        W[h + "1.DenseReluDense.wi.weight"], W[h + "1.DenseReluDense.wo.weight"] = g.w((ff, D), 0.3), g.w((D, ff), 0.4)
        W[h + "1.layer_norm.weight"] = g.gain(D)
    W["encoder.final_layer_norm.weight"] = g.gain(D)
    for i in range(a["Ld"]):
        h = f"decoder.block.{i}.layer."
        attn_w(h + "0.SelfAttention.", i == 0)
        W[h + "0.layer_norm.weight"] = g.gain(D)
        attn_w(h + "1.EncDecAttention.", False)
        W[h + "1.layer_norm.weight"] = g.gain(D)
        W[h + "2.DenseReluDense.wi.weight"], W[h + "2.DenseReluDense.wo.weight"] = g.w((ff, D), 0.3), g.w((D, ff), 0.4)
        W[h + "2.layer_norm.weight"] = g.gain(D)
    W["decoder.final_layer_norm.weight"] = g.gain(D)
    cfg = {
        "architectures": ["T5ForConditionalGeneration"], "classifier_dropout": 0.0, "d_ff": ff, "d_kv": a["dkv"],
        "d_model": D, "decoder_start_token_id": 0, "dense_act_fn": "relu", "dropout_rate": 0.1, "eos_token_id": 1,
        "feed_forward_proj": "relu", "initializer_factor": 1.0, "is_encoder_decoder": True, "is_gated_act": False,
        "layer_norm_epsilon": eps, "model_type": "t5", "n_positions": 512, "num_decoder_layers": a["Ld"],
        "num_heads": H, "num_layers": a["L"], "pad_token_id": 0, "relative_attention_max_distance": a["maxdist"],
        "relative_attention_num_buckets": a["buckets"], "torch_dtype": "float32", "transformers_version": "4.46.3",
        "use_cache": True, "vocab_size": a["V"],
    }

    def bias(pre, tq, tk, bidirectional, offset=0):
        """T5Attention.compute_bias: [H, tq, tk] from the layer-0 table."""
        ctx = torch.arange(tq, dtype=torch.long)[:, None] + offset
        mem = torch.arange(tk, dtype=torch.long)[None, :]
        b = t5_bucket_hf(mem - ctx, bidirectional, a["buckets"], a["maxdist"])
        return T(W, pre + "relative_attention_bias.weight")[b].permute(2, 0, 1)

    def mha(pre, x, kv, add):  # T5Attention: no 1/sqrt(d) scale, no biases
        q = heads(x @ T(W, pre + "q.weight").t(), H)
        k, v = heads(kv @ T(W, pre + "k.weight").t(), H), heads(kv @ T(W, pre + "v.weight").t(), H)
        return merge(attend(q, k, v, 1.0, add)) @ T(W, pre + "o.weight").t()

    def ffn(pre, x):  # T5DenseActDense, relu
        return torch.relu(x @ T(W, pre + "wi.weight").t()) @ T(W, pre + "wo.weight").t()

    def rn(n, x):
        return rms_norm(x, T(W, n), eps)

    def encode(ids):
        x = T(W, "shared.weight")[ids]
        t = len(ids)
        pb = bias("encoder.block.0.layer.0.SelfAttention.", t, t, True)  # computed in block 0, passed on
        for i in range(a["L"]):
            h = f"encoder.block.{i}.layer."
            y = rn(h + "0.layer_norm.weight", x)
            x = x + mha(h + "0.SelfAttention.", y, y, pb)
            x = x + ffn(h + "1.DenseReluDense.", rn(h + "1.layer_norm.weight", x))
        return rn("encoder.final_layer_norm.weight", x)

    def decode(mem, ids):
        x = T(W, "shared.weight")[ids]
        t = len(ids)
        pb = bias("decoder.block.0.layer.0.SelfAttention.", t, t, False) + causal_add(t, t)
        for i in range(a["Ld"]):
            h = f"decoder.block.{i}.layer."
            y = rn(h + "0.layer_norm.weight", x)
            x = x + mha(h + "0.SelfAttention.", y, y, pb)
            x = x + mha(h + "1.EncDecAttention.", rn(h + "1.layer_norm.weight", x), mem, None)  # no position bias
            x = x + ffn(h + "2.DenseReluDense.", rn(h + "2.layer_norm.weight", x))
        x = rn("decoder.final_layer_norm.weight", x)
        x = x * D**-0.5  # tie_word_embeddings: rescale before the tied lm_head
        return x @ T(W, "shared.weight").t()

    def decode_cached(mem, ids):
        """The decoder one token at a time, as HF generate runs it with past_key_values:
        self-attention K/V appended per step, cross-attention K/V computed once from
        the encoder output, the position bias row of the current query
        (compute_bias(...)[:, -1:, :])."""
        c = "decoder.block.{}.layer.1.EncDecAttention.{}.weight"
        cross = [(heads(mem @ T(W, c.format(i, "k")).t(), H), heads(mem @ T(W, c.format(i, "v")).t(), H))
                 for i in range(a["Ld"])]
        cache = [None] * a["Ld"]
        rows = []
        for p, tok in enumerate(ids):
            x = T(W, "shared.weight")[[tok]]
            pb = bias("decoder.block.0.layer.0.SelfAttention.", 1, p + 1, False, offset=p)
            for i in range(a["Ld"]):
                h = f"decoder.block.{i}.layer."
                y = rn(h + "0.layer_norm.weight", x)
                s = h + "0.SelfAttention."
                k, v = heads(y @ T(W, s + "k.weight").t(), H), heads(y @ T(W, s + "v.weight").t(), H)
                if cache[i] is not None:
                    k, v = torch.cat([cache[i][0], k], 1), torch.cat([cache[i][1], v], 1)
                cache[i] = (k, v)
                q = heads(y @ T(W, s + "q.weight").t(), H)
                x = x + merge(attend(q, k, v, 1.0, pb)) @ T(W, s + "o.weight").t()
                c = h + "1.EncDecAttention."
                q = heads(rn(h + "1.layer_norm.weight", x) @ T(W, c + "q.weight").t(), H)
                x = x + merge(attend(q, cross[i][0], cross[i][1], 1.0)) @ T(W, c + "o.weight").t()
                x = x + ffn(h + "2.DenseReluDense.", rn(h + "2.layer_norm.weight", x))
            x = rn("decoder.final_layer_norm.weight", x) * D**-0.5
            rows.append((x @ T(W, "shared.weight").t())[0])
        return torch.stack(rows)

    return a, cfg, W, {"encode": encode, "decode": decode, "decode_cached": decode_cached}


def check_t5_buckets(a):
    worst = 0
    for bidirectional, nb in ((True, a["buckets"]), (False, a["buckets"])):
        rel = torch.arange(-200, 201, dtype=torch.long)
        hf = t5_bucket_hf(rel, bidirectional, nb, a["maxdist"]).tolist()
        mesh = [t5_bucket_mesh(int(r), bidirectional, nb, a["maxdist"]) for r in rel]
        bad = [(int(r), x, y) for r, x, y in zip(rel, hf, mesh) if x != y]
        assert not bad, f"t5 buckets (bidirectional={bidirectional}): HF vs Mesh TF differ at {bad[:5]}"
        worst = max(worst, max(hf))
    return worst


# ======================================================================
# BLOOM (transformers/models/bloom/modeling_bloom.py)


def alibi_slopes_hf(n_head):
    """build_alibi_tensor's slopes, as BLOOM computes them (float32)."""
    closest_power_of_2 = 2 ** math.floor(math.log2(n_head))
    base = torch.tensor(2 ** (-(2 ** -(math.log2(closest_power_of_2) - 3))), dtype=torch.float32)
    powers = torch.arange(1, 1 + closest_power_of_2, dtype=torch.int32)
    slopes = torch.pow(base, powers)
    if closest_power_of_2 != n_head:
        extra_base = torch.tensor(2 ** (-(2 ** -(math.log2(2 * closest_power_of_2) - 3))), dtype=torch.float32)
        num_remaining_heads = min(closest_power_of_2, n_head - closest_power_of_2)
        extra_powers = torch.arange(1, 1 + 2 * num_remaining_heads, 2, dtype=torch.int32)
        slopes = torch.cat([slopes, torch.pow(extra_base, extra_powers)], dim=0)
    return slopes


def alibi_slopes_paper(n):
    """Press et al. 2022 (ALiBi), get_slopes of the authors' code (ofirpress/attention_with_linear_biases)."""
    def pow2(n):
        start = 2 ** (-(2 ** -(math.log2(n) - 3)))
        return [start * start**i for i in range(n)]
    if math.log2(n).is_integer():
        return pow2(n)
    c = 2 ** math.floor(math.log2(n))
    return pow2(c) + alibi_slopes_paper(2 * c)[0::2][: n - c]


def make_bloom(g):
    a = dict(V=128, D=24, H=6, L=2, T=72)
    D, H = a["D"], a["H"]
    hd = D // H
    eps = 1e-5
    W = {"transformer.word_embeddings.weight": g.w((a["V"], D), 0.3),
         "transformer.word_embeddings_layernorm.weight": g.gain(D),
         "transformer.word_embeddings_layernorm.bias": g.w((D,), 0.05)}
    for i in range(a["L"]):
        h = f"transformer.h.{i}."
        W[h + "input_layernorm.weight"], W[h + "input_layernorm.bias"] = g.gain(D), g.w((D,), 0.05)
        W[h + "self_attention.query_key_value.weight"] = g.w((3 * D, D), 0.3)  # per head: [q; k; v] rows
        W[h + "self_attention.query_key_value.bias"] = g.w((3 * D,), 0.05)
        W[h + "self_attention.dense.weight"], W[h + "self_attention.dense.bias"] = g.w((D, D), 0.3), g.w((D,), 0.05)
        W[h + "post_attention_layernorm.weight"], W[h + "post_attention_layernorm.bias"] = g.gain(D), g.w((D,), 0.05)
        W[h + "mlp.dense_h_to_4h.weight"], W[h + "mlp.dense_h_to_4h.bias"] = g.w((4 * D, D)), g.w((4 * D,), 0.05)
        W[h + "mlp.dense_4h_to_h.weight"], W[h + "mlp.dense_4h_to_h.bias"] = g.w((D, 4 * D), 0.3), g.w((D,), 0.05)
    W["transformer.ln_f.weight"], W["transformer.ln_f.bias"] = g.gain(D), g.w((D,), 0.05)
    cfg = {
        "apply_residual_connection_post_layernorm": False, "architectures": ["BloomForCausalLM"],
        "attention_dropout": 0.0, "attention_softmax_in_fp32": True, "bias_dropout_fusion": True, "bos_token_id": 1,
        "eos_token_id": 2, "hidden_dropout": 0.0, "hidden_size": D, "initializer_range": 0.02,
        "layer_norm_epsilon": eps, "masked_softmax_fusion": True, "model_type": "bloom", "n_head": H,
        "n_layer": a["L"], "pad_token_id": 3, "pretraining_tp": 1, "slow_but_exact": False,
        "torch_dtype": "float32", "transformers_version": "4.46.3", "unk_token_id": 0, "use_cache": True,
        "vocab_size": a["V"],
    }
    slopes = alibi_slopes_hf(H).to(DT)

    def unfuse(h):
        """query_key_value rows are [head 0: q k v][head 1: q k v]...; return q, k, v row blocks."""
        w = T(W, h + "self_attention.query_key_value.weight").view(H, 3, hd, D)
        b = T(W, h + "self_attention.query_key_value.bias").view(H, 3, hd)
        return ([w[:, j].reshape(D, D) for j in range(3)], [b[:, j].reshape(D) for j in range(3)])

    def with_torch(ids):
        t = len(ids)
        emb = nn.Embedding.from_pretrained(T(W, "transformer.word_embeddings.weight"))
        ln0 = torch_ln(W, "transformer.word_embeddings_layernorm", D, eps)
        x = ln0(emb(torch.tensor(ids)))[None]
        # ALiBi as the additive mask nn.MultiheadAttention takes per head ([N*H, T, T]):
        # slope * (key position - query position), -inf above the diagonal.
        rel = (torch.arange(t)[None, :] - torch.arange(t)[:, None]).to(DT)
        mask = slopes[:, None, None] * rel[None]
        mask = mask.masked_fill(bool_causal(t)[None], float("-inf"))
        for i in range(a["L"]):
            h = f"transformer.h.{i}."
            (wq, wk, wv), (bq, bk, bv) = unfuse(h)
            p = {
                "self_attn.in_proj_weight": torch.cat([wq, wk, wv]), "self_attn.in_proj_bias": torch.cat([bq, bk, bv]),
                "self_attn.out_proj.weight": T(W, h + "self_attention.dense.weight"),
                "self_attn.out_proj.bias": T(W, h + "self_attention.dense.bias"),
                "linear1.weight": T(W, h + "mlp.dense_h_to_4h.weight"),
                "linear1.bias": T(W, h + "mlp.dense_h_to_4h.bias"),
                "linear2.weight": T(W, h + "mlp.dense_4h_to_h.weight"),
                "linear2.bias": T(W, h + "mlp.dense_4h_to_h.bias"),
                "norm1.weight": T(W, h + "input_layernorm.weight"), "norm1.bias": T(W, h + "input_layernorm.bias"),
                "norm2.weight": T(W, h + "post_attention_layernorm.weight"),
                "norm2.bias": T(W, h + "post_attention_layernorm.bias"),
            }
            x = encoder_layer(D, H, 4 * D, gelu_tanh_torch, eps, True, p)(x, src_mask=mask)
        return torch_ln(W, "transformer.ln_f", D, eps)(x)[0] @ emb.weight.t()

    def manual(ids):
        t = len(ids)

        def ln(n, x):
            return layer_norm(x, T(W, n + ".weight"), T(W, n + ".bias"), eps)

        # build_alibi_tensor: slope * key position (shift-invariant per row, so = slope * (k - q))
        alibi = torch.tensor(alibi_slopes_paper(H), dtype=DT)[:, None, None] * torch.arange(t, dtype=DT)[None, None, :]
        x = ln("transformer.word_embeddings_layernorm", T(W, "transformer.word_embeddings.weight")[ids])
        for i in range(a["L"]):
            h = f"transformer.h.{i}."
            y = ln(h + "input_layernorm", x)
            n = h + "self_attention.query_key_value"
            fused = y @ T(W, n + ".weight").t() + T(W, n + ".bias")
            fused = fused.view(t, H, 3, hd)  # BloomAttention._split_heads
            q, k, v = (fused[:, :, j].transpose(0, 1) for j in range(3))
            # baddbmm(alibi, q, k^T, beta=1, alpha=1/sqrt(hd)), then the causal mask
            o = attend(q, k, v, 1.0 / math.sqrt(hd), alibi + causal_add(t, t))
            x = x + merge(o) @ T(W, h + "self_attention.dense.weight").t() + T(W, h + "self_attention.dense.bias")
            y = ln(h + "post_attention_layernorm", x)
            y = bloom_gelu(y @ T(W, h + "mlp.dense_h_to_4h.weight").t() + T(W, h + "mlp.dense_h_to_4h.bias"))
            x = x + y @ T(W, h + "mlp.dense_4h_to_h.weight").t() + T(W, h + "mlp.dense_4h_to_h.bias")
        return ln("transformer.ln_f", x) @ T(W, "transformer.word_embeddings.weight").t()

    return a, cfg, W, {"torch": with_torch, "manual": manual}


# ======================================================================
# Llama, Mistral, Qwen2 (modeling_llama.py, modeling_mistral.py, modeling_qwen2.py;
# rope scalings from modeling_rope_utils.py)


def head_dim(c):  # head_dim when the config has it, else hidden_size / num_attention_heads
    return c.get("head_dim") or c["hidden_size"] // c["num_attention_heads"]


def rotary_dim(c):  # modeling_rope_utils: int(head_dim * partial_rotary_factor), the dims that turn
    return int(head_dim(c) * c.get("partial_rotary_factor", 1.0))


def inv_freq_hf(c, seq_len=None):
    """The rope init functions of modeling_rope_utils.py (float32, as HF keeps them)."""
    dim = rotary_dim(c)
    base = c["rope_theta"]
    rs = c.get("rope_scaling") or {}
    kind = rs.get("rope_type", rs.get("type", "default"))
    if kind == "dynamic":  # _compute_dynamic_ntk_parameters; seq_len = max(position_ids) + 1
        mp, factor = c["max_position_embeddings"], rs["factor"]
        seq_len = seq_len if seq_len is not None and seq_len > mp else mp
        base = base * ((factor * seq_len / mp) - (factor - 1)) ** (dim / (dim - 2))
    inv_freq = 1.0 / (base ** (torch.arange(0, dim, 2, dtype=torch.int64).float() / dim))
    if kind == "linear":  # _compute_linear_scaling_rope_parameters
        inv_freq = inv_freq / rs["factor"]
    elif kind == "llama3":  # _compute_llama3_parameters
        factor, lo, hi = rs["factor"], rs["low_freq_factor"], rs["high_freq_factor"]
        old = rs["original_max_position_embeddings"]
        low_freq_wavelen, high_freq_wavelen = old / lo, old / hi
        wavelen = 2 * math.pi / inv_freq
        inv_freq_llama = torch.where(wavelen > low_freq_wavelen, inv_freq / factor, inv_freq)
        smooth_factor = (old / wavelen - lo) / (hi - lo)
        smoothed = (1 - smooth_factor) * inv_freq_llama / factor + smooth_factor * inv_freq_llama
        is_medium = ~(wavelen < high_freq_wavelen) * ~(wavelen > low_freq_wavelen)
        inv_freq = torch.where(is_medium, smoothed, inv_freq_llama)
    else:
        assert kind in ("default", "linear", "dynamic"), kind
    return inv_freq


def freqs_meta(c, seq_len):
    """Meta's reference: precompute_freqs_cis frequencies in double, with llama3.1's
    apply_scaling loop (meta-llama/llama-models, reference model.py); linear as
    position interpolation (t / factor); dynamic NTK per the /u/emozilla formula."""
    dim, theta = rotary_dim(c), c["rope_theta"]
    rs = c.get("rope_scaling") or {}
    kind = rs.get("rope_type", rs.get("type", "default"))
    if kind == "dynamic" and seq_len > c["max_position_embeddings"]:
        s = rs["factor"] * seq_len / c["max_position_embeddings"] - (rs["factor"] - 1)
        theta = theta * s ** (dim / (dim - 2))
    freqs = [1.0 / theta ** (i / dim) for i in range(0, dim, 2)]
    if kind == "linear":
        freqs = [f / rs["factor"] for f in freqs]
    if kind == "llama3":
        scale_factor, low_freq_factor, high_freq_factor = rs["factor"], rs["low_freq_factor"], rs["high_freq_factor"]
        old_context_len = rs["original_max_position_embeddings"]
        low_freq_wavelen = old_context_len / low_freq_factor
        high_freq_wavelen = old_context_len / high_freq_factor
        new_freqs = []
        for freq in freqs:
            wavelen = 2 * math.pi / freq
            if wavelen < high_freq_wavelen:
                new_freqs.append(freq)
            elif wavelen > low_freq_wavelen:
                new_freqs.append(freq / scale_factor)
            else:
                smooth = (old_context_len / wavelen - low_freq_factor) / (high_freq_factor - low_freq_factor)
                new_freqs.append((1 - smooth) * freq / scale_factor + smooth * freq)
        freqs = new_freqs
    return torch.tensor(freqs, dtype=DT)


def rotate_half(x):
    x1, x2 = x[..., : x.shape[-1] // 2], x[..., x.shape[-1] // 2:]
    return torch.cat((-x2, x1), dim=-1)


def llama_chunk(c, W, ids, start, cache, inv_freq):
    """LlamaModel + lm_head over tokens at positions start.., with a KV cache of
    post-RoPE keys (list per layer of [k, v], each [kv_heads, S, hd]).
    Qwen2 adds q/k/v biases; Mistral's head_dim may differ from hidden / heads."""
    H, KV, hd, eps = c["num_attention_heads"], c["num_key_value_heads"], head_dim(c), c["rms_norm_eps"]
    rot = rotary_dim(c)
    t = len(ids)
    x = T(W, "model.embed_tokens.weight")[ids]
    pos = torch.arange(start, start + t)
    freqs = torch.outer(pos.to(DT), inv_freq.to(DT))  # LlamaRotaryEmbedding: inv_freq (float32) x positions
    emb = torch.cat((freqs, freqs), dim=-1)
    cos, sin = emb.cos()[None], emb.sin()[None]
    bias = c["model_type"] == "qwen2" or c.get("attention_bias", False)

    def proj(n, x):
        y = x @ T(W, n + ".weight").t()
        return y + T(W, n + ".bias") if bias else y

    for i in range(c["num_hidden_layers"]):
        h = f"model.layers.{i}."
        y = rms_norm(x, T(W, h + "input_layernorm.weight"), eps)
        q = heads(proj(h + "self_attn.q_proj", y), H)
        k = heads(proj(h + "self_attn.k_proj", y), KV)
        v = heads(proj(h + "self_attn.v_proj", y), KV)
        # apply_rotary_pos_emb; partial rotary as GPT-NeoX: turn the first rot dims, pass the rest
        q = torch.cat((q[..., :rot] * cos + rotate_half(q[..., :rot]) * sin, q[..., rot:]), -1)
        k = torch.cat((k[..., :rot] * cos + rotate_half(k[..., :rot]) * sin, k[..., rot:]), -1)
        if cache[i]:
            k, v = torch.cat([cache[i][0], k], 1), torch.cat([cache[i][1], v], 1)
        cache[i] = [k, v]
        k, v = k.repeat_interleave(H // KV, 0), v.repeat_interleave(H // KV, 0)  # repeat_kv
        o = attend(q, k, v, 1.0 / math.sqrt(hd), causal_add(t, k.shape[1], start))
        x = x + merge(o) @ T(W, h + "self_attn.o_proj.weight").t()
        y = rms_norm(x, T(W, h + "post_attention_layernorm.weight"), eps)
        g_, u = y @ T(W, h + "mlp.gate_proj.weight").t(), y @ T(W, h + "mlp.up_proj.weight").t()
        x = x + (F.silu(g_) * u) @ T(W, h + "mlp.down_proj.weight").t()  # LlamaMLP, SwiGLU
    x = rms_norm(x, T(W, "model.norm.weight"), eps)
    head = "model.embed_tokens.weight" if c["tie_word_embeddings"] else "lm_head.weight"
    return x @ T(W, head).t()


def unpermute(w, n_heads, rot):
    """Inverse of convert_llama_weights_to_hf.py's permute: HF half-split rows back
    to Meta's interleaved pairs ([..., 2i], [..., 2i+1] rotate together), for the
    first `rot` rows of each head (the rest do not turn and stay in place)."""
    rows = w.shape[0]
    rest = w.shape[1:]
    w = w.reshape(n_heads, rows // n_heads, *rest)
    turned = w[:, :rot].reshape(n_heads, 2, rot // 2, *rest).transpose(1, 2).reshape(n_heads, rot, *rest)
    return torch.cat((turned, w[:, rot:]), 1).reshape(rows, *rest)


def llama_meta(c, W, ids, freqs):
    """Meta's llama reference model.py (Transformer.forward, full sequence), on the
    HF checkpoint after unpermute: complex rotation of interleaved pairs."""
    H, KV, hd, eps = c["num_attention_heads"], c["num_key_value_heads"], head_dim(c), c["rms_norm_eps"]
    rot = rotary_dim(c)
    t = len(ids)
    bias = c["model_type"] == "qwen2"
    freqs_cis = torch.polar(torch.ones(t, rot // 2, dtype=DT), torch.outer(torch.arange(t, dtype=DT), freqs))
    mask = torch.triu(torch.full((t, t), float("-inf"), dtype=DT), 1)
    x = T(W, "model.embed_tokens.weight")[ids]
    for i in range(c["num_hidden_layers"]):
        h = f"model.layers.{i}.self_attn."
        wq, wk = unpermute(T(W, h + "q_proj.weight"), H, rot), unpermute(T(W, h + "k_proj.weight"), KV, rot)
        y = rms_norm(x, T(W, f"model.layers.{i}.input_layernorm.weight"), eps)
        xq, xk, xv = y @ wq.t(), y @ wk.t(), y @ T(W, h + "v_proj.weight").t()
        if bias:
            xq = xq + unpermute(T(W, h + "q_proj.bias"), H, rot)
            xk = xk + unpermute(T(W, h + "k_proj.bias"), KV, rot)
            xv = xv + T(W, h + "v_proj.bias")
        xq, xk = xq.reshape(t, H, hd), xk.reshape(t, KV, hd)
        xq_ = torch.view_as_complex(xq[..., :rot].reshape(t, H, rot // 2, 2).contiguous())
        xk_ = torch.view_as_complex(xk[..., :rot].reshape(t, KV, rot // 2, 2).contiguous())
        xq = torch.cat((torch.view_as_real(xq_ * freqs_cis[:, None, :]).flatten(2), xq[..., rot:]), -1)  # apply_rotary_emb
        xk = torch.cat((torch.view_as_real(xk_ * freqs_cis[:, None, :]).flatten(2), xk[..., rot:]), -1)
        xv = xv.view(t, KV, hd)
        rep = H // KV
        keys = xk[:, :, None, :].expand(t, KV, rep, hd).reshape(t, H, hd)  # repeat_kv
        values = xv[:, :, None, :].expand(t, KV, rep, hd).reshape(t, H, hd)
        scores = torch.einsum("qhd,khd->hqk", xq, keys) / math.sqrt(hd) + mask
        out = torch.einsum("hqk,khd->qhd", F.softmax(scores, dim=-1), values).reshape(t, H * hd)
        x = x + out @ T(W, h + "o_proj.weight").t()
        y = rms_norm(x, T(W, f"model.layers.{i}.post_attention_layernorm.weight"), eps)
        m = f"model.layers.{i}.mlp."
        gate, up = y @ T(W, m + "gate_proj.weight").t(), y @ T(W, m + "up_proj.weight").t()
        x = x + (F.silu(gate) * up) @ T(W, m + "down_proj.weight").t()
    x = rms_norm(x, T(W, "model.norm.weight"), eps)
    return x @ T(W, "model.embed_tokens.weight" if c["tie_word_embeddings"] else "lm_head.weight").t()


def llama_weights(c, g):
    D, H, KV, hd = c["hidden_size"], c["num_attention_heads"], c["num_key_value_heads"], head_dim(c)
    I = c["intermediate_size"]
    V = c["vocab_size"]
    bias = c["model_type"] == "qwen2"
    W = {"model.embed_tokens.weight": g.w((V, D), 0.3)}
    for i in range(c["num_hidden_layers"]):
        h = f"model.layers.{i}."
        W[h + "input_layernorm.weight"] = g.gain(D)
        W[h + "self_attn.q_proj.weight"] = g.w((H * hd, D), 0.3)
        W[h + "self_attn.k_proj.weight"] = g.w((KV * hd, D), 0.3)
        W[h + "self_attn.v_proj.weight"] = g.w((KV * hd, D))
        if bias:
            W[h + "self_attn.q_proj.bias"] = g.w((H * hd,), 0.2)
            W[h + "self_attn.k_proj.bias"] = g.w((KV * hd,), 0.2)
            W[h + "self_attn.v_proj.bias"] = g.w((KV * hd,), 0.05)
        W[h + "self_attn.o_proj.weight"] = g.w((D, H * hd))
        W[h + "post_attention_layernorm.weight"] = g.gain(D)
        W[h + "mlp.gate_proj.weight"], W[h + "mlp.up_proj.weight"] = g.w((I, D), 0.3), g.w((I, D))
        W[h + "mlp.down_proj.weight"] = g.w((D, I))
    W["model.norm.weight"] = g.gain(D)
    if not c["tie_word_embeddings"]:
        W["lm_head.weight"] = g.w((V, D), 0.3)
    return W


def llama_config(arch, model_type, V, D, H, KV, hd, I, max_pos, theta, eps, rope_scaling, tied, extra=None):
    cfg = {
        "architectures": [arch], "attention_bias": False, "attention_dropout": 0.0, "bos_token_id": 1,
        "eos_token_id": 2, "head_dim": hd, "hidden_act": "silu", "hidden_size": D, "initializer_range": 0.02,
        "intermediate_size": I, "max_position_embeddings": max_pos, "mlp_bias": False, "model_type": model_type,
        "num_attention_heads": H, "num_hidden_layers": 2, "num_key_value_heads": KV, "pretraining_tp": 1,
        "rms_norm_eps": eps, "rope_scaling": rope_scaling, "rope_theta": theta, "tie_word_embeddings": tied,
        "torch_dtype": "float32", "transformers_version": "4.46.3", "use_cache": True, "vocab_size": V,
    }
    if model_type != "llama":  # MistralConfig / Qwen2Config have no attention_bias, mlp_bias, pretraining_tp
        for k in ("attention_bias", "mlp_bias", "pretraining_tp"):
            del cfg[k]
    cfg.update(extra or {})
    return dict(sorted(cfg.items()))


def make_rope_model(cfg, T_len):
    def build(g):
        W = llama_weights(cfg, g)
        a = dict(V=cfg["vocab_size"], T=T_len)
        rs = cfg.get("rope_scaling") or {}
        dynamic = rs.get("rope_type", rs.get("type")) == "dynamic"

        def full(ids):  # one forward over the whole sequence: seq_len = len(ids)
            return llama_chunk(cfg, W, ids, 0, [None] * cfg["num_hidden_layers"], inv_freq_hf(cfg, len(ids)))

        def meta(ids):
            return llama_meta(cfg, W, ids, freqs_meta(cfg, len(ids)))

        def cached_greedy(ids, steps):
            """HF generate with its KV cache: the prompt in one forward, then one token per
            step. Dynamic NTK recomputes inv_freq from max(position_ids)+1 at each call
            (LlamaRotaryEmbedding._dynamic_frequency_update); cached keys keep their rotation."""
            cache = [None] * cfg["num_hidden_layers"]
            logits = llama_chunk(cfg, W, ids, 0, cache, inv_freq_hf(cfg, len(ids)))
            out, steps_logits = [], [logits[-1]]
            for s in range(steps):
                nxt = int(torch.argmax(steps_logits[-1]))
                out.append(nxt)
                if s + 1 == steps:
                    break
                p = len(ids) + s
                steps_logits.append(llama_chunk(cfg, W, [nxt], p, cache, inv_freq_hf(cfg, p + 1))[-1])
            return out, steps_logits

        return a, cfg, W, {"full": full, "meta": meta, "cached_greedy": cached_greedy, "dynamic": dynamic}
    return build


LLAMA31 = llama_config("LlamaForCausalLM", "llama", 128, 32, 4, 2, 8, 48, 2048, 500000.0, 1e-5,
                       {"factor": 8.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0,
                        "original_max_position_embeddings": 256, "rope_type": "llama3"}, False)
LLAMA_LINEAR = llama_config("LlamaForCausalLM", "llama", 112, 32, 4, 4, 8, 64, 128, 10000.0, 1e-6,
                            {"factor": 2.0, "type": "linear"}, False)
LLAMA_DYNAMIC = llama_config("LlamaForCausalLM", "llama", 100, 32, 4, 2, 8, 64, 64, 10000.0, 1e-5,
                             {"factor": 2.0, "rope_type": "dynamic", "type": "dynamic"}, False)
MISTRAL = llama_config("MistralForCausalLM", "mistral", 100, 32, 4, 1, 16, 48, 128, 1000000.0, 1e-5, None, False,
                       {"sliding_window": None})
del MISTRAL["rope_scaling"]
QWEN2 = llama_config("Qwen2ForCausalLM", "qwen2", 128, 32, 4, 2, 8, 48, 128, 1000000.0, 1e-6, None, True,
                     {"max_window_layers": 2, "sliding_window": 128, "use_sliding_window": False})
del QWEN2["head_dim"]  # Qwen2Config has no head_dim: hidden_size / num_attention_heads
# Partial rotary (GPT-NeoX rotary_pct, Phi-3 / StableLM partial_rotary_factor) on Llama's modules:
# 8 of each head's 16 dims turn. HF's LlamaAttention itself turns the whole head.
LLAMA_PARTIAL = llama_config("LlamaForCausalLM", "llama", 96, 32, 4, 2, 16, 48, 128, 10000.0, 1e-5, None, False,
                             {"partial_rotary_factor": 0.5})


# ======================================================================
# CoPE (Golovneva et al. 2024, "Contextual Position Encoding")


def cope_paper(query, attn_logits, pos_emb, npos_max):
    """CoPE.forward of the paper's reference code: positions are the reverse
    cumulative sums of sigmoid gates, clamped, and the position logits are
    interpolated between the integer positions around each."""
    gates = torch.sigmoid(attn_logits)
    pos = gates.flip(-1).cumsum(dim=-1).flip(-1)
    pos = pos.clamp(max=npos_max - 1)
    pos_ceil = pos.ceil().long()
    pos_floor = pos.floor().long()
    logits_int = torch.matmul(query, pos_emb)
    logits_ceil = logits_int.gather(-1, pos_ceil)
    logits_floor = logits_int.gather(-1, pos_floor)
    w = pos - pos_floor
    return logits_ceil * w + logits_floor * (1 - w)


def cope_attn_paper(query, key, val, mask, pos_emb, npos_max):
    """SelfAttn.forward of the paper's reference code (heads as the batch)."""
    attn_logits = torch.bmm(query, key.transpose(-1, -2))
    attn_logits = attn_logits / math.sqrt(query.shape[-1])
    attn_logits += mask.log()
    attn_logits += cope_paper(query, attn_logits, pos_emb, npos_max)
    attn = torch.softmax(attn_logits, dim=-1)
    return torch.bmm(attn, val)


def cope_attn_loop(q, k, v, pos_emb, npos_max):
    """The same, one query and one key at a time: key j's position is the sum of
    the gates of keys j..i, for query i."""
    H, t, hd = q.shape
    out = torch.zeros_like(q)
    for h in range(H):
        for i in range(t):
            z = [float(q[h, i] @ k[h, j]) / math.sqrt(hd) for j in range(i + 1)]
            e = q[h, i] @ pos_emb[h if pos_emb.shape[0] > 1 else 0]  # [npos]
            biased, position = [0.0] * (i + 1), 0.0
            for j in range(i, -1, -1):
                position += 1.0 / (1.0 + math.exp(-z[j]))
                p = min(position, npos_max - 1)
                lo, hi = math.floor(p), math.ceil(p)
                biased[j] = z[j] + float(e[hi]) * (p - lo) + float(e[lo]) * (1 - (p - lo))
            w = torch.softmax(torch.tensor(biased, dtype=DT), 0)
            out[h, i] = w @ v[h, : i + 1]
    return out


def make_cope(g):
    """A Llama-style decoder (RMSNorm, SwiGLU, MHA, untied) whose only position
    signal is CoPE in every layer; no Hugging Face class has it, so the fixture
    carries its spec (spec.yaml) and config.json is descriptive."""
    cfg = llama_config("CoPELlamaForCausalLM", "llama-cope", 96, 32, 4, 4, 8, 48, 128, 10000.0, 1e-5, None, False,
                       {"cope_max_positions": 16})
    for k in ("rope_scaling", "rope_theta"):
        del cfg[k]
    npos, H, hd = cfg["cope_max_positions"], 4, 8
    W = llama_weights(cfg, g)
    for i in range(cfg["num_hidden_layers"]):
        W[f"model.layers.{i}.self_attn.cope.pos_emb"] = g.w((hd, npos), 0.5)
    a = dict(V=cfg["vocab_size"], T=72)

    def forward(ids, attention):
        t, eps = len(ids), cfg["rms_norm_eps"]
        x = T(W, "model.embed_tokens.weight")[ids]
        for i in range(cfg["num_hidden_layers"]):
            h = f"model.layers.{i}."
            y = rms_norm(x, T(W, h + "input_layernorm.weight"), eps)
            q, k, v = (heads(y @ T(W, h + f"self_attn.{p}_proj.weight").t(), H) for p in "qkv")
            o = attention(q, k, v, T(W, h + "self_attn.cope.pos_emb")[None], npos)
            x = x + merge(o) @ T(W, h + "self_attn.o_proj.weight").t()
            y = rms_norm(x, T(W, h + "post_attention_layernorm.weight"), eps)
            g_, u = y @ T(W, h + "mlp.gate_proj.weight").t(), y @ T(W, h + "mlp.up_proj.weight").t()
            x = x + (F.silu(g_) * u) @ T(W, h + "mlp.down_proj.weight").t()
        return rms_norm(x, T(W, "model.norm.weight"), eps) @ T(W, "lm_head.weight").t()

    def paper(ids):
        mask = torch.tril(torch.ones(len(ids), len(ids), dtype=DT))[None]
        return forward(ids, lambda q, k, v, e, n: cope_attn_paper(q, k, v, mask, e, n))

    return a, cfg, W, {"torch": paper, "manual": lambda ids: forward(ids, cope_attn_loop)}


COPE_SPEC = """\
# The cope fixture's architecture (tests/reference/make_hf_fixtures.py writes
# it: no Hugging Face class has CoPE, so lmc import cannot derive it).
lmc: 1
name: cope
family: decoder
sizes:
  vocab: 96
  d_model: 32
  n_layers: 2
  max_seq_len: 128
attention:
  n_heads: 4
norm:
  kind: rmsnorm
  eps: 1.0e-5
feed_forward:
  activation: swiglu
  hidden: 48
position:
  kind: cope
  cope:
    max_positions: 16
tokenizer:
  kind: none
weights:
  format: safetensors
  layout: llama
  names:
    cope: "model.layers.{layer}.self_attn.cope.pos_emb"
"""


def run_cope(fx, seed):
    checks = run_decoder(fx, make_cope, seed)
    with open(os.path.join(fx.dir, "spec.yaml"), "w") as f:
        f.write(COPE_SPEC)
    return checks


# ======================================================================
# Vaswani et al. 2017 with torch.nn.Transformer


def sinusoid(n, d):
    """Vaswani et al. §3.5: PE(pos, 2i) = sin(pos / 10000^(2i/d)), PE(pos, 2i+1) = cos(same)."""
    pe = torch.zeros(n, d, dtype=DT)
    pos = torch.arange(n, dtype=DT)[:, None]
    div = torch.exp(torch.arange(0, d, 2, dtype=DT) * (-math.log(10000.0) / d))
    pe[:, 0::2] = torch.sin(pos * div)
    pe[:, 1::2] = torch.cos(pos * div)
    return pe


def make_vaswani(g):
    a = dict(V=96, D=24, H=4, ff=48, L=2, Ld=2, P=80, T=20, Tdec=16)
    D, ff, eps = a["D"], a["ff"], 1e-5
    model = nn.Transformer(D, a["H"], a["L"], a["Ld"], ff, dropout=0.0, activation="relu", layer_norm_eps=eps,
                           batch_first=True, norm_first=False)
    W = {"shared.weight": g.w((a["V"], D), 0.3)}
    for k, v in model.state_dict().items():
        if k.endswith("norm.weight") or k.endswith(("norm1.weight", "norm2.weight", "norm3.weight")):
            W["transformer." + k] = g.gain(v.shape[0])
        elif k.endswith("bias"):
            W["transformer." + k] = g.w(tuple(v.shape), 0.05)
        else:
            W["transformer." + k] = g.w(tuple(v.shape), 0.3 if "in_proj" in k else 0.15)
    cfg = {
        "architectures": ["TorchNNTransformer"], "model_type": "torch-nn-transformer",
        "d_model": D, "nhead": a["H"], "num_encoder_layers": a["L"], "num_decoder_layers": a["Ld"],
        "dim_feedforward": ff, "activation": "relu", "layer_norm_eps": eps, "norm_first": False,
        "vocab_size": a["V"], "max_position_embeddings": a["P"], "position_embedding": "sinusoidal",
        "embedding_scale": math.sqrt(D), "tie_word_embeddings": True, "decoder_start_token_id": 1,
        "eos_token_id": 2, "pad_token_id": 0, "torch_dtype": "float32",
    }
    model = load_module(model, {k[len("transformer."):]: T(W, k) for k in W if k.startswith("transformer.")})
    E = T(W, "shared.weight")
    pe = sinusoid(a["P"], D)

    def embed(ids):
        return E[ids] * math.sqrt(D) + pe[: len(ids)]

    def with_torch(src, tgt):
        out = model(embed(src)[None], embed(tgt)[None], tgt_mask=bool_causal(len(tgt)))
        return out[0] @ E.t()

    def manual(src, tgt):
        H = a["H"]

        def p(n):
            return T(W, "transformer." + n)

        def mha(pre, x, kv, add):
            wq, wk, wv = p(pre + "in_proj_weight").split(D)
            bq, bk, bv = p(pre + "in_proj_bias").split(D)
            q, k, v = heads(x @ wq.t() + bq, H), heads(kv @ wk.t() + bk, H), heads(kv @ wv.t() + bv, H)
            o = merge(attend(q, k, v, 1.0 / math.sqrt(D // H), add))
            return o @ p(pre + "out_proj.weight").t() + p(pre + "out_proj.bias")

        def ln(n, x):
            return layer_norm(x, p(n + ".weight"), p(n + ".bias"), eps)

        def ffn(pre, x):
            y = torch.relu(x @ p(pre + "linear1.weight").t() + p(pre + "linear1.bias"))
            return y @ p(pre + "linear2.weight").t() + p(pre + "linear2.bias")

        x = embed(src)
        for i in range(a["L"]):  # post-LN: x = norm(x + sublayer(x))
            e = f"encoder.layers.{i}."
            x = ln(e + "norm1", x + mha(e + "self_attn.", x, x, None))
            x = ln(e + "norm2", x + ffn(e, x))
        mem = ln("encoder.norm", x)
        y = embed(tgt)
        for i in range(a["Ld"]):
            d = f"decoder.layers.{i}."
            y = ln(d + "norm1", y + mha(d + "self_attn.", y, y, causal_add(len(tgt), len(tgt))))
            y = ln(d + "norm2", y + mha(d + "multihead_attn.", y, mem, None))
            y = ln(d + "norm3", y + ffn(d, y))
        return ln("decoder.norm", y) @ E.t()

    return a, cfg, W, {"torch": with_torch, "manual": manual}


# ======================================================================
# driver


class Fixture:
    def __init__(self, name, out):
        self.name, self.dir = name, os.path.join(out, name)
        os.makedirs(self.dir, exist_ok=True)
        self.expected = {"fixture": name}
        self.checks = {}

    def array(self, key, t):
        arr = t.detach().numpy().astype("<f4")
        np.save(os.path.join(self.dir, key + ".npy"), arr)
        self.expected.setdefault("outputs", {})[key] = {"file": key + ".npy", "shape": list(arr.shape),
                                                        "max_abs": round(float(np.abs(arr).max()), 4)}

    def cross(self, what, a, b):
        d = max_diff(a, b)
        if not d <= CROSS_TOL:
            sys.exit(f"make_hf_fixtures.py: {self.name}: {what} differ by {d:.3e} > {CROSS_TOL}")
        self.checks[what] = d

    def write(self, cfg, W):
        with open(os.path.join(self.dir, "config.json"), "w") as f:
            json.dump(cfg, f, indent=2)
            f.write("\n")
        names = sorted(W)  # safetensors orders the data by name
        path = os.path.join(self.dir, "model.safetensors")
        write_safetensors(path, [(n, torch.from_numpy(W[n])) for n in names], "F32")
        back = read_safetensors(path)
        assert sorted(back) == names
        for n in names:
            assert np.array_equal(back[n], W[n].astype(np.float64)), n
        self.expected["parameters"] = int(sum(w.size for w in W.values()))
        with open(os.path.join(self.dir, "expected.json"), "w") as f:
            json.dump(self.expected, f, indent=1)
            f.write("\n")
        return self.checks


def greedy(step_fn, ids, steps=GREEDY_STEPS):
    """Greedy decoding, each step a full forward over the sequence so far (no cache).
    Returns the new ids and the smallest top-1/top-2 logit gap met."""
    ids = list(ids)
    new, gap = [], math.inf
    for _ in range(steps):
        last = step_fn(ids)
        top2 = torch.topk(last, 2).values
        gap = min(gap, float(top2[0] - top2[1]))
        nxt = int(torch.argmax(last))
        new.append(nxt)
        ids.append(nxt)
    return new, gap


def check_gap(fx, gap, new):
    if gap < GAP_MIN:
        sys.exit(f"make_hf_fixtures.py: {fx.name}: top-2 logit gap {gap:.2e} < {GAP_MIN} in greedy decoding; "
                 "change the seed")
    if len(set(new)) < 3:  # a decode path that drops the fed-back id could still match a constant run
        sys.exit(f"make_hf_fixtures.py: {fx.name}: greedy ids {new} have fewer than 3 distinct values; change the seed")
    fx.expected["greedy_min_top2_gap"] = round(gap, 4)


def run_decoder(fx, build, seed):
    g = Gen(seed)
    a, cfg, W, fns = build(g)
    ids = g.ids(a["T"], a["V"])
    with torch.no_grad():
        logits = fns["torch"](ids)
        fx.cross("torch module vs hand-written (logits)", logits, fns["manual"](ids))
        new, gap = greedy(lambda s: fns["torch"](s)[-1], ids)
        new2, _ = greedy(lambda s: fns["manual"](s)[-1], ids)
        assert new == new2, f"{fx.name}: greedy ids differ between the two formulations: {new} vs {new2}"
    check_gap(fx, gap, new)
    fx.expected.update({"input_ids": ids, "greedy_new_ids": new})
    fx.array("logits", logits)
    return fx.write(cfg, W)


def run_rope(fx, build, seed):
    g = Gen(seed)
    a, cfg, W, fns = build(g)
    ids = g.ids(a["T"], a["V"])
    with torch.no_grad():
        logits = fns["full"](ids)
        fx.cross("HF rotate_half vs Meta complex interleaved (logits)", logits, fns["meta"](ids))
        new, gap = greedy(lambda s: fns["full"](s)[-1], ids)
        new_meta, _ = greedy(lambda s: fns["meta"](s)[-1], ids)
        assert new == new_meta, f"{fx.name}: greedy ids differ, HF {new} vs Meta {new_meta}"
        cached, step_logits = fns["cached_greedy"](ids, GREEDY_STEPS)
        if not fns["dynamic"]:
            # Prefill then one token at a time through the KV cache gives the same logits.
            assert cached == new, f"{fx.name}: cached greedy {cached} vs full {new}"
            full_logits = fns["full"](ids + new[:-1])[len(ids) - 1:]
            fx.cross("cached decode vs full forward (logits of the 8 steps)", torch.stack(step_logits), full_logits)
    check_gap(fx, gap, new)
    fx.expected.update({"input_ids": ids, "greedy_new_ids": new})
    if fns["dynamic"]:
        # Under dynamic NTK the two paths differ by design: in a full forward every
        # position uses the base of the current length; HF's cached generate rotates
        # each key once, with the base of the length when it was computed.
        fx.expected["greedy_new_ids_hf_cache"] = cached
        top2 = [torch.topk(r, 2).values for r in step_logits]
        check_gap(fx, min(gap, min(float(t[0] - t[1]) for t in top2)), cached)
        fx.expected["inv_freq_prefill"] = [float(x) for x in inv_freq_hf(cfg, a["T"])]
    else:
        fx.expected["inv_freq"] = [float(x) for x in inv_freq_hf(cfg)]
    fx.array("logits", logits)
    return fx.write(cfg, W)


def run_bert(fx, seed):
    g = Gen(seed)
    a, cfg, W, fns = make_bert(g)
    ids = g.ids(a["T"], a["V"])
    with torch.no_grad():
        ref, man = fns["torch"](ids), fns["manual"](ids)
    for k in ref:
        fx.cross(f"torch module vs hand-written ({k})", ref[k], man[k])
    fx.expected.update({"input_ids": ids, "token_type_ids": [0] * len(ids), "attention_mask": [1] * len(ids)})
    fx.array("last_hidden_state", ref["last_hidden_state"])
    fx.array("pooler_output", ref["pooler_output"])
    return fx.write(cfg, W)


def run_seq2seq(fx, a, cfg, W, g, decode_fn, start, cross=None):
    src = g.ids(a["T"], a["V"], low=2)
    tgt = [start] + g.ids(a["Tdec"] - 1, a["V"], low=2)
    with torch.no_grad():
        logits = decode_fn(src, tgt)
        if cross:
            fx.cross("torch module vs hand-written (logits)", logits, cross(src, tgt))
        new, gap = greedy(lambda s: decode_fn(src, s)[-1], [start])
        if cross:
            new2, _ = greedy(lambda s: cross(src, s)[-1], [start])
            assert new == new2, f"{fx.name}: greedy ids differ: {new} vs {new2}"
    check_gap(fx, gap, new)
    fx.expected.update({"encoder_input_ids": src, "decoder_input_ids": tgt, "greedy_new_ids": new,
                        "greedy_note": f"decoder starts from [{start}]; {GREEDY_STEPS} steps, EOS not special"})
    fx.array("logits", logits)
    return src, tgt


def run_t5(fx, seed):
    g = Gen(seed)
    a, cfg, W, fns = make_t5(g)
    fx.expected["max_bucket_checked"] = check_t5_buckets(a)
    src, tgt = run_seq2seq(fx, a, cfg, W, g, lambda s, t: fns["decode"](fns["encode"](s), t), 0)
    with torch.no_grad():
        mem = fns["encode"](src)
        fx.cross("cached decode (self and cross K/V) vs full forward (logits)",
                 fns["decode_cached"](mem, tgt), fns["decode"](mem, tgt))
        # Buckets the fixture reaches (a loader that clamps at the wrong place differs here).
        t = len(src)
        rel = torch.arange(t)[None, :] - torch.arange(t)[:, None]
        enc_b = t5_bucket_hf(rel, True, a["buckets"], a["maxdist"])
        td = len(tgt)
        rel = torch.arange(td)[None, :] - torch.arange(td)[:, None]
        dec_b = t5_bucket_hf(rel, False, a["buckets"], a["maxdist"])
    fx.expected["buckets_reached"] = {"encoder": sorted(set(enc_b.flatten().tolist())),
                                      "decoder": sorted(set(dec_b.flatten().tolist()))}
    fx.array("encoder_last_hidden_state", mem)
    return fx.write(cfg, W)


def run_vaswani(fx, seed):
    g = Gen(seed)
    a, cfg, W, fns = make_vaswani(g)
    run_seq2seq(fx, a, cfg, W, g, fns["torch"], cfg["decoder_start_token_id"], fns["manual"])
    return fx.write(cfg, W)


# name: (writer, seed). A seed is replaced when its greedy run is too close to a
# tie or too repetitive (the script says so).
FIXTURES = {
    "gpt2": (lambda fx, s: run_decoder(fx, make_gpt2, s), 105),
    "openai-gpt": (lambda fx, s: run_decoder(fx, make_gpt1, s), 129),
    "bert": (run_bert, 103),
    "t5": (run_t5, 102),
    "bloom": (lambda fx, s: run_decoder(fx, make_bloom, s), 115),
    "llama3.1": (lambda fx, s: run_rope(fx, make_rope_model(LLAMA31, 72), s), 101),
    "llama-linear": (lambda fx, s: run_rope(fx, make_rope_model(LLAMA_LINEAR, 24), s), 101),
    "llama-dynamic": (lambda fx, s: run_rope(fx, make_rope_model(LLAMA_DYNAMIC, 72), s), 101),
    "mistral": (lambda fx, s: run_rope(fx, make_rope_model(MISTRAL, 24), s), 101),
    "qwen2": (lambda fx, s: run_rope(fx, make_rope_model(QWEN2, 24), s), 101),
    "llama-partial": (lambda fx, s: run_rope(fx, make_rope_model(LLAMA_PARTIAL, 40), s), 101),
    "vaswani": (run_vaswani, 117),
    "cope": (run_cope, 101),
}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, help="folder to write the fixtures into (one subfolder each)")
    p.add_argument("--only", nargs="*", choices=sorted(FIXTURES), help="only these fixtures")
    p.add_argument("--seed", type=int, help="override the fixtures' seeds (to look for a better one)")
    p.add_argument("-q", "--quiet", action="store_true")
    a = p.parse_args()
    for name in a.only or FIXTURES:
        write, seed = FIXTURES[name]
        checks = write(Fixture(name, a.out), a.seed if a.seed is not None else seed)
        if not a.quiet:
            worst = ", ".join(f"{k}: {v:.1e}" for k, v in checks.items())
            print(f"{name}: ok ({worst})")


if __name__ == "__main__":
    main()
