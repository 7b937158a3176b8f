// Fixed-width big-endian integers, the byte order of every key and length prefix recomp writes
// (LMDB keys sort by these bytes, so big-endian keeps numeric order). Pure functions;
// thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace recomp {

// Appends the low `bytes` (1-8) bytes of `v`, most significant first.
inline void AppendBigEndian(std::string& out, uint64_t v, int bytes) {
  for (int i = bytes - 1; i >= 0; --i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
inline void AppendU32(std::string& out, uint32_t v) {
  AppendBigEndian(out, v, 4);
}
inline void AppendU64(std::string& out, uint64_t v) {
  AppendBigEndian(out, v, 8);
}
// The 8 bytes of `v`, most significant first.
inline std::string U64Bytes(uint64_t v) {
  std::string out;
  out.reserve(8);
  AppendU64(out, v);
  return out;
}
// Reads `bytes.size()` (at most 8) bytes as one big-endian number.
inline uint64_t ReadBigEndian(std::string_view bytes) {
  uint64_t v = 0;
  for (unsigned char c : bytes.substr(0, 8)) v = (v << 8) | c;
  return v;
}

}  // namespace recomp
