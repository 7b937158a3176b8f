// DSSE envelopes (see dsse.h).
#include "messages/dsse.h"

#include <nlohmann/json.hpp>

#include "base/blake2b.h"
#include "base/digest.h"

namespace recomp {

std::string PreAuthEncoding(std::string_view payload_type, std::string_view payload) {
  std::string out = "DSSEv1 " + std::to_string(payload_type.size()) + " ";
  out.append(payload_type);
  out += " " + std::to_string(payload.size()) + " ";
  out.append(payload);
  return out;
}

DsseEnvelope SignEnvelope(std::string_view payload_type, std::string payload,
                          const std::string& keyid, const Ed25519KeyPair& key) {
  DsseEnvelope e{std::string(payload_type), std::move(payload), {}};
  e.signatures.push_back({keyid, Ed25519Sign(key, PreAuthEncoding(e.payload_type, e.payload))});
  return e;
}

Status VerifyEnvelope(const DsseEnvelope& e, std::string_view public_key) {
  if (e.signatures.empty()) return Status::Corruption("the envelope has no signature");
  const std::string pae = PreAuthEncoding(e.payload_type, e.payload);
  for (const DsseSignature& s : e.signatures) {
    if (Ed25519Verify(public_key, pae, s.sig)) return Status::Ok();
  }
  return Status::Corruption("no signature of the envelope verifies with key " +
                            Ed25519KeyId(public_key) +
                            " (the payload or a signature was changed, or another key signed)");
}

std::string EncodeEnvelope(const DsseEnvelope& e) {
  nlohmann::json sigs = nlohmann::json::array();
  for (const DsseSignature& s : e.signatures) {
    sigs.push_back({{"keyid", s.keyid}, {"sig", Base64Encode(s.sig)}});
  }
  return nlohmann::json{{"payload", Base64Encode(e.payload)},
                        {"payloadType", e.payload_type},
                        {"signatures", std::move(sigs)}}
      .dump();
}

Result<DsseEnvelope> DecodeEnvelope(std::string_view json) {
  if (json.size() > kMaxEnvelopeBytes) {
    return Status::InvalidArgument("envelope: more than " + std::to_string(kMaxEnvelopeBytes) +
                                   " bytes");
  }
  nlohmann::json j = nlohmann::json::parse(json, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return Status::InvalidArgument("envelope: not a JSON object");
  }
  auto str = [&j](const char* key) -> Result<std::string> {
    if (!j.contains(key) || !j[key].is_string()) {
      return Status::InvalidArgument(std::string("envelope: missing string field '") + key + "'");
    }
    return j[key].get<std::string>();
  };
  DsseEnvelope e;
  RECOMP_ASSIGN_OR_RETURN(e.payload_type, str("payloadType"));
  RECOMP_ASSIGN_OR_RETURN(std::string payload, str("payload"));
  RECOMP_ASSIGN_OR_RETURN(e.payload, Base64Decode(payload));
  if (!j.contains("signatures") || !j["signatures"].is_array()) {
    return Status::InvalidArgument("envelope: missing array field 'signatures'");
  }
  for (const nlohmann::json& s : j["signatures"]) {
    if (!s.is_object() || !s.contains("sig") || !s["sig"].is_string() ||
        (s.contains("keyid") && !s["keyid"].is_string())) {
      return Status::InvalidArgument("envelope: a signature is not {keyid?, sig}");
    }
    RECOMP_ASSIGN_OR_RETURN(std::string sig, Base64Decode(s["sig"].get<std::string>()));
    e.signatures.push_back({s.value("keyid", ""), std::move(sig)});
  }
  return e;
}

std::string Ed25519KeyId(std::string_view public_key) {
  return "recomp-ed25519:" + Blake2b256::Of(public_key).Hex().substr(0, 32);
}

}  // namespace recomp
