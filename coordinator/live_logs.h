// LiveLogs: the coordinator's buffer of running jobs' logs, fed by LOG pieces from workers while
// someone watches (LOG_TAIL asks; the coordinator then asks the worker with WATCH_LOG). Bounded:
// the newest kMaxPerJob bytes per attempt and kMaxTotal bytes in all (the attempt read least
// recently goes first); an attempt's buffer goes when its job lands. Not thread-safe: owned by
// the coordinator's service thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>

#include "messages/protocol.h"

namespace recomp::coordinator {

class LiveLogs {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr size_t kMaxPerJob = size_t{1} << 20;
  static constexpr size_t kMaxTotal = size_t{64} << 20;
  // A watch is renewed (WATCH_LOG sent again) this often while LOG_TAIL keeps asking.
  static constexpr std::chrono::milliseconds kRenewEvery{3000};
  // A buffer nobody read for this long goes (its watcher stopped asking).
  static constexpr std::chrono::seconds kForgetAfter{60};

  // LOG_TAIL asked for `ref` now. True when a WATCH_LOG should go to its worker: the first
  // time, and every kRenewEvery while it is read. Buffers unread for kForgetAfter go.
  bool Touch(const proto::JobRef& ref, Clock::time_point now);
  // Adds a piece (ignored unless `ref` is watched). Bytes before the buffer's end are skipped;
  // a piece past the end (the worker skipped ahead) restarts the buffer at its offset.
  void Add(const proto::LogPiece& piece);

  struct Slice {
    uint64_t start = 0;  // offset of data[0]: > the asked offset when bytes were skipped
    std::string data;
    uint64_t end = 0;  // the buffer's end: the next offset to ask for
  };
  // Up to `max` buffered bytes of `ref` from `from` (or from the oldest kept byte).
  Slice Read(const proto::JobRef& ref, uint64_t from, size_t max) const;
  // The job landed: its buffer and watch go.
  void Drop(const proto::JobRef& ref);
  size_t bytes() const { return total_; }
  size_t watched() const { return logs_.size(); }

 private:
  struct Buffer {
    uint64_t start = 0;  // offset of data[0]
    std::string data;
    Clock::time_point last_read{};
    Clock::time_point last_watch{};
  };
  void EvictBeyondTotal();
  std::map<proto::JobRef, Buffer> logs_;
  size_t total_ = 0;
};

}  // namespace recomp::coordinator
