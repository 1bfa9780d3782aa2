// Tensor-parallel inference over MPI (tensor_parallel.h).
//
// Rank 0 sends the other ranks a stream of commands by MPI_Bcast: a header (what, and the
// sizes of what follows) and a payload of int64 words. Load: the checkpoint's path. Pass:
// the chunk's tokens, positions, rows to keep, and each segment's session id, capacity, first
// row and length, with the ids of the sessions deleted since the last pass. Encode (an
// encoder-decoder's source): the session's id and capacity, and the source tokens. Quit: the
// exit status. A rank that dies ends the whole job: Open MPI's mpirun kills the others and exits
// non-zero, saying which rank and how.
#include "runtime/distributed/tensor_parallel.h"

#include <fmt/format.h>
#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <utility>

#include "runtime/util/error.h"

namespace lmc::dist {

namespace {

int g_rank = 0;
int g_ranks = 1;
std::mutex g_turn;  // One pass at a time on rank 0, so the ranks see one order.
std::mutex g_gone_mutex;
std::vector<uint64_t> g_gone;  // Rank 0's sessions deleted since the last pass.
uint64_t g_next_id = 1;
std::mutex g_id_mutex;
Stats g_stats;
Stats::Counts* g_counts = &g_stats.prefill;  // The current pass's.
std::vector<float> g_gathered;  // AllReduceSum's and GatherColumns' scratch (passes run one at
std::vector<float> g_send;      // a time).

enum class What : int64_t { kLoad = 1, kPass = 2, kQuit = 3, kEncode = 4 };

struct Header {
  int64_t what;
  int64_t words;  // Payload words that follow.
  int64_t a, b, c, d, e;
};

// Seconds a rank waits in a collective that every rank reaches within a pass (the all-reduce,
// a command's payload, rank 0's sending of a command) before it ends the job: --mpi-timeout.
// 0: forever.
double g_timeout = 60;

// What a wait is for, in the message of one that timed out.
enum class Waiting { kStart, kCommand, kPayload, kAllReduce, kLoad, kGather };

[[noreturn]] void TimedOut(Waiting what, double seconds) {
  const char* where = what == Waiting::kAllReduce ? "the others in an all-reduce"
                      : what == Waiting::kGather  ? "the others in a gather of the logits"
                      : what == Waiting::kPayload ? "a command from rank 0"
                      : what == Waiting::kLoad    ? "the others to load their shards"
                      : what == Waiting::kStart   ? "the others to start"
                                                  : "the others to take a command";
  fmt::print(stderr,
             "error: tensor parallel: rank {} of {} waited {:g} s for {}: {} stopped, hung or "
             "far slower (--mpi-timeout {:g}); ending the job\n",
             g_rank, g_ranks, seconds, where,
             g_rank == 0 ? "another rank is" : "rank 0 or another rank is", g_timeout);
  std::fflush(stderr);
  MPI_Abort(MPI_COMM_WORLD, 1);
  std::_Exit(1);
}

// Waits for a nonblocking collective, polling: a few thousand polls first (an exchange
// between running ranks takes microseconds), then yielding the core, then sleeping up to 1 ms
// between polls (a follower idle between commands costs nothing). Past `seconds` (0: never),
// reports and ends the job: a stopped or hung rank must not hang the others.
void Wait(MPI_Request& request, Waiting what, double seconds) {
  const auto start = std::chrono::steady_clock::now();
  int done = 0;
  for (int64_t polls = 0;; ++polls) {
    MPI_Test(&request, &done, MPI_STATUS_IGNORE);
    if (done) return;
    if (polls < 2000) continue;
    if (polls < 20000) {
      std::this_thread::yield();
    } else {
      std::this_thread::sleep_for(
          std::chrono::microseconds(std::min<int64_t>(polls - 19900, 1000)));
    }
    if (seconds > 0 && (polls & 63) == 0 &&
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() > seconds) {
      TimedOut(what, seconds);
    }
  }
}

// The other ranks wait a little longer than rank 0, so that rank 0 reports a rank that hangs.
double Deadline() { return g_timeout == 0 ? 0 : g_rank == 0 ? g_timeout : g_timeout + 5; }

// Rank 0's bytes to every rank (nonblocking, so that the wait can end: MPI_Bcast cannot).
void Broadcast(void* data, int64_t bytes, Waiting what) {
  auto* p = static_cast<char*>(data);
  while (bytes > 0) {  // MPI counts are int.
    const int n = static_cast<int>(std::min<int64_t>(bytes, 1 << 30));
    MPI_Request request;
    MPI_Ibcast(p, n, MPI_BYTE, 0, MPI_COMM_WORLD, &request);
    // A follower waits for rank 0's next command as long as rank 0 is idle (serve).
    Wait(request, what, what == Waiting::kCommand && g_rank != 0 ? 0 : Deadline());
    p += n;
    bytes -= n;
  }
}

void Send(What what, const std::vector<int64_t>& payload, int64_t a = 0, int64_t b = 0,
          int64_t c = 0, int64_t d = 0, int64_t e = 0) {
  Header header{static_cast<int64_t>(what), static_cast<int64_t>(payload.size()), a, b, c, d, e};
  Broadcast(&header, sizeof header, Waiting::kCommand);
  if (!payload.empty()) {
    Broadcast(const_cast<int64_t*>(payload.data()),
              static_cast<int64_t>(payload.size() * sizeof(int64_t)), Waiting::kPayload);
  }
}

// 64-bit FNV-1a: the same binary and rank count on every rank.
uint64_t Hash(const std::string& text) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char ch : text) h = (h ^ ch) * 1099511628211ull;
  return h;
}

