// Attention's score scratch, shared by the per-target kernels (ops-inl.h, rows-inl.h) and the
// callers that size it (kernels_test): the heads of a GQA group are computed
// kAttentionHeadChunk at a time, so that each cached key and value row is read once for them,
// and each needs its own scores.
#ifndef LMC_RUNTIME_KERNELS_ATTENTION_SCRATCH_H_
#define LMC_RUNTIME_KERNELS_ATTENTION_SCRATCH_H_

namespace lmc::kernels {

constexpr int kAttentionHeadChunk = 4;

}  // namespace lmc::kernels

#endif  // LMC_RUNTIME_KERNELS_ATTENTION_SCRATCH_H_
