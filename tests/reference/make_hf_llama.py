#!/usr/bin/python3
"""A small Llama in Hugging Face naming, with seeded random weights, and what
PyTorch computes with it: the reference lmc's compiled binaries are checked
against (prefill logits and greedy decoding).

PyTorch 1.13 (Debian's python3-torch) has no Llama module and transformers is
not installed, so the modules below follow transformers' modeling_llama.py
(LlamaForCausalLM) line for line: RMSNorm computed in float32, rotate_half
RoPE with base theta, grouped-query attention through repeat_kv, an additive
causal mask, SwiGLU MLP with SiLU, untied lm_head unless --tied.

Writes into OUT:
  model.safetensors  the weights, HF names (lm_head.weight absent when tied,
                     as save_pretrained does); written here byte by byte
  config.json        HF LlamaConfig fields
  prompt_ids.txt     the prompt ids, space-separated
  logits.npy         float32 [T, vocab]: one full-sequence forward of the prompt
  hidden.npy         float32 [T, d_model]: its final hidden state (LlamaModel's output,
                     after the final norm, before lm_head), what embeddings pool
  greedy_ids.txt     the N ids greedy decoding appends to the prompt, each step a
                     forward over the whole growing sequence (no KV cache)
  perplexity.json    with --perplexity CTX,STRIDE: the prompt's sliding-window perplexity
                     (Hugging Face's guide: windows of CTX ids every STRIDE, each scoring
                     the ids no earlier window scored, with torch's cross_entropy)

Run with Debian's python: /usr/bin/python3 tests/reference/make_hf_llama.py OUT
"""

import argparse
import json
import math
import os
import struct
import sys

import numpy as np
import torch
from torch import nn

# ------------------------------------------------------------------ the model


class LlamaRMSNorm(nn.Module):
    def __init__(self, hidden_size, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(hidden_size))
        self.variance_epsilon = eps

    def forward(self, hidden_states):
        input_dtype = hidden_states.dtype
        hidden_states = hidden_states.to(torch.float32) if input_dtype != torch.float64 else hidden_states
        variance = hidden_states.pow(2).mean(-1, keepdim=True)
        hidden_states = hidden_states * torch.rsqrt(variance + self.variance_epsilon)
        return self.weight * hidden_states.to(input_dtype)


class LlamaRotaryEmbedding(nn.Module):
    def __init__(self, dim, base):
        super().__init__()
        self.dim = dim
        self.base = base

    def forward(self, position_ids, dtype):
        # inv_freq as transformers computes it: in float32 from int64 steps.
        inv_freq = 1.0 / (self.base ** (torch.arange(0, self.dim, 2, dtype=torch.int64).float() / self.dim))
        freqs = torch.outer(position_ids.to(torch.float32), inv_freq)
        emb = torch.cat((freqs, freqs), dim=-1)
        return emb.cos().to(dtype), emb.sin().to(dtype)


