// Writes the seed corpus of the record fuzz targets (tests/fuzz/corpus/<target>/), each seed a
// record encoded by our own encoders, so a fuzzer starts from valid messages. Run by hand after
// a record changes: `recomp_fuzz_seeds tests/fuzz/corpus` (the text targets' seeds are files
// written by hand).
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "base/blake2b.h"
#include "base/clock.h"
#include "messages/artifact_record.h"
#include "messages/blob_protocol.h"
#include "messages/event.h"
#include "messages/protocol.h"
#include "messages/run_status.h"
#include "messages/run_submission.h"
#include "messages/stage_job.h"
#include "messages/stage_result.h"
#include "messages/tree.h"

using namespace recomp;

namespace {

std::string g_root;

void Seed(const std::string& target, const std::string& name, const std::string& bytes) {
  std::filesystem::create_directories(g_root + "/" + target);
  std::ofstream(g_root + "/" + target + "/" + name, std::ios::binary) << bytes;
}

std::string Ref(char c) {
  return "artifact://" + std::string(64, c);
}

StageJob Job() {
  StageJob j;
  j.job_id = std::string(64, 'a');
  j.run_id = "run-1";
  j.stage = "lift";
  j.shard = 1;
  j.shards = 4;
  j.attempt = 2;
  j.argv = {"python3", "in/tools/lift.py"};
  j.env = {{"LANG", "C"}, {"RECOMP_SHARD", "1"}};
  j.inputs = {{"in/module/game.rom", Ref('b')}, {"in/analyze/0/out/", Ref('c')}};
  j.outputs = {"out/", "log.txt"};
  return j;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
    return 2;
  }
  g_root = argv[1];
  Seed("run_submission", "local",
       EncodeRunSubmission({"run-1", ExecutionMode::kLocal, Ref('a'), Ref('b'), Ref('c'), "alice",
                            Priority::kHigh}));
  Seed("run_status", "running",
       EncodeRunStatus(
           {"run-1", RunState::kRunning, "lift", 2, {Ref('d')}, NowRfc3339(), NowRfc3339(), ""}));
  Seed("stage_job", "lift", EncodeStageJob(Job()));
  StageResult r = ResultFor(AttemptOf(Job()));
  r.worker = "w1";
  r.exit_code = 0;
  r.outputs = {{"out/", Ref('e')}};
  r.log_ref = Ref('f');
  Seed("stage_result", "succeeded", EncodeStageResult(r));
  r.outcome = JobOutcome::kTimedOut;
  r.message = "timed out after 600 s";
  Seed("stage_result", "timed_out", EncodeStageResult(r));
  Event e;
  e.id = "run-1/stage/lift/1";
  e.source = "recomp/coordinator";
  e.type = EventType::kStageCompleted;
  e.subject = "run-1";
  e.time = NowRfc3339();
  e.sequence = 7;
  e.data = {{"stage", "lift"}, {"shard", 1}, {"outcome", "succeeded"}};
  Seed("event", "stage_completed", EncodeEvent(e));
  proto::WorkerHello h;
  h.worker_id = "box:1:abc";
  h.host = "box";
  h.pid = 1;
  Seed("peer_bodies", "hello", proto::EncodeWorkerHello(h));
  Seed("peer_bodies", "job_ref", proto::EncodeJobRef({std::string(64, 'a'), 3}));
  Seed("peer_bodies", "job_refs", proto::EncodeJobRefs("jobs", {{std::string(64, 'a'), 1}}));
  Seed("peer_bodies", "error", proto::ErrorBody(Status::NotFound("no run r")));
  {
    using namespace blobproto;
    Digest d = Blake2b256::Of("seed");
    Seed("blob_bodies", "digest_list", EncodeDigestList({{d, Blake2b256::Of("x")}, "w1"}));
    Seed("blob_bodies", "blob_infos",
         EncodeBlobInfos({{d, BlobInfo::State::kPresent, 12, ArtifactClass::kGenerated, "a/b"},
                          {d, BlobInfo::State::kDenied, 0, ArtifactClass::kGenerated, ""}}));
    Seed("blob_bodies", "read", EncodeReadRequest({d, 262144, 262144, "w1"}));
    Seed("blob_bodies", "data", EncodeDataHeader({d, 0, 1 << 20, ArtifactClass::kExternal}));
    Seed("blob_bodies", "put",
         EncodePutItems({{d, 10, ArtifactClass::kGenerated, "text/plain", "job", true}}));
    Seed("blob_bodies", "put_answers", EncodePutAnswers({{d, PutAnswer::State::kSend, 3, 0}}));
    Seed("blob_bodies", "chunk", EncodeChunkHeader({3, 262144}));
    Seed("blob_bodies", "ack", EncodeChunkAck({3, 524288}));
    Seed("blob_bodies", "upload_ids", EncodeUploadIds({1, 2, 3}));
    Seed("blob_bodies", "list", EncodeListRequest({d, 10, ArtifactClass::kGenerated}));
    Seed("blob_bodies", "list_page",
         EncodeListPage(
             {{{d.Ref(), 3, ArtifactClass::kExternal, "a/b", "2026-12-05T00:00:00Z", "cli"}}, d}));
  }
  Seed("requests", "replay", proto::JsonBody({{"from", 3}, {"limit", 10}, {"run_id", "run-1"}}));
  Seed("requests", "list", proto::JsonBody({{"limit", 2}, {"after", "run-1"}}));
  ArtifactRecord a;
  a.ref = Ref('a');
  a.size = 3;
  a.created_at = NowRfc3339();
  a.producer = "test";
  Seed("artifact_record", "generated", EncodeArtifactRecord(a));
  Tree t;
  t.entries.push_back({"a.c", false, 1, Blake2b256::Of("a")});
  t.entries.push_back({"bin/tool", true, 1, Blake2b256::Of("b")});
  Seed("module_manifest_tree", "tree.json", EncodeTree(t));
  std::string frames;  // fuzz_framing: length-prefixed frames
  for (std::string f : {std::string("id"), std::string("RCP1"), std::string("STATUS"),
                        proto::JsonBody({{"run_id", "run-1"}})}) {
    frames += static_cast<char>(f.size());
    frames += f;
  }
  Seed("framing", "status", frames);
  return 0;
}
