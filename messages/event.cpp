// Event envelope v1 encoding.
#include "messages/event.h"

#include "base/clock.h"
#include "messages/codec.h"
#include "messages/run_submission.h"

namespace recomp {

std::string EncodeEvent(const Event& e) {
  msgpack::sbuffer buf;
  wire::Packer pk(buf);
  pk.pack_map(10);
  pk.pack("specversion");
  pk.pack(std::string(Event::kSpecVersion));
  pk.pack("id");
  pk.pack(e.id);
  pk.pack("source");
  pk.pack(e.source);
  pk.pack("type");
  pk.pack(std::string(ToString(e.type)));
  pk.pack("subject");
  pk.pack(e.subject);
  pk.pack("time");
  pk.pack(e.time);
  pk.pack("datacontenttype");
  pk.pack(std::string(Event::kDataContentType));
  pk.pack("dataschema");
  pk.pack(std::string(Event::kDataSchema));
  pk.pack("sequence");
  pk.pack(e.sequence);
  pk.pack("data");
  if (e.packed_data.empty()) {
    wire::PackJson(pk, e.data);
  } else {
    buf.write(e.packed_data.data(), e.packed_data.size());
  }
  return wire::ToBytes(buf);
}

Result<Event> DecodeEvent(const msgpack::object& obj) {
  RECOMP_ASSIGN_OR_RETURN(wire::MapReader r, wire::MapReader::From(obj, "event"));
  std::string specversion, contenttype, dataschema;
  RECOMP_RETURN_IF_ERROR(r.Str("specversion", &specversion, wire::Need::kRequired, 16));
  if (specversion != Event::kSpecVersion) {
    return Status::InvalidArgument("event.specversion: expected \"1.0\", got \"" + specversion +
                                   "\"");
  }
  Event e;
  RECOMP_RETURN_IF_ERROR(r.Str("id", &e.id, wire::Need::kRequired, 256));
  if (e.id.empty()) return Status::InvalidArgument("event.id: must not be empty");
  RECOMP_RETURN_IF_ERROR(r.Str("source", &e.source, wire::Need::kRequired, 256));
  RECOMP_RETURN_IF_ERROR(wire::ParseEnum(r, "type", kEventTypeNames, &e.type));
  RECOMP_RETURN_IF_ERROR(r.Str("subject", &e.subject, wire::Need::kRequired, 128));
  // A run's id; a worker event's subject is the worker id (any 1..128 bytes).
  if (!IsRunEvent(e.type)) {
    if (e.subject.empty()) return Status::InvalidArgument("event.subject: empty");
  } else if (Status v = ValidateRunId(e.subject); !v.ok()) {
    return v.WithContext("event.subject");
  }
  RECOMP_RETURN_IF_ERROR(r.Str("time", &e.time, wire::Need::kRequired, 64));
  if (auto t = ParseRfc3339(e.time); !t.ok()) return t.status().WithContext("event.time");
  RECOMP_RETURN_IF_ERROR(r.Str("datacontenttype", &contenttype, wire::Need::kOptional, 64));
  RECOMP_RETURN_IF_ERROR(r.Str("dataschema", &dataschema, wire::Need::kOptional, 256));
  RECOMP_RETURN_IF_ERROR(r.Uint("sequence", &e.sequence));
  if (e.sequence == 0) return Status::InvalidArgument("event.sequence: must be >= 1");
  const msgpack::object* data = r.Find("data");
  if (data == nullptr || data->type != msgpack::type::MAP) {
    return Status::InvalidArgument("event.data: expected a map");
  }
  RECOMP_ASSIGN_OR_RETURN(e.data, wire::ToJson(*data, "event.data"));
  return e;
}

Result<Event> DecodeEvent(std::string_view bytes) {
  RECOMP_ASSIGN_OR_RETURN(auto oh, wire::Unpack(bytes, "event"));
  return DecodeEvent(oh.get());
}

nlohmann::json ToJson(const Event& e) {
  return {{"specversion", Event::kSpecVersion},
          {"id", e.id},
          {"source", e.source},
          {"type", ToString(e.type)},
          {"subject", e.subject},
          {"time", e.time},
          {"datacontenttype", Event::kDataContentType},
          {"dataschema", Event::kDataSchema},
          {"sequence", e.sequence},
          {"data", e.DataJson()}};
}

nlohmann::json Event::DataJson() const {
  if (packed_data.empty()) return data;
  auto oh = wire::Unpack(packed_data, "event.data");
  if (!oh.ok() || oh->get().type != msgpack::type::MAP) return nullptr;
  auto j = wire::ToJson(oh->get(), "event.data");
  return j.ok() ? std::move(j).value() : nlohmann::json(nullptr);
}

bool Event::operator==(const Event& o) const {
  return id == o.id && source == o.source && type == o.type && subject == o.subject &&
         time == o.time && sequence == o.sequence &&
         (packed_data.empty() && o.packed_data.empty() ? data == o.data
                                                       : DataJson() == o.DataJson());
}

}  // namespace recomp
