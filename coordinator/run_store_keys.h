// The run store's key forms and row decoding (docs/coordinator-storage.md, "Tables"), shared by
// run_store.cpp and run_store_prune.cpp. Internal to RunStore; pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "base/endian.h"
#include "base/status.h"
#include "messages/protocol.h"

namespace recomp::coordinator::keys {

// An events key: the sequence, 8 bytes big-endian.
inline std::string Seq(uint64_t seq) {
  return U64Bytes(seq);
}

// The sequence that ends an events or run_events key.
inline uint64_t SeqFrom(std::string_view k) {
  return ReadBigEndian(k.substr(k.size() - 8));
}

// run_id \0: the prefix of a run's run_events and jobs keys.
inline std::string RunPrefix(const std::string& run_id) {
  return run_id + std::string(1, '\0');
}

// A row stored as MessagePack of its JSON form; Corruption when it is not one.
template <typename T>
Result<T> DecodeRow(std::string_view bytes, Result<T> (*from_json)(const nlohmann::json&),
                    const char* what) {
  auto j = proto::BodyJson(bytes, what);
  if (!j.ok()) return Status::Corruption(j.status().message());
  return from_json(*j);
}

}  // namespace recomp::coordinator::keys
