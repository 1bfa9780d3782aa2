// Small probes of the machine's limits, for the roofline shares `bench` prints:
// how fast one thread streams memory and how many float FMAs it retires. Run
// on the best Highway target the CPU supports, like the kernels they bound.
#pragma once

#include <cstddef>

namespace lmc::kernels {

// Sum of x[0, n) (n a multiple of 64), read with many independent vector
// accumulators so the loads, not the adds, limit it.
float ProbeReadSum(const float* x, size_t n);

// Runs `iterations` rounds of kProbeFmaChains independent vector FMA chains and
// returns a value that depends on all of them (so none is optimized away).
// Floating-point operations done: ProbeFmaFlops(iterations).
float ProbeFma(size_t iterations);
double ProbeFmaFlops(size_t iterations);

}  // namespace lmc::kernels
