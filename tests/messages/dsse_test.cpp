#include "messages/dsse.h"

#include <doctest/doctest.h>

namespace recomp {
namespace {

TEST_CASE("dsse: the pre-authentication encoding is the spec's") {
  // DSSE v1.0's protocol.md example.
  CHECK(PreAuthEncoding("http://example.com/HelloWorld", "hello world") ==
        "DSSEv1 29 http://example.com/HelloWorld 11 hello world");
  CHECK(PreAuthEncoding("", "") == "DSSEv1 0  0 ");
}

TEST_CASE("dsse: a signed envelope round-trips through JSON and verifies") {
  Ed25519KeyPair key = NewEd25519KeyPair();
  std::string payload = R"({"_type":"https://in-toto.io/Statement/v1"})";
  DsseEnvelope e = SignEnvelope(kInTotoPayloadType, payload, Ed25519KeyId(key.public_key), key);
  std::string json = EncodeEnvelope(e);
  auto back = DecodeEnvelope(json);
  REQUIRE_MESSAGE(back.ok(), back.status().ToString());
  CHECK(back->payload == payload);
  CHECK(back->payload_type == kInTotoPayloadType);
  REQUIRE(back->signatures.size() == 1);
  CHECK(back->signatures[0].keyid == Ed25519KeyId(key.public_key));
  CHECK(VerifyEnvelope(*back, key.public_key).ok());
}

TEST_CASE("dsse: a changed payload, type or signature, or another key, fails") {
  Ed25519KeyPair key = NewEd25519KeyPair();
  DsseEnvelope e = SignEnvelope(kInTotoPayloadType, "payload bytes", "k", key);
  DsseEnvelope payload = e;
  payload.payload[3] ^= 1;
  CHECK(VerifyEnvelope(payload, key.public_key).code() == Status::Code::kCorruption);
  DsseEnvelope type = e;
  type.payload_type = "application/json";
  CHECK_FALSE(VerifyEnvelope(type, key.public_key).ok());
  DsseEnvelope sig = e;
  sig.signatures[0].sig[0] ^= 1;
  CHECK_FALSE(VerifyEnvelope(sig, key.public_key).ok());
  CHECK_FALSE(VerifyEnvelope(e, NewEd25519KeyPair().public_key).ok());
  DsseEnvelope none = e;
  none.signatures.clear();
  CHECK_FALSE(VerifyEnvelope(none, key.public_key).ok());
}

TEST_CASE("dsse: malformed envelopes are refused naming what is wrong") {
  auto bad = [](std::string_view json) { return DecodeEnvelope(json).status().message(); };
  CHECK(bad("[]").find("not a JSON object") != std::string::npos);
  CHECK(bad(R"({"payload":"aGk=","signatures":[]})").find("payloadType") != std::string::npos);
  CHECK(bad(R"({"payload":"!!","payloadType":"t","signatures":[]})").find("Base64") !=
        std::string::npos);
  CHECK(bad(R"({"payload":"aGk=","payloadType":"t"})").find("signatures") != std::string::npos);
  CHECK(bad(R"({"payload":"aGk=","payloadType":"t","signatures":[{"keyid":1,"sig":"aGk="}]})")
            .find("keyid") != std::string::npos);
  CHECK(
      DecodeEnvelope(R"({"payload":"aGk=","payloadType":"t","signatures":[{"sig":"aGk="}]})").ok());
}

}  // namespace
}  // namespace recomp
