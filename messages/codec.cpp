// Strict MessagePack decoding: the one adapter that turns msgpack-c exceptions into Status.
#include "messages/codec.h"

#include <cmath>

namespace recomp::wire {
namespace {

std::string_view KeyOf(const msgpack::object& k) {
  return std::string_view(k.via.str.ptr, k.via.str.size);
}

const char* TypeName(const msgpack::object& o) {
  switch (o.type) {
    case msgpack::type::NIL:
      return "nil";
    case msgpack::type::BOOLEAN:
      return "boolean";
    case msgpack::type::POSITIVE_INTEGER:
    case msgpack::type::NEGATIVE_INTEGER:
      return "integer";
    case msgpack::type::FLOAT32:
    case msgpack::type::FLOAT64:
      return "float";
    case msgpack::type::STR:
      return "string";
    case msgpack::type::BIN:
      return "binary";
    case msgpack::type::ARRAY:
      return "array";
    case msgpack::type::MAP:
      return "map";
    case msgpack::type::EXT:
      return "ext";
  }
  return "unknown";
}

}  // namespace

namespace {

// Zones kept by this thread for the next Unpack (cleared: only their first chunk stays).
constexpr size_t kPooledZones = 4;
thread_local std::vector<std::unique_ptr<msgpack::zone>> t_zones;

std::unique_ptr<msgpack::zone> TakeZone() {
  if (t_zones.empty()) return std::make_unique<msgpack::zone>();
  std::unique_ptr<msgpack::zone> z = std::move(t_zones.back());
  t_zones.pop_back();
  return z;
}

void GiveZone(std::unique_ptr<msgpack::zone> z) {
  if (!z || t_zones.size() >= kPooledZones) return;  // freed
  z->clear();
  t_zones.push_back(std::move(z));
}

}  // namespace

Unpacked::~Unpacked() {
  GiveZone(std::move(zone_));
}

Unpacked& Unpacked::operator=(Unpacked&& o) noexcept {
  if (this != &o) {
    GiveZone(std::move(zone_));
    obj_ = o.obj_;
    zone_ = std::move(o.zone_);
  }
  return *this;
}

Result<Unpacked> Unpack(std::string_view bytes, std::string_view what) {
  if (bytes.empty()) return Status::InvalidArgument(std::string(what) + ": empty message");
  std::string name(what);
  if (bytes.size() > kMaxMessageBytes) {
    return Status::ResourceExhausted(name + ": message of " + std::to_string(bytes.size()) +
                                     " bytes exceeds the limit of " +
                                     std::to_string(kMaxMessageBytes));
  }
  // Every element takes at least one byte, so no honest container announces more entries than
  // there are bytes: this bounds allocation by the frame size before any field is read (a
  // 5-byte frame claiming 2^32 entries is refused here). Field limits are checked per field.
  msgpack::unpack_limit limit(bytes.size(), bytes.size(), kMaxMessageBytes, kMaxMessageBytes, 0,
                              kMaxDepth);
  try {
    size_t off = 0;
    std::unique_ptr<msgpack::zone> zone = TakeZone();
    bool referenced = false;  // no reference function: strings are copied into the zone
    msgpack::object obj = msgpack::unpack(*zone, bytes.data(), bytes.size(), off, referenced,
                                          nullptr, nullptr, limit);
    if (off != bytes.size()) {
      GiveZone(std::move(zone));
      return Status::InvalidArgument(name + ": " + std::to_string(bytes.size() - off) +
                                     " trailing bytes after the MessagePack value");
    }
    return Unpacked(obj, std::move(zone));
  } catch (const msgpack::depth_size_overflow&) {
    return Status::ResourceExhausted(name + ": nesting deeper than " + std::to_string(kMaxDepth));
  } catch (const msgpack::size_overflow& e) {
    return Status::ResourceExhausted(name + ": a value exceeds the size limits (" + e.what() + ")");
  } catch (const msgpack::insufficient_bytes&) {
    return Status::InvalidArgument(name + ": truncated MessagePack");
  } catch (const std::exception& e) {
    return Status::InvalidArgument(name + ": malformed MessagePack (" + e.what() + ")");
  }
}

Result<MapReader> MapReader::From(const msgpack::object& obj, std::string record) {
  if (obj.type != msgpack::type::MAP) {
    return Status::InvalidArgument(record + ": expected a map, got " + TypeName(obj));
  }
  for (uint32_t i = 0; i < obj.via.map.size; ++i) {
    if (obj.via.map.ptr[i].key.type != msgpack::type::STR) {
      return Status::InvalidArgument(record + ": map keys must be strings, found " +
                                     TypeName(obj.via.map.ptr[i].key));
    }
  }
  return MapReader(&obj, std::move(record));
}

const msgpack::object* MapReader::Find(std::string_view key) const {
  if (map_ == nullptr) return nullptr;
  for (uint32_t i = 0; i < map_->via.map.size; ++i) {
    if (KeyOf(map_->via.map.ptr[i].key) == key) {
      const msgpack::object* v = &map_->via.map.ptr[i].val;
      return v->type == msgpack::type::NIL ? nullptr : v;
    }
  }
  return nullptr;
}

std::string MapReader::FieldName(std::string_view key) const {
  return record_ + "." + std::string(key);
}

Status MapReader::Missing(std::string_view key) const {
  return Status::InvalidArgument(FieldName(key) + ": missing required field");
}

Status MapReader::WrongType(std::string_view key, std::string_view expected) const {
  const msgpack::object* v = Find(key);
  return Status::InvalidArgument(FieldName(key) + ": expected " + std::string(expected) + ", got " +
                                 (v ? TypeName(*v) : "nil"));
}

Status MapReader::Str(std::string_view key, std::string* out, Need need, size_t max_len) const {
  const msgpack::object* v = Find(key);
  if (v == nullptr) return need == Need::kRequired ? Missing(key) : Status::Ok();
  if (v->type != msgpack::type::STR) return WrongType(key, "string");
  if (v->via.str.size > max_len) {
    return Status::InvalidArgument(FieldName(key) + ": string of " +
                                   std::to_string(v->via.str.size) + " bytes exceeds " +
                                   std::to_string(max_len));
  }
  out->assign(v->via.str.ptr, v->via.str.size);
  return Status::Ok();
}

Status MapReader::Bin(std::string_view key, std::string* out, Need need, size_t max_len) const {
  const msgpack::object* v = Find(key);
  if (v == nullptr) return need == Need::kRequired ? Missing(key) : Status::Ok();
  if (v->type != msgpack::type::BIN && v->type != msgpack::type::STR)
    return WrongType(key, "bytes");
  const uint32_t size = v->type == msgpack::type::BIN ? v->via.bin.size : v->via.str.size;
  if (size > max_len) {
    return Status::InvalidArgument(FieldName(key) + ": " + std::to_string(size) + " bytes exceed " +
                                   std::to_string(max_len));
  }
  out->assign(v->type == msgpack::type::BIN ? v->via.bin.ptr : v->via.str.ptr, size);
  return Status::Ok();
}

Status MapReader::Int(std::string_view key, int64_t* out, Need need, int64_t min,
                      int64_t max) const {
  const msgpack::object* v = Find(key);
  if (v == nullptr) return need == Need::kRequired ? Missing(key) : Status::Ok();
  int64_t x;
  if (v->type == msgpack::type::POSITIVE_INTEGER) {
    if (v->via.u64 > static_cast<uint64_t>(INT64_MAX)) return WrongType(key, "int64");
    x = static_cast<int64_t>(v->via.u64);
  } else if (v->type == msgpack::type::NEGATIVE_INTEGER) {
    x = v->via.i64;
  } else {
    return WrongType(key, "integer");
  }
  if (x < min || x > max) {
    return Status::InvalidArgument(FieldName(key) + ": " + std::to_string(x) +
                                   " is out of range [" + std::to_string(min) + ", " +
                                   std::to_string(max) + "]");
  }
  *out = x;
  return Status::Ok();
}

Status MapReader::Uint(std::string_view key, uint64_t* out, Need need) const {
  const msgpack::object* v = Find(key);
  if (v == nullptr) return need == Need::kRequired ? Missing(key) : Status::Ok();
  if (v->type != msgpack::type::POSITIVE_INTEGER) return WrongType(key, "non-negative integer");
  *out = v->via.u64;
  return Status::Ok();
}

Status MapReader::Bool(std::string_view key, bool* out, Need need) const {
  const msgpack::object* v = Find(key);
  if (v == nullptr) return need == Need::kRequired ? Missing(key) : Status::Ok();
  if (v->type != msgpack::type::BOOLEAN) return WrongType(key, "boolean");
  *out = v->via.boolean;
  return Status::Ok();
}

Status MapReader::Double(std::string_view key, double* out, Need need) const {
  const msgpack::object* v = Find(key);
  if (v == nullptr) return need == Need::kRequired ? Missing(key) : Status::Ok();
  switch (v->type) {
    case msgpack::type::FLOAT32:
    case msgpack::type::FLOAT64:
      *out = v->via.f64;
      break;
    case msgpack::type::POSITIVE_INTEGER:
      *out = static_cast<double>(v->via.u64);
      break;
    case msgpack::type::NEGATIVE_INTEGER:
      *out = static_cast<double>(v->via.i64);
      break;
    default:
      return WrongType(key, "number");
  }
  if (!std::isfinite(*out)) return Status::InvalidArgument(FieldName(key) + ": not finite");
  return Status::Ok();
}

Status MapReader::StrList(std::string_view key, std::vector<std::string>* out, Need need,
                          size_t max_items, size_t max_len) const {
  const msgpack::object* v = Find(key);
  if (v == nullptr) return need == Need::kRequired ? Missing(key) : Status::Ok();
  if (v->type != msgpack::type::ARRAY) return WrongType(key, "array of strings");
  if (v->via.array.size > max_items) {
    return Status::InvalidArgument(FieldName(key) + ": " + std::to_string(v->via.array.size) +
                                   " items exceed the limit of " + std::to_string(max_items));
  }
  std::vector<std::string> items;
  items.reserve(v->via.array.size);
  for (uint32_t i = 0; i < v->via.array.size; ++i) {
    const msgpack::object& e = v->via.array.ptr[i];
    std::string where = FieldName(key) + "[" + std::to_string(i) + "]";
    if (e.type != msgpack::type::STR) {
      return Status::InvalidArgument(where + ": expected string, got " + TypeName(e));
    }
    if (e.via.str.size > max_len) {
      return Status::InvalidArgument(where + ": string of " + std::to_string(e.via.str.size) +
                                     " bytes exceeds " + std::to_string(max_len));
    }
    items.emplace_back(e.via.str.ptr, e.via.str.size);
  }
  *out = std::move(items);
  return Status::Ok();
}

Status MapReader::StrMap(std::string_view key, std::map<std::string, std::string>* out, Need need,
                         size_t max_items) const {
  MapReader sub;
  const msgpack::object* v = Find(key);
  if (v == nullptr) return need == Need::kRequired ? Missing(key) : Status::Ok();
  RECOMP_RETURN_IF_ERROR(Map(key, &sub, need));
  if (v->via.map.size > max_items) {
    return Status::InvalidArgument(FieldName(key) + ": " + std::to_string(v->via.map.size) +
                                   " entries exceed the limit of " + std::to_string(max_items));
  }
  std::map<std::string, std::string> m;
  for (uint32_t i = 0; i < v->via.map.size; ++i) {
    std::string k(KeyOf(v->via.map.ptr[i].key));
    if (k.size() > kMaxString) return Status::InvalidArgument(FieldName(key) + ": key too long");
    std::string val;
    RECOMP_RETURN_IF_ERROR(sub.Str(k, &val, Need::kRequired, kMaxText));
    m[k] = std::move(val);
  }
  *out = std::move(m);
  return Status::Ok();
}

Status MapReader::Map(std::string_view key, MapReader* out, Need need) const {
  const msgpack::object* v = Find(key);
  if (v == nullptr) return need == Need::kRequired ? Missing(key) : Status::Ok();
  auto r = From(*v, FieldName(key));
  if (!r.ok()) return r.status();
  *out = std::move(r).value();
  return Status::Ok();
}

Status MapReader::MapList(std::string_view key, std::vector<MapReader>* out, Need need,
                          size_t max_items) const {
  const msgpack::object* v = Find(key);
  if (v == nullptr) return need == Need::kRequired ? Missing(key) : Status::Ok();
  if (v->type != msgpack::type::ARRAY) return WrongType(key, "array of maps");
  if (v->via.array.size > max_items) {
    return Status::InvalidArgument(FieldName(key) + ": too many items (" +
                                   std::to_string(v->via.array.size) + ")");
  }
  std::vector<MapReader> items;
  for (uint32_t i = 0; i < v->via.array.size; ++i) {
    auto r = From(v->via.array.ptr[i], FieldName(key) + "[" + std::to_string(i) + "]");
    if (!r.ok()) return r.status();
    items.push_back(std::move(r).value());
  }
  *out = std::move(items);
  return Status::Ok();
}

Status MapReader::SchemaVersion(int64_t max_supported, int64_t* out, Need need) const {
  int64_t v = 1;
  RECOMP_RETURN_IF_ERROR(Int("schema_version", &v, need));
  if (v < 1 || v > max_supported) {
    return Status::InvalidArgument(FieldName("schema_version") + ": unsupported version " +
                                   std::to_string(v) + " (this build reads 1.." +
                                   std::to_string(max_supported) + ")");
  }
  *out = v;
  return Status::Ok();
}

void PackJson(Packer& pk, const nlohmann::json& j) {
  switch (j.type()) {
    case nlohmann::json::value_t::null:
      pk.pack_nil();
      break;
    case nlohmann::json::value_t::boolean:
      pk.pack(j.get<bool>());
      break;
    case nlohmann::json::value_t::number_integer:
      pk.pack(j.get<int64_t>());
      break;
    case nlohmann::json::value_t::number_unsigned:
      pk.pack(j.get<uint64_t>());
      break;
    case nlohmann::json::value_t::number_float:
      pk.pack(j.get<double>());
      break;
    case nlohmann::json::value_t::string:
      pk.pack(j.get_ref<const std::string&>());
      break;
    case nlohmann::json::value_t::array:
      pk.pack_array(static_cast<uint32_t>(j.size()));
      for (const auto& e : j) PackJson(pk, e);
      break;
    case nlohmann::json::value_t::object:
      pk.pack_map(static_cast<uint32_t>(j.size()));
      for (const auto& [k, v] : j.items()) {
        pk.pack(k);
        PackJson(pk, v);
      }
      break;
    case nlohmann::json::value_t::binary: {
      const auto& b = j.get_binary();
      pk.pack_bin(static_cast<uint32_t>(b.size()));
      pk.pack_bin_body(reinterpret_cast<const char*>(b.data()), static_cast<uint32_t>(b.size()));
      break;
    }
    case nlohmann::json::value_t::discarded:
      pk.pack_nil();
      break;
  }
}

namespace {
Status ToJsonRec(const msgpack::object& o, nlohmann::json* out, size_t depth,
                 const std::string& what) {
  if (depth > kMaxDepth) return Status::InvalidArgument(what + ": nesting too deep");
  switch (o.type) {
    case msgpack::type::NIL:
      *out = nullptr;
      return Status::Ok();
    case msgpack::type::BOOLEAN:
      *out = o.via.boolean;
      return Status::Ok();
    case msgpack::type::POSITIVE_INTEGER:
      *out = o.via.u64;
      return Status::Ok();
    case msgpack::type::NEGATIVE_INTEGER:
      *out = o.via.i64;
      return Status::Ok();
    case msgpack::type::FLOAT32:
    case msgpack::type::FLOAT64:
      *out = o.via.f64;
      return Status::Ok();
    case msgpack::type::STR:
      *out = std::string(o.via.str.ptr, o.via.str.size);
      return Status::Ok();
    case msgpack::type::BIN: {
      static const char* kHex = "0123456789abcdef";
      std::string s;
      for (uint32_t i = 0; i < o.via.bin.size; ++i) {
        auto b = static_cast<unsigned char>(o.via.bin.ptr[i]);
        s += kHex[b >> 4];
        s += kHex[b & 15];
      }
      *out = s;
      return Status::Ok();
    }
    case msgpack::type::ARRAY:
      *out = nlohmann::json::array();
      for (uint32_t i = 0; i < o.via.array.size; ++i) {
        nlohmann::json e;
        RECOMP_RETURN_IF_ERROR(ToJsonRec(o.via.array.ptr[i], &e, depth + 1, what));
        out->push_back(std::move(e));
      }
      return Status::Ok();
    case msgpack::type::MAP:
      *out = nlohmann::json::object();
      for (uint32_t i = 0; i < o.via.map.size; ++i) {
        const auto& kv = o.via.map.ptr[i];
        if (kv.key.type != msgpack::type::STR) {
          return Status::InvalidArgument(what + ": map keys must be strings");
        }
        nlohmann::json e;
        RECOMP_RETURN_IF_ERROR(ToJsonRec(kv.val, &e, depth + 1, what));
        (*out)[std::string(KeyOf(kv.key))] = std::move(e);
      }
      return Status::Ok();
    case msgpack::type::EXT:
      return Status::InvalidArgument(what + ": ext values are not allowed");
  }
  return Status::InvalidArgument(what + ": unknown MessagePack type");
}
}  // namespace

Result<nlohmann::json> ToJson(const msgpack::object& obj, std::string_view what) {
  nlohmann::json j;
  Status s = ToJsonRec(obj, &j, 0, std::string(what));
  if (!s.ok()) return s;
  return j;
}

}  // namespace recomp::wire