uint64_t TensorBytes(const rt::TensorSource& source) {
  uint64_t bytes = 0;
  for (const std::string& name : source.Names()) bytes += source.Find(name)->bytes;
  return bytes;
}

// A checkpoint's fingerprint, cheap enough for every load: each tensor's name, type and shape,
// and the first and last 64 bytes of its data (FNV-1a). Two files of one model's shapes with
// other values (another seed, another fine-tune) differ in it.
uint64_t Fingerprint(const rt::TensorSource& source) {
  uint64_t hash = 14695981039346656037ull;
  auto mix = [&hash](const void* data, size_t n) {
    const auto* bytes = static_cast<const unsigned char*>(data);
    for (size_t i = 0; i < n; ++i) hash = (hash ^ bytes[i]) * 1099511628211ull;
  };
  for (const std::string& name : source.Names()) {
    const rt::TensorView& tensor = *source.Find(name);
    mix(name.data(), name.size());
    mix(&tensor.dtype, sizeof tensor.dtype);
    mix(tensor.shape.data(), tensor.shape.size() * sizeof(int64_t));
    const size_t edge = std::min<size_t>(tensor.bytes, 64);
    if (edge == 0) continue;
    mix(tensor.data, edge);
    mix(tensor.data + tensor.bytes - edge, edge);
  }
  return hash;
}

}  // namespace

int Rank() { return g_rank; }
int Ranks() { return g_ranks; }

int64_t FirstUnit(int64_t units) { return g_rank * units / g_ranks; }

