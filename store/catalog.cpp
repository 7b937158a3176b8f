// Catalog: typed LMDB tables of the store (see catalog.h).
#include "store/catalog.h"

#include "messages/codec.h"

namespace recomp::store {
namespace {

constexpr int64_t kPinSchemaVersion = 1;
constexpr size_t kMaxPinRefs = 1u << 20;

std::string_view Key(const Digest& d) {
  return {reinterpret_cast<const char*>(d.bytes.data()), d.bytes.size()};
}

std::string EncodeMillis(SysTime t) {
  uint64_t ms = static_cast<uint64_t>(ToUnixMillis(t));
  std::string out(8, '\0');
  for (int i = 7; i >= 0; --i, ms >>= 8) out[i] = static_cast<char>(ms & 0xff);
  return out;
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

Result<Catalog> Catalog::Open(const std::string& dir, const EnvOptions& opts) {
  Catalog c;
  RECOMP_ASSIGN_OR_RETURN(c.env_, Env::OpenShared(dir, opts));
  RECOMP_ASSIGN_OR_RETURN(c.records_, c.env_->OpenDbi("records"));
  RECOMP_ASSIGN_OR_RETURN(c.inline_, c.env_->OpenDbi("inline"));
  RECOMP_ASSIGN_OR_RETURN(c.touched_, c.env_->OpenDbi("touched"));
  RECOMP_ASSIGN_OR_RETURN(c.pins_, c.env_->OpenDbi("pins"));
  return c;
}

Result<std::optional<ArtifactRecord>> Catalog::GetRecord(const Txn& txn, const Digest& d) const {
  RECOMP_ASSIGN_OR_RETURN(auto v, txn.Get(records_, Key(d)));
  if (!v) return std::optional<ArtifactRecord>();
  auto rec = DecodeArtifactRecord(*v);
  if (!rec.ok()) {
    return Status::Corruption("index record of " + d.Ref() + " in " + path() +
                              " is unreadable: " + rec.status().message());
  }
  if (rec->ref != d.Ref()) {
    return Status::Corruption("index record under " + d.Ref() + " in " + path() + " names " +
                              rec->ref.substr(0, 80));
  }
  return std::optional<ArtifactRecord>(std::move(rec).value());
}

Status Catalog::PutRecord(Txn& txn, const Digest& d, const ArtifactRecord& r) const {
  return txn.Put(records_, Key(d), EncodeArtifactRecord(r));
}

Result<std::optional<std::string_view>> Catalog::GetInline(const Txn& txn, const Digest& d) const {
  return txn.Get(inline_, Key(d));
}

Status Catalog::PutInline(Txn& txn, const Digest& d, std::string_view bytes) const {
  return txn.Put(inline_, Key(d), bytes);
}

Status Catalog::DeleteInline(Txn& txn, const Digest& d) const {
  RECOMP_ASSIGN_OR_RETURN(bool removed, txn.Del(inline_, Key(d)));
  (void)removed;
  return Status::Ok();
}

Status Catalog::Touch(Txn& txn, const Digest& d, SysTime t) const {
  return txn.Put(touched_, Key(d), EncodeMillis(t));
}

Result<std::optional<SysTime>> Catalog::GetTouch(const Txn& txn, const Digest& d) const {
  RECOMP_ASSIGN_OR_RETURN(auto v, txn.Get(touched_, Key(d)));
  if (!v || v->size() != 8) return std::optional<SysTime>();
  uint64_t ms = 0;
  for (unsigned char c : *v) ms = (ms << 8) | c;
  return std::optional<SysTime>(FromUnixMillis(static_cast<int64_t>(ms)));
}

Status Catalog::Remove(Txn& txn, const Digest& d) const {
  for (MDB_dbi dbi : {records_, inline_, touched_}) {
    RECOMP_ASSIGN_OR_RETURN(bool removed, txn.Del(dbi, Key(d)));
    (void)removed;
  }
  return Status::Ok();
}

Status Catalog::ForEachRecord(const Txn& txn, const RecordFn& fn) const {
  return txn.ForEach(records_, [&](std::string_view k, std::string_view v) -> Status {
    Digest d;
    bool key_ok = k.size() == kDigestBytes;
    if (key_ok) std::copy(k.begin(), k.end(), d.bytes.begin());
    Result<ArtifactRecord> rec = DecodeArtifactRecord(v);
    if (rec.ok() && key_ok && rec->ref != d.Ref()) {
      rec = Status::Corruption("record names " + rec->ref.substr(0, 80));
    }
    return fn(key_ok, k, d, rec);
  });
}

std::string EncodePin(const RunPin& pin) {
  msgpack::sbuffer buf;
  wire::Packer pk(buf);
  pk.pack_map(5);
  pk.pack("schema_version"); pk.pack(kPinSchemaVersion);
  pk.pack("state"); pk.pack(std::string(ToString(pin.state)));
  pk.pack("refs"); pk.pack_array(static_cast<uint32_t>(pin.refs.size()));
  for (const Digest& d : pin.refs) {
    pk.pack_bin(kDigestBytes);
    pk.pack_bin_body(reinterpret_cast<const char*>(d.bytes.data()), kDigestBytes);
  }
  pk.pack("finished_at_ms");
  if (pin.finished_at) pk.pack(ToUnixMillis(*pin.finished_at)); else pk.pack_nil();
  pk.pack("updated_at_ms"); pk.pack(ToUnixMillis(pin.updated_at));
  return wire::ToBytes(buf);
}

Result<RunPin> DecodePin(std::string_view run_id, std::string_view bytes) {
  RECOMP_ASSIGN_OR_RETURN(auto oh, wire::Unpack(bytes, "pin"));
  RECOMP_ASSIGN_OR_RETURN(wire::MapReader r, wire::MapReader::From(oh.get(), "pin"));
  int64_t version = 0, finished = -1, updated = 0;
  RECOMP_RETURN_IF_ERROR(r.SchemaVersion(kPinSchemaVersion, &version));
  RunPin pin;
  pin.run_id = std::string(run_id);
  RECOMP_RETURN_IF_ERROR(wire::ParseEnum(r, "state", std::array<std::string_view, 3>{
      "active", "succeeded", "failed"}, &pin.state));
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
    return Status::Corruption("pin of run '" + run_id + "' in " + path() + " is unreadable: " +
                              pin.status().message());
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
      return Status::Corruption("pin of run '" + std::string(k.substr(0, 200)) + "' in " +
                                path() + " is unreadable: " + pin.status().message());
    }
    return fn(*pin);
  });
}

}  // namespace recomp::store
