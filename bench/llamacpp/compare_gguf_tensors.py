#!/usr/bin/env python3
"""Two GGUF files tensor by tensor (by llama.cpp's names): how many have the same ggml type and
the same bytes, the same type but other bytes, another type, or are in one file only. Exits 1 if
a tensor of the same type differs. E.g. `lmc quantize --dtype q4_k_m` (rewritten by
to_llamacpp_gguf.py) against llama_quantize.py's q4_k_m of the same f32 weights.

usage: compare_gguf_tensors.py A.gguf B.gguf
"""
import sys

from quantize_vs_ggml import gguf_tensors


def main():
    a, b = gguf_tensors(sys.argv[1]), gguf_tensors(sys.argv[2])
    same, differ, other = [], [], []
    for name in sorted(set(a) & set(b)):
        (ka, da), (kb, db) = a[name], b[name]
        (other if ka != kb else same if da == db else differ).append(name)
    print(f"same type and bytes: {len(same)}; same type, other bytes: {len(differ)} {differ}; "
          f"another type: {len(other)} {[(n, a[n][0], b[n][0]) for n in other]}; "
          f"in one file only: {sorted(set(a) ^ set(b))}")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