void AllReduceSum(float* rows, size_t count) {
  const auto start = std::chrono::steady_clock::now();
  g_gathered.resize(count * static_cast<size_t>(g_ranks));
  MPI_Request request;
  MPI_Iallgather(rows, static_cast<int>(count), MPI_FLOAT, g_gathered.data(),
                 static_cast<int>(count), MPI_FLOAT, MPI_COMM_WORLD, &request);
  Wait(request, Waiting::kAllReduce, Deadline());
  for (size_t i = 0; i < count; ++i) {
    float sum = g_gathered[i];
    for (int r = 1; r < g_ranks; ++r) sum += g_gathered[static_cast<size_t>(r) * count + i];
    rows[i] = sum;
  }
  g_counts->reductions += 1;
  g_counts->bytes_sent += count * sizeof(float) * static_cast<uint64_t>(g_ranks - 1);
  g_counts->seconds +=
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

int64_t LocalRow(int64_t units, int64_t index) {
  const int64_t first = FirstUnit(units);
  const int64_t end = (g_rank + 1) * units / g_ranks;
  return index >= first && index < end ? index - first : -1;
}

void GatherColumns(float* out, const float* part, size_t rows, size_t local, size_t full) {
  const auto start = std::chrono::steady_clock::now();
  const auto units = static_cast<int64_t>(full);
  // Rank r's real columns: [r * full / n, (r + 1) * full / n), the first of its `local`.
  const auto real = [&](int r) {
    return static_cast<size_t>((r + 1) * units / g_ranks - r * units / g_ranks);
  };
  const size_t mine = real(g_rank);
  if (mine > local) rt::Fail("internal error: {} columns held in {}", mine, local);
  g_send.resize(std::max<size_t>(rows * mine, 1));
  for (size_t i = 0; i < rows; ++i) std::copy_n(part + i * local, mine, g_send.data() + i * mine);
  std::vector<int> counts, displs;
  if (g_rank == 0) {
    g_gathered.resize(rows * full);
    size_t at = 0;
    for (int r = 0; r < g_ranks; ++r) {
      counts.push_back(static_cast<int>(rows * real(r)));
      displs.push_back(static_cast<int>(at));
      at += rows * real(r);
    }
  }
  MPI_Request request;
  MPI_Igatherv(g_send.data(), static_cast<int>(rows * mine), MPI_FLOAT, g_gathered.data(),
               counts.data(), displs.data(), MPI_FLOAT, 0, MPI_COMM_WORLD, &request);
  Wait(request, Waiting::kGather, Deadline());
  if (g_rank == 0) {
    for (int r = 0; r < g_ranks; ++r) {
      const size_t first = static_cast<size_t>(r * units / g_ranks), n = real(r);
      const float* from = g_gathered.data() + displs[r];
      for (size_t i = 0; i < rows; ++i) std::copy_n(from + i * n, n, out + i * full + first);
    }
  }
  g_counts->gathers += 1;
  g_counts->gather_bytes += sizeof(float) * rows * (g_rank == 0 ? full - mine : mine);
  g_counts->gather_seconds +=
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

Stats GetStats() { return g_stats; }

// ---- Shards -----------------------------------------------------------------

namespace {
int64_t g_shard_bytes = 0;  // Of every live Shards (the model's; a reload makes a new one).
std::vector<uint64_t> g_rank_shard_bytes;  // Rank 0: each rank's, as the last load agreed.
}  // namespace

Shards::~Shards() { g_shard_bytes -= static_cast<int64_t>(bytes_); }

void Shards::Count(int64_t bytes) {
  bytes_ = static_cast<uint64_t>(static_cast<int64_t>(bytes_) + bytes);
  g_shard_bytes += bytes;
}

namespace {

// Where rank g_rank's part of a [rows, cols] weight cut along `cut` into units of `unit` lies
// in the stored tensor, and its padded shape.
struct Part {
  int64_t first_row, n_rows, first_col, n_cols;  // In the stored tensor.
  int64_t out_rows, out_cols;                    // The rank's copy (>= n_rows, n_cols).
};

Part PartOf(Cut cut, int64_t rows, int64_t cols, int64_t unit, int64_t local) {
  const bool by_rows = cut == Cut::kRows;
  const int64_t units = (by_rows ? rows : cols) / unit;
  const int64_t begin = FirstUnit(units) * unit;
  const int64_t count = ((g_rank + 1) * units / g_ranks) * unit - begin;
  if (by_rows) return {begin, count, 0, cols, local, cols};
  return {0, rows, begin, count, rows, local};
}

}  // namespace

std::unique_ptr<float[]> Shards::CutF32(rt::TensorSource& source, const std::string& name,
                                        const rt::Shape& full, const rt::StoredAs& stored, Cut cut,
                                        int64_t unit, int64_t local) {
  const int64_t rows = full.at(0);
  const int64_t cols = full.size() > 1 ? full[1] : 1;
  const Part part = PartOf(cut, rows, cols, unit, local);
  auto copy = std::make_unique<float[]>(std::max<int64_t>(part.out_rows * part.out_cols, 1));
  float* out = copy.get();  // Zeros.
  // Row r of the stored part goes to row r - first_row, its columns from 0.
  const rt::TensorView* view = source.Find(source.Resolve(name));
  if (stored.Plain() && view != nullptr &&
      (view->dtype == rt::DType::kF32 || view->dtype == rt::DType::kF16 ||
       view->dtype == rt::DType::kBF16)) {
    const rt::TensorView checked = source.Tensor(name, full);  // Shape checked, progress.
    const size_t size = rt::DTypeSize(checked.dtype);
    for (int64_t r = 0; r < part.n_rows; ++r) {
      const std::byte* in = checked.data + ((part.first_row + r) * cols + part.first_col) * size;
      float* o = out + r * part.out_cols;
      if (checked.dtype == rt::DType::kF32) {
        std::memcpy(o, in, part.n_cols * sizeof(float));
        continue;
      }
      for (int64_t c = 0; c < part.n_cols; ++c) {
        uint16_t bits;
        std::memcpy(&bits, in + 2 * c, 2);
        o[c] = checked.dtype == rt::DType::kF16 ? rt::F16ToF32(bits) : rt::BF16ToF32(bits);
      }
    }
  } else {  // Transposed or fused in the file: the whole weight rearranged once, then cut.
    const float* all = source.F32(name, full, stored);
    for (int64_t r = 0; r < part.n_rows; ++r) {
      std::memcpy(out + r * part.out_cols, all + (part.first_row + r) * cols + part.first_col,
                  part.n_cols * sizeof(float));
    }
  }
  return copy;
}

const float* Shards::F32(rt::TensorSource& source, const std::string& name, const rt::Shape& full,
                         const rt::StoredAs& stored, Cut cut, int64_t unit, int64_t local) {
  const int64_t rows = full.at(0);
  if (cut == Cut::kFirstRank) {
    if (g_rank == 0) return source.F32(name, full, stored);
    copies_.push_back(std::make_unique<float[]>(rows));  // Zeros.
    Count(static_cast<int64_t>(rows * sizeof(float)));
    return copies_.back().get();
  }
  const int64_t cols = full.size() > 1 ? full[1] : 1;
  const Part part = PartOf(cut, rows, cols, unit, local);
  copies_.push_back(CutF32(source, name, full, stored, cut, unit, local));
  Count(static_cast<int64_t>(part.out_rows * part.out_cols * sizeof(float)));
  return copies_.back().get();
}

const uint16_t* Shards::BF16(rt::TensorSource& source, const std::string& name,
                             const rt::Shape& full, const rt::StoredAs& stored, Cut cut,
                             int64_t unit, int64_t local) {
  const int64_t rows = full.at(0);
  const int64_t cols = full.size() > 1 ? full[1] : 1;
  int64_t n = rows;
  std::unique_ptr<float[]> part;
  if (cut == Cut::kFirstRank) {
    if (g_rank == 0) return source.BF16(name, full);
  } else {
    part = CutF32(source, name, full, stored, cut, unit, local);
    n = cut == Cut::kRows ? local * cols : rows * local;
  }
  auto copy = std::make_unique<std::byte[]>(std::max<int64_t>(n, 1) * 2);  // Zeros.
  for (int64_t i = 0; part && i < n; ++i) {
    const uint16_t bits = rt::F32ToBF16(part[i]);
    std::memcpy(copy.get() + 2 * i, &bits, 2);
  }
  Count(static_cast<int64_t>(n * 2));
  bytes_copies_.push_back(std::move(copy));
  return reinterpret_cast<const uint16_t*>(bytes_copies_.back().get());
}

const std::byte* Shards::Blocks(rt::TensorSource& source, const std::string& name,
                                const rt::Shape& full, const rt::StoredAs& stored, Cut cut,
                                int64_t unit, int64_t local, rt::DType dtype) {
  const int64_t rows = full.at(0), cols = full.at(1);
  const Part part = PartOf(cut, rows, cols, unit, local);
  const int64_t block = static_cast<int64_t>(rt::DTypeBlock(dtype));
  const int64_t block_bytes = static_cast<int64_t>(rt::DTypeSize(dtype));
  const int64_t out_row = (part.out_cols + block - 1) / block * block_bytes;
  if (part.first_col % block != 0) {  // The shard pass cuts whole blocks.
    rt::Fail("internal error: tensor '{}' cut at column {}, inside a {} block", name,
             part.first_col, rt::DTypeName(dtype));
  }
  auto copy = std::make_unique<std::byte[]>(std::max<int64_t>(part.out_rows * out_row, 1));
  std::byte* out = copy.get();  // Zeros: blocks of scale 0, whose values are 0.
  const rt::TensorView* view = source.Find(source.Resolve(name));
  if (view != nullptr && rt::IsBlockQuantized(view->dtype)) {
    if (view->dtype != dtype || !stored.Plain()) {
      // The one-process model's messages: another block type, or a fused tensor.
      (void)source.Blocks(name, full, dtype);
      rt::Fail(
          "not supported yet: tensor parallelism of tensor '{}' stored fused or transposed "
          "in {} blocks",
          source.Resolve(name), rt::DTypeName(view->dtype));
    }
    // Stored in these blocks (GGUF): the rank's rows, or its blocks of each row.
    const rt::TensorView checked = source.Tensor(name, full);
    const int64_t in_row = (cols + block - 1) / block * block_bytes;
    const int64_t first = part.first_col / block * block_bytes;
    const int64_t n = (part.n_cols + block - 1) / block * block_bytes;
    for (int64_t r = 0; r < part.n_rows; ++r) {
      std::memcpy(out + r * out_row, checked.data + (part.first_row + r) * in_row + first, n);
    }
  } else {  // Floats: the cut, quantized row by row as TensorSource does at load.
    if (dtype != rt::DType::kQ8_0 && dtype != rt::DType::kQ4_0) {
      (void)source.Blocks(name, full, dtype);  // Refused there, naming the tensor.
      rt::Fail("tensor '{}' is not stored in {} blocks", source.Resolve(name),
               rt::DTypeName(dtype));
    }
    const std::unique_ptr<float[]> floats = CutF32(source, name, full, stored, cut, unit, local);
    for (int64_t r = 0; r < part.out_rows; ++r) {
      const float* row = floats.get() + r * part.out_cols;
      for (int64_t c = 0; c < part.out_cols; ++c) {
        if (!std::isfinite(row[c])) {
          rt::Fail("{}: tensor '{}' holds {} at [{}, {}]; quantized weights must be finite",
                   source.path(), source.Resolve(name), row[c], part.first_row + r,
                   part.first_col + c);
        }
      }
      if (dtype == rt::DType::kQ8_0) {
        rt::QuantizeRowQ8_0(row, part.out_cols,
                            reinterpret_cast<rt::BlockQ8_0*>(out + r * out_row));
      } else {
        rt::QuantizeRowQ4_0(row, part.out_cols,
                            reinterpret_cast<rt::BlockQ4_0*>(out + r * out_row));
      }
    }
  }
  Count(static_cast<int64_t>(part.out_rows * out_row));
  bytes_copies_.push_back(std::move(copy));
  return bytes_copies_.back().get();
}

rt::Q4_0Matrix Shards::Q4_0Kernel(rt::TensorSource& source, const std::string& name,
                                  const rt::Shape& full, const rt::StoredAs& stored, Cut cut,
                                  int64_t unit, int64_t local, bool panels) {
  const auto* rows =
      Blocks<rt::BlockQ4_0>(source, name, full, stored, cut, unit, local, rt::DType::kQ4_0);
  if (!panels) return {.rows = rows};
  const size_t n_rows = static_cast<size_t>(cut == Cut::kRows ? local : full.at(0));
  const size_t blocks = rt::QuantBlocks(static_cast<size_t>(cut == Cut::kCols ? local : full[1]));
  auto packed = std::make_unique<std::byte[]>(
      std::max<size_t>(rt::Q4_0PanelCount(n_rows, blocks), 1) * sizeof(rt::PanelQ4_0));
  auto* panel = reinterpret_cast<rt::PanelQ4_0*>(packed.get());
  rt::PackQ4_0Panels(rows, n_rows, blocks, panel);
  Count(-static_cast<int64_t>(n_rows * blocks * sizeof(rt::BlockQ4_0)));  // The rows' copy, freed.
  Count(static_cast<int64_t>(rt::Q4_0PanelCount(n_rows, blocks) * sizeof(rt::PanelQ4_0)));
  bytes_copies_.back() = std::move(packed);
  return {.panels = panel};
}

// ---- Rank 0's side -------------------------------------------------------------

void LeadLoad(const std::string& path) {
  if (g_rank != 0 || g_ranks == 1) return;
  std::lock_guard<std::mutex> lock(g_turn);
  std::vector<int64_t> payload((path.size() + 7) / 8, 0);
  std::memcpy(payload.data(), path.data(), path.size());
  Send(What::kLoad, payload, static_cast<int64_t>(path.size()));
}

void AgreeLoaded(const std::string& error, const rt::TensorSource* source) {
  if (g_ranks == 1) {
    if (!error.empty()) throw rt::Error(error);
    return;
  }
  struct Status {
    int64_t ok;
    uint64_t bytes;
    uint64_t fingerprint;
    uint64_t shard_bytes;
    char message[240];
  };
  const bool loaded = source && error.empty();
  Status mine{error.empty() ? 1 : 0,
              loaded ? TensorBytes(*source) : 0,
              loaded ? Fingerprint(*source) : 0,
              static_cast<uint64_t>(g_shard_bytes),
              {}};
  std::snprintf(mine.message, sizeof mine.message, "%s", error.c_str());
  std::vector<Status> all(g_ranks);
  MPI_Request request;
  MPI_Iallgather(&mine, sizeof mine, MPI_BYTE, all.data(), sizeof mine, MPI_BYTE, MPI_COMM_WORLD,
                 &request);
  // Ranks load at their own pace (their disks, their shards): ten times the usual wait.
  Wait(request, Waiting::kLoad, 10 * Deadline());
  for (int r = 0; r < g_ranks; ++r) {
    if (!all[r].ok) {
      if (r == 0) throw rt::Error(error);
      rt::Fail("rank {} of {} could not load its shard: {}", r, g_ranks, all[r].message);
    }
  }
  g_rank_shard_bytes.clear();
  for (const Status& status : all) g_rank_shard_bytes.push_back(status.shard_bytes);
  for (int r = 1; r < g_ranks; ++r) {
    if (all[r].bytes != all[0].bytes) {
      rt::Fail(
          "the ranks read different checkpoints: rank 0's holds {} bytes of tensors, rank {}'s "
          "{}",
          all[0].bytes, r, all[r].bytes);
    }
    if (all[r].fingerprint != all[0].fingerprint) {
      rt::Fail(
          "the ranks read different checkpoints: rank 0's and rank {}'s have the same sizes but "
          "other names, shapes or values",
          r);
    }
  }
}

uint64_t NewSessionId() {
  std::lock_guard<std::mutex> lock(g_id_mutex);
  return g_next_id++;
}

void SessionGone(uint64_t id) {
  if (g_rank != 0 || g_ranks == 1) return;
  std::lock_guard<std::mutex> lock(g_gone_mutex);
  g_gone.push_back(id);
}

ChunkTurn::ChunkTurn(const rt::Chunk& chunk, const uint64_t* ids) {
  if (g_rank == 0 && g_ranks > 1) lock_ = std::unique_lock<std::mutex>(g_turn);
  g_counts = chunk.n == 1 ? &g_stats.decode : &g_stats.prefill;
  g_counts->passes += 1;
  g_counts->tokens += chunk.n;
  if (g_rank != 0 || g_ranks == 1) return;
  std::vector<int64_t> gone;
  {
    std::lock_guard<std::mutex> lock(g_gone_mutex);
    gone.assign(g_gone.begin(), g_gone.end());
    g_gone.clear();
  }
  std::vector<int64_t> p;
  p.reserve(2 * chunk.n + chunk.rows + 4 * chunk.segments.size() + gone.size());
  p.insert(p.end(), chunk.tokens, chunk.tokens + chunk.n);
  p.insert(p.end(), chunk.positions, chunk.positions + chunk.n);
  p.insert(p.end(), chunk.out_rows, chunk.out_rows + chunk.rows);
  for (size_t i = 0; i < chunk.segments.size(); ++i) {
    const rt::ChunkSegment& s = chunk.segments[i];
    p.insert(p.end(), {static_cast<int64_t>(ids[i]), s.session->capacity(), s.first, s.n});
  }
  p.insert(p.end(), gone.begin(), gone.end());
  // `hidden` too: a pass that stops before the classifier has no gather of the logits.
  Send(What::kPass, p, chunk.n, chunk.rows, static_cast<int64_t>(chunk.segments.size()),
       static_cast<int64_t>(gone.size()), chunk.hidden ? 1 : 0);
}

EncodeTurn::EncodeTurn(uint64_t id, int capacity, const int* tokens, int n) {
  if (g_rank == 0 && g_ranks > 1) lock_ = std::unique_lock<std::mutex>(g_turn);
  g_counts = &g_stats.encode;
  g_counts->passes += 1;
  g_counts->tokens += n;
  if (g_rank != 0 || g_ranks == 1) return;
  Send(What::kEncode, std::vector<int64_t>(tokens, tokens + n), n, static_cast<int64_t>(id),
       capacity);
}

// ---- The other ranks -------------------------------------------------------------

class Follower {
 public:
  explicit Follower(std::unique_ptr<rt::Model> model) : model_(std::move(model)) {}

  // Runs rank 0's commands until it quits; returns its status.
  int Run() {
    for (;;) {
      Header h{};
      Broadcast(&h, sizeof h, Waiting::kCommand);
      std::vector<int64_t> p(h.words);
      if (h.words > 0) {
        Broadcast(p.data(), h.words * static_cast<int64_t>(sizeof(int64_t)), Waiting::kPayload);
      }
      switch (static_cast<What>(h.what)) {
        case What::kLoad:
          Load(std::string(reinterpret_cast<const char*>(p.data()), h.a));
          break;
        case What::kPass:
          Pass(p, static_cast<int>(h.a), static_cast<int>(h.b), static_cast<size_t>(h.c),
               static_cast<size_t>(h.d), h.e != 0);
          break;
        case What::kEncode:
          Encode(p, static_cast<int>(h.a), static_cast<uint64_t>(h.b), static_cast<int>(h.c));
          break;
        case What::kQuit:
          return 0;
      }
    }
  }

 private:
  void Load(const std::string& path) {
    sessions_.clear();
    try {
      model_->LoadWeights(path, nullptr);  // Agrees with the others on the outcome.
      loaded_ = true;
    } catch (const std::exception&) {
      loaded_ = false;  // Rank 0 says why, and quits.
    }
  }

  // Rank 0's session `id`'s mirror, made (again) for `capacity` when needed.
  rt::Session& Mirror(uint64_t id, int capacity) {
    auto& session = sessions_[id];
    if (!session || session->capacity() != capacity) session = model_->MakeSession(capacity);
    return *session;
  }

  void Encode(const std::vector<int64_t>& p, int n, uint64_t id, int capacity) {
    std::vector<int> tokens(p.begin(), p.begin() + n);
    out_.resize(static_cast<size_t>(n) * model_->info().d_model);
    model_->EncodeChunk(Mirror(id, capacity), tokens.data(), n, out_.data());
  }

  void Pass(const std::vector<int64_t>& p, int n, int rows, size_t n_segments, size_t n_gone,
            bool hidden) {
    std::vector<int> tokens(p.begin(), p.begin() + n);
    std::vector<int> positions(p.begin() + n, p.begin() + 2 * n);
    std::vector<int> out_rows(p.begin() + 2 * n, p.begin() + 2 * n + rows);
    size_t at = 2 * n + rows;
    std::vector<rt::ChunkSegment> segments;
    for (size_t i = 0; i < n_segments; ++i, at += 4) {
      rt::Session& session = Mirror(static_cast<uint64_t>(p[at]), static_cast<int>(p[at + 1]));
      segments.push_back({&session, static_cast<int>(p[at + 2]), static_cast<int>(p[at + 3])});
    }
    for (size_t i = 0; i < n_gone; ++i) sessions_.erase(static_cast<uint64_t>(p[at + i]));
    const int width = std::max(model_->info().output_width, model_->info().d_model);
    out_.resize(static_cast<size_t>(std::max(rows, 1)) * width);
    pooled_.resize(model_->info().d_model);
    std::vector<float*> dest(rows);
    for (int i = 0; i < rows; ++i) dest[i] = out_.data() + static_cast<size_t>(i) * width;
    rt::Chunk chunk{segments,    tokens.data(), positions.data(), n,     out_rows.data(),
                    dest.data(), rows,          pooled_.data(),   hidden};
    model_->ForwardChunk(chunk);
  }

  std::unique_ptr<rt::Model> model_;
  bool loaded_ = false;
  std::unordered_map<uint64_t, std::unique_ptr<rt::Session>> sessions_;
  std::vector<float> out_, pooled_;
};

// bench under mpirun: each rank's copies of its parts of the split weights, and what the
// all-reduces and gathers cost rank 0, per token and per call.
void PrintStats() {
  if (!g_rank_shard_bytes.empty()) {
    std::string ranks;
    for (size_t r = 0; r < g_rank_shard_bytes.size(); ++r) {
      ranks += fmt::format("{}{}", r ? ", " : "", g_rank_shard_bytes[r]);
    }
    fmt::print(stderr,
               "tensor parallel ({} ranks): bytes of split weights held per rank: {} (the "
               "weights kept whole are read from the checkpoint's mapping)\n",
               g_ranks, ranks);
  }
  for (const auto& [what, c] :
       {std::pair{"encode", g_stats.encode}, std::pair{"prefill", g_stats.prefill},
        std::pair{"decode", g_stats.decode}}) {
    if (c.tokens == 0 || c.reductions == 0) continue;
    fmt::print(stderr,
               "tensor parallel ({} ranks), {}: {} all-reduces in {} passes of {} tokens; "
               "{:.0f} bytes sent per token; {:.1f} us per all-reduce ({:.1f} KiB), {:.3f} s "
               "in all\n",
               g_ranks, what, c.reductions, c.passes, c.tokens,
               static_cast<double>(c.bytes_sent) / c.tokens, 1e6 * c.seconds / c.reductions,
               c.bytes_sent / 1024.0 / c.reductions, c.seconds);
    if (c.gathers == 0) continue;
    fmt::print(stderr,
               "tensor parallel ({} ranks), {}: {} gathers of the logits; rank 0 received {:.0f} "
               "bytes per token; {:.1f} us per gather ({:.1f} KiB), {:.3f} s in all\n",
               g_ranks, what, c.gathers, static_cast<double>(c.gather_bytes) / c.tokens,
               1e6 * c.gather_seconds / c.gathers, c.gather_bytes / 1024.0 / c.gathers,
               c.gather_seconds);
  }
}

// Takes --mpi-timeout S (or --mpi-timeout=S) out of the command line into g_timeout: "" when
// it is absent or valid, else the error.
std::string TakeTimeout(int& argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    std::string value;
    int used = 1;
    if (arg == "--mpi-timeout") {
      if (i + 1 >= argc) return "--mpi-timeout: expected seconds after it";
      value = argv[i + 1];
      used = 2;
    } else if (arg.starts_with("--mpi-timeout=")) {
      value = arg.substr(std::string_view("--mpi-timeout=").size());
    } else {
      continue;
    }
    char* end = nullptr;
    const double seconds = std::strtod(value.c_str(), &end);
    if (value.empty() || *end != '\0' || !(seconds >= 0) || seconds > 1e6) {
      return fmt::format("--mpi-timeout: expected seconds from 0 (no limit) to 1e6, got '{}'",
                         value);
    }
    g_timeout = seconds;
    for (int j = i; j + used <= argc; ++j) argv[j] = argv[j + used];  // argv[argc] is null.
    argc -= used;
    --i;
  }
  return "";
}

int Main(const rt::ParallelHooks& hooks, int argc, char** argv, int (*command)(int, char**)) {
  int provided = 0;
  MPI_Init_thread(&argc, &argv, MPI_THREAD_SERIALIZED, &provided);
  MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
  MPI_Comm_size(MPI_COMM_WORLD, &g_ranks);
  // --mpi-timeout first: it bounds the waits below.
  const std::string timeout_error = TakeTimeout(argc, argv);
  // The same binary, for this many ranks, everywhere.
  const rt::ModelInfo& info = rt::GetModelInfo();
  const uint64_t mine =
      Hash(fmt::format("{}\n{}\n{}\n{}", info.name, info.build_info, info.spec_yaml, hooks.ranks));
  std::vector<uint64_t> hashes(g_ranks);
  MPI_Request request;
  MPI_Iallgather(&mine, 1, MPI_UINT64_T, hashes.data(), 1, MPI_UINT64_T, MPI_COMM_WORLD, &request);
  // Every rank decides from the same gathered hashes and command line, so all exit with one
  // status.
  Wait(request, Waiting::kStart, Deadline());
  int status = 0;
  if (!timeout_error.empty()) {
    if (g_rank == 0) fmt::print(stderr, "error: {}\n", timeout_error);
    status = 2;
  }
  for (int r = 1; r < g_ranks && status == 0; ++r) {
    if (hashes[r] != hashes[0]) {
      if (g_rank == 0) {
        fmt::print(stderr,
                   "error: rank {} runs a different model binary than rank 0 (its build info "
                   "differs); every rank must run the same binary\n",
                   r);
      }
      status = 1;
    }
  }
  if (status == 0 && g_ranks != hooks.ranks) {
    if (g_rank == 0) {
      fmt::print(stderr,
                 "error: {} is built for {} tensor-parallel ranks (lmc build --tensor-parallel "
                 "{}); it runs as {} (run it as mpirun -np {} {} ...)\n",
                 argv[0], hooks.ranks, hooks.ranks, g_ranks, hooks.ranks, argv[0]);
    }
    status = 2;
  }
  if (status == 0) {
    if (g_rank == 0) {
      status = command(argc, argv);
      Send(What::kQuit, {}, status);
      if (argc > 1 && std::string_view(argv[1]) == "bench") PrintStats();
    } else {
      status = Follower(hooks.create_model()).Run();
    }
  }
  MPI_Finalize();
  return status;
}

}  // namespace lmc::dist
