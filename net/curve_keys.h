// CURVE keys (ZeroMQ RFC 26): generating a keypair, checking a Z85 key, and the key files
// `recomp keys new` writes: NAME.key (public and secret, mode 0600) and NAME.pub (public).
// The one adapter of libzmq's key functions. Pure functions and file I/O; thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "base/status.h"

namespace recomp::net {

inline constexpr size_t kZ85KeyChars = 40;  // a 32-byte key in Z85

struct CurveKeyPair {
  std::string public_key;  // Z85, 40 characters
  std::string secret_key;  // Z85, 40 characters
  std::string name;        // the name in a key file's metadata ("" when none)
};

// Whether this libzmq was built with CURVE (Debian's is).
bool HasCurve();
// A new keypair. Unavailable when libzmq has no CURVE.
Result<CurveKeyPair> NewCurveKeyPair();
// InvalidArgument, naming `what`, unless `key` is 40 characters of Z85 that decode to 32 bytes.
Status ValidateZ85Key(std::string_view key, std::string_view what);
// The Z85 text of a 32-byte key. InvalidArgument for another size.
Result<std::string> KeyToZ85(std::string_view raw);
// The public key of Z85 secret `secret`.
Result<std::string> CurvePublicKey(std::string_view secret);

// Writes `dir`/NAME.key (public + secret, 0600, never overwriting) and `dir`/NAME.pub (public,
// 0644), creating `dir` (0700) when missing. AlreadyExists when NAME.key is there. `name`:
// 1-64 of [A-Za-z0-9_.-], not starting with '.'.
Status WriteKeyFiles(const std::string& dir, const std::string& name, const CurveKeyPair& pair);
// Reads a NAME.key file: both keys, checked to belong together. FailedPrecondition when the
// file is readable by group or others (like ssh: a secret shared is no secret).
Result<CurveKeyPair> ReadSecretKeyFile(const std::string& path);
// Reads the public key from a NAME.pub or NAME.key file.
Result<std::string> ReadPublicKeyFile(const std::string& path);

}  // namespace recomp::net
