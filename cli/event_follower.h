// EventFollower: the snapshot-then-follow subscriber (ZeroMQ Guide's Clone pattern, RFC 12):
// subscribe to the PUB first, replay everything after a sequence from the replay endpoint,
// then follow live events, discarding those already seen and re-replaying on any gap (and
// when idle, which covers the slow-joiner window). Delivers each event once, in sequence order.
// One instance per thread.
#pragma once

#include <atomic>
#include <functional>
#include <string>

#include "base/status.h"
#include "cli/api_client.h"
#include "messages/event.h"

namespace recomp::cli {

class EventFollower {
 public:
  // `run_id` empty = every run. Events with sequence <= `from` are skipped.
  EventFollower(ApiClient* client, Endpoints endpoints, std::string run_id, uint64_t from)
      : client_(client), ep_(std::move(endpoints)), run_id_(std::move(run_id)), covered_(from) {}

  // Calls `fn` per event until it returns false, or (when !follow) the replay is exhausted,
  // or *stop becomes true, or `idle` (called once a second while following) returns false. Errors:
  // the replay endpoint is unreachable or answers an error.
  Status Run(bool follow, const std::function<bool(const Event&)>& fn,
             const std::atomic<bool>* stop = nullptr, const std::function<bool()>& idle = nullptr);

 private:
  // Replays after covered_, delivering matching events; sets covered_ to the head.
  // Returns false when fn asked to stop.
  Result<bool> CatchUp(const std::function<bool(const Event&)>& fn);

  ApiClient* client_;
  Endpoints ep_;
  std::string run_id_;
  uint64_t covered_;          // every event with sequence <= covered_ has been seen or skipped
  bool told_pruned_ = false;  // the stderr note on pruned_through is printed once
};

}  // namespace recomp::cli
