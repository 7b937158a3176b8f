// LogStreamer: new bytes of a growing file as pieces, bounded per poll, a job far ahead skipped
// forward, a watch that expires or is forgotten, and a log that does not exist yet.
#include "worker/log_streamer.h"

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>

namespace recomp::worker {
namespace {

namespace fs = std::filesystem;
using Clock = LogStreamer::Clock;
const proto::JobRef kRef{std::string(64, 'a'), 1};

struct LogFile {
  fs::path path =
      fs::temp_directory_path() / ("recomp-log-streamer-" + std::to_string(::getpid()) + ".log");
  ~LogFile() { fs::remove(path); }
  void Append(const std::string& s) {
    std::ofstream f(path, std::ios::app | std::ios::binary);
    f << s;
  }
};

TEST_CASE("log streamer: pieces follow the file as it grows") {
  LogFile f;
  LogStreamer s;
  Clock::time_point t0 = Clock::now();
  std::string path;  // no log yet
  s.Watch(
      kRef, [&] { return path; }, 0, t0 + std::chrono::seconds(10));
  CHECK(s.Poll(t0).empty());
  path = f.path.string();
  CHECK(s.Poll(t0).empty());  // the file does not exist yet
  f.Append("line 1\n");
  auto p = s.Poll(t0);
  REQUIRE(p.size() == 1);
  CHECK(p[0].ref == kRef);
  CHECK(p[0].offset == 0);
  CHECK(p[0].data == "line 1\n");
  CHECK(s.Poll(t0).empty());  // nothing new
  f.Append("line 2\n");
  p = s.Poll(t0);
  REQUIRE(p.size() == 1);
  CHECK(p[0].offset == 7);
  CHECK(p[0].data == "line 2\n");
}

TEST_CASE("log streamer: at most kMaxPerPoll bytes per poll; far behind skips to kMaxLag") {
  LogFile f;
  LogStreamer s;
  Clock::time_point t0 = Clock::now();
  f.Append(std::string(LogStreamer::kMaxPerPoll + 10, 'x'));
  s.Watch(
      kRef, [&] { return f.path.string(); }, 0, t0 + std::chrono::seconds(10));
  auto p = s.Poll(t0);
  REQUIRE(p.size() == 1);
  CHECK(p[0].data.size() == LogStreamer::kMaxPerPoll);
  p = s.Poll(t0);
  REQUIRE(p.size() == 1);
  CHECK(p[0].offset == LogStreamer::kMaxPerPoll);
  CHECK(p[0].data.size() == 10);
  const uint64_t before = LogStreamer::kMaxPerPoll + 10;
  f.Append(std::string(LogStreamer::kMaxLag * 2, 'y'));
  p = s.Poll(t0);
  REQUIRE(p.size() == 1);
  CHECK(p[0].offset == before + LogStreamer::kMaxLag * 2 - LogStreamer::kMaxLag);
}

TEST_CASE("log streamer: a watch expires, renews, and is forgotten") {
  LogFile f;
  f.Append("x");
  LogStreamer s;
  Clock::time_point t0 = Clock::now();
  s.Watch(
      kRef, [&] { return f.path.string(); }, 0, t0 + std::chrono::seconds(1));
  s.Watch(
      kRef, [&] { return f.path.string(); }, 0, t0 + std::chrono::seconds(5));  // renewed
  CHECK(s.Poll(t0 + std::chrono::seconds(2)).size() == 1);
  CHECK(s.Poll(t0 + std::chrono::seconds(6)).empty());
  CHECK(s.empty());
  s.Watch(
      kRef, [&] { return f.path.string(); }, 1, t0 + std::chrono::seconds(10));
  s.Forget(kRef);
  CHECK(s.empty());
}

}  // namespace
}  // namespace recomp::worker
