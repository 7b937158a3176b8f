// BlobUploads (see blob_uploads.h).
#include "coordinator/blob_uploads.h"

#include <set>

#include "base/blake2b.h"

namespace recomp::coordinator {

using blobproto::PutAnswer;
using blobproto::PutItem;

BlobUploads::Upload* BlobUploads::Find(std::string_view peer, uint64_t id) {
  auto it = uploads_.find(id);
  if (it == uploads_.end() || it->second.peer != peer) return nullptr;
  return &it->second;
}

Result<uint64_t> BlobUploads::Open(std::string_view peer, const PutItem& item,
                                   Clock::time_point now) {
  auto mine = by_peer_.find(peer);
  size_t count = mine == by_peer_.end() ? 0 : mine->second.size();
  if (count >= limits_.max_uploads_per_peer) {
    return Status::ResourceExhausted(
        "this peer already has " + std::to_string(count) + " uploads open (at most " +
        std::to_string(limits_.max_uploads_per_peer) + "): commit or abort some first");
  }
  if (item.size > limits_.max_staging_bytes - reserved_) {
    return Status::ResourceExhausted("staging space: an upload of " + std::to_string(item.size) +
                                     " bytes does not fit (" + std::to_string(reserved_) + " of " +
                                     std::to_string(limits_.max_staging_bytes) +
                                     " bytes are reserved by open uploads); retry later");
  }
  Upload u;
  u.peer = std::string(peer);
  u.item = item;
  u.touched = now;
  if (!item.inline_bytes || inline_memory_ + item.size > limits_.max_inline_memory) {
    RECOMP_ASSIGN_OR_RETURN(store::StagedFile f, store_.BeginUpload());
    u.staged = std::move(f);
  } else {
    inline_memory_ += item.size;
    u.in_memory = true;
  }
  uint64_t id = next_id_++;
  uploads_.emplace(id, std::move(u));
  by_peer_[std::string(peer)].emplace(item.digest, id);
  reserved_ += item.size;
  return id;
}

void BlobUploads::Drop(uint64_t id) {
  auto it = uploads_.find(id);
  if (it == uploads_.end()) return;
  reserved_ -= it->second.item.size;
  if (it->second.in_memory) inline_memory_ -= it->second.item.size;
  auto p = by_peer_.find(it->second.peer);
  if (p != by_peer_.end()) {
    p->second.erase(it->second.item.digest);
    if (p->second.empty()) by_peer_.erase(p);
  }
  uploads_.erase(it);  // a staged file is removed with it
}

Status BlobUploads::Finish(uint64_t id, Upload& u) {
  Digest got;
  if (u.staged) {
    u.staged->FinishAppend();
    got = u.staged->digest();
  } else {
    got = Blake2b256::Of(u.bytes);
  }
  if (got != u.item.digest) {
    std::string want = u.item.digest.Ref();
    Drop(id);
    return Status::Corruption("upload of " + want + ": the bytes received hash to " + got.Ref() +
                              "; nothing was stored");
  }
  u.complete = true;
  return Status::Ok();
}

Result<std::vector<PutAnswer>> BlobUploads::Put(std::string_view peer,
                                                const std::vector<PutItem>& items,
                                                std::string_view data, Clock::time_point now) {
  std::vector<PutAnswer> answers;
  std::vector<uint64_t> opened;
  auto fail = [&](Status st) {
    for (uint64_t id : opened) Drop(id);
    return st;
  };
  size_t at = 0;
  for (const PutItem& item : items) {
    PutAnswer a{item.digest, PutAnswer::State::kHave, 0, 0};
    std::string_view bytes;
    if (item.inline_bytes) {
      if (data.size() - at < item.size) {
        return fail(
            Status::InvalidArgument("put: the data frame holds fewer bytes than the "
                                    "inline items announce"));
      }
      bytes = data.substr(at, item.size);
      at += item.size;
    }
    if (store_.Contains(item.digest)) {
      answers.push_back(a);
      continue;
    }
    if (auto p = by_peer_.find(peer); p != by_peer_.end()) {  // resume this peer's upload
      if (auto d = p->second.find(item.digest); d != p->second.end()) {
        const Upload& u = uploads_.at(d->second);
        a = {item.digest, u.complete ? PutAnswer::State::kStaged : PutAnswer::State::kSend,
             d->second, u.received};
      }
    }
    if (a.upload == 0) {
      auto id = Open(peer, item, now);
      if (!id.ok()) return fail(id.status());
      opened.push_back(*id);
      a = {item.digest, PutAnswer::State::kSend, *id, 0};
      if (item.inline_bytes || item.size == 0) {
        Upload& u = uploads_.at(*id);
        if (u.staged) {
          if (Status st = u.staged->Append(bytes); !st.ok()) return fail(st);
        } else {
          u.bytes = std::string(bytes);
        }
        u.received = bytes.size();
        received_total_ += bytes.size();
        if (Status st = Finish(*id, u); !st.ok()) {
          opened.pop_back();
          return fail(st);
        }
        a.state = PutAnswer::State::kStaged;
        a.offset = u.received;
      }
    }
    answers.push_back(a);
  }
  if (at != data.size()) {
    return fail(
        Status::InvalidArgument("put: the data frame holds more bytes than the inline "
                                "items announce"));
  }
  return answers;
}

Result<blobproto::ChunkAck> BlobUploads::Chunk(std::string_view peer,
                                               const blobproto::ChunkHeader& h,
                                               std::string_view bytes, Clock::time_point now) {
  Upload* u = Find(peer, h.upload);
  if (!u || !u->staged) {
    return Status::NotFound("no upload " + std::to_string(h.upload) +
                            " of yours is open (expired, finished, or never announced)");
  }
  if (u->complete || h.offset != u->received) {
    return Status::FailedPrecondition("upload " + std::to_string(h.upload) + ": chunk at offset " +
                                      std::to_string(h.offset) + ", expected " +
                                      std::to_string(u->received));
  }
  if (bytes.size() > u->item.size - u->received) {
    uint64_t id = h.upload;
    std::string want = std::to_string(u->item.size);
    Drop(id);
    return Status::InvalidArgument("upload " + std::to_string(id) + ": more bytes than the " +
                                   want + " announced; dropped");
  }
  if (Status st = u->staged->Append(bytes); !st.ok()) {
    Drop(h.upload);
    return st;
  }
  u->received += bytes.size();
  u->touched = now;
  received_total_ += bytes.size();
  if (u->received == u->item.size) RECOMP_RETURN_IF_ERROR(Finish(h.upload, *u));
  return blobproto::ChunkAck{h.upload, u->received};
}

Result<std::vector<std::string>> BlobUploads::Commit(std::string_view peer,
                                                     const std::vector<uint64_t>& ids) {
  std::set<uint64_t> seen;
  for (uint64_t id : ids) {
    Upload* u = Find(peer, id);
    if (!u) return Status::NotFound("no upload " + std::to_string(id) + " of yours is open");
    if (!seen.insert(id).second) {
      return Status::InvalidArgument("upload " + std::to_string(id) + " is named twice");
    }
    if (!u->complete) {
      return Status::FailedPrecondition("upload " + std::to_string(id) + " has " +
                                        std::to_string(u->received) + " of its " +
                                        std::to_string(u->item.size) + " bytes");
    }
  }
  store::PutBatch batch = store_.NewBatch();
  std::vector<std::string> refs;
  Status st;
  for (uint64_t id : ids) {
    Upload& u = uploads_.at(id);
    store::PutOptions o{u.item.artifact_class, u.item.media_type, u.item.producer};
    auto rec = u.staged ? batch.AddStaged(std::move(*u.staged), o) : batch.AddBytes(u.bytes, o);
    u.staged.reset();
    if (!rec.ok()) {
      st = rec.status();
      break;
    }
    refs.push_back(rec->ref);
  }
  if (st.ok()) st = batch.Commit();
  for (uint64_t id : ids) Drop(id);
  if (!st.ok()) return st.WithContext("committing uploads");
  return refs;
}

void BlobUploads::Abort(std::string_view peer, const std::vector<uint64_t>& ids) {
  for (uint64_t id : ids) {
    if (Find(peer, id)) Drop(id);
  }
}

size_t BlobUploads::Expire(Clock::time_point now) {
  std::vector<uint64_t> idle;
  for (const auto& [id, u] : uploads_) {
    if (now - u.touched > limits_.idle_timeout) idle.push_back(id);
  }
  for (uint64_t id : idle) Drop(id);
  return idle.size();
}

}  // namespace recomp::coordinator
