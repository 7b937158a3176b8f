// The live log buffer.
#include "coordinator/live_logs.h"

#include <algorithm>

namespace recomp::coordinator {

bool LiveLogs::Touch(const proto::JobRef& ref, Clock::time_point now) {
  for (auto it = logs_.begin(); it != logs_.end();) {  // watchers that went away
    if (now - it->second.last_read > kForgetAfter) {
      total_ -= it->second.data.size();
      it = logs_.erase(it);
    } else {
      ++it;
    }
  }
  auto [it, added] = logs_.try_emplace(ref);
  Buffer& b = it->second;
  b.last_read = now;
  if (!added && now - b.last_watch < kRenewEvery) return false;
  b.last_watch = now;
  return true;
}

void LiveLogs::Add(const proto::LogPiece& piece) {
  auto it = logs_.find(piece.ref);
  if (it == logs_.end()) return;  // nobody asked (or it landed)
  Buffer& b = it->second;
  const uint64_t end = b.start + b.data.size();
  const uint64_t piece_end = piece.offset + piece.data.size();
  if (piece_end <= end) return;  // already have it
  total_ -= b.data.size();
  if (piece.offset > end) {  // a gap: the worker skipped ahead of a chatty job
    b.start = piece.offset;
    b.data = piece.data;
  } else {
    b.data.append(piece.data, static_cast<size_t>(end - piece.offset), std::string::npos);
  }
  if (b.data.size() > kMaxPerJob) {
    const size_t cut = b.data.size() - kMaxPerJob;
    b.data.erase(0, cut);
    b.start += cut;
  }
  total_ += b.data.size();
  EvictBeyondTotal();
}

void LiveLogs::EvictBeyondTotal() {
  while (total_ > kMaxTotal) {
    auto oldest = std::min_element(logs_.begin(), logs_.end(), [](const auto& a, const auto& b) {
      return a.second.last_read < b.second.last_read;
    });
    total_ -= oldest->second.data.size();
    logs_.erase(oldest);
  }
}

LiveLogs::Slice LiveLogs::Read(const proto::JobRef& ref, uint64_t from, size_t max) const {
  Slice s;
  auto it = logs_.find(ref);
  if (it == logs_.end()) {
    s.start = s.end = from;
    return s;
  }
  const Buffer& b = it->second;
  s.end = b.start + b.data.size();
  s.start = std::clamp(from, b.start, s.end);
  s.data = b.data.substr(static_cast<size_t>(s.start - b.start), max);
  return s;
}

void LiveLogs::Drop(const proto::JobRef& ref) {
  auto it = logs_.find(ref);
  if (it == logs_.end()) return;
  total_ -= it->second.data.size();
  logs_.erase(it);
}

}  // namespace recomp::coordinator
