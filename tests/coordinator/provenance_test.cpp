// The provenance Statement and its signed envelope (docs/provenance.md). An independent check
// of the envelope: tests/python/test_provenance.py (python3-nacl).
#include "coordinator/provenance.h"

#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include "base/blake2b.h"

namespace recomp::coordinator {
namespace {

ProvenanceInput Example() {
  ProvenanceInput in;
  in.submission.run_id = "run-1";
  in.submission.module_manifest = Blake2b256::Of("mm").Ref();
  in.submission.config_manifest = Blake2b256::Of("cm").Ref();
  in.submission.provenance_manifest = Blake2b256::Of("pm").Ref();
  in.submission.requested_by = "alice";
  in.module = {{"game.rom", Blake2b256::Of("rom")}};
  in.tools = {{"lift.py", Blake2b256::Of("lift")}};
  in.jobs = {{"lift",
              0,
              std::string(64, 'a'),
              2,
              "w1:host:1:abc",
              1500,
              false,
              {{"out/", Blake2b256::Of("tree").Ref()}, {"out.c", Blake2b256::Of("c").Ref()}}},
             {"build", 0, std::string(64, 'b'), 1, "w2", 20, true, {}}};
  in.started_on = "2026-12-05T00:00:00.000Z";
  in.finished_on = "2026-12-05T00:01:00.000Z";
  in.builder_id = "urn:recomp:coordinator:test";
  return in;
}

TEST_CASE("provenance: the statement names every output, the submission, inputs and jobs") {
  nlohmann::json s = nlohmann::json::parse(StatementJson(Example()));
  CHECK(s["_type"] == "https://in-toto.io/Statement/v1");
  CHECK(s["predicateType"] == "https://slsa.dev/provenance/v1");
  REQUIRE(s["subject"].size() == 2);
  CHECK(s["subject"][0]["name"] == "lift/0/out/");
  CHECK(s["subject"][0]["digest"]["blake2b256"] == Blake2b256::Of("tree").Hex());
  const auto& def = s["predicate"]["buildDefinition"];
  CHECK(def["buildType"] == "urn:recomp:build-type:run:v1");
  CHECK(def["externalParameters"]["requested_by"] == "alice");
  CHECK(def["externalParameters"]["module_manifest"] == Blake2b256::Of("mm").Ref());
  std::vector<std::string> deps;
  for (const auto& d : def["resolvedDependencies"]) deps.push_back(d["name"]);
  CHECK(deps == std::vector<std::string>{"module_manifest", "config_manifest",
                                         "provenance_manifest", "module/game.rom",
                                         "tools/lift.py"});
  const auto& run = s["predicate"]["runDetails"];
  CHECK(run["builder"]["id"] == "urn:recomp:coordinator:test");
  CHECK(run["metadata"]["invocationId"] == "run-1");
  REQUIRE(run["byproducts"].size() == 2);
  CHECK(run["byproducts"][0]["name"] == "lift/0");
  CHECK(run["byproducts"][0]["annotations"]["attempt"] == 2);
  CHECK(run["byproducts"][0]["annotations"]["worker"] == "w1:host:1:abc");
  CHECK(run["byproducts"][1]["annotations"]["cached"] == true);
  CHECK(StatementJson(Example()) == StatementJson(Example()));  // deterministic
}

TEST_CASE("provenance: the envelope is signed by the coordinator's key, and only by it") {
  ProvenanceSigner signer{NewEd25519KeyPair(), "", "urn:recomp:coordinator:test"};
  signer.keyid = Ed25519KeyId(signer.key.public_key);
  auto env = DecodeEnvelope(SignedProvenance(Example(), signer));
  REQUIRE(env.ok());
  CHECK(env->payload_type == kInTotoPayloadType);
  CHECK(env->payload == StatementJson(Example()));
  CHECK(env->signatures[0].keyid == signer.keyid);
  CHECK(VerifyEnvelope(*env, signer.key.public_key).ok());
  CHECK_FALSE(VerifyEnvelope(*env, NewEd25519KeyPair().public_key).ok());
}

}  // namespace
}  // namespace recomp::coordinator
