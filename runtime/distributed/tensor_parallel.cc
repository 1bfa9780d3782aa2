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
#include <cstdio>
#include <cstring>
#include <string_view>
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
std::vector<float> g_gathered;               // AllReduceSum's scratch (passes run one at a time).

enum class What : int64_t { kLoad = 1, kPass = 2, kQuit = 3, kEncode = 4 };

struct Header {
  int64_t what;
  int64_t words;  // Payload words that follow.
  int64_t a, b, c, d;
};

void Broadcast(void* data, int64_t bytes) {
  auto* p = static_cast<char*>(data);
  while (bytes > 0) {  // MPI counts are int.
    const int n = static_cast<int>(std::min<int64_t>(bytes, 1 << 30));
    MPI_Bcast(p, n, MPI_BYTE, 0, MPI_COMM_WORLD);
    p += n;
    bytes -= n;
  }
}

void Send(What what, const std::vector<int64_t>& payload, int64_t a = 0, int64_t b = 0,
          int64_t c = 0, int64_t d = 0) {
  Header header{static_cast<int64_t>(what), static_cast<int64_t>(payload.size()), a, b, c, d};
  Broadcast(&header, sizeof header);
  if (!payload.empty()) {
    Broadcast(const_cast<int64_t*>(payload.data()),
              static_cast<int64_t>(payload.size() * sizeof(int64_t)));
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

}  // namespace

int Rank() { return g_rank; }
int Ranks() { return g_ranks; }

int64_t FirstUnit(int64_t units) { return g_rank * units / g_ranks; }

void AllReduceSum(float* rows, size_t count) {
  const auto start = std::chrono::steady_clock::now();
  g_gathered.resize(count * static_cast<size_t>(g_ranks));
  MPI_Allgather(rows, static_cast<int>(count), MPI_FLOAT, g_gathered.data(),
                static_cast<int>(count), MPI_FLOAT, MPI_COMM_WORLD);
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

Stats GetStats() { return g_stats; }

// ---- Shards -----------------------------------------------------------------

const float* Shards::F32(rt::TensorSource& source, const std::string& name, const rt::Shape& full,
                         const rt::StoredAs& stored, Cut cut, int64_t unit, int64_t local) {
  const int64_t rows = full.at(0);
  const int64_t cols = full.size() > 1 ? full[1] : 1;
  if (cut == Cut::kFirstRank) {
    if (g_rank == 0) return source.F32(name, full, stored);
    copies_.push_back(std::make_unique<float[]>(rows));  // Zeros.
    bytes_ += rows * sizeof(float);
    return copies_.back().get();
  }
  const bool by_rows = cut == Cut::kRows;
  const int64_t cut_size = by_rows ? rows : cols;
  const int64_t units = cut_size / unit;
  const int64_t begin = FirstUnit(units) * unit;
  const int64_t count = ((g_rank + 1) * units / g_ranks) * unit - begin;
  const int64_t out_rows = by_rows ? local : rows;
  const int64_t out_cols = by_rows ? cols : local;
  auto copy = std::make_unique<float[]>(std::max<int64_t>(out_rows * out_cols, 1));  // Zeros.
  float* out = copy.get();
  // Row r of the stored part goes to row r - begin (rows) or keeps its row (columns).
  const int64_t first_row = by_rows ? begin : 0;
  const int64_t n_rows = by_rows ? count : rows;
  const int64_t first_col = by_rows ? 0 : begin;
  const int64_t n_cols = by_rows ? cols : count;
  const rt::TensorView* view = source.Find(source.Resolve(name));
  if (stored.Plain() && view != nullptr &&
      (view->dtype == rt::DType::kF32 || view->dtype == rt::DType::kF16 ||
       view->dtype == rt::DType::kBF16)) {
    const rt::TensorView checked = source.Tensor(name, full);  // Shape checked, progress.
    const size_t size = rt::DTypeSize(checked.dtype);
    for (int64_t r = 0; r < n_rows; ++r) {
      const std::byte* in = checked.data + ((first_row + r) * cols + first_col) * size;
      float* o = out + r * out_cols;
      if (checked.dtype == rt::DType::kF32) {
        std::memcpy(o, in, n_cols * sizeof(float));
        continue;
      }
      for (int64_t c = 0; c < n_cols; ++c) {
        uint16_t bits;
        std::memcpy(&bits, in + 2 * c, 2);
        o[c] = checked.dtype == rt::DType::kF16 ? rt::F16ToF32(bits) : rt::BF16ToF32(bits);
      }
    }
  } else {  // Transposed or fused in the file: the whole weight rearranged once, then cut.
    const float* all = source.F32(name, full, stored);
    for (int64_t r = 0; r < n_rows; ++r) {
      std::memcpy(out + r * out_cols, all + (first_row + r) * cols + first_col,
                  n_cols * sizeof(float));
    }
  }
  bytes_ += out_rows * out_cols * sizeof(float);
  copies_.push_back(std::move(copy));
  return out;
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
    char message[240];
  };
  Status mine{error.empty() ? 1 : 0, source && error.empty() ? TensorBytes(*source) : 0, {}};
  std::snprintf(mine.message, sizeof mine.message, "%s", error.c_str());
  std::vector<Status> all(g_ranks);
  MPI_Allgather(&mine, sizeof mine, MPI_BYTE, all.data(), sizeof mine, MPI_BYTE, MPI_COMM_WORLD);
  for (int r = 0; r < g_ranks; ++r) {
    if (!all[r].ok) {
      if (r == 0) throw rt::Error(error);
      rt::Fail("rank {} of {} could not load its shard: {}", r, g_ranks, all[r].message);
    }
  }
  for (int r = 1; r < g_ranks; ++r) {
    if (all[r].bytes != all[0].bytes) {
      rt::Fail(
          "the ranks read different checkpoints: rank 0's holds {} bytes of tensors, rank {}'s "
          "{}",
          all[0].bytes, r, all[r].bytes);
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
  Send(What::kPass, p, chunk.n, chunk.rows, static_cast<int64_t>(chunk.segments.size()),
       static_cast<int64_t>(gone.size()));
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
      Broadcast(&h, sizeof h);
      std::vector<int64_t> p(h.words);
      if (h.words > 0) Broadcast(p.data(), h.words * static_cast<int64_t>(sizeof(int64_t)));
      switch (static_cast<What>(h.what)) {
        case What::kLoad:
          Load(std::string(reinterpret_cast<const char*>(p.data()), h.a));
          break;
        case What::kPass:
          Pass(p, static_cast<int>(h.a), static_cast<int>(h.b), static_cast<size_t>(h.c),
               static_cast<size_t>(h.d));
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

  void Pass(const std::vector<int64_t>& p, int n, int rows, size_t n_segments, size_t n_gone) {
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
    const int width = model_->info().output_width;
    out_.resize(static_cast<size_t>(std::max(rows, 1)) * width);
    pooled_.resize(model_->info().d_model);
    std::vector<float*> dest(rows);
    for (int i = 0; i < rows; ++i) dest[i] = out_.data() + static_cast<size_t>(i) * width;
    rt::Chunk chunk{segments,    tokens.data(), positions.data(), n, out_rows.data(),
                    dest.data(), rows,          pooled_.data()};
    model_->ForwardChunk(chunk);
  }

  std::unique_ptr<rt::Model> model_;
  bool loaded_ = false;
  std::unordered_map<uint64_t, std::unique_ptr<rt::Session>> sessions_;
  std::vector<float> out_, pooled_;
};

// bench under mpirun: what the all-reduces cost rank 0, per token and per all-reduce.
void PrintStats() {
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
  }
}

int Main(const rt::ParallelHooks& hooks, int argc, char** argv, int (*command)(int, char**)) {
  int provided = 0;
  MPI_Init_thread(&argc, &argv, MPI_THREAD_SERIALIZED, &provided);
  MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
  MPI_Comm_size(MPI_COMM_WORLD, &g_ranks);
  // The same binary, for this many ranks, everywhere.
  const rt::ModelInfo& info = rt::GetModelInfo();
  const uint64_t mine =
      Hash(fmt::format("{}\n{}\n{}\n{}", info.name, info.build_info, info.spec_yaml, hooks.ranks));
  std::vector<uint64_t> hashes(g_ranks);
  MPI_Allgather(&mine, 1, MPI_UINT64_T, hashes.data(), 1, MPI_UINT64_T, MPI_COMM_WORLD);
  // Every rank decides from the same gathered hashes, so all exit with one status.
  int status = 0;
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
