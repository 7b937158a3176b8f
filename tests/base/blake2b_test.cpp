// BLAKE2b-256 against published vectors (RFC 7693 parameterisation, 32-byte digest, no key).
#include "base/blake2b.h"

#include <doctest/doctest.h>

#include <string>

using recomp::Blake2b256;

TEST_CASE("blake2b-256 of the empty string") {
  CHECK(Blake2b256::Of("").Hex() ==
        "0e5751c026e543b2e8ab2eb06099daa1d1e5df47778f7787faab45cdf12fe3a8");
}

TEST_CASE("blake2b-256 of abc") {
  CHECK(Blake2b256::Of("abc").Hex() ==
        "bddd813c634239723171ef3fee98579b94964e3bb1cb3e427262c8c068d52319");
}

TEST_CASE("blake2b-256 of the quick brown fox") {
  CHECK(Blake2b256::Of("The quick brown fox jumps over the lazy dog").Hex() ==
        "01718cec35cd3d796dd00020e0bfecb473ad23457d063b75eff29c0ffa2e58a9");
}

TEST_CASE("streaming equals one-shot at every split point") {
  std::string data;
  for (int i = 0; i < 300; ++i) data += static_cast<char>(i * 7);
  auto whole = Blake2b256::Of(data);
  for (size_t split = 0; split <= data.size(); split += 13) {
    Blake2b256 h;
    h.Update(std::string_view(data).substr(0, split));
    h.Update(std::string_view(data).substr(split));
    CHECK(h.Finish() == whole);
  }
}
