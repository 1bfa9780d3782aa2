// For tests/reference/ggml_blocks_reference.py: lmc's side of each block format, on bytes the
// script makes.
//   block_formats_tool dequantize TYPE IN OUT   IN: whole blocks of TYPE; OUT: their values, f32
//   block_formats_tool q8_k IN OUT              IN: f32 values (a multiple of 256); OUT: Q8_K
//   block_formats_tool quantize TYPE IN OUT     IN: f32 values (whole blocks of TYPE); OUT:
//                                               the blocks of TYPE (rt::QuantizeRow)
// TYPE as lmc spells it (q4_k ...). Exits 1 with a message on bad arguments.
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "runtime/weights/kquant.h"
#include "runtime/weights/quantize.h"
#include "runtime/weights/tensor_source.h"

namespace {

std::vector<char> Read(const char* path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<char>(std::istreambuf_iterator<char>(in), {});
}
void Write(const char* path, const void* data, size_t bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(static_cast<const char*>(data), static_cast<std::streamsize>(bytes));
}

template <typename Block>
std::vector<float> DequantizeAll(const std::vector<char>& bytes, size_t values) {
  std::vector<float> out(bytes.size() / sizeof(Block) * values);
  for (size_t i = 0; i < bytes.size() / sizeof(Block); ++i) {
    Block b;
    std::memcpy(&b, bytes.data() + i * sizeof(Block), sizeof(Block));
    if constexpr (std::is_same_v<Block, lmc::rt::BlockQ8_0>) {
      lmc::rt::DequantizeRowQ8_0(&b, 32, out.data() + i * values);
    } else if constexpr (std::is_same_v<Block, lmc::rt::BlockQ4_0>) {
      lmc::rt::DequantizeRowQ4_0(&b, 32, out.data() + i * values);
    } else {
      lmc::rt::DequantizeBlock(b, out.data() + i * values);
    }
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace lmc::rt;
  const std::string command = argc > 1 ? argv[1] : "";
  if (command == "q8_k" && argc == 4) {
    const std::vector<char> bytes = Read(argv[2]);
    std::vector<float> x(bytes.size() / 4);
    std::memcpy(x.data(), bytes.data(), x.size() * 4);
    std::vector<BlockQ8_K> out(x.size() / kSuperBlock);
    QuantizeRowQ8_K(x.data(), x.size(), out.data());
    Write(argv[3], out.data(), out.size() * sizeof(BlockQ8_K));
    return 0;
  }
  if (command == "quantize" && argc == 5) {
    const std::vector<char> bytes = Read(argv[3]);
    std::vector<float> x(bytes.size() / 4);
    std::memcpy(x.data(), bytes.data(), x.size() * 4);
    const auto dtype = DTypeByName(argv[2]);
    if (!dtype || !CanQuantize(*dtype) || x.size() % DTypeBlock(*dtype) != 0) {
      std::fprintf(stderr, "block_formats_tool: no quantizer for %s, or not whole blocks\n",
                   argv[2]);
      return 1;
    }
    std::vector<std::byte> out(RowBytes(*dtype, x.size()));
    QuantizeRow(*dtype, x.data(), x.size(), out.data());
    Write(argv[4], out.data(), out.size());
    return 0;
  }
  if (command != "dequantize" || argc != 5) {
    std::fprintf(
        stderr,
        "usage: block_formats_tool dequantize TYPE IN OUT | q8_k IN OUT | quantize TYPE IN OUT\n");
    return 1;
  }
  const auto dtype = DTypeByName(argv[2]);
  if (!dtype || !IsBlockQuantized(*dtype)) {
    std::fprintf(stderr, "block_formats_tool: %s is not a block type\n", argv[2]);
    return 1;
  }
  const std::vector<char> bytes = Read(argv[3]);
  if (bytes.size() % DTypeSize(*dtype) != 0) {
    std::fprintf(stderr, "block_formats_tool: %s is not whole %s blocks\n", argv[3], argv[2]);
    return 1;
  }
  const size_t n = DTypeBlock(*dtype);
  std::vector<float> out;
  switch (*dtype) {
    case DType::kQ8_0:
      out = DequantizeAll<BlockQ8_0>(bytes, n);
      break;
    case DType::kQ4_0:
      out = DequantizeAll<BlockQ4_0>(bytes, n);
      break;
    case DType::kQ4_1:
      out = DequantizeAll<BlockQ4_1>(bytes, n);
      break;
    case DType::kQ5_0:
      out = DequantizeAll<BlockQ5_0>(bytes, n);
      break;
    case DType::kQ5_1:
      out = DequantizeAll<BlockQ5_1>(bytes, n);
      break;
    case DType::kIQ4_NL:
      out = DequantizeAll<BlockIQ4_NL>(bytes, n);
      break;
    case DType::kQ2_K:
      out = DequantizeAll<BlockQ2_K>(bytes, n);
      break;
    case DType::kQ3_K:
      out = DequantizeAll<BlockQ3_K>(bytes, n);
      break;
    case DType::kQ4_K:
      out = DequantizeAll<BlockQ4_K>(bytes, n);
      break;
    case DType::kQ5_K:
      out = DequantizeAll<BlockQ5_K>(bytes, n);
      break;
    case DType::kQ6_K:
      out = DequantizeAll<BlockQ6_K>(bytes, n);
      break;
    default:
      return 1;
  }
  Write(argv[4], out.data(), out.size() * sizeof(float));
  return 0;
}
