// Big-endian encoding: byte order, widths, and that keys sort numerically.
#include "base/endian.h"

#include <doctest/doctest.h>

using namespace recomp;

TEST_CASE("big-endian bytes, most significant first, and back") {
  CHECK(U64Bytes(0x0102030405060708ull) == std::string("\x01\x02\x03\x04\x05\x06\x07\x08", 8));
  std::string s;
  AppendU32(s, 0xA1B2C3D4u);
  CHECK(s == "\xA1\xB2\xC3\xD4");
  AppendBigEndian(s, 0x0102, 2);
  CHECK(s.size() == 6);
  CHECK(ReadBigEndian(std::string_view(s).substr(4)) == 0x0102);
  CHECK(ReadBigEndian(U64Bytes(UINT64_MAX)) == UINT64_MAX);
}

TEST_CASE("encoded keys sort in numeric order") {
  for (uint64_t a : {0ull, 1ull, 255ull, 256ull, 65535ull, 1ull << 40}) {
    CHECK(U64Bytes(a) < U64Bytes(a + 1));
  }
}
