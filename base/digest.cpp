// Digest text forms (see digest.h).
#include "base/digest.h"

namespace recomp {
namespace {
constexpr char kHex[] = "0123456789abcdef";

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}
}  // namespace

std::string Printable(std::string_view s) {
  std::string out(s.substr(0, 100));
  for (char& c : out) {
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) > 0x7e) c = '?';
  }
  return s.size() > 100 ? out + "..." : out;
}

std::string Digest::Hex() const {
  std::string s(kDigestBytes * 2, '0');
  for (size_t i = 0; i < kDigestBytes; ++i) {
    s[2 * i] = kHex[bytes[i] >> 4];
    s[2 * i + 1] = kHex[bytes[i] & 15];
  }
  return s;
}

std::string Digest::Ref() const {
  return std::string(kArtifactScheme) + Hex();
}

Result<Digest> ParseDigestHex(std::string_view hex) {
  if (hex.size() != kDigestBytes * 2) {
    return Status::InvalidArgument("malformed digest '" + Printable(hex) +
                                   "': expected 64 hex digits, got " + std::to_string(hex.size()) +
                                   " characters");
  }
  Digest d;
  for (size_t i = 0; i < kDigestBytes; ++i) {
    int hi = HexValue(hex[2 * i]);
    int lo = HexValue(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) {
      return Status::InvalidArgument("malformed digest '" + Printable(hex) +
                                     "': only lowercase hex digits 0-9a-f are allowed");
    }
    d.bytes[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  return d;
}

}  // namespace recomp
