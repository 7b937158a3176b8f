// Live log pieces from growing files.
#include "worker/log_streamer.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>

#include "base/posix_file.h"

namespace recomp::worker {
namespace {

// Up to `max` bytes of `path` from `offset`; its size in *size. Empty on any error (a log that
// does not exist yet, or is gone with its sandbox).
std::string ReadFrom(const std::string& path, uint64_t* offset, size_t max) {
  auto fd = OpenForRead(path);
  if (!fd.ok()) return {};
  auto st = StatFd(fd->get(), path);
  if (!st.ok() || !S_ISREG(st->st_mode)) return {};
  const uint64_t size = static_cast<uint64_t>(st->st_size);
  if (size > *offset + LogStreamer::kMaxLag) *offset = size - LogStreamer::kMaxLag;
  if (size <= *offset) return {};
  auto pos = ::lseek(fd->get(), static_cast<off_t>(*offset), SEEK_SET);
  if (pos < 0) return {};
  std::string buf(static_cast<size_t>(std::min<uint64_t>(max, size - *offset)), '\0');
  auto n = ReadSome(fd->get(), buf.data(), buf.size(), path);
  if (!n.ok() || *n == 0) return {};
  buf.resize(*n);
  return buf;
}

}  // namespace

void LogStreamer::Watch(const proto::JobRef& ref, PathOf path, uint64_t from,
                        Clock::time_point until) {
  auto [it, added] = watched_.try_emplace(ref);
  if (added) {
    it->second.path = std::move(path);
    it->second.offset = from;
  }
  it->second.until = until;
}

void LogStreamer::Forget(const proto::JobRef& ref) {
  watched_.erase(ref);
}

std::vector<proto::LogPiece> LogStreamer::Poll(Clock::time_point now) {
  std::vector<proto::LogPiece> out;
  for (auto it = watched_.begin(); it != watched_.end();) {
    if (now > it->second.until) {
      it = watched_.erase(it);
      continue;
    }
    Watched& w = it->second;
    const std::string path = w.path();
    if (!path.empty()) {
      uint64_t offset = w.offset;
      std::string data = ReadFrom(path, &offset, kMaxPerPoll);
      if (!data.empty()) {
        w.offset = offset + data.size();
        out.push_back({it->first, offset, std::move(data)});
      }
    }
    ++it;
  }
  return out;
}

}  // namespace recomp::worker
