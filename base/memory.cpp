#include "base/memory.h"

#include <malloc.h>

namespace recomp {

void ReturnLargeAllocationsPromptly() {
  // A fixed threshold also disables glibc's dynamic adjustment of it (mallopt(3)).
  ::mallopt(M_MMAP_THRESHOLD, static_cast<int>(kLargeAllocationBytes));
}

bool ReleaseFreeMemory() {
  return ::malloc_trim(0) == 1;
}

}  // namespace recomp
