// Levenshtein distance and the nearest word, for "did you mean" hints (config keys, pipeline keys,
// commands). Pure; thread-safe.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace recomp {

// The fewest single-character insertions, deletions and substitutions turning `a` into `b`.
// O(|a| x |b|) time, O(|b|) memory: for short words.
size_t EditDistance(std::string_view a, std::string_view b);

// The candidate nearest to `word` within `max_edits` edits (the first of equals), or "" when
// none is: the one "did you mean" rule.
template <typename Range>
std::string Closest(std::string_view word, const Range& candidates, size_t max_edits) {
  std::string best;
  size_t best_d = max_edits + 1;
  for (const auto& c : candidates) {
    const size_t d = EditDistance(word, c);
    if (d < best_d) {
      best_d = d;
      best = std::string(c);
    }
  }
  return best;
}

}  // namespace recomp
