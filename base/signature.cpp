// Ed25519 and Base64 over libsodium (see signature.h).
#include "base/signature.h"

#include <sodium.h>

#include <cstdlib>

namespace recomp {
namespace {

void EnsureSodium() {
  static const int kInit = sodium_init();  // thread-safe, idempotent
  if (kInit < 0) std::abort();             // no entropy source: nothing can be signed
}

const unsigned char* Bytes(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

static_assert(crypto_sign_PUBLICKEYBYTES == kEd25519PublicBytes);
static_assert(crypto_sign_SEEDBYTES == kEd25519SeedBytes);
static_assert(crypto_sign_BYTES == kEd25519SignatureBytes);

}  // namespace

Ed25519KeyPair NewEd25519KeyPair() {
  EnsureSodium();
  std::string seed(kEd25519SeedBytes, '\0');
  randombytes_buf(seed.data(), seed.size());
  return *Ed25519FromSeed(seed);
}

Result<Ed25519KeyPair> Ed25519FromSeed(std::string_view seed) {
  EnsureSodium();
  if (seed.size() != kEd25519SeedBytes) {
    return Status::InvalidArgument("an Ed25519 seed has 32 bytes, not " +
                                   std::to_string(seed.size()));
  }
  unsigned char pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
  crypto_sign_seed_keypair(pk, sk, Bytes(seed));
  sodium_memzero(sk, sizeof sk);
  return Ed25519KeyPair{std::string(reinterpret_cast<char*>(pk), sizeof pk), std::string(seed)};
}

std::string Ed25519Sign(const Ed25519KeyPair& key, std::string_view message) {
  EnsureSodium();
  unsigned char pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
  crypto_sign_seed_keypair(pk, sk, Bytes(key.seed));
  std::string sig(kEd25519SignatureBytes, '\0');
  crypto_sign_detached(reinterpret_cast<unsigned char*>(sig.data()), nullptr, Bytes(message),
                       message.size(), sk);
  sodium_memzero(sk, sizeof sk);
  return sig;
}

bool Ed25519Verify(std::string_view public_key, std::string_view message,
                   std::string_view signature) {
  EnsureSodium();
  if (public_key.size() != kEd25519PublicBytes || signature.size() != kEd25519SignatureBytes) {
    return false;
  }
  return crypto_sign_verify_detached(Bytes(signature), Bytes(message), message.size(),
                                     Bytes(public_key)) == 0;
}

std::string Base64Encode(std::string_view bytes) {
  const int variant = sodium_base64_VARIANT_ORIGINAL;
  std::string out(sodium_base64_ENCODED_LEN(bytes.size(), variant), '\0');
  sodium_bin2base64(out.data(), out.size(), Bytes(bytes), bytes.size(), variant);
  out.resize(out.size() - 1);  // the terminating NUL
  return out;
}

Result<std::string> Base64Decode(std::string_view text) {
  std::string out(text.size() / 4 * 3 + 3, '\0');
  size_t len = 0;
  const char* end = nullptr;
  if (sodium_base642bin(reinterpret_cast<unsigned char*>(out.data()), out.size(), text.data(),
                        text.size(), nullptr, &len, &end, sodium_base64_VARIANT_ORIGINAL) != 0 ||
      end != text.data() + text.size()) {
    return Status::InvalidArgument("not padded standard Base64");
  }
  out.resize(len);
  return out;
}

}  // namespace recomp
