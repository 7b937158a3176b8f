// Strict MessagePack helpers shared by every v1 record: bounded unpacking of untrusted bytes,
// field-by-field map reading whose errors name the record and the field, and packing helpers.
// Stateless functions and a reader that borrows its object: thread-compatible.
#pragma once

#include <array>
#include <climits>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <msgpack.hpp>
#include <nlohmann/json.hpp>

#include "base/limits.h"
#include "base/status.h"

namespace recomp::wire {

// Limits applied to every decoded record (documented in docs/wire.md).
inline constexpr size_t kMaxMessageBytes = limits::kMaxBodyBytes;  // one message body
inline constexpr size_t kMaxString = 4096;     // ids, refs, names, one argv element
inline constexpr size_t kMaxText = 64u << 10;  // free text: error messages, reasons
inline constexpr size_t kMaxList = 100000;     // list items (artifacts, inputs, argv)
inline constexpr size_t kMaxDepth = 16;        // nesting

enum class Need { kRequired, kOptional };

// One decoded MessagePack value and the zone holding it (strings are copies: `bytes` may go
// away). Its zone is recycled through a small per-thread pool when it is destroyed, so a
// decoded message does not pay for a zone's first 8 KiB chunk (docs/performance.md).
class Unpacked {
 public:
  Unpacked(msgpack::object obj, std::unique_ptr<msgpack::zone> zone)
      : obj_(obj), zone_(std::move(zone)) {}
  ~Unpacked();
  Unpacked(Unpacked&&) noexcept = default;
  Unpacked& operator=(Unpacked&& o) noexcept;
  Unpacked(const Unpacked&) = delete;
  Unpacked& operator=(const Unpacked&) = delete;
  const msgpack::object& get() const { return obj_; }

 private:
  msgpack::object obj_;
  std::unique_ptr<msgpack::zone> zone_;
};

// Parses `bytes` as exactly one MessagePack value within the limits above.
// Never throws: malformed, truncated, trailing or oversized input becomes InvalidArgument
// naming `what`.
Result<Unpacked> Unpack(std::string_view bytes, std::string_view what);

// Reads fields of one MessagePack map. Keys must be strings. Unknown keys are ignored
// (forward compatibility within a schema version). `obj` must outlive the reader.
class MapReader {
 public:
  // Fails unless `obj` is a map with string keys. `record` names it in errors ("run_status").
  static Result<MapReader> From(const msgpack::object& obj, std::string record);

  // Each getter leaves *out untouched when an optional field is absent or nil.
  Status Str(std::string_view key, std::string* out, Need need = Need::kRequired,
             size_t max_len = kMaxString) const;
  // Raw bytes: a MessagePack bin (a str is accepted too: it carries bytes just as well).
  Status Bin(std::string_view key, std::string* out, Need need = Need::kRequired,
             size_t max_len = kMaxString) const;
  Status Int(std::string_view key, int64_t* out, Need need = Need::kRequired,
             int64_t min = INT64_MIN, int64_t max = INT64_MAX) const;
  Status Uint(std::string_view key, uint64_t* out, Need need = Need::kRequired) const;
  Status Bool(std::string_view key, bool* out, Need need = Need::kRequired) const;
  Status Double(std::string_view key, double* out, Need need = Need::kRequired) const;
  Status StrList(std::string_view key, std::vector<std::string>* out, Need need = Need::kRequired,
                 size_t max_items = kMaxList, size_t max_len = kMaxString) const;
  Status StrMap(std::string_view key, std::map<std::string, std::string>* out,
                Need need = Need::kRequired, size_t max_items = 1024) const;
  // A nested map; `*out` borrows the same object.
  Status Map(std::string_view key, MapReader* out, Need need = Need::kRequired) const;
  // A list of maps; each element is returned as a reader named "<record>.<key>[i]".
  Status MapList(std::string_view key, std::vector<MapReader>* out, Need need = Need::kRequired,
                 size_t max_items = kMaxList) const;
  // The raw value of a key, or nullptr when absent.
  const msgpack::object* Find(std::string_view key) const;
  // Checks "schema_version" is within [1, max_supported]. Absent: an error when `need` is
  // kRequired, else version 1 (SPEC-250's examples of its v1 records carry no version).
  Status SchemaVersion(int64_t max_supported, int64_t* out, Need need = Need::kRequired) const;

  const std::string& record() const { return record_; }
  // The map itself (to hand a nested record to its own decoder).
  const msgpack::object& object() const { return *map_; }
  // "<record>.<key>" for messages.
  std::string FieldName(std::string_view key) const;

 private:
  MapReader(const msgpack::object* map, std::string record)
      : map_(map), record_(std::move(record)) {}
  Status Missing(std::string_view key) const;
  Status WrongType(std::string_view key, std::string_view expected) const;
  const msgpack::object* map_ = nullptr;
  std::string record_;

 public:
  MapReader() = default;
};

// Parses an enum from its name using `names` (index = enum value); `what` names the kind in
// the error, which lists the choices.
template <typename E, size_t N>
Result<E> ParseEnumName(std::string_view s, const std::array<std::string_view, N>& names,
                        std::string_view what);

// Parses an enum field from its wire name using `names` (index = enum value).
template <typename E, size_t N>
Status ParseEnum(const MapReader& r, std::string_view key,
                 const std::array<std::string_view, N>& names, E* out, Need need = Need::kRequired);

using Packer = msgpack::packer<msgpack::sbuffer>;

// Packs a JSON value as the equivalent MessagePack (objects become string-keyed maps).
void PackJson(Packer& pk, const nlohmann::json& j);
// Converts a MessagePack value to JSON; binary becomes base64-free hex string. Fails on
// non-string map keys or depth beyond kMaxDepth.
Result<nlohmann::json> ToJson(const msgpack::object& obj, std::string_view what);

// Returns the bytes of an sbuffer as a string.
inline std::string ToBytes(const msgpack::sbuffer& b) {
  return std::string(b.data(), b.size());
}

// ---- template implementation ----
template <typename E, size_t N>
Result<E> ParseEnumName(std::string_view s, const std::array<std::string_view, N>& names,
                        std::string_view what) {
  std::string choices;
  for (size_t i = 0; i < N; ++i) {
    if (names[i] == s) return static_cast<E>(i);
    choices += (i ? "|" : "") + std::string(names[i]);
  }
  return Status::InvalidArgument(std::string(what) + ": unknown value '" +
                                 std::string(s.substr(0, 64)) + "' (expected " + choices + ")");
}

template <typename E, size_t N>
Status ParseEnum(const MapReader& r, std::string_view key,
                 const std::array<std::string_view, N>& names, E* out, Need need) {
  std::string s;
  bool had = r.Find(key) != nullptr;
  RECOMP_RETURN_IF_ERROR(r.Str(key, &s, need, 64));
  if (!had && need == Need::kOptional) return Status::Ok();
  Result<E> e = ParseEnumName<E>(s, names, r.FieldName(key));
  if (!e.ok()) return e.status();
  *out = e.value();
  return Status::Ok();
}

}  // namespace recomp::wire
