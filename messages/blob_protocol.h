// The blob protocol "RBL1" (docs/blob-protocol.md): how workers and clients on other machines
// find, read and upload blobs through the coordinator's blob service. Command names, limits
// and the request/reply bodies. A message is [tag "RBL1"][command][body][data]: body is one
// MessagePack map; the optional 4th frame carries blob bytes (never inside MessagePack).
// Pure values and functions; thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/digest.h"
#include "base/status.h"
#include "messages/artifact_record.h"

namespace recomp::blobproto {

inline constexpr std::string_view kTag = "RBL1";

// Requests (client DEALER -> service ROUTER) and their replies.
inline constexpr std::string_view kFindMissing = "FIND_MISSING";  // DigestList -> {missing}
inline constexpr std::string_view kStat = "STAT";                 // DigestList -> BlobInfos
inline constexpr std::string_view kGet = "GET";        // DigestList -> BlobInfos + data frame
inline constexpr std::string_view kRead = "READ";      // ReadRequest -> DATA
inline constexpr std::string_view kData = "DATA";      // DataHeader + data frame
inline constexpr std::string_view kPut = "PUT";        // PutItems (+ data frame) -> PutAnswers
inline constexpr std::string_view kChunk = "CHUNK";    // ChunkHeader + data frame -> ChunkAck
inline constexpr std::string_view kCommit = "COMMIT";  // UploadIds -> {refs}
inline constexpr std::string_view kAbort = "ABORT";    // UploadIds -> {}
inline constexpr std::string_view kStats = "STATS";    // {} -> counters (docs)
inline constexpr std::string_view kList = "LIST";      // ListRequest -> ListPage
inline constexpr std::string_view kOk = "OK";
inline constexpr std::string_view kError = "ERROR";  // {code, message}, as in RCP1

inline constexpr size_t kMaxDigests = 10000;         // per FIND_MISSING / STAT / GET
inline constexpr size_t kMaxSmallBlob = 64u << 10;   // GET and PUT carry blobs up to this
inline constexpr size_t kMaxBatchBytes = 4u << 20;   // bytes of one GET reply or PUT
inline constexpr size_t kMaxChunk = 1u << 20;        // one READ / CHUNK
inline constexpr size_t kMaxPutItems = 1000;         // per PUT
inline constexpr size_t kMaxCommitIds = 100000;      // per COMMIT / ABORT (a job's outputs)
inline constexpr size_t kDefaultChunk = 256u << 10;  // what clients ask for
inline constexpr uint32_t kDefaultWindow = 8;        // chunks in flight per transfer
inline constexpr uint32_t kMaxListPage = 1000;       // records per LIST reply

// FIND_MISSING, STAT and GET: digests, and the worker id a worker asks as (external blobs
// are served only to a worker that holds a job naming them; clients leave it empty).
struct DigestList {
  std::vector<Digest> digests;
  std::string worker;
};
std::string EncodeDigestList(const DigestList& l);
Result<DigestList> DecodeDigestList(std::string_view body);

// FIND_MISSING's reply.
std::string EncodeMissing(const std::vector<Digest>& missing);
Result<std::vector<Digest>> DecodeMissing(std::string_view body);

// One blob in a STAT or GET reply.
struct BlobInfo {
  enum class State : uint8_t {
    kPresent = 0,   // size, class, media type set; in GET its bytes are in the data frame
    kMissing = 1,   // the store does not have it
    kDenied = 2,    // external, and the asker holds no job naming it
    kTooLarge = 3,  // GET only: larger than kMaxSmallBlob, use READ
    kDeferred = 4,  // GET only: the reply was full, ask again
  };
  Digest digest;
  State state = State::kMissing;
  uint64_t size = 0;
  ArtifactClass artifact_class = ArtifactClass::kGenerated;
  std::string media_type;
};
std::string EncodeBlobInfos(const std::vector<BlobInfo>& infos);
Result<std::vector<BlobInfo>> DecodeBlobInfos(std::string_view body);

// READ: [offset, offset + length) of one blob; the reply is DATA with those bytes (fewer at
// the end of the blob). 1 <= length <= kMaxChunk.
struct ReadRequest {
  Digest digest;
  uint64_t offset = 0;
  uint32_t length = kDefaultChunk;
  std::string worker;
};
std::string EncodeReadRequest(const ReadRequest& r);
Result<ReadRequest> DecodeReadRequest(std::string_view body);

// DATA's body: which bytes the data frame holds, and the blob's total size and class.
struct DataHeader {
  Digest digest;
  uint64_t offset = 0;
  uint64_t size = 0;
  ArtifactClass artifact_class = ArtifactClass::kGenerated;
};
std::string EncodeDataHeader(const DataHeader& h);
Result<DataHeader> DecodeDataHeader(std::string_view body);

// PUT: blobs to upload. An item with `inline_bytes` has its bytes in the data frame
// (concatenated in item order; size <= kMaxSmallBlob); the others are sent by CHUNK.
struct PutItem {
  Digest digest;
  uint64_t size = 0;
  ArtifactClass artifact_class = ArtifactClass::kGenerated;
  std::string media_type = "application/octet-stream";
  std::string producer;
  bool inline_bytes = false;
};
std::string EncodePutItems(const std::vector<PutItem>& items);
Result<std::vector<PutItem>> DecodePutItems(std::string_view body);

// PUT's reply, one per item in order.
struct PutAnswer {
  enum class State : uint8_t {
    kHave = 0,    // the store has the blob: nothing to send or commit
    kStaged = 1,  // its inline bytes were received and checked: commit `upload`
    kSend = 2,    // send CHUNKs to `upload` from `offset` (an upload resumed keeps its offset)
  };
  Digest digest;
  State state = State::kHave;
  uint64_t upload = 0;
  uint64_t offset = 0;
};
std::string EncodePutAnswers(const std::vector<PutAnswer>& answers);
Result<std::vector<PutAnswer>> DecodePutAnswers(std::string_view body);

// CHUNK's body (bytes in the data frame, at most kMaxChunk), and its acknowledgement: the
// bytes of the upload received so far.
struct ChunkHeader {
  uint64_t upload = 0;
  uint64_t offset = 0;
};
std::string EncodeChunkHeader(const ChunkHeader& h);
Result<ChunkHeader> DecodeChunkHeader(std::string_view body);
struct ChunkAck {
  uint64_t upload = 0;
  uint64_t received = 0;
};
std::string EncodeChunkAck(const ChunkAck& a);
Result<ChunkAck> DecodeChunkAck(std::string_view body);

// COMMIT and ABORT: upload ids (at most kMaxCommitIds).
std::string EncodeUploadIds(const std::vector<uint64_t>& ids);
Result<std::vector<uint64_t>> DecodeUploadIds(std::string_view body);

// LIST: the store's records in digest order, a page at a time: those after `after` (none:
// from the first), at most `limit` (1..kMaxListPage), of one class or all.
struct ListRequest {
  std::optional<Digest> after;
  uint32_t limit = kMaxListPage;
  std::optional<ArtifactClass> artifact_class;
};
std::string EncodeListRequest(const ListRequest& q);
Result<ListRequest> DecodeListRequest(std::string_view body);

// LIST's reply: `next` is the digest to ask `after` for the following page (none: the last).
struct ListPage {
  std::vector<ArtifactRecord> records;
  std::optional<Digest> next;
};
std::string EncodeListPage(const ListPage& p);
Result<ListPage> DecodeListPage(std::string_view body);

}  // namespace recomp::blobproto
