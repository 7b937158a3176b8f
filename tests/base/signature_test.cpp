#include "base/signature.h"

#include <doctest/doctest.h>

#include <string>

namespace recomp {
namespace {

std::string Unhex(std::string_view hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<char>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
  }
  return out;
}

// RFC 8032, section 7.1, TEST 1 (empty message) and TEST 2 (one byte).
struct Vector {
  const char* seed;
  const char* public_key;
  const char* message;
  const char* signature;
};
constexpr Vector kRfc8032[] = {
    {"9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
     "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
     "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701c"
     "f9b46bd25bf5f0595bbe24655141438e7a100b"},
    {"4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
     "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
     "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0"
     "f11d8c387b2eaeb4302aeeb00d291612bb0c00"},
};

TEST_CASE("ed25519: RFC 8032 test vectors") {
  for (const Vector& v : kRfc8032) {
    auto key = Ed25519FromSeed(Unhex(v.seed));
    REQUIRE(key.ok());
    CHECK(key->public_key == Unhex(v.public_key));
    std::string sig = Ed25519Sign(*key, Unhex(v.message));
    CHECK(sig == Unhex(v.signature));
    CHECK(Ed25519Verify(key->public_key, Unhex(v.message), sig));
  }
}

TEST_CASE("ed25519: a changed message, signature or key fails verification") {
  Ed25519KeyPair k = NewEd25519KeyPair();
  Ed25519KeyPair other = NewEd25519KeyPair();
  CHECK(k.public_key != other.public_key);
  std::string sig = Ed25519Sign(k, "the run's provenance");
  CHECK(Ed25519Verify(k.public_key, "the run's provenance", sig));
  CHECK_FALSE(Ed25519Verify(k.public_key, "the run's provenancE", sig));
  std::string flipped = sig;
  flipped[10] ^= 1;
  CHECK_FALSE(Ed25519Verify(k.public_key, "the run's provenance", flipped));
  CHECK_FALSE(Ed25519Verify(other.public_key, "the run's provenance", sig));
  CHECK_FALSE(Ed25519Verify(k.public_key, "the run's provenance", sig.substr(1)));
  CHECK_FALSE(Ed25519FromSeed("short").ok());
}

TEST_CASE("base64: RFC 4648 vectors both ways; malformed text is refused") {
  const std::pair<const char*, const char*> vectors[] = {{"", ""},
                                                         {"f", "Zg=="},
                                                         {"fo", "Zm8="},
                                                         {"foo", "Zm9v"},
                                                         {"foob", "Zm9vYg=="},
                                                         {"fooba", "Zm9vYmE="},
                                                         {"foobar", "Zm9vYmFy"}};
  for (auto [plain, coded] : vectors) {
    CHECK(Base64Encode(plain) == coded);
    auto back = Base64Decode(coded);
    REQUIRE(back.ok());
    CHECK(*back == plain);
  }
  std::string binary("\x00\xff\x10\x80", 4);
  CHECK(*Base64Decode(Base64Encode(binary)) == binary);
  CHECK_FALSE(Base64Decode("Zm9v!").ok());
  CHECK_FALSE(Base64Decode("Zg").ok());  // unpadded
  CHECK_FALSE(Base64Decode("Zm9v YmFy").ok());
}

}  // namespace
}  // namespace recomp