def rotate_half(x):
    x1 = x[..., : x.shape[-1] // 2]
    x2 = x[..., x.shape[-1] // 2 :]
    return torch.cat((-x2, x1), dim=-1)


def apply_rotary_pos_emb(q, k, cos, sin):
    cos = cos.unsqueeze(0).unsqueeze(0)  # [1, 1, T, head_dim]
    sin = sin.unsqueeze(0).unsqueeze(0)
    return (q * cos) + (rotate_half(q) * sin), (k * cos) + (rotate_half(k) * sin)


def repeat_kv(hidden_states, n_rep):
    batch, num_key_value_heads, slen, head_dim = hidden_states.shape
    if n_rep == 1:
        return hidden_states
    hidden_states = hidden_states[:, :, None, :, :].expand(batch, num_key_value_heads, n_rep, slen, head_dim)
    return hidden_states.reshape(batch, num_key_value_heads * n_rep, slen, head_dim)


class LlamaAttention(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.num_heads = cfg["num_attention_heads"]
        self.num_key_value_heads = cfg["num_key_value_heads"]
        self.head_dim = cfg["head_dim"]
        self.num_key_value_groups = self.num_heads // self.num_key_value_heads
        d = cfg["hidden_size"]
        self.q_proj = nn.Linear(d, self.num_heads * self.head_dim, bias=False)
        self.k_proj = nn.Linear(d, self.num_key_value_heads * self.head_dim, bias=False)
        self.v_proj = nn.Linear(d, self.num_key_value_heads * self.head_dim, bias=False)
        self.o_proj = nn.Linear(self.num_heads * self.head_dim, d, bias=False)

    def forward(self, hidden_states, cos, sin, attention_mask):
        bsz, q_len, _ = hidden_states.size()
        q = self.q_proj(hidden_states).view(bsz, q_len, self.num_heads, self.head_dim).transpose(1, 2)
        k = self.k_proj(hidden_states).view(bsz, q_len, self.num_key_value_heads, self.head_dim).transpose(1, 2)
        v = self.v_proj(hidden_states).view(bsz, q_len, self.num_key_value_heads, self.head_dim).transpose(1, 2)
        q, k = apply_rotary_pos_emb(q, k, cos, sin)
        k = repeat_kv(k, self.num_key_value_groups)
        v = repeat_kv(v, self.num_key_value_groups)
        attn_weights = torch.matmul(q, k.transpose(2, 3)) / math.sqrt(self.head_dim)
        attn_weights = attn_weights + attention_mask
        softmax_dtype = torch.float64 if q.dtype == torch.float64 else torch.float32
        attn_weights = nn.functional.softmax(attn_weights, dim=-1, dtype=softmax_dtype).to(q.dtype)
        attn_output = torch.matmul(attn_weights, v)
        attn_output = attn_output.transpose(1, 2).contiguous().reshape(bsz, q_len, -1)
        return self.o_proj(attn_output)


class LlamaMLP(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        d, h = cfg["hidden_size"], cfg["intermediate_size"]
        self.gate_proj = nn.Linear(d, h, bias=False)
        self.up_proj = nn.Linear(d, h, bias=False)
        self.down_proj = nn.Linear(h, d, bias=False)
        self.act_fn = nn.SiLU()

    def forward(self, x):
        return self.down_proj(self.act_fn(self.gate_proj(x)) * self.up_proj(x))


class LlamaDecoderLayer(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.self_attn = LlamaAttention(cfg)
        self.mlp = LlamaMLP(cfg)
        self.input_layernorm = LlamaRMSNorm(cfg["hidden_size"], cfg["rms_norm_eps"])
        self.post_attention_layernorm = LlamaRMSNorm(cfg["hidden_size"], cfg["rms_norm_eps"])

    def forward(self, hidden_states, cos, sin, attention_mask):
        residual = hidden_states
        hidden_states = self.input_layernorm(hidden_states)
        hidden_states = residual + self.self_attn(hidden_states, cos, sin, attention_mask)
        residual = hidden_states
        hidden_states = self.post_attention_layernorm(hidden_states)
        return residual + self.mlp(hidden_states)


class LlamaModel(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.embed_tokens = nn.Embedding(cfg["vocab_size"], cfg["hidden_size"])
        self.layers = nn.ModuleList([LlamaDecoderLayer(cfg) for _ in range(cfg["num_hidden_layers"])])
        self.norm = LlamaRMSNorm(cfg["hidden_size"], cfg["rms_norm_eps"])
        self.rotary_emb = LlamaRotaryEmbedding(cfg["head_dim"], cfg["rope_theta"])

    def forward(self, input_ids):
        hidden_states = self.embed_tokens(input_ids)
        dtype = hidden_states.dtype
        seq_len = input_ids.shape[1]
        position_ids = torch.arange(seq_len)
        cos, sin = self.rotary_emb(position_ids, dtype)
        mask = torch.full((seq_len, seq_len), torch.finfo(dtype).min, dtype=dtype).triu(1)
        for layer in self.layers:
            hidden_states = layer(hidden_states, cos, sin, mask)
        return self.norm(hidden_states)


class LlamaForCausalLM(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.model = LlamaModel(cfg)
        self.lm_head = nn.Linear(cfg["hidden_size"], cfg["vocab_size"], bias=False)
        if cfg["tie_word_embeddings"]:
            self.lm_head.weight = self.model.embed_tokens.weight

    def forward(self, input_ids):
        return self.lm_head(self.model(input_ids))


# ---------------------------------------------------------------- safetensors

ST_DTYPES = {"F32": (torch.float32, 4), "F16": (torch.float16, 2), "BF16": (torch.bfloat16, 2)}


def tensor_bytes(t, st_dtype):
    t = t.detach().to(ST_DTYPES[st_dtype][0]).contiguous()
    if st_dtype == "BF16":  # numpy has no bfloat16: write the raw 16-bit patterns
        return t.view(torch.int16).numpy().astype("<i2").tobytes()
    return t.numpy().astype("<f4" if st_dtype == "F32" else "<f2").tobytes()


def write_safetensors(path, tensors, st_dtype):
    """tensors: list of (name, torch tensor). Header padded to 8 bytes."""
    header = {"__metadata__": {"format": "pt"}}
    blobs = []
    offset = 0
    for name, t in tensors:
        blob = tensor_bytes(t, st_dtype)
        header[name] = {"dtype": st_dtype, "shape": list(t.shape), "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for blob in blobs:
            f.write(blob)
    os.replace(tmp, path)


def read_safetensors(path):
    """An independent reader for the self-check: name -> float64 numpy array."""
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])
    base = 8 + n
    out = {}
    end = 0
    for name, entry in sorted(header.items(), key=lambda kv: kv[1]["data_offsets"][0] if kv[0] != "__metadata__" else -1):
        if name == "__metadata__":
            continue
        b, e = entry["data_offsets"]
        assert b == end, f"{name}: data_offsets {b} leave a hole or overlap (previous end {end})"
        end = e
        raw = data[base + b : base + e]
        if entry["dtype"] == "F32":
            arr = np.frombuffer(raw, "<f4").astype(np.float64)
        elif entry["dtype"] == "F16":
            arr = np.frombuffer(raw, "<f2").astype(np.float64)
        else:
            arr = (np.frombuffer(raw, "<u2").astype(np.uint32) << 16).view(np.float32).astype(np.float64)
        out[name] = arr.reshape(entry["shape"])
    assert base + end == len(data), f"{len(data) - base - end} trailing bytes"
    return out


# ------------------------------------------------------------------- the script


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("out", help="output folder (created)")
    p.add_argument("--seed", type=int, default=1234)
    p.add_argument("--vocab", type=int, default=256)
    p.add_argument("--d-model", type=int, default=64)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--kv-heads", type=int, default=2, help="= heads for MHA, 1 for MQA")
    p.add_argument("--head-dim", type=int, default=None, help="default d_model / heads")
    p.add_argument("--hidden", type=int, default=160)
    p.add_argument("--max-seq-len", type=int, default=128)
    p.add_argument("--theta", type=float, default=10000.0)
    p.add_argument("--eps", type=float, default=1e-5)
    p.add_argument("--tied", action="store_true", help="lm_head is embed_tokens (not stored)")
    p.add_argument("--std", type=float, default=0.1, help="weight std; norm gains are 1 + std * N(0, 1)")
    p.add_argument("--dtype", choices=["F32", "F16", "BF16"], default="F32",
                   help="stored dtype; the reference uses the stored (rounded) values")
    p.add_argument("--precision", choices=["float32", "float64"], default="float64",
                   help="arithmetic of the reference forward")
    p.add_argument("--prompt", default="1,17,42,99,3,250,7,128", help="comma-separated prompt ids")
    p.add_argument("--steps", type=int, default=16, help="greedy steps")
    p.add_argument("--perplexity", help="CTX,STRIDE: also the prompt's sliding-window perplexity")
    a = p.parse_args()

    head_dim = a.head_dim or a.d_model // a.heads
    prompt = [int(x) for x in a.prompt.split(",")]
    problems = []
    if a.heads % a.kv_heads:
        problems.append(f"--heads {a.heads} is not a multiple of --kv-heads {a.kv_heads}")
    if head_dim % 2:
        problems.append(f"head_dim {head_dim} is odd; RoPE needs it even")
    if any(not 0 <= t < a.vocab for t in prompt):
        problems.append(f"prompt ids must lie in [0, {a.vocab})")
    if len(prompt) + a.steps > a.max_seq_len:
        problems.append(f"prompt ({len(prompt)}) + steps ({a.steps}) exceed --max-seq-len {a.max_seq_len}")
    if problems:
        sys.exit("make_hf_llama.py: " + "; ".join(problems))

    cfg = {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "vocab_size": a.vocab,
        "hidden_size": a.d_model,
        "intermediate_size": a.hidden,
        "num_hidden_layers": a.layers,
        "num_attention_heads": a.heads,
        "num_key_value_heads": a.kv_heads,
        "head_dim": head_dim,
        "max_position_embeddings": a.max_seq_len,
        "rms_norm_eps": a.eps,
        "rope_theta": a.theta,
        "rope_scaling": None,
        "tie_word_embeddings": a.tied,
        "hidden_act": "silu",
        "attention_bias": False,
        "mlp_bias": False,
        "initializer_range": a.std,
        "bos_token_id": 1,
        "eos_token_id": 2,
        "torch_dtype": {"F32": "float32", "F16": "float16", "BF16": "bfloat16"}[a.dtype],
    }

    torch.manual_seed(a.seed)
    model = LlamaForCausalLM(cfg)
    st_torch_dtype = ST_DTYPES[a.dtype][0]
    with torch.no_grad():
        for name, param in model.named_parameters():  # shared lm_head appears once
            if name.endswith("norm.weight"):
                param.copy_(1.0 + a.std * torch.randn(param.shape))
            else:
                param.copy_(a.std * torch.randn(param.shape))
            param.copy_(param.to(st_torch_dtype).to(torch.float32))  # what the file stores

    state = model.state_dict()
    names = [n for n in state if not (a.tied and n == "lm_head.weight")]
    tensors = [(n, state[n]) for n in names]
    os.makedirs(a.out, exist_ok=True)
    path = os.path.join(a.out, "model.safetensors")
    write_safetensors(path, tensors, a.dtype)

    # Self-check: the file read back holds exactly the model's tensors.
    back = read_safetensors(path)
    assert sorted(back) == sorted(names), f"names differ: {sorted(back)} vs {sorted(names)}"
    for n, t in tensors:
        want = t.detach().to(torch.float64).numpy()
        assert back[n].shape == want.shape, f"{n}: shape {back[n].shape} vs {want.shape}"
        assert np.array_equal(back[n], want), f"{n}: values differ after the round trip"

    compute = torch.float64 if a.precision == "float64" else torch.float32
    model = model.to(compute).eval()
    with torch.no_grad():
        logits = model(torch.tensor([prompt]))[0]  # [T, vocab]
        hidden = model.model(torch.tensor([prompt]))[0]  # [T, d_model]
        ids = list(prompt)
        min_gap = math.inf
        for _ in range(a.steps):
            last = model(torch.tensor([ids]))[0, -1]
            top2 = torch.topk(last, 2).values
            min_gap = min(min_gap, float(top2[0] - top2[1]))
            ids.append(int(torch.argmax(last)))
    greedy = ids[len(prompt) :]
    if a.perplexity:
        ctx, stride = (int(v) for v in a.perplexity.split(","))
        with torch.no_grad():
            nlls, prev_end, begin = [], 0, 0
            while True:
                end = min(begin + ctx, len(prompt))
                window = torch.tensor([prompt[begin:end]])
                window_logits = model(window)[0]
                first = max(prev_end, begin + 1)  # targets [first, end)
                nlls.append(torch.nn.functional.cross_entropy(
                    window_logits[first - 1 - begin : end - 1 - begin],
                    window[0, first - begin : end - begin], reduction="none"))
                prev_end = end
                if end == len(prompt):
                    break
                begin += stride
            nll = torch.cat(nlls)
            mean = float(nll.mean())
            error = math.exp(mean) * float(nll.std() / math.sqrt(len(nll)))
        with open(os.path.join(a.out, "perplexity.json"), "w") as f:
            json.dump({"perplexity": math.exp(mean), "standard_error": error, "scored": len(nll)}, f)
    # A near tie would make greedy ids depend on rounding: pick another seed.
    if a.steps > 0 and min_gap < 1e-3:
        sys.exit(f"make_hf_llama.py: top-2 logit gap {min_gap:.2e} < 1e-3 in greedy decoding; use another --seed")

    with open(os.path.join(a.out, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
        f.write("\n")
    np.save(os.path.join(a.out, "logits.npy"), logits.numpy().astype("<f4"))
    np.save(os.path.join(a.out, "hidden.npy"), hidden.numpy().astype("<f4"))
    with open(os.path.join(a.out, "prompt_ids.txt"), "w") as f:
        f.write(" ".join(map(str, prompt)) + "\n")
    with open(os.path.join(a.out, "greedy_ids.txt"), "w") as f:
        f.write(" ".join(map(str, greedy)) + "\n")
    print(
        f"make_hf_llama.py: wrote {a.out}: {len(names)} tensors ({a.dtype}), logits [{len(prompt)}, {a.vocab}] "
        f"(|max| {float(logits.abs().max()):.3f}), greedy {greedy}, min top-2 gap {min_gap:.3f}"
    )


if __name__ == "__main__":
    main()
