// Tensor-parallel inference over MPI: what a model built with `lmc build --tensor-parallel N`
// calls (docs/distributed.md).
//
// Every rank runs the same binary under mpirun. Rank 0 runs the command line (it tokenizes,
// samples, prints); the others follow it: each of rank 0's loads and forward passes is sent to
// them first, so every rank runs the same passes in the same order, on its own shard of the
// weights, and meets the others in the all-reduces inside them. Rank 0's sessions have
// mirrors on the other ranks (their shard of the KV caches), made when a pass first names one
// and dropped when rank 0 deletes it.
//
// Only the generated code of a tensor-parallel model and the build_info.cc of its binary use
// this header; the library (lmc_distributed) links MPI, so other binaries never do.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "runtime/model/model.h"
#include "runtime/weights/tensor_source.h"

namespace lmc::dist {

// This process's rank and the job's rank count (0 and 1 before Main has started MPI).
int Rank();
int Ranks();

// The first of `units` units (KV groups, FFN columns) this rank holds: rank r of n holds
// [r * units / n, (r + 1) * units / n).
int64_t FirstUnit(int64_t units);

// Where row `index` of a dim of `units` rows cut by rows (the vocabulary) lies in this rank's
// part: index - FirstUnit(units) when this rank holds it, else -1.
int64_t LocalRow(int64_t units, int64_t index);

// Each rank's `count` floats at `rows`, summed in rank order (rank 0's + rank 1's + ...) into
// `rows` on every rank: the same bits on every rank and in every run, whatever MPI's
// reduction algorithms would have done.
void AllReduceSum(float* rows, size_t count);

// Each rank's columns of `full` cut by rows of a weight (the logits of its vocabulary rows):
// rank r's [rows, local] `part` holds its real columns first (FirstUnit's range of `full`),
// padding after. On rank 0, every rank's real columns side by side in rank order into `out`
// [rows, full]; the other ranks send theirs and leave `out` alone (only rank 0 reads the
// logits: it samples, the others follow its tokens). Copies only: the same bits as one rank.
void GatherColumns(float* out, const float* part, size_t rows, size_t local, size_t full);

// How a rank's part of a weight is cut from the stored tensor (ir::ShardKind).
enum class Cut { kRows, kCols, kFirstRank };

// This rank's parts of the weights: read from the checkpoint (only the rows and columns the
// rank holds, for tensors stored plain) into copies this object owns, zero past the rank's
// last unit, in the type the model reads them as.
class Shards {
 public:
  // The weight stored as `name` with shape `full` (kept as `stored` describes), cut along
  // rows (kRows) or columns (kCols) into units of `unit`: rank r of n takes units
  // [r * U / n, (r + 1) * U / n) of U into the first of its `local` rows or columns. kFirstRank:
  // the whole vector on rank 0, zeros elsewhere. As float32 (from f32, f16 or bf16).
  const float* F32(rt::TensorSource& source, const std::string& name, const rt::Shape& full,
                   const rt::StoredAs& stored, Cut cut, int64_t unit, int64_t local);
  // As bfloat16 bits: the float32 cut, rounded to nearest even (exact for a bf16 tensor).
  const uint16_t* BF16(rt::TensorSource& source, const std::string& name, const rt::Shape& full,
                       const rt::StoredAs& stored, Cut cut, int64_t unit, int64_t local);
  // A matrix as blocks of `dtype` (q8_0, q4_0, GGUF's k-quants...), each row of the rank's
  // part ceil(cols / block) blocks: copied from a tensor stored in those blocks (only the
  // rank's bytes are read), or quantized from the float32 cut (q8_0 and q4_0), as the
  // one-process model quantizes at load. A column cut starts on a block boundary (the shard
  // pass cuts whole blocks).
  const std::byte* Blocks(rt::TensorSource& source, const std::string& name, const rt::Shape& full,
                          const rt::StoredAs& stored, Cut cut, int64_t unit, int64_t local,
                          rt::DType dtype);
  template <typename Block>
  const Block* Blocks(rt::TensorSource& source, const std::string& name, const rt::Shape& full,
                      const rt::StoredAs& stored, Cut cut, int64_t unit, int64_t local,
                      rt::DType dtype) {
    return reinterpret_cast<const Block*>(
        Blocks(source, name, full, stored, cut, unit, local, dtype));
  }
  // A q4_0 matrix as the kernels read it (TensorSource::Q4_0Kernel): the rank's rows, or
  // packed into panels.
  rt::Q4_0Matrix Q4_0Kernel(rt::TensorSource& source, const std::string& name,
                            const rt::Shape& full, const rt::StoredAs& stored, Cut cut,
                            int64_t unit, int64_t local, bool panels);
  Shards() = default;
  Shards(const Shards&) = delete;
  Shards& operator=(const Shards&) = delete;
  ~Shards();
  uint64_t bytes() const { return bytes_; }

