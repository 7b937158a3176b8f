// Levenshtein distance, for "did you mean" hints (config keys, pipeline keys, commands).
// Pure; thread-safe.
#pragma once

#include <cstddef>
#include <string_view>

namespace recomp {

// The fewest single-character insertions, deletions and substitutions turning `a` into `b`.
// O(|a| x |b|) time, O(|b|) memory: for short words.
size_t EditDistance(std::string_view a, std::string_view b);

}  // namespace recomp
