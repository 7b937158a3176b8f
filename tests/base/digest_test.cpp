// Digest text forms: one spelling per digest, and refusals naming the text.
#include "base/digest.h"

#include <doctest/doctest.h>

#include "base/blake2b.h"

using namespace recomp;

TEST_CASE("Hex and Ref, and ParseDigestHex back") {
  Digest d = Blake2b256::Of("abc");
  CHECK(d.Hex().size() == 64);
  CHECK(d.Ref() == "artifact://" + d.Hex());
  CHECK(ParseDigestHex(d.Hex()).value() == d);
}

TEST_CASE("ParseDigestHex refuses uppercase, wrong lengths and non-hex, printably") {
  Digest d = Blake2b256::Of("abc");
  std::string upper = d.Hex();
  upper[0] = 'A';
  CHECK(ParseDigestHex(upper).status().message().find("only lowercase") != std::string::npos);
  CHECK(ParseDigestHex(d.Hex() + "0").status().message().find("got 65") != std::string::npos);
  std::string ctl(64, '\x01');
  std::string m = ParseDigestHex(ctl).status().message();
  CHECK(m.find('\x01') == std::string::npos);             // shown as '?'
  CHECK(Printable(std::string(150, 'a')).size() == 103);  // 100 bytes and "..."
}
