// Catalog: typed LMDB tables of the store (see catalog.h).
#include "store/catalog.h"

#include "base/endian.h"
#include "messages/codec.h"

namespace recomp::store {
namespace {

constexpr int64_t kPinSchemaVersion = 1;
constexpr uint8_t kEntryVersion = 1;
constexpr uint8_t kEntryInline = 1;  // flags bit: inline bytes follow the strings
constexpr size_t kEntryHeader = 4 + 8 + kDigestBytes + 3 * 2;
constexpr size_t kMaxCreatedAt = 64, kMaxMediaType = 255, kMaxProducer = 4096;
constexpr size_t kMaxPinRefs = 1u << 20;

std::string_view Key(const Digest& d) {
  return {reinterpret_cast<const char*>(d.bytes.data()), d.bytes.size()};
}

std::string EncodeMillis(SysTime t) {
  return U64Bytes(static_cast<uint64_t>(ToUnixMillis(t)));
}

Status DecodeRefs(const msgpack::object& o, std::vector<Digest>* out) {
  if (o.type != msgpack::type::ARRAY) return Status::InvalidArgument("pin.refs: not an array");
  if (o.via.array.size > kMaxPinRefs) return Status::InvalidArgument("pin.refs: too many refs");
  for (uint32_t i = 0; i < o.via.array.size; ++i) {
    const msgpack::object& e = o.via.array.ptr[i];
    if (e.type != msgpack::type::BIN || e.via.bin.size != kDigestBytes) {
      return Status::InvalidArgument("pin.refs[" + std::to_string(i) + "]: not a 32-byte digest");
    }
    Digest d;
    std::copy(e.via.bin.ptr, e.via.bin.ptr + kDigestBytes, d.bytes.begin());
    out->push_back(d);
  }
  return Status::Ok();
}

}  // namespace

Result<std::string> EncodeEntry(const ArtifactRecord& r,
                                std::optional<std::string_view> inline_bytes) {
  RECOMP_ASSIGN_OR_RETURN(Digest d, ParseArtifactRef(r.ref));
  if (r.created_at.size() > kMaxCreatedAt || r.media_type.size() > kMaxMediaType ||
      r.producer.size() > kMaxProducer) {
    return Status::InvalidArgument("record of " + r.ref +
                                   ": created_at, media type or producer too long");
  }
  std::string out;
  out.reserve(kEntryHeader + r.created_at.size() + r.media_type.size() + r.producer.size() +
              (inline_bytes ? inline_bytes->size() : 0));
  out.push_back(static_cast<char>(kEntryVersion));
  out.push_back(static_cast<char>(inline_bytes ? kEntryInline : 0));
  out.push_back(static_cast<char>(r.artifact_class));
  out.push_back('\0');
  AppendBigEndian(out, r.size, 8);
  out.append(reinterpret_cast<const char*>(d.bytes.data()), kDigestBytes);
  AppendBigEndian(out, r.created_at.size(), 2);
  AppendBigEndian(out, r.media_type.size(), 2);
  AppendBigEndian(out, r.producer.size(), 2);
  out += r.created_at;
  out += r.media_type;
  out += r.producer;
  if (inline_bytes) out += *inline_bytes;
  return out;
}

Result<DecodedEntry> DecodeEntry(std::string_view b) {
  if (b.size() < kEntryHeader) return Status::InvalidArgument("entry: truncated header");
  auto u8 = [&](size_t i) { return static_cast<uint8_t>(b[i]); };
  if (u8(0) != kEntryVersion)
    return Status::InvalidArgument("entry: unknown version " + std::to_string(u8(0)));
  uint8_t flags = u8(1), cls = u8(2);
  if ((flags & ~kEntryInline) != 0 || u8(3) != 0)
    return Status::InvalidArgument("entry: unknown flags");
  if (cls > static_cast<uint8_t>(ArtifactClass::kGenerated))
    return Status::InvalidArgument("entry: bad class");
  DecodedEntry e;
  ArtifactRecord& r = e.record;
  r.size = ReadBigEndian(b.substr(4, 8));
  r.artifact_class = static_cast<ArtifactClass>(cls);
  Digest d;
  std::copy(b.begin() + 12, b.begin() + 12 + kDigestBytes, d.bytes.begin());
  r.ref = d.Ref();
  size_t at = 12 + kDigestBytes;
  size_t lens[3];
  for (size_t& n : lens) {
    n = ReadBigEndian(b.substr(at, 2));
    at += 2;
  }
  if (lens[0] > kMaxCreatedAt || lens[1] > kMaxMediaType || lens[2] > kMaxProducer ||
      b.size() - at < lens[0] + lens[1] + lens[2]) {
    return Status::InvalidArgument("entry: bad string lengths");
  }
  r.created_at = std::string(b.substr(at, lens[0]));
  r.media_type = std::string(b.substr(at + lens[0], lens[1]));
  r.producer = std::string(b.substr(at + lens[0] + lens[1], lens[2]));
  at += lens[0] + lens[1] + lens[2];
  if (auto t = ParseRfc3339(r.created_at); !t.ok())
    return t.status().WithContext("entry.created_at");
  if (flags & kEntryInline) {
    e.inline_bytes = b.substr(at);
    if (e.inline_bytes->size() != r.size)
      return Status::InvalidArgument("entry: inline size is not the record size");
  } else if (at != b.size()) {
    return Status::InvalidArgument("entry: trailing bytes");
  }
  return e;
}

struct Catalog::Entry {
  std::string seq_key;  // 8 bytes
  DecodedEntry decoded;
};

Result<Catalog> Catalog::Open(const std::string& dir, const EnvOptions& opts) {
  Catalog c;
  RECOMP_ASSIGN_OR_RETURN(c.env_, Env::OpenShared(dir, opts));
  RECOMP_ASSIGN_OR_RETURN(c.records_, c.env_->OpenDbi("records"));
  RECOMP_ASSIGN_OR_RETURN(c.entries_, c.env_->OpenDbi("entries"));
  RECOMP_ASSIGN_OR_RETURN(c.touched_, c.env_->OpenDbi("touched"));
  RECOMP_ASSIGN_OR_RETURN(c.pins_, c.env_->OpenDbi("pins"));
  return c;
}

Result<std::optional<Catalog::Entry>> Catalog::GetEntry(const Txn& txn, const Digest& d) const {
  RECOMP_ASSIGN_OR_RETURN(auto seq, txn.Get(records_, Key(d)));
  if (!seq) return std::optional<Entry>();
  auto unreadable = [&](const std::string& why) {
    return Status::Corruption("index record of " + d.Ref() + " in " + path() +
                              " is unreadable: " + why);
  };
  if (seq->size() != 8) return unreadable("records value is not an entry number");
  RECOMP_ASSIGN_OR_RETURN(auto raw, txn.Get(entries_, *seq));
  if (!raw) return unreadable("entry " + std::to_string(ReadBigEndian(*seq)) + " is missing");
  auto dec = DecodeEntry(*raw);
  if (!dec.ok()) return unreadable(dec.status().message());
  if (dec->record.ref != d.Ref()) {
    return Status::Corruption("index record under " + d.Ref() + " in " + path() + " names " +
                              dec->record.ref);
  }
  return std::optional<Entry>(Entry{std::string(*seq), std::move(dec).value()});
}

Result<std::optional<ArtifactRecord>> Catalog::GetRecord(const Txn& txn, const Digest& d) const {
  RECOMP_ASSIGN_OR_RETURN(auto e, GetEntry(txn, d));
  if (!e) return std::optional<ArtifactRecord>();
  return std::optional<ArtifactRecord>(std::move(e->decoded.record));
}

Status Catalog::WriteEntry(Txn& txn, std::string_view seq_key, const ArtifactRecord& r,
                           std::optional<std::string_view> inline_bytes, bool append) const {
  RECOMP_ASSIGN_OR_RETURN(std::string value, EncodeEntry(r, inline_bytes));
  return append ? txn.Append(entries_, seq_key, value) : txn.Put(entries_, seq_key, value);
}

Status Catalog::AddRecord(Txn& txn, const Digest& d, const ArtifactRecord& r,
                          std::optional<std::string_view> inline_bytes) const {
  uint64_t next = 0;
  return AddRecord(txn, d, r, inline_bytes, &next);
}

Status Catalog::AddRecord(Txn& txn, const Digest& d, const ArtifactRecord& r,
                          std::optional<std::string_view> inline_bytes,
                          uint64_t* next_entry) const {
  if (*next_entry == 0) {
    RECOMP_ASSIGN_OR_RETURN(auto last, txn.LastKey(entries_));
    *next_entry = last ? ReadBigEndian(*last) + 1 : 1;
  }
  std::string seq = U64Bytes(*next_entry);
  // records first: AlreadyExists leaves nothing written.
  RECOMP_RETURN_IF_ERROR(txn.Put(records_, Key(d), seq, /*no_overwrite=*/true));
  RECOMP_RETURN_IF_ERROR(WriteEntry(txn, seq, r, inline_bytes, /*append=*/true));
  ++*next_entry;
  return Status::Ok();
}

Status Catalog::PutRecord(Txn& txn, const Digest& d, const ArtifactRecord& r) const {
  auto e = GetEntry(txn, d);
  if (!e.ok() && e.status().code() != Status::Code::kCorruption) return e.status();
  if (!e.ok() || !e->has_value()) {
    // Absent, or an unreadable entry being replaced: a new entry (the old one, if any, stays
    // unreferenced until gc of this digest; Remove drops both).
    if (e.ok()) return AddRecord(txn, d, r, std::nullopt);
    RECOMP_ASSIGN_OR_RETURN(auto seq, txn.Get(records_, Key(d)));
    if (seq && seq->size() == 8) {
      std::string k(*seq);
      return WriteEntry(txn, k, r, std::nullopt, /*append=*/false);
    }
    RECOMP_ASSIGN_OR_RETURN(bool removed, txn.Del(records_, Key(d)));
    (void)removed;
    return AddRecord(txn, d, r, std::nullopt);
  }
  std::optional<std::string> keep;
  if ((*e)->decoded.inline_bytes) keep = std::string(*(*e)->decoded.inline_bytes);
  if (keep && keep->size() != r.size) keep.reset();  // bytes no longer match the record
  return WriteEntry(txn, (*e)->seq_key, r, keep, /*append=*/false);
}

Result<std::optional<std::string_view>> Catalog::GetInline(const Txn& txn, const Digest& d) const {
  auto e = GetEntry(txn, d);
  if (!e.ok()) {
    // Unreadable record: serve no inline bytes (the record error surfaces via GetRecord).
    if (e.status().code() == Status::Code::kCorruption) return std::optional<std::string_view>();
    return e.status();
  }
  if (!*e || !(*e)->decoded.inline_bytes) return std::optional<std::string_view>();
  // Re-read: the view must point into the map, not into our decoded copy.
  RECOMP_ASSIGN_OR_RETURN(auto raw, txn.Get(entries_, (*e)->seq_key));
  size_t n = (*e)->decoded.inline_bytes->size();
  return std::optional<std::string_view>(raw->substr(raw->size() - n));
}

Status Catalog::PutInline(Txn& txn, const Digest& d, std::string_view bytes) const {
  RECOMP_ASSIGN_OR_RETURN(auto e, GetEntry(txn, d));
  if (!e) return Status::NotFound("no record of " + d.Ref() + " to put inline bytes under");
  ArtifactRecord r = e->decoded.record;
  r.size = bytes.size();
  std::string copy(bytes);  // `bytes` may point into the page being rewritten
  return WriteEntry(txn, e->seq_key, r, copy, /*append=*/false);
}

Status Catalog::DeleteInline(Txn& txn, const Digest& d) const {
  RECOMP_ASSIGN_OR_RETURN(auto e, GetEntry(txn, d));
  if (!e || !e->decoded.inline_bytes) return Status::Ok();
  return WriteEntry(txn, e->seq_key, e->decoded.record, std::nullopt, /*append=*/false);
}

Status Catalog::Touch(Txn& txn, const Digest& d, SysTime t) const {
  return txn.Put(touched_, Key(d), EncodeMillis(t));
}

Result<std::optional<SysTime>> Catalog::GetTouch(const Txn& txn, const Digest& d) const {
  RECOMP_ASSIGN_OR_RETURN(auto v, txn.Get(touched_, Key(d)));
  if (!v || v->size() != 8) return std::optional<SysTime>();
  return std::optional<SysTime>(FromUnixMillis(static_cast<int64_t>(ReadBigEndian(*v))));
}

Status Catalog::Remove(Txn& txn, const Digest& d) const {
  RECOMP_ASSIGN_OR_RETURN(auto seq, txn.Get(records_, Key(d)));
  if (seq && seq->size() == 8) {
    std::string k(*seq);
    RECOMP_ASSIGN_OR_RETURN(bool removed, txn.Del(entries_, k));
    (void)removed;
  }
  for (MDB_dbi dbi : {records_, touched_}) {
    RECOMP_ASSIGN_OR_RETURN(bool removed, txn.Del(dbi, Key(d)));
    (void)removed;
  }
  return Status::Ok();
}

Status Catalog::ForEachRecord(const Txn& txn, const RecordFn& fn,
                              std::optional<Digest> from) const {
  std::string_view start;
  if (from)
    start = std::string_view(reinterpret_cast<const char*>(from->bytes.data()), kDigestBytes);
  return txn.ForEachFrom(records_, start, [&](std::string_view k, std::string_view v) -> Status {
    Digest d;
    bool key_ok = k.size() == kDigestBytes;
    if (key_ok) std::copy(k.begin(), k.end(), d.bytes.begin());
    Result<ArtifactRecord> rec = Status::Corruption("record key is not a digest");
    if (key_ok) {
      auto e = GetEntry(txn, d);
      if (!e.ok()) {
        rec = e.status();
      } else if (!e->has_value()) {
        rec = Status::Corruption("record vanished");  // cannot happen within one txn
      } else {
        rec = std::move((*e)->decoded.record);
      }
    }
    (void)v;
    return fn(key_ok, k, d, rec);
  });
}

std::string EncodePin(const RunPin& pin) {
  msgpack::sbuffer buf;
  wire::Packer pk(buf);
  pk.pack_map(5);
  pk.pack("schema_version");
  pk.pack(kPinSchemaVersion);
  pk.pack("state");
  pk.pack(std::string(ToString(pin.state)));
  pk.pack("refs");
  pk.pack_array(static_cast<uint32_t>(pin.refs.size()));
  for (const Digest& d : pin.refs) {
    pk.pack_bin(kDigestBytes);
    pk.pack_bin_body(reinterpret_cast<const char*>(d.bytes.data()), kDigestBytes);
  }
  pk.pack("finished_at_ms");
  if (pin.finished_at)
    pk.pack(ToUnixMillis(*pin.finished_at));
  else
    pk.pack_nil();
  pk.pack("updated_at_ms");
  pk.pack(ToUnixMillis(pin.updated_at));
  return wire::ToBytes(buf);
}

Result<RunPin> DecodePin(std::string_view run_id, std::string_view bytes) {
  RECOMP_ASSIGN_OR_RETURN(auto oh, wire::Unpack(bytes, "pin"));
  RECOMP_ASSIGN_OR_RETURN(wire::MapReader r, wire::MapReader::From(oh.get(), "pin"));
  int64_t version = 0, finished = -1, updated = 0;
  RECOMP_RETURN_IF_ERROR(r.SchemaVersion(kPinSchemaVersion, &version));
  RunPin pin;
  pin.run_id = std::string(run_id);
  RECOMP_RETURN_IF_ERROR(wire::ParseEnum(
      r, "state", std::array<std::string_view, 3>{"active", "succeeded", "failed"}, &pin.state));
  const msgpack::object* refs = r.Find("refs");
  if (refs == nullptr) return Status::InvalidArgument("pin.refs: missing");
  RECOMP_RETURN_IF_ERROR(DecodeRefs(*refs, &pin.refs));
  RECOMP_RETURN_IF_ERROR(r.Int("finished_at_ms", &finished, wire::Need::kOptional));
  if (finished >= 0) pin.finished_at = FromUnixMillis(finished);
  RECOMP_RETURN_IF_ERROR(r.Int("updated_at_ms", &updated));
  pin.updated_at = FromUnixMillis(updated);
  return pin;
}

Result<std::optional<RunPin>> Catalog::GetPin(const Txn& txn, const std::string& run_id) const {
  RECOMP_ASSIGN_OR_RETURN(auto v, txn.Get(pins_, run_id));
  if (!v) return std::optional<RunPin>();
  auto pin = DecodePin(run_id, *v);
  if (!pin.ok()) {
    return Status::Corruption("pin of run '" + run_id + "' in " + path() +
                              " is unreadable: " + pin.status().message());
  }
  return std::optional<RunPin>(std::move(pin).value());
}

Status Catalog::PutPin(Txn& txn, const RunPin& pin) const {
  return txn.Put(pins_, pin.run_id, EncodePin(pin));
}

Result<bool> Catalog::DeletePin(Txn& txn, const std::string& run_id) const {
  return txn.Del(pins_, run_id);
}

Status Catalog::ForEachPin(const Txn& txn, const std::function<Status(const RunPin&)>& fn) const {
  return txn.ForEach(pins_, [&](std::string_view k, std::string_view v) -> Status {
    auto pin = DecodePin(k, v);
    if (!pin.ok()) {
      return Status::Corruption("pin of run '" + std::string(k.substr(0, 200)) + "' in " + path() +
                                " is unreadable: " + pin.status().message());
    }
    return fn(*pin);
  });
}

}  // namespace recomp::store
