// Provenance of a succeeded run (docs/provenance.md): an in-toto Statement v1 whose predicate
// is SLSA Provenance v1 (the submission as external parameters; module files, tools and
// manifests as resolved dependencies; each job's id, attempt, worker and duration in the run
// details; every output as a subject), in a DSSE envelope signed with the coordinator's
// Ed25519 key. Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/signature.h"
#include "coordinator/pipeline.h"
#include "messages/dsse.h"
#include "messages/module_manifest.h"
#include "messages/run_submission.h"
#include "messages/stage_job.h"

namespace recomp::coordinator {

inline constexpr std::string_view kStatementType = "https://in-toto.io/Statement/v1";
inline constexpr std::string_view kSlsaProvenanceType = "https://slsa.dev/provenance/v1";
inline constexpr std::string_view kRecompBuildType = "urn:recomp:build-type:run:v1";
// The digest algorithm name of recomp's artifact digests in in-toto digest sets.
inline constexpr std::string_view kDigestAlgorithm = "blake2b256";
inline constexpr std::string_view kEnvelopeMediaType = "application/vnd.dsse.envelope.v1+json";

struct ProvenanceJob {
  std::string stage;
  uint32_t shard = 0;
  std::string job_id;
  uint32_t attempt = 0;
  std::string worker;
  uint64_t duration_ms = 0;
  bool cached = false;
  std::vector<PathRef> outputs;
};

struct ProvenanceInput {
  RunSubmission submission;
  std::vector<ModuleFile> module;
  std::vector<ToolRef> tools;
  std::vector<ProvenanceJob> jobs;
  std::string started_on, finished_on;  // RFC 3339
  std::string builder_id;
};

// The coordinator's signing identity.
struct ProvenanceSigner {
  Ed25519KeyPair key;
  std::string keyid;       // Ed25519KeyId(key.public_key)
  std::string builder_id;  // runDetails.builder.id
};

// The Statement's JSON text (keys sorted: the same input gives the same bytes).
std::string StatementJson(const ProvenanceInput& in);
// The signed envelope's JSON text (messages/dsse.h).
std::string SignedProvenance(const ProvenanceInput& in, const ProvenanceSigner& signer);

}  // namespace recomp::coordinator
