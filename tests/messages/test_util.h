// Helpers for building hostile MessagePack in message tests.
#pragma once

#include <string>

#include <msgpack.hpp>
#include <nlohmann/json.hpp>

#include "messages/codec.h"

namespace recomp::testing {

// Re-encodes a record after editing its JSON-equivalent map: lets a test remove a field,
// change a type, or add an oversized value without hand-writing MessagePack.
inline std::string Mutate(const std::string& bytes, void (*edit)(nlohmann::json&)) {
  auto oh = wire::Unpack(bytes, "test");
  auto j = wire::ToJson(oh.value().get(), "test");
  nlohmann::json m = j.value();
  edit(m);
  msgpack::sbuffer buf;
  wire::Packer pk(buf);
  wire::PackJson(pk, m);
  return wire::ToBytes(buf);
}

inline std::string Ref(char c) {
  return "artifact://" + std::string(64, c);
}

}  // namespace recomp::testing
