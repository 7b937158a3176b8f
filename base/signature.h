// Ed25519 signatures (RFC 8032) and the Base64 (RFC 4648, standard alphabet, padded) signed
// envelopes carry, over libsodium (crypto_sign_*, sodium_bin2base64); with base/blake2b.cpp the
// only users of libsodium. Pure functions; thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "base/status.h"

namespace recomp {

inline constexpr size_t kEd25519PublicBytes = 32;
inline constexpr size_t kEd25519SeedBytes = 32;
inline constexpr size_t kEd25519SignatureBytes = 64;

struct Ed25519KeyPair {
  std::string public_key;  // 32 bytes
  std::string seed;        // 32 bytes: the secret (RFC 8032's private key)
};

// A new keypair from the system's random source.
Ed25519KeyPair NewEd25519KeyPair();
// The keypair of a 32-byte seed. InvalidArgument for another size.
Result<Ed25519KeyPair> Ed25519FromSeed(std::string_view seed);
// The 64-byte detached signature of `message` (deterministic, RFC 8032).
std::string Ed25519Sign(const Ed25519KeyPair& key, std::string_view message);
// Whether `signature` is `public_key`'s valid signature of `message` (false for wrong sizes).
bool Ed25519Verify(std::string_view public_key, std::string_view message,
                   std::string_view signature);

std::string Base64Encode(std::string_view bytes);
// InvalidArgument for anything but padded standard Base64 (whitespace is not accepted).
Result<std::string> Base64Decode(std::string_view text);

}  // namespace recomp
