// The SLSA provenance of a run (see provenance.h).
#include "coordinator/provenance.h"

#include <nlohmann/json.hpp>

#include "messages/artifact_ref.h"

namespace recomp::coordinator {
namespace {

using Json = nlohmann::json;

// An in-toto ResourceDescriptor of an artifact ref ("artifact://<hex>").
Json Descriptor(const std::string& name, const std::string& ref) {
  Json d = {{"name", name}, {"uri", ref}};
  if (auto digest = ParseArtifactRef(ref); digest.ok()) {
    d["digest"] = {{std::string(kDigestAlgorithm), digest->Hex()}};
  }
  return d;
}

Json Dependencies(const ProvenanceInput& in) {
  const RunSubmission& s = in.submission;
  Json deps = Json::array({Descriptor("module_manifest", s.module_manifest),
                           Descriptor("config_manifest", s.config_manifest),
                           Descriptor("provenance_manifest", s.provenance_manifest)});
  for (const ModuleFile& f : in.module)
    deps.push_back(Descriptor("module/" + f.name, f.digest.Ref()));
  for (const ToolRef& t : in.tools)
    deps.push_back(Descriptor("tools/" + t.basename, t.digest.Ref()));
  return deps;
}

Json Jobs(const ProvenanceInput& in) {
  Json jobs = Json::array();
  for (const ProvenanceJob& j : in.jobs) {
    jobs.push_back({{"name", j.stage + "/" + std::to_string(j.shard)},
                    {"uri", "urn:recomp:job:" + j.job_id},
                    {"annotations",
                     {{"job_id", j.job_id},
                      {"attempt", j.attempt},
                      {"worker", j.worker},
                      {"duration_ms", j.duration_ms},
                      {"cached", j.cached}}}});
  }
  return jobs;
}

Json Subjects(const ProvenanceInput& in) {
  Json subjects = Json::array();
  for (const ProvenanceJob& j : in.jobs) {
    for (const PathRef& o : j.outputs) {
      Json d = Descriptor(j.stage + "/" + std::to_string(j.shard) + "/" + o.path, o.ref);
      d.erase("uri");  // a subject is named and digested (in-toto Statement v1)
      subjects.push_back(std::move(d));
    }
  }
  return subjects;
}

}  // namespace

std::string StatementJson(const ProvenanceInput& in) {
  const RunSubmission& s = in.submission;
  Json external = {{"run_id", s.run_id},
                   {"module_manifest", s.module_manifest},
                   {"config_manifest", s.config_manifest},
                   {"provenance_manifest", s.provenance_manifest},
                   {"execution_mode", ToString(s.execution_mode)},
                   {"priority", ToString(s.priority)},
                   {"requested_by", s.requested_by}};
  Json predicate = {{"buildDefinition",
                     {{"buildType", kRecompBuildType},
                      {"externalParameters", std::move(external)},
                      {"resolvedDependencies", Dependencies(in)}}},
                    {"runDetails",
                     {{"builder", {{"id", in.builder_id}}},
                      {"metadata",
                       {{"invocationId", s.run_id},
                        {"startedOn", in.started_on},
                        {"finishedOn", in.finished_on}}},
                      {"byproducts", Jobs(in)}}}};
  return Json{{"_type", kStatementType},
              {"subject", Subjects(in)},
              {"predicateType", kSlsaProvenanceType},
              {"predicate", std::move(predicate)}}
      .dump();
}

std::string SignedProvenance(const ProvenanceInput& in, const ProvenanceSigner& signer) {
  return EncodeEnvelope(
      SignEnvelope(kInTotoPayloadType, StatementJson(in), signer.keyid, signer.key));
}

}  // namespace recomp::coordinator
