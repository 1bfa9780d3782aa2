// The functions of Highway's library that dynamic dispatch calls (hwy/targets.h:
// SupportedTargets, GetChosenTarget; and Abort, which HWY_ASSERT calls), defined here for model
// binaries so they need not load Debian's libhwy.so, whose static initializer calibrates a timer
// for milliseconds on every start (issue #10 budgets 1 ms from exec to the first token). Everything
// else dispatch needs is inline in Highway's headers. The compiler, the tests and the benchmarks'
// probes still link libhwy; cpu_targets_test checks that both give the same targets on the machine
// it runs on.
//
// A target is supported when CPUID reports every instruction set Highway compiles it with and
// the OS saves the registers it uses (XCR0: YMM for AVX2, opmask and ZMM for AVX-512).
#include <hwy/targets.h>

#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#if defined(__x86_64__)
#include <cpuid.h>
#endif

namespace hwy {
namespace {

#if defined(__x86_64__)
struct CpuidRegs {
  uint32_t eax = 0, ebx = 0, ecx = 0, edx = 0;
};

CpuidRegs Cpuid(uint32_t leaf, uint32_t subleaf) {
  CpuidRegs r;
  __cpuid_count(leaf, subleaf, r.eax, r.ebx, r.ecx, r.edx);
  return r;
}

constexpr bool Has(uint32_t reg, int bit) { return (reg >> bit) & 1u; }

int64_t DetectX86() {
  const uint32_t max_leaf = Cpuid(0, 0).eax;
  const CpuidRegs l1 = Cpuid(1, 0);
  const CpuidRegs l7 = max_leaf >= 7 ? Cpuid(7, 0) : CpuidRegs{};
  const bool lzcnt = Cpuid(0x80000000u, 0).eax >= 0x80000001u && Has(Cpuid(0x80000001u, 0).ecx, 5);

  const bool ssse3 = Has(l1.edx, 25) && Has(l1.edx, 26) && Has(l1.ecx, 0) && Has(l1.ecx, 9);
  const bool sse4 = ssse3 && Has(l1.ecx, 19) && Has(l1.ecx, 20) &&          // SSE4.1, SSE4.2
                    Has(l1.ecx, 1) && Has(l1.ecx, 25);                      // CLMUL, AES
  const bool avx2 = sse4 && Has(l1.ecx, 28) && Has(l7.ebx, 5) &&            // AVX, AVX2
                    Has(l1.ecx, 12) && Has(l1.ecx, 29) && lzcnt &&          // FMA, F16C
                    Has(l7.ebx, 3) && Has(l7.ebx, 8);                       // BMI, BMI2
  const bool avx3 = avx2 && Has(l7.ebx, 16) && Has(l7.ebx, 17) &&           // F, DQ
                    Has(l7.ebx, 28) && Has(l7.ebx, 30) && Has(l7.ebx, 31);  // CD, BW, VL
  const bool avx3_dl = avx3 && Has(l7.ecx, 1) && Has(l7.ecx, 6) &&          // VBMI, VBMI2
                       Has(l7.ecx, 8) && Has(l7.ecx, 9) &&                  // GFNI, VAES
                       Has(l7.ecx, 10) && Has(l7.ecx, 11) &&                // VPCLMULQDQ, VNNI
                       Has(l7.ecx, 12) && Has(l7.ecx, 14);                  // BITALG, POPCNTDQ

  // Registers the OS does not save across context switches must not be used.
  uint32_t xcr0 = 0;
  if (Has(l1.ecx, 27)) {  // OSXSAVE: XGETBV is available
    uint32_t high = 0;
    __asm__ volatile("xgetbv" : "=a"(xcr0), "=d"(high) : "c"(0));
  }
  const bool os_ymm = (xcr0 & 0x6u) == 0x6u, os_zmm = (xcr0 & 0xE6u) == 0xE6u;

  int64_t bits = 0;
  if (ssse3) bits |= HWY_SSSE3;
  if (sse4) bits |= HWY_SSE4;
  if (avx2 && os_ymm) bits |= HWY_AVX2;
  if (avx3 && os_zmm) bits |= HWY_AVX3;
  if (avx3_dl && os_zmm) bits |= HWY_AVX3_DL;
  return bits;
}
#endif

}  // namespace

int64_t SupportedTargets() {
  int64_t bits = HWY_SCALAR | HWY_EMU128;
#if defined(__x86_64__)
  bits |= DetectX86();
#endif
  return bits;
}

ChosenTarget& GetChosenTarget() {
  static ChosenTarget chosen;  // constant-initialized: no static constructor
  return chosen;
}

void Abort(const char* file, int line, const char* format, ...) {
  std::fprintf(stderr, "Abort at %s:%d: ", file, line);
  va_list args;
  va_start(args, format);
  std::vfprintf(stderr, format, args);
  va_end(args);
  std::fputc('\n', stderr);
  std::abort();
}

}  // namespace hwy
