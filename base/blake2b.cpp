// Blake2b256 over libsodium's crypto_generichash (BLAKE2b; unkeyed; 32-byte output).
#include "base/blake2b.h"

#include <cassert>
#include <cstdlib>

namespace recomp {
namespace {

void EnsureSodium() {
  // sodium_init() is thread-safe and idempotent; it returns -1 only if the library cannot
  // initialise (no entropy source), which is unrecoverable for a hashing-only user too.
  static const int kInit = sodium_init();
  if (kInit < 0) std::abort();
}

}  // namespace

static_assert(crypto_generichash_BYTES == kDigestBytes, "BLAKE2b-256 output must be 32 bytes");

Blake2b256::Blake2b256() {
  EnsureSodium();
  int rc = crypto_generichash_init(&state_, nullptr, 0, kDigestBytes);
  assert(rc == 0);
  (void)rc;
}

void Blake2b256::Update(const void* data, size_t size) {
  assert(!finished_);
  int rc = crypto_generichash_update(&state_, static_cast<const unsigned char*>(data), size);
  assert(rc == 0);
  (void)rc;
}

Digest Blake2b256::Finish() {
  assert(!finished_);
  finished_ = true;
  Digest d;
  int rc = crypto_generichash_final(&state_, d.bytes.data(), d.bytes.size());
  assert(rc == 0);
  (void)rc;
  return d;
}

Digest Blake2b256::Of(std::string_view bytes) {
  Blake2b256 h;
  h.Update(bytes);
  return h.Finish();
}

}  // namespace recomp
