#include "base/memory.h"

#include <doctest/doctest.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

namespace {

// Under AddressSanitizer the allocator is ASan's (with a quarantine): nothing to measure.
#if defined(__SANITIZE_ADDRESS__)
constexpr bool kGlibcMalloc = false;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool kGlibcMalloc = false;
#else
constexpr bool kGlibcMalloc = true;
#endif
#else
constexpr bool kGlibcMalloc = true;
#endif

// Resident memory of this process in KiB (VmRSS), or -1.
long ResidentKib() {
  std::FILE* f = std::fopen("/proc/self/status", "r");
  if (f == nullptr) return -1;
  char line[256];
  long kib = -1;
  while (std::fgets(line, sizeof line, f) != nullptr) {
    if (std::strncmp(line, "VmRSS:", 6) == 0) kib = std::strtol(line + 6, nullptr, 10);
  }
  std::fclose(f);
  return kib;
}

// Each case frees a burst while small blocks allocated between its blocks stay alive (as a
// server's other state does), so the heap's top cannot shrink: only the calls give it back.
// Allocations go through a volatile pointer: a compiler may elide a new/delete pair.
void* volatile g_sink;

void* Touched(size_t bytes, int fill) {
  g_sink = std::malloc(bytes);
  REQUIRE(g_sink != nullptr);
  std::memset(g_sink, fill, bytes);
  return g_sink;
}

void FreeAll(std::vector<void*>* blocks) {
  for (void* b : *blocks) std::free(b);
  blocks->clear();
}

}  // namespace

TEST_CASE("memory: a burst of large allocations is not kept resident once freed") {
  recomp::ReturnLargeAllocationsPromptly();
  if (!kGlibcMalloc) return;
  std::free(Touched(1 << 20, 0));  // without a fixed threshold this raises glibc's to 1 MiB
  const long before = ResidentKib();
  REQUIRE(before > 0);
  std::vector<void*> burst, pins;
  burst.reserve(256);
  pins.reserve(256);
  for (int i = 0; i < 256; ++i) {  // 256 MiB in 1 MiB blocks
    burst.push_back(Touched(1 << 20, i));
    pins.push_back(Touched(4096, i));
  }
  CHECK(ResidentKib() > before + 200 * 1024);
  FreeAll(&burst);
  CHECK(ResidentKib() < before + 16 * 1024);
  FreeAll(&pins);
}

TEST_CASE("memory: freed small blocks are handed back by ReleaseFreeMemory") {
  if (!kGlibcMalloc) return;
  const long before = ResidentKib();
  std::vector<void*> burst, pins;
  burst.reserve(200000);
  pins.reserve(2000);
  for (int i = 0; i < 200000; ++i) {  // ~200 MiB in 1000-byte blocks: below any threshold
    burst.push_back(Touched(1000, 1));
    if (i % 100 == 0) pins.push_back(Touched(4096, 1));
  }
  FreeAll(&burst);
  CHECK(ResidentKib() > before + 100 * 1024);  // what glibc keeps on its own
  recomp::ReleaseFreeMemory();
  CHECK(ResidentKib() < before + 24 * 1024);
  FreeAll(&pins);
}
