// Highway bodies of the probes in probes.h, compiled once per target.
#include "runtime/kernels/probes.h"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "runtime/kernels/probes.cc"
#include <hwy/foreach_target.h>  // IWYU pragma: keep
// Must come after foreach_target.h.
#include <hwy/highway.h>

HWY_BEFORE_NAMESPACE();
namespace lmc::kernels {
namespace HWY_NAMESPACE {

namespace hn = hwy::HWY_NAMESPACE;

// Enough chains to cover FMA latency (4 cycles) times two FMA ports, with room.
constexpr size_t kChains = 12;

float ProbeReadSumImpl(const float* HWY_RESTRICT x, size_t n) {
  const hn::ScalableTag<float> d;
  const size_t N = hn::Lanes(d);
  constexpr size_t kAcc = 8;
  hn::Vec<decltype(d)> acc[kAcc];
  for (size_t k = 0; k < kAcc; ++k) acc[k] = hn::Zero(d);
  size_t i = 0;
  for (; i + kAcc * N <= n; i += kAcc * N) {
    for (size_t k = 0; k < kAcc; ++k) acc[k] = hn::Add(acc[k], hn::LoadU(d, x + i + k * N));
  }
  float sum = 0.0f;
  for (; i < n; ++i) sum += x[i];
  for (size_t k = 1; k < kAcc; ++k) acc[0] = hn::Add(acc[0], acc[k]);
  return sum + hn::GetLane(hn::SumOfLanes(d, acc[0]));
}

float ProbeFmaImpl(size_t iterations) {
  const hn::ScalableTag<float> d;
  // x * m + a converges to a / (1 - m) = 1: no overflow, no subnormals.
  const auto m = hn::Set(d, 0.999f);
  const auto a = hn::Set(d, 0.001f);
  hn::Vec<decltype(d)> acc[kChains];
  for (size_t k = 0; k < kChains; ++k) acc[k] = hn::Set(d, static_cast<float>(k));
  for (size_t i = 0; i < iterations; ++i) {
    for (size_t k = 0; k < kChains; ++k) acc[k] = hn::MulAdd(acc[k], m, a);
  }
  for (size_t k = 1; k < kChains; ++k) acc[0] = hn::Add(acc[0], acc[k]);
  return hn::GetLane(hn::SumOfLanes(d, acc[0]));
}

double ProbeFmaFlopsImpl(size_t iterations) {
  const hn::ScalableTag<float> d;
  return 2.0 * static_cast<double>(iterations) * kChains * static_cast<double>(hn::Lanes(d));
}

}  // namespace HWY_NAMESPACE
}  // namespace lmc::kernels
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace lmc::kernels {

HWY_EXPORT(ProbeReadSumImpl);
HWY_EXPORT(ProbeFmaImpl);
HWY_EXPORT(ProbeFmaFlopsImpl);

float ProbeReadSum(const float* x, size_t n) {
  return HWY_DYNAMIC_DISPATCH(ProbeReadSumImpl)(x, n);
}
float ProbeFma(size_t iterations) { return HWY_DYNAMIC_DISPATCH(ProbeFmaImpl)(iterations); }
double ProbeFmaFlops(size_t iterations) {
  return HWY_DYNAMIC_DISPATCH(ProbeFmaFlopsImpl)(iterations);
}

}  // namespace lmc::kernels
#endif  // HWY_ONCE
