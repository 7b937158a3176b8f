// DSSE v1.0 (the Dead Simple Signing Envelope of in-toto / secure-systems-lab): the
// pre-authentication encoding that is signed, and envelopes in their JSON form
//   {"payload": <Base64>, "payloadType": <type>, "signatures": [{"keyid": ..., "sig": <Base64>}]}
// signed and checked with Ed25519 (base/signature.h). Pure functions; thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "base/signature.h"
#include "base/status.h"

namespace recomp {

// The payload type of an in-toto Statement.
inline constexpr std::string_view kInTotoPayloadType = "application/vnd.in-toto+json";
inline constexpr size_t kMaxEnvelopeBytes = size_t{64} << 20;

// PAE(type, body) = "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body, LEN in ASCII decimal.
std::string PreAuthEncoding(std::string_view payload_type, std::string_view payload);

struct DsseSignature {
  std::string keyid;
  std::string sig;  // raw bytes
};
struct DsseEnvelope {
  std::string payload_type;
  std::string payload;  // raw bytes (Base64 only in the JSON form)
  std::vector<DsseSignature> signatures;
};

// An envelope of `payload` signed by `key`, whose key id is `keyid`.
DsseEnvelope SignEnvelope(std::string_view payload_type, std::string payload,
                          const std::string& keyid, const Ed25519KeyPair& key);
// OK when a signature of the envelope verifies with `public_key` (32 bytes); Corruption naming
// what failed otherwise (no signature, or none that verifies).
Status VerifyEnvelope(const DsseEnvelope& e, std::string_view public_key);

std::string EncodeEnvelope(const DsseEnvelope& e);  // JSON, one line
// InvalidArgument naming the field for anything that is not an envelope (bad JSON, missing or
// mistyped fields, bad Base64, more than kMaxEnvelopeBytes).
Result<DsseEnvelope> DecodeEnvelope(std::string_view json);

// The key id recomp gives an Ed25519 public key: "recomp-ed25519:" + the first 32 hex digits
// of its BLAKE2b-256; stable, and names the key in errors.
std::string Ed25519KeyId(std::string_view public_key);

}  // namespace recomp
