// LiveLogs: watches and renewals, pieces appended in order (overlaps and gaps), the per-job and
// total bounds, reads from any offset, and forgetting.
#include "coordinator/live_logs.h"

#include <doctest/doctest.h>

namespace recomp::coordinator {
namespace {

using Clock = LiveLogs::Clock;
const proto::JobRef kA{std::string(64, 'a'), 1}, kB{std::string(64, 'b'), 2};

proto::LogPiece Piece(const proto::JobRef& ref, uint64_t offset, std::string data) {
  return {ref, offset, std::move(data)};
}

TEST_CASE("live logs: a watch is asked for once, then renewed every kRenewEvery") {
  LiveLogs l;
  Clock::time_point t0 = Clock::now();
  CHECK(l.Touch(kA, t0));
  CHECK_FALSE(l.Touch(kA, t0 + std::chrono::milliseconds(100)));
  CHECK(l.Touch(kA, t0 + LiveLogs::kRenewEvery));
  CHECK(l.watched() == 1);
}

TEST_CASE("live logs: pieces append in order; overlaps are trimmed, a gap restarts the buffer") {
  LiveLogs l;
  l.Add(Piece(kA, 0, "ignored: not watched"));
  CHECK(l.bytes() == 0);
  l.Touch(kA, Clock::now());
  l.Add(Piece(kA, 0, "hello "));
  l.Add(Piece(kA, 3, "lo world"));  // overlaps the first piece
  l.Add(Piece(kA, 2, "ll"));        // nothing new
  LiveLogs::Slice s = l.Read(kA, 0, 100);
  CHECK(s.data == "hello world");
  CHECK(s.start == 0);
  CHECK(s.end == 11);
  s = l.Read(kA, 6, 3);
  CHECK(s.data == "wor");
  CHECK(s.start == 6);
  l.Add(Piece(kA, 100, "later"));  // the worker skipped ahead
  s = l.Read(kA, 11, 100);
  CHECK(s.start == 100);  // the reader sees the jump
  CHECK(s.data == "later");
  CHECK(l.bytes() == 5);
  s = l.Read(kB, 7, 100);  // never watched
  CHECK(s.data.empty());
  CHECK(s.start == 7);
}

TEST_CASE(
    "live logs: the newest kMaxPerJob bytes are kept; the total bound evicts the least read") {
  LiveLogs l;
  Clock::time_point t0 = Clock::now();
  l.Touch(kA, t0);
  std::string mib(LiveLogs::kMaxPerJob, 'x');
  l.Add(Piece(kA, 0, mib));
  l.Add(Piece(kA, mib.size(), "tail"));
  CHECK(l.bytes() == LiveLogs::kMaxPerJob);
  LiveLogs::Slice s = l.Read(kA, 0, 10);
  CHECK(s.start == 4);
  // Fill past kMaxTotal with other jobs read later: kA (read first) goes.
  size_t jobs = LiveLogs::kMaxTotal / LiveLogs::kMaxPerJob;
  for (size_t i = 0; i < jobs; ++i) {
    proto::JobRef r{std::string(64, 'c'), static_cast<uint32_t>(i + 1)};
    l.Touch(r, t0 + std::chrono::milliseconds(i + 1));
    l.Add(Piece(r, 0, mib));
  }
  CHECK(l.bytes() <= LiveLogs::kMaxTotal);
  CHECK(l.Read(kA, 0, 10).data.empty());
}

TEST_CASE("live logs: Drop and the forgetting of unread buffers") {
  LiveLogs l;
  Clock::time_point t0 = Clock::now();
  l.Touch(kA, t0);
  l.Add(Piece(kA, 0, "abc"));
  l.Drop(kA);
  CHECK(l.bytes() == 0);
  CHECK(l.watched() == 0);
  l.Touch(kA, t0);
  l.Add(Piece(kA, 0, "abc"));
  l.Touch(kB, t0 + LiveLogs::kForgetAfter + std::chrono::seconds(1));
  CHECK(l.watched() == 1);
  CHECK(l.bytes() == 0);
}

}  // namespace
}  // namespace recomp::coordinator
