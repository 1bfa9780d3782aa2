// Quantizing f32 rows to any block type lmc writes, by ggml's reference quantizers (quant.h,
// kquant.h: the bytes llama.cpp's ggml_quantize_chunk writes without an importance matrix).
#pragma once

#include <cstddef>

#include "runtime/weights/tensor_source.h"

namespace lmc::rt {

// Whether QuantizeRow writes `dtype`: every block type (Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, IQ4_NL,
// Q2_K .. Q6_K).
bool CanQuantize(DType dtype);
// One row of `cols` finite floats (whole blocks of `dtype`) as its RowBytes(dtype, cols) bytes.
void QuantizeRow(DType dtype, const float* x, size_t cols, std::byte* out);

}  // namespace lmc::rt
