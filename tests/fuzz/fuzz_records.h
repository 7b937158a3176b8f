// Helpers for the decoder fuzz targets: a decoded record must re-encode to bytes that decode
// to the same record (a decoder and its encoder agree on everything they accept).
#pragma once

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

// Aborts (a finding) when `ok` is false.
inline void FuzzCheck(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "fuzz property failed: %s\n", what);
    std::abort();
  }
}

// Decodes `bytes` with `decode`; when it decodes, `encode` and `decode` again must give an
// equal record.
template <typename Decode, typename Encode>
void RoundTrip(std::string_view bytes, Decode decode, Encode encode) {
  auto first = decode(bytes);
  if (!first.ok()) return;
  std::string again = encode(*first);
  auto second = decode(again);
  FuzzCheck(second.ok(), "a re-encoded record decodes");
  FuzzCheck(*second == *first, "a re-encoded record decodes to itself");
}
