// Attention's score scratch, shared by the per-target kernels (ops-inl.h, rows-inl.h) and the
// callers that size it (kernels_test): the heads of a GQA group take each block of cached rows
// together, kAttentionHeadChunk at a time, and each head needs its own scores.
#ifndef LMC_RUNTIME_KERNELS_ATTENTION_SCRATCH_H_
#define LMC_RUNTIME_KERNELS_ATTENTION_SCRATCH_H_

namespace lmc::kernels {

constexpr int kAttentionHeadChunk = 4;

// The floats of score scratch Attention needs for `group` query heads per KV head over `keys`
// cached rows.
constexpr int AttentionScratchFloats(int group, int keys) { return group * keys; }

}  // namespace lmc::kernels

#endif  // LMC_RUNTIME_KERNELS_ATTENTION_SCRATCH_H_
