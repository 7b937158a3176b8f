// Event envelope v1: a CloudEvents 1.0 structured event carried as ONE MessagePack map (and
// shown as JSON by the CLI). Published on the coordinator's PUB socket with the type as topic.
// See docs/events.md. Plain value type, thread-compatible.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include <msgpack.hpp>
#include <nlohmann/json.hpp>

#include "base/status.h"
#include "messages/run_lifecycle.h"

namespace recomp {

struct Event {
  static constexpr std::string_view kSpecVersion = "1.0";
  static constexpr std::string_view kDataContentType = "application/json";
  static constexpr std::string_view kDataSchema = "urn:recomp:event-data:v1";

  std::string id;      // deterministic: derived from subject, type and the job/attempt it reports
  std::string source;  // "recomp/coordinator"
  EventType type = EventType::kRequested;
  std::string subject;                             // the run id
  std::string time;                                // RFC 3339 UTC
  uint64_t sequence = 0;                           // global, strictly increasing, starting at 1
  nlohmann::json data = nlohmann::json::object();  // type-specific map (docs/events.md)
  // Or the same map already packed as MessagePack (a producer's hot path: no JSON tree per
  // event). When non-empty it IS the data: EncodeEvent writes it as-is and `data` is ignored.
  // Decoded events always have it empty.
  std::string packed_data;

  // The data map in either form (decodes packed_data; a map that does not decode is null).
  nlohmann::json DataJson() const;
  // Equal attributes and equal data, whichever form each side carries it in.
  bool operator==(const Event& o) const;
};

// Frame 2 of a published event (frame 1 is ToString(type)).
std::string EncodeEvent(const Event& e);
// Strict: CloudEvents attributes checked (specversion "1.0", known type, RFC 3339 time,
// sequence >= 1, data a map).
Result<Event> DecodeEvent(std::string_view bytes);
Result<Event> DecodeEvent(const msgpack::object& obj);
nlohmann::json ToJson(const Event& e);

}  // namespace recomp
