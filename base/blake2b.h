// Blake2b256: streaming, unkeyed BLAKE2b with a 32-byte output (the artifact digest and the job
// ID), with signature.h the libsodium adapter. One hasher per thread: instances are not
// thread-safe; Of() is.
#pragma once

#include <sodium.h>

#include <string_view>

#include "base/digest.h"

namespace recomp {

class Blake2b256 {
 public:
  // Initialises libsodium (once per process) and starts an empty hash.
  Blake2b256();
  // Feeds more bytes. Must not be called after Finish().
  void Update(const void* data, size_t size);
  void Update(std::string_view bytes) { Update(bytes.data(), bytes.size()); }
  // Returns the digest of everything fed. Call at most once.
  Digest Finish();

  // One-shot convenience.
  static Digest Of(std::string_view bytes);

 private:
  crypto_generichash_state state_;
  bool finished_ = false;
};

}  // namespace recomp
