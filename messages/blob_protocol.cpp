// The blob protocol's bodies (see blob_protocol.h and docs/blob-protocol.md).
#include "messages/blob_protocol.h"

#include <array>

#include "messages/codec.h"

namespace recomp::blobproto {
namespace {

constexpr std::array<std::string_view, 5> kInfoStates = {"present", "missing", "denied",
                                                         "too_large", "deferred"};
constexpr std::array<std::string_view, 3> kPutStates = {"have", "staged", "send"};

std::string Done(const msgpack::sbuffer& buf) {
  return wire::ToBytes(buf);
}

Status ReadDigest(const wire::MapReader& r, std::string_view key, Digest* out) {
  std::string hex;
  RECOMP_RETURN_IF_ERROR(r.Str(key, &hex, wire::Need::kRequired, 64));
  auto d = ParseDigestHex(hex);
  if (!d.ok()) return Status::InvalidArgument(r.FieldName(key) + ": " + d.status().message());
  *out = *d;
  return Status::Ok();
}

Status ReadDigests(const wire::MapReader& r, std::string_view key, size_t max,
                   std::vector<Digest>* out) {
  std::vector<std::string> hexes;
  RECOMP_RETURN_IF_ERROR(r.StrList(key, &hexes, wire::Need::kRequired, max, 64));
  out->reserve(hexes.size());
  for (const std::string& h : hexes) {
    auto d = ParseDigestHex(h);
    if (!d.ok()) return Status::InvalidArgument(r.FieldName(key) + ": " + d.status().message());
    out->push_back(*d);
  }
  return Status::Ok();
}

void PackDigests(wire::Packer& pk, const std::vector<Digest>& ds) {
  pk.pack_array(static_cast<uint32_t>(ds.size()));
  for (const Digest& d : ds) pk.pack(d.Hex());
}

// Unpacks `body` as a map and runs `read` on it; errors name `record`.
template <typename T, typename F>
Result<T> Decode(std::string_view body, const char* record, F read) {
  RECOMP_ASSIGN_OR_RETURN(auto un, wire::Unpack(body, record));
  RECOMP_ASSIGN_OR_RETURN(auto r, wire::MapReader::From(un.get(), record));
  T out{};
  RECOMP_RETURN_IF_ERROR(read(r, &out));
  return out;
}

Status ReadClass(const wire::MapReader& r, ArtifactClass* out) {
  return wire::ParseEnum(r, "class", kArtifactClassNames, out);
}

}  // namespace

std::string EncodeDigestList(const DigestList& l) {
  msgpack::sbuffer buf;
  wire::Packer pk(buf);
  pk.pack_map(2);
  pk.pack("digests");
  PackDigests(pk, l.digests);
  pk.pack("worker");
  pk.pack(l.worker);
  return Done(buf);
}

Result<DigestList> DecodeDigestList(std::string_view body) {
  return Decode<DigestList>(body, "digest_list", [](const wire::MapReader& r, DigestList* l) {
    RECOMP_RETURN_IF_ERROR(ReadDigests(r, "digests", kMaxDigests, &l->digests));
    return r.Str("worker", &l->worker, wire::Need::kOptional);
  });
}

std::string EncodeMissing(const std::vector<Digest>& missing) {
  msgpack::sbuffer buf;
  wire::Packer pk(buf);
  pk.pack_map(1);
  pk.pack("missing");
  PackDigests(pk, missing);
  return Done(buf);
}

Result<std::vector<Digest>> DecodeMissing(std::string_view body) {
  return Decode<std::vector<Digest>>(body, "missing",
                                     [](const wire::MapReader& r, std::vector<Digest>* out) {
                                       return ReadDigests(r, "missing", kMaxDigests, out);
                                     });
}

std::string EncodeBlobInfos(const std::vector<BlobInfo>& infos) {
  msgpack::sbuffer buf;
  wire::Packer pk(buf);
  pk.pack_map(1);
  pk.pack("blobs");
  pk.pack_array(static_cast<uint32_t>(infos.size()));
  for (const BlobInfo& b : infos) {
    bool present = b.state == BlobInfo::State::kPresent || b.state == BlobInfo::State::kTooLarge;
    pk.pack_map(present ? 5 : 2);
    pk.pack("digest");
    pk.pack(b.digest.Hex());
    pk.pack("state");
    pk.pack(kInfoStates[static_cast<size_t>(b.state)]);
    if (!present) continue;
    pk.pack("size");
    pk.pack(b.size);
    pk.pack("class");
    pk.pack(ToString(b.artifact_class));
    pk.pack("media_type");
    pk.pack(b.media_type);
  }
  return Done(buf);
}

Result<std::vector<BlobInfo>> DecodeBlobInfos(std::string_view body) {
  return Decode<std::vector<BlobInfo>>(
      body, "blob_infos", [](const wire::MapReader& r, std::vector<BlobInfo>* out) {
        std::vector<wire::MapReader> items;
        RECOMP_RETURN_IF_ERROR(r.MapList("blobs", &items, wire::Need::kRequired, kMaxDigests));
        for (const wire::MapReader& m : items) {
          BlobInfo b;
          RECOMP_RETURN_IF_ERROR(ReadDigest(m, "digest", &b.digest));
          RECOMP_RETURN_IF_ERROR(wire::ParseEnum(m, "state", kInfoStates, &b.state));
          if (b.state == BlobInfo::State::kPresent || b.state == BlobInfo::State::kTooLarge) {
            RECOMP_RETURN_IF_ERROR(m.Uint("size", &b.size));
            RECOMP_RETURN_IF_ERROR(ReadClass(m, &b.artifact_class));
            RECOMP_RETURN_IF_ERROR(m.Str("media_type", &b.media_type));
          }
          out->push_back(std::move(b));
        }
        return Status::Ok();
      });
}

std::string EncodeReadRequest(const ReadRequest& q) {
  msgpack::sbuffer buf;
  wire::Packer pk(buf);
  pk.pack_map(4);
  pk.pack("digest");
  pk.pack(q.digest.Hex());
  pk.pack("offset");
  pk.pack(q.offset);
  pk.pack("length");
  pk.pack(q.length);
  pk.pack("worker");
  pk.pack(q.worker);
  return Done(buf);
}

Result<ReadRequest> DecodeReadRequest(std::string_view body) {
  return Decode<ReadRequest>(body, "read", [](const wire::MapReader& r, ReadRequest* q) {
    RECOMP_RETURN_IF_ERROR(ReadDigest(r, "digest", &q->digest));
    RECOMP_RETURN_IF_ERROR(r.Uint("offset", &q->offset));
    int64_t length = 0;
    RECOMP_RETURN_IF_ERROR(r.Int("length", &length, wire::Need::kRequired, 1, kMaxChunk));
    q->length = static_cast<uint32_t>(length);
    return r.Str("worker", &q->worker, wire::Need::kOptional);
  });
}

std::string EncodeDataHeader(const DataHeader& h) {
  msgpack::sbuffer buf;
  wire::Packer pk(buf);
  pk.pack_map(4);
  pk.pack("digest");
  pk.pack(h.digest.Hex());
  pk.pack("offset");
  pk.pack(h.offset);
  pk.pack("size");
  pk.pack(h.size);
  pk.pack("class");
  pk.pack(ToString(h.artifact_class));
  return Done(buf);
}

Result<DataHeader> DecodeDataHeader(std::string_view body) {
  return Decode<DataHeader>(body, "data", [](const wire::MapReader& r, DataHeader* h) {
    RECOMP_RETURN_IF_ERROR(ReadDigest(r, "digest", &h->digest));
    RECOMP_RETURN_IF_ERROR(r.Uint("offset", &h->offset));
    RECOMP_RETURN_IF_ERROR(r.Uint("size", &h->size));
    return ReadClass(r, &h->artifact_class);
  });
}

std::string EncodePutItems(const std::vector<PutItem>& items) {
  msgpack::sbuffer buf;
  wire::Packer pk(buf);
  pk.pack_map(1);
  pk.pack("uploads");
  pk.pack_array(static_cast<uint32_t>(items.size()));
  for (const PutItem& i : items) {
    pk.pack_map(6);
    pk.pack("digest");
    pk.pack(i.digest.Hex());
    pk.pack("size");
    pk.pack(i.size);
    pk.pack("class");
    pk.pack(ToString(i.artifact_class));
    pk.pack("media_type");
    pk.pack(i.media_type);
    pk.pack("producer");
    pk.pack(i.producer);
    pk.pack("inline");
    pk.pack(i.inline_bytes);
  }
  return Done(buf);
}

Result<std::vector<PutItem>> DecodePutItems(std::string_view body) {
  return Decode<std::vector<PutItem>>(
      body, "put", [](const wire::MapReader& r, std::vector<PutItem>* out) {
        std::vector<wire::MapReader> items;
        RECOMP_RETURN_IF_ERROR(r.MapList("uploads", &items, wire::Need::kRequired, kMaxPutItems));
        for (const wire::MapReader& m : items) {
          PutItem i;
          RECOMP_RETURN_IF_ERROR(ReadDigest(m, "digest", &i.digest));
          RECOMP_RETURN_IF_ERROR(m.Uint("size", &i.size));
          RECOMP_RETURN_IF_ERROR(ReadClass(m, &i.artifact_class));
          RECOMP_RETURN_IF_ERROR(m.Str("media_type", &i.media_type, wire::Need::kRequired, 255));
          RECOMP_RETURN_IF_ERROR(m.Str("producer", &i.producer, wire::Need::kOptional));
          RECOMP_RETURN_IF_ERROR(m.Bool("inline", &i.inline_bytes, wire::Need::kOptional));
          if (i.inline_bytes && i.size > kMaxSmallBlob) {
            return Status::InvalidArgument(m.FieldName("inline") + ": a blob of " +
                                           std::to_string(i.size) + " bytes is sent by CHUNK");
          }
          out->push_back(std::move(i));
        }
        return Status::Ok();
      });
}

std::string EncodePutAnswers(const std::vector<PutAnswer>& answers) {
  msgpack::sbuffer buf;
  wire::Packer pk(buf);
  pk.pack_map(1);
  pk.pack("uploads");
  pk.pack_array(static_cast<uint32_t>(answers.size()));
  for (const PutAnswer& a : answers) {
    pk.pack_map(4);
    pk.pack("digest");
    pk.pack(a.digest.Hex());
    pk.pack("state");
    pk.pack(kPutStates[static_cast<size_t>(a.state)]);
    pk.pack("upload");
    pk.pack(a.upload);
    pk.pack("offset");
    pk.pack(a.offset);
  }
  return Done(buf);
}

Result<std::vector<PutAnswer>> DecodePutAnswers(std::string_view body) {
  return Decode<std::vector<PutAnswer>>(
      body, "put_answers", [](const wire::MapReader& r, std::vector<PutAnswer>* out) {
        std::vector<wire::MapReader> items;
        RECOMP_RETURN_IF_ERROR(r.MapList("uploads", &items, wire::Need::kRequired, kMaxPutItems));
        for (const wire::MapReader& m : items) {
          PutAnswer a;
          RECOMP_RETURN_IF_ERROR(ReadDigest(m, "digest", &a.digest));
          RECOMP_RETURN_IF_ERROR(wire::ParseEnum(m, "state", kPutStates, &a.state));
          RECOMP_RETURN_IF_ERROR(m.Uint("upload", &a.upload));
          RECOMP_RETURN_IF_ERROR(m.Uint("offset", &a.offset));
          out->push_back(a);
        }
        return Status::Ok();
      });
}

std::string EncodeChunkHeader(const ChunkHeader& h) {
  msgpack::sbuffer buf;
  wire::Packer pk(buf);
  pk.pack_map(2);
  pk.pack("upload");
  pk.pack(h.upload);
  pk.pack("offset");
  pk.pack(h.offset);
  return Done(buf);
}

Result<ChunkHeader> DecodeChunkHeader(std::string_view body) {
  return Decode<ChunkHeader>(body, "chunk", [](const wire::MapReader& r, ChunkHeader* h) {
    RECOMP_RETURN_IF_ERROR(r.Uint("upload", &h->upload));
    return r.Uint("offset", &h->offset);
  });
}

std::string EncodeChunkAck(const ChunkAck& a) {
  msgpack::sbuffer buf;
  wire::Packer pk(buf);
  pk.pack_map(2);
  pk.pack("upload");
  pk.pack(a.upload);
  pk.pack("received");
  pk.pack(a.received);
  return Done(buf);
}

Result<ChunkAck> DecodeChunkAck(std::string_view body) {
  return Decode<ChunkAck>(body, "chunk_ack", [](const wire::MapReader& r, ChunkAck* a) {
    RECOMP_RETURN_IF_ERROR(r.Uint("upload", &a->upload));
    return r.Uint("received", &a->received);
  });
}

std::string EncodeUploadIds(const std::vector<uint64_t>& ids) {
  msgpack::sbuffer buf;
  wire::Packer pk(buf);
  pk.pack_map(1);
  pk.pack("uploads");
  pk.pack(ids);
  return Done(buf);
}

Result<std::vector<uint64_t>> DecodeUploadIds(std::string_view body) {
  return Decode<std::vector<uint64_t>>(
      body, "upload_ids", [](const wire::MapReader& r, std::vector<uint64_t>* out) {
        const msgpack::object* o = r.Find("uploads");
        if (!o || o->type != msgpack::type::ARRAY || o->via.array.size > kMaxCommitIds) {
          return Status::InvalidArgument(r.FieldName("uploads") + ": expected a list of at most " +
                                         std::to_string(kMaxCommitIds) + " upload ids");
        }
        for (uint32_t i = 0; i < o->via.array.size; ++i) {
          const msgpack::object& e = o->via.array.ptr[i];
          if (e.type != msgpack::type::POSITIVE_INTEGER) {
            return Status::InvalidArgument(r.FieldName("uploads") + ": ids are unsigned integers");
          }
          out->push_back(e.via.u64);
        }
        return Status::Ok();
      });
}

namespace {

// An optional digest: "" (or absent) for none.
Status ReadOptionalDigest(const wire::MapReader& r, std::string_view key,
                          std::optional<Digest>* out) {
  std::string hex;
  RECOMP_RETURN_IF_ERROR(r.Str(key, &hex, wire::Need::kOptional, 64));
  if (hex.empty()) return Status::Ok();
  auto d = ParseDigestHex(hex);
  if (!d.ok()) return Status::InvalidArgument(r.FieldName(key) + ": " + d.status().message());
  *out = *d;
  return Status::Ok();
}

}  // namespace

std::string EncodeListRequest(const ListRequest& q) {
  msgpack::sbuffer buf;
  wire::Packer pk(buf);
  pk.pack_map(3);
  pk.pack("after");
  pk.pack(q.after ? q.after->Hex() : std::string());
  pk.pack("limit");
  pk.pack(q.limit);
  pk.pack("class");
  pk.pack(q.artifact_class ? std::string(ToString(*q.artifact_class)) : std::string());
  return Done(buf);
}

Result<ListRequest> DecodeListRequest(std::string_view body) {
  return Decode<ListRequest>(body, "list", [](const wire::MapReader& r, ListRequest* q) {
    RECOMP_RETURN_IF_ERROR(ReadOptionalDigest(r, "after", &q->after));
    int64_t limit = kMaxListPage;
    RECOMP_RETURN_IF_ERROR(r.Int("limit", &limit, wire::Need::kOptional, 1, kMaxListPage));
    q->limit = static_cast<uint32_t>(limit);
    std::string cls;
    RECOMP_RETURN_IF_ERROR(r.Str("class", &cls, wire::Need::kOptional, 16));
    if (!cls.empty()) {
      auto c = ParseArtifactClass(cls);
      if (!c.ok())
        return Status::InvalidArgument(r.FieldName("class") + ": " + c.status().message());
      q->artifact_class = *c;
    }
    return Status::Ok();
  });
}

std::string EncodeListPage(const ListPage& p) {
  msgpack::sbuffer buf;
  wire::Packer pk(buf);
  pk.pack_map(2);
  pk.pack("records");
  pk.pack_array(static_cast<uint32_t>(p.records.size()));
  for (const ArtifactRecord& r : p.records) {
    std::string one = EncodeArtifactRecord(r);  // one MessagePack map: spliced in as is
    buf.write(one.data(), one.size());
  }
  pk.pack("next");
  pk.pack(p.next ? p.next->Hex() : std::string());
  return Done(buf);
}

Result<ListPage> DecodeListPage(std::string_view body) {
  return Decode<ListPage>(body, "list_page", [](const wire::MapReader& r, ListPage* p) {
    std::vector<wire::MapReader> items;
    RECOMP_RETURN_IF_ERROR(r.MapList("records", &items, wire::Need::kRequired, kMaxListPage));
    for (const wire::MapReader& m : items) {
      RECOMP_ASSIGN_OR_RETURN(ArtifactRecord rec, DecodeArtifactRecord(m.object()));
      p->records.push_back(std::move(rec));
    }
    return ReadOptionalDigest(r, "next", &p->next);
  });
}

}  // namespace recomp::blobproto