 private:
  void Count(int64_t bytes);  // bytes_ and the process's count (bench reports each rank's).

  // The rank's part as float32 [out_rows, out_cols], zero-padded.
  std::unique_ptr<float[]> CutF32(rt::TensorSource& source, const std::string& name,
                                  const rt::Shape& full, const rt::StoredAs& stored, Cut cut,
                                  int64_t unit, int64_t local);

  std::vector<std::unique_ptr<float[]>> copies_;
  std::vector<std::unique_ptr<std::byte[]>> bytes_copies_;
  uint64_t bytes_ = 0;
};

// Rank 0: tells the other ranks to load `path` too (elsewhere: nothing).
void LeadLoad(const std::string& path);
// Every rank, after loading (`error` empty when it succeeded): throws rt::Error on every rank
// when one failed (rank 0's message names that rank and quotes its error), or when the ranks'
// checkpoints differ in size.
void AgreeLoaded(const std::string& error, const rt::TensorSource* source);

// Identifiers of rank 0's sessions, which their mirrors on the other ranks are known by.
uint64_t NewSessionId();
void SessionGone(uint64_t id);

// One forward pass, on every rank: on rank 0, held for the pass (passes run one at a time,
// in one order on every rank) and sent to the other ranks first; elsewhere nothing.
// `ids[i]` is chunk.segments[i]'s session id.
class ChunkTurn {
 public:
  ChunkTurn(const rt::Chunk& chunk, const uint64_t* ids);

 private:
  std::unique_lock<std::mutex> lock_;
};

// An encoder-decoder's encoder pass over `tokens` for rank 0's session `id` (made with
// `capacity`), on every rank: as ChunkTurn, held for the pass and sent to the others first.
class EncodeTurn {
 public:
  EncodeTurn(uint64_t id, int capacity, const int* tokens, int n);

 private:
  std::unique_lock<std::mutex> lock_;
};

// What the binary's main() runs under mpirun (rt::ParallelHooks::main): starts MPI, checks
// that every rank runs this binary for `hooks.ranks` ranks, then runs `command` on rank 0 and
// follows it on the others. Returns the process's exit status (rank 0's command's).
int Main(const rt::ParallelHooks& hooks, int argc, char** argv, int (*command)(int, char**));

// Counters of this rank's all-reduces since the start, over passes of one token (decode),
// of more (prefill) and the encoder's: what `bench` reports under mpirun.
struct Stats {
  struct Counts {
    uint64_t passes = 0;
    uint64_t tokens = 0;
    uint64_t reductions = 0;
    uint64_t bytes_sent = 0;    // Floats this rank sent to each other rank, times 4, summed.
    double seconds = 0;         // Wall time inside the all-reduces (waiting included).
    uint64_t gathers = 0;       // GatherColumns (the logits to rank 0).
    uint64_t gather_bytes = 0;  // Rank 0: bytes received from the others; elsewhere sent.
    double gather_seconds = 0;  // Wall time inside the gathers.
  };
  Counts decode, prefill, encode;
};
Stats GetStats();

}  // namespace lmc::dist
