// runtime/kernels/cpu_targets.cc, which model binaries link instead of libhwy.so, against
// libhwy.so itself (loaded here with dlopen): the same supported targets among those the
// kernels are compiled for, on the machine the test runs on. Not a Catch test: the Catch
// main links the kernels, and with them libhwy, whose definitions would clash with ours.
#include <dlfcn.h>
#include <hwy/targets.h>

#include <cstdint>
#include <cstdio>

int main() {
  void* lib = dlopen("libhwy.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    std::fprintf(stderr, "FAIL: cannot load libhwy.so.1: %s\n", dlerror());
    return 1;
  }
  using Fn = int64_t (*)();
  const auto libhwy_targets = reinterpret_cast<Fn>(dlsym(lib, "_ZN3hwy16SupportedTargetsEv"));
  if (!libhwy_targets) {
    std::fprintf(stderr, "FAIL: libhwy.so.1 has no hwy::SupportedTargets\n");
    return 1;
  }
  const int64_t ours = hwy::SupportedTargets() & HWY_TARGETS;
  const int64_t theirs = libhwy_targets() & HWY_TARGETS;
  for (int64_t bit = 1; bit != 0 && bit <= HWY_TARGETS; bit <<= 1) {
    if (HWY_TARGETS & bit) {
      std::printf("%-8s ours %d libhwy %d\n", hwy::TargetName(bit), (ours & bit) != 0,
                  (theirs & bit) != 0);
    }
  }
  if (ours != theirs) {
    std::fprintf(stderr, "FAIL: supported targets differ: ours %llx, libhwy %llx\n",
                 static_cast<unsigned long long>(ours), static_cast<unsigned long long>(theirs));
    return 1;
  }
  // Dispatch's state starts uninitialized (mask 1: the first call chooses the target).
  if (hwy::GetChosenTarget().IsInitialized()) {
    std::fprintf(stderr, "FAIL: the chosen target starts initialized\n");
    return 1;
  }
  hwy::GetChosenTarget().Update(hwy::SupportedTargets());
  if (!hwy::GetChosenTarget().IsInitialized()) {
    std::fprintf(stderr, "FAIL: Update did not initialize the chosen target\n");
    return 1;
  }
  std::printf("PASS: the same targets as libhwy\n");
  return 0;
}
