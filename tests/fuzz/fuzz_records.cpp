// libFuzzer target, one per v1 record (RECOMP_FUZZ_RECORD selects it at compile time): the
// strict MessagePack decoder of every record a peer can send (the blob protocol's bodies too),
// with the round-trip property.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "messages/artifact_record.h"
#include "messages/blob_protocol.h"
#include "messages/event.h"
#include "messages/protocol.h"
#include "messages/run_status.h"
#include "messages/run_submission.h"
#include "messages/stage_job.h"
#include "messages/stage_result.h"
#include "tests/fuzz/fuzz_records.h"

using namespace recomp;

namespace {

[[maybe_unused]] bool SameHello(const proto::WorkerHello& a, const proto::WorkerHello& b) {
  return a.worker_id == b.worker_id && a.slots == b.slots && a.heartbeat_ms == b.heartbeat_ms &&
         a.liveness == b.liveness && a.host == b.host && a.pid == b.pid && a.labels == b.labels;
}

// For bodies without ==: what decodes re-encodes to bytes that decode and re-encode the same.
template <typename Decode, typename Encode>
[[maybe_unused]] void Stable(std::string_view bytes, Decode decode, Encode encode) {
  auto first = decode(bytes);
  if (!first.ok()) return;
  std::string once = encode(*first);
  auto second = decode(once);
  FuzzCheck(second.ok() && encode(*second) == once, "a re-encoded body is stable");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
#if RECOMP_FUZZ_RECORD == 1
  RoundTrip(
      bytes, [](std::string_view b) { return DecodeRunSubmission(b); }, &EncodeRunSubmission);
#elif RECOMP_FUZZ_RECORD == 2
  RoundTrip(
      bytes, [](std::string_view b) { return DecodeRunStatus(b); }, &EncodeRunStatus);
#elif RECOMP_FUZZ_RECORD == 3
  RoundTrip(
      bytes, [](std::string_view b) { return DecodeStageJob(b); }, &EncodeStageJob);
#elif RECOMP_FUZZ_RECORD == 4
  RoundTrip(
      bytes, [](std::string_view b) { return DecodeStageResult(b); }, &EncodeStageResult);
#elif RECOMP_FUZZ_RECORD == 5
  auto e = DecodeEvent(bytes);
  if (e.ok()) {
    auto again = DecodeEvent(EncodeEvent(*e));
    FuzzCheck(again.ok() && EncodeEvent(*again) == EncodeEvent(*e), "an event re-encodes");
  }
#elif RECOMP_FUZZ_RECORD == 6
  auto h = proto::DecodeWorkerHello(bytes);
  if (h.ok()) {
    auto again = proto::DecodeWorkerHello(proto::EncodeWorkerHello(*h));
    FuzzCheck(again.ok() && SameHello(*again, *h), "a worker hello re-encodes");
  }
  RoundTrip(bytes, &proto::DecodeJobRef, &proto::EncodeJobRef);
  RoundTrip(
      bytes, [](std::string_view b) { return proto::DecodeJobRefs("jobs", b); },
      [](const std::vector<proto::JobRef>& r) { return proto::EncodeJobRefs("jobs", r); });
  (void)proto::DecodeError(bytes);
  (void)proto::BodyJson(bytes, "body");
#elif RECOMP_FUZZ_RECORD == 7
  auto q = proto::DecodeReplayRequest(bytes);
  if (q.ok()) FuzzCheck(q->run_id.size() <= 128, "a replay run_id is bounded");
  auto l = proto::DecodeListRequest(bytes);
  if (l.ok()) FuzzCheck(l->limit >= 1 && l->limit <= 1000, "a list limit is in range");
#elif RECOMP_FUZZ_RECORD == 8
  RoundTrip(
      bytes, [](std::string_view b) { return DecodeArtifactRecord(b); }, &EncodeArtifactRecord);
#elif RECOMP_FUZZ_RECORD == 9
  using namespace blobproto;
  Stable(bytes, &DecodeDigestList, &EncodeDigestList);
  Stable(bytes, &DecodeMissing, &EncodeMissing);
  Stable(bytes, &DecodeBlobInfos, &EncodeBlobInfos);
  Stable(bytes, &DecodeReadRequest, &EncodeReadRequest);
  Stable(bytes, &DecodeDataHeader, &EncodeDataHeader);
  Stable(bytes, &DecodePutItems, &EncodePutItems);
  Stable(bytes, &DecodePutAnswers, &EncodePutAnswers);
  Stable(bytes, &DecodeChunkHeader, &EncodeChunkHeader);
  Stable(bytes, &DecodeChunkAck, &EncodeChunkAck);
  Stable(bytes, &DecodeUploadIds, &EncodeUploadIds);
  Stable(bytes, &DecodeListRequest, &EncodeListRequest);
  Stable(bytes, &DecodeListPage, &EncodeListPage);
#else
#error "RECOMP_FUZZ_RECORD selects the record (1-9)"
#endif
  return 0;
}
