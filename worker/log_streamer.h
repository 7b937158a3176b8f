// LogStreamer: the live view of running jobs' logs. For each watched attempt it reads what the
// job's log file gained since the last poll and returns it as LOG pieces (docs/protocol.md,
// "Live logs"), bounded per poll; a job far ahead of its watcher is skipped forward so a
// chatty job costs a bounded rate. Not thread-safe: owned by the worker agent's Run() thread.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "messages/protocol.h"

namespace recomp::worker {

class LogStreamer {
 public:
  using Clock = std::chrono::steady_clock;
  // The log file of a watched job ("" while it has none yet).
  using PathOf = std::function<std::string()>;
  // At most this many bytes per job per poll, and a job more than kMaxLag bytes ahead of the
  // last piece sent resumes kMaxLag bytes before its end (the watcher sees the offset jump).
  static constexpr size_t kMaxPerPoll = proto::LogPiece::kMaxData;
  static constexpr uint64_t kMaxLag = uint64_t{256} << 10;

  // Starts (or extends) watching `ref` until `until`, from byte `from` of its log when new.
  void Watch(const proto::JobRef& ref, PathOf path, uint64_t from, Clock::time_point until);
  // Stops watching `ref` (its job ended).
  void Forget(const proto::JobRef& ref);
  // The new bytes of every watched log (at most one piece per job); watches past their time
  // are dropped. A log that cannot be read yet yields nothing.
  std::vector<proto::LogPiece> Poll(Clock::time_point now);
  bool empty() const { return watched_.empty(); }

 private:
  struct Watched {
    PathOf path;
    uint64_t offset = 0;  // next byte to send
    Clock::time_point until;
  };
  std::map<proto::JobRef, Watched> watched_;
};

}  // namespace recomp::worker
