#!/usr/bin/env python3
"""llama.cpp's own `llama-quantize`, called in node-llama-cpp's libllama (ctypes): writes OUT.gguf
from IN.gguf (f32 / f16) exactly as llama-quantize IN OUT FTYPE would, without an importance
matrix (llama_model_quantize with llama_model_quantize_default_params and that ftype).

usage: llama_quantize.py LIBLLAMA.so IN.gguf OUT.gguf FTYPE [THREADS]
  FTYPE: q4_0 q4_1 q5_0 q5_1 q8_0 q2_k q3_k_s q3_k_m q3_k_l q4_k_s q4_k_m q5_k_s q5_k_m q6_k iq4_nl
"""
import ctypes
import os
import sys

# enum llama_ftype (include/llama.h).
FTYPES = {"q4_0": 2, "q4_1": 3, "q8_0": 7, "q5_0": 8, "q5_1": 9, "q2_k": 10, "q3_k_s": 11,
          "q3_k_m": 12, "q3_k_l": 13, "q4_k_s": 14, "q4_k_m": 15, "q5_k_s": 16, "q5_k_m": 17,
          "q6_k": 18, "iq4_nl": 25}


class QuantizeParams(ctypes.Structure):
    """struct llama_model_quantize_params of llama.cpp's include/llama.h, as node-llama-cpp
    3.22.1 builds it (llama.cpp.info.json tag v0.5.0)."""
    _fields_ = [("nthread", ctypes.c_int32), ("ftype", ctypes.c_int),
                ("output_tensor_type", ctypes.c_int), ("token_embedding_type", ctypes.c_int),
                ("allow_requantize", ctypes.c_bool), ("quantize_output_tensor", ctypes.c_bool),
                ("only_copy", ctypes.c_bool), ("pure", ctypes.c_bool), ("keep_split", ctypes.c_bool),
                ("dry_run", ctypes.c_bool), ("imatrix", ctypes.c_void_p),
                ("kv_overrides", ctypes.c_void_p), ("tt_overrides", ctypes.c_void_p),
                ("prune_layers", ctypes.c_void_p), ("max_buf_size", ctypes.c_size_t)]


def main():
    if len(sys.argv) not in (5, 6) or sys.argv[4] not in FTYPES:
        sys.exit(__doc__)
    lib_path, src, out, ftype = sys.argv[1:5]
    threads = int(sys.argv[5]) if len(sys.argv) == 6 else 1
    # libllama finds its libggml*.so next to it.
    lib = ctypes.CDLL(os.path.abspath(lib_path), mode=ctypes.RTLD_GLOBAL)
    lib.llama_model_quantize_default_params.restype = QuantizeParams
    lib.llama_model_quantize.restype = ctypes.c_uint32
    lib.llama_model_quantize.argtypes = [ctypes.c_char_p, ctypes.c_char_p,
                                         ctypes.POINTER(QuantizeParams)]
    lib.llama_backend_init()
    params = lib.llama_model_quantize_default_params()
    # The defaults this layout must reproduce (llama.cpp's llama_model_quantize_default_params).
    expected = (0, FTYPES["q8_0"], True, False, False, None, None, 8 << 30)
    got = (params.nthread, params.ftype, params.quantize_output_tensor, params.pure,
           params.dry_run, params.imatrix, params.prune_layers, params.max_buf_size)
    if got != expected:
        sys.exit(f"llama_quantize.py: {lib_path}'s default parameters read as {got}, not "
                 f"{expected}: another llama_model_quantize_params layout")
    params.nthread = threads
    params.ftype = FTYPES[ftype]
    tmp = out + ".tmp"
    if lib.llama_model_quantize(src.encode(), tmp.encode(), ctypes.byref(params)) != 0:
        sys.exit(f"llama_quantize.py: llama_model_quantize failed on {src}")
    os.replace(tmp, out)


if __name__ == "__main__":
    main()
