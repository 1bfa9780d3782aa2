#!/usr/bin/env bash
# A GPT-2 GGUF whose fused attn_qkv is block-quantized, made by llama.cpp's own llama-quantize,
# through `lmc import` + `lmc build`, beside llama.cpp on the same file: a random GPT-2 (d_model
# 256, 2 layers, 4 heads, FFN 1024, GPT-2's 50257-token vocabulary; `lmc random-weights --seed 3`
# on the spec `lmc import` makes of its config.json) written as llama.cpp's converter writes it
# (bench/llamacpp/gpt2_to_llamacpp_gguf.py: F32, attn_qkv, the tokenizer of
# ggml-vocab-gpt-2.gguf), quantized by llama_model_quantize (bench/llamacpp/llama_quantize.py) to
# each FTYPE; the logits of 200 positions from lmc's binary and from llama.cpp (node-llama-cpp,
# bench/llamacpp/logits.mjs). Prints per FTYPE the largest and mean difference, the largest
# logit and top-1 agreement. A measurement, not a CI test.
# Needs node and npm, python3-numpy, ../shared/assets/vocab-gguf/ggml-vocab-gpt-2.gguf.
# usage: scripts/gpt2_gguf_vs_llamacpp.sh   env: FTYPES="q8_0 q4_0 q4_k_m q5_k_m" THREADS=1
#        LMC=build/bin/lmc WORK=build/gpt2-gguf-vs-llamacpp LMC_ASSETS=../shared/assets
set -euo pipefail
cd "$(dirname "$0")/.."
ftypes=${FTYPES:-q8_0 q4_0 q4_k_m q5_k_m} threads=${THREADS:-1}
work=${WORK:-build/gpt2-gguf-vs-llamacpp}
vocab=${LMC_ASSETS:-../shared/assets}/vocab-gguf/ggml-vocab-gpt-2.gguf
lmc=$(realpath "${LMC:-build/bin/lmc}")
[ -f "$vocab" ] || { echo "gpt2_gguf_vs_llamacpp.sh: missing $vocab (set LMC_ASSETS)" >&2; exit 1; }
mkdir -p "$work/llamacpp" "$work/gpt2"
work=$(realpath "$work")
cp bench/llamacpp/package.json bench/llamacpp/logits.mjs "$work/llamacpp/"
(cd "$work/llamacpp" && npm install --no-audit --no-fund --loglevel=error >/dev/null)
libllama=$(find "$work/llamacpp/node_modules/@node-llama-cpp" \( -name libllama.so -o -name 'libllama.v*.so' \) \
  -path '*/linux-x64/bins/*' | head -n 1)
cat >"$work/gpt2/config.json" <<'JSON'
{"activation_function": "gelu_new", "architectures": ["GPT2LMHeadModel"], "bos_token_id": 50256,
 "eos_token_id": 50256, "layer_norm_epsilon": 1e-05, "model_type": "gpt2", "n_embd": 256,
 "n_head": 4, "n_inner": 1024, "n_layer": 2, "n_positions": 512, "vocab_size": 50257,
 "tie_word_embeddings": true}
JSON
"$lmc" import "$work/gpt2" -o "$work/gpt2.yaml" 2>/dev/null
"$lmc" random-weights "$work/gpt2.yaml" -o "$work/gpt2/model.safetensors" --seed 3
/usr/bin/python3 bench/llamacpp/gpt2_to_llamacpp_gguf.py "$work/gpt2" "$vocab" "$work/f32.gguf"
tokens=$(seq -s, 0 199 | awk -F, '{for (i = 1; i <= NF; i++) printf "%s%d", (i > 1 ? "," : ""), 100 + ($i * 37) % 50000}')
for ftype in $ftypes; do
  /usr/bin/python3 bench/llamacpp/llama_quantize.py "$libllama" "$work/f32.gguf" "$work/$ftype.gguf" \
    "$ftype" >"$work/$ftype.quantize.log" 2>&1
  "$lmc" import "$work/$ftype.gguf" -o "$work/$ftype.yaml" --name "gpt2_$ftype" 2>/dev/null
  "$lmc" build "$work/$ftype.yaml" --native -o "$work/lmc-$ftype" >/dev/null
  "$work/lmc-$ftype" logits --weights "$work/$ftype.gguf" --tokens "$tokens" --threads "$threads" \
    --out "$work/$ftype.npy" 2>/dev/null
  (cd "$work/llamacpp" && node logits.mjs "$work/$ftype.gguf" "$threads" "$tokens" \
    "$work/$ftype.llamacpp.f32" >/dev/null 2>&1)
done
/usr/bin/python3 - "$work" $ftypes <<'PY'
import sys
import numpy as np
work, types = sys.argv[1], sys.argv[2:]
print("| ftype | attn_qkv | max abs difference | mean abs difference | largest logit | top-1 agreement |")
print("|---|---|---|---|---|---|")
for t in types:
    lmc = np.load(f"{work}/{t}.npy")
    ll = np.fromfile(f"{work}/{t}.llamacpp.f32", dtype=np.float32).reshape(lmc.shape)
    qkv = next((line.split("converting to ")[1].split()[0] for line in open(f"{work}/{t}.quantize.log")
                if "attn_qkv.weight" in line and "converting to" in line), "f32")
    agree = int((lmc.argmax(1) == ll.argmax(1)).sum())
    print(f"| {t} | {qkv} | {float(np.abs(lmc - ll).max()):.4f} | {float(np.abs(lmc - ll).mean()):.4f} | "
          f"{float(np.abs(ll).max()):.2f} | {agree}/{len(ll)} |")
PY
