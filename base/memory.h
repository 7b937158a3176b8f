// The one adapter to the C library's allocator (glibc malloc): hands freed memory back to the
// operating system, so that a burst (a peer's unfinished multipart message, a large reply)
// does not stay resident after it ends. Thread-safe.
#pragma once

#include <cstddef>

namespace recomp {

// Serves every allocation of at least kLargeAllocationBytes from its own mapping, returned to
// the system when freed (glibc otherwise raises this threshold after each large free, so a
// burst of large frames stays in its arenas). Call once, early in a long-running process.
inline constexpr size_t kLargeAllocationBytes = size_t{256} << 10;
void ReturnLargeAllocationsPromptly();

// Returns the free pages of every arena to the system (malloc_trim). Its cost grows with the
// heap's free space: call it from a periodic, non-urgent point. Returns whether any memory
// was released.
bool ReleaseFreeMemory();

}  // namespace recomp
