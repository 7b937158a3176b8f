// BlobService (see blob_service.h; the protocol is docs/blob-protocol.md).
#include "coordinator/blob_service.h"

#include <map>

#include "coordinator/log.h"
#include "messages/blob_protocol.h"
#include "messages/protocol.h"
#include "net/framing.h"
#include "net/socket.h"

namespace recomp::coordinator {
namespace {

using blobproto::BlobInfo;
using Clock = std::chrono::steady_clock;

constexpr size_t kMaxMessagesPerTurn = 256;
constexpr size_t kMaxOpenReaders = 16;
constexpr auto kReaderIdle = std::chrono::seconds(30);
constexpr auto kSweepInterval = std::chrono::seconds(1);
// A PUT's data frame is the largest thing a peer sends; anything past twice that is dropped by
// libzmq before it is buffered whole (docs/blob-protocol.md, "Bounds").
constexpr size_t kMaxFrameBytes = 2 * blobproto::kMaxBatchBytes;

// What one request produced: the reply's command, body and optional data frame.
struct Reply {
  std::string_view command = blobproto::kOk;
  std::string body;
  std::string data;
  bool has_data = false;
};

Reply ErrorReply(const Status& st) {
  return Reply{blobproto::kError, proto::ErrorBody(st), {}, false};
}

}  // namespace

struct BlobService::Impl {
  Impl(zmq::socket_t s, BlobServiceOptions o, store::ArtifactStore* st, BlobServiceStats& stats)
      : socket(std::move(s)),
        opt(std::move(o)),
        store(*st),
        uploads(*st, opt.uploads),
        stats(stats) {}

  zmq::socket_t socket;
  BlobServiceOptions opt;
  store::ArtifactStore& store;
  BlobUploads uploads;
  BlobServiceStats& stats;
  struct OpenReader {
    store::BlobReader reader;
    Clock::time_point used;
  };
  std::map<Digest, OpenReader> readers;
  std::string user;       // with CURVE: the key name of the request being handled
  uint64_t payloads = 0;  // for the flip hook
  uint64_t chunks = 0;

  Status Serve(const std::atomic<bool>& stop);
  void HandleOne(net::Received&& received);
  Reply Execute(const std::string& peer, net::Message& m);
  Reply Get(const blobproto::DigestList& l);
  Reply Read(const blobproto::ReadRequest& q);
  Result<const store::BlobReader*> Reader(const Digest& d);
  bool Allowed(const std::string& worker, const ArtifactRecord& rec, const Digest& d) const;
  // With CURVE: whether the request's key may send `command` (PermissionDenied naming why).
  Status Permit(const std::string& command) const;
  void MaybeFlip(std::string* bytes, uint64_t* counter);
  void Sweep(Clock::time_point now);
};

bool BlobService::Impl::Allowed(const std::string& worker, const ArtifactRecord& rec,
                                const Digest& d) const {
  if (rec.artifact_class != ArtifactClass::kExternal) return true;
  // With CURVE the worker named in the request must be one of the key's own (its id is the
  // key's name or starts with "<name>:"), or anyone could name a worker holding the job.
  if (opt.access != nullptr && worker != user && worker.rfind(user + ":", 0) != 0) return false;
  return !worker.empty() && opt.may_read_external && opt.may_read_external(worker, d);
}

Status BlobService::Impl::Permit(const std::string& c) const {
  if (opt.access == nullptr) return Status::Ok();
  std::optional<AllowedKey> key = opt.access->Lookup(user);
  if (!key) return Status::PermissionDenied("key '" + user + "' is no longer allowed");
  const bool write = c == blobproto::kPut || c == blobproto::kChunk || c == blobproto::kCommit ||
                     c == blobproto::kAbort;
  if (write && key->role == Role::kReader) {
    return Status::PermissionDenied("key " + key->name + " is a reader and may not upload");
  }
  if (c == blobproto::kList && key->role == Role::kWorker) {
    return Status::PermissionDenied("key " + key->name + " is a worker key and may not list");
  }
  return Status::Ok();
}

void BlobService::Impl::MaybeFlip(std::string* bytes, uint64_t* counter) {
  if (opt.flip_byte_every == 0 || bytes->empty()) return;
  if (++*counter % opt.flip_byte_every == 0) (*bytes)[bytes->size() / 2] ^= 0x01;
}

Result<const store::BlobReader*> BlobService::Impl::Reader(const Digest& d) {
  auto it = readers.find(d);
  if (it == readers.end()) {
    RECOMP_ASSIGN_OR_RETURN(store::BlobReader r, store.OpenReader(d));
    if (readers.size() >= kMaxOpenReaders) {
      auto oldest = readers.begin();
      for (auto j = readers.begin(); j != readers.end(); ++j) {
        if (j->second.used < oldest->second.used) oldest = j;
      }
      readers.erase(oldest);
    }
    it = readers.emplace(d, OpenReader{std::move(r), Clock::now()}).first;
  }
  it->second.used = Clock::now();
  return &it->second.reader;
}

Reply BlobService::Impl::Get(const blobproto::DigestList& l) {
  Reply reply;
  reply.has_data = true;
  std::vector<BlobInfo> infos;
  infos.reserve(l.digests.size());
  for (const Digest& d : l.digests) {
    BlobInfo info{d, BlobInfo::State::kMissing, 0, ArtifactClass::kGenerated, ""};
    auto r = store.OpenReader(d);
    if (r.ok()) {
      info.size = r->size();
      info.artifact_class = r->record().artifact_class;
      info.media_type = r->record().media_type;
      if (!Allowed(l.worker, r->record(), d)) {
        info = {d, BlobInfo::State::kDenied, 0, ArtifactClass::kGenerated, ""};
      } else if (info.size > blobproto::kMaxSmallBlob) {
        info.state = BlobInfo::State::kTooLarge;
      } else if (reply.data.size() + info.size > blobproto::kMaxBatchBytes) {
        info = {d, BlobInfo::State::kDeferred, 0, ArtifactClass::kGenerated, ""};
      } else {
        std::string bytes;
        Status st = r->ReadAt(0, static_cast<size_t>(info.size), &bytes);
        if (!st.ok()) return ErrorReply(st);
        MaybeFlip(&bytes, &payloads);
        reply.data += bytes;
        info.state = BlobInfo::State::kPresent;
      }
    } else if (r.status().code() != Status::Code::kNotFound) {
      return ErrorReply(r.status());
    }
    infos.push_back(std::move(info));
  }
  stats.bytes_sent += reply.data.size();
  reply.body = blobproto::EncodeBlobInfos(infos);
  return reply;
}

Reply BlobService::Impl::Read(const blobproto::ReadRequest& q) {
  auto r = Reader(q.digest);
  if (!r.ok()) return ErrorReply(r.status());
  const store::BlobReader& reader = **r;
  if (!Allowed(q.worker, reader.record(), q.digest)) {
    return ErrorReply(Status::FailedPrecondition(
        q.digest.Ref() +
        " is an external artifact: it is served only to a worker that holds "
        "a job naming it"));
  }
  Reply reply{blobproto::kData, {}, {}, true};
  if (Status st = reader.ReadAt(q.offset, q.length, &reply.data); !st.ok()) {
    readers.erase(q.digest);
    return ErrorReply(st);
  }
  MaybeFlip(&reply.data, &payloads);
  stats.bytes_sent += reply.data.size();
  reply.body = blobproto::EncodeDataHeader(
      {q.digest, q.offset, reader.size(), reader.record().artifact_class});
  return reply;
}

Reply BlobService::Impl::Execute(const std::string& peer, net::Message& m) {
  const std::string& c = m.command;
  auto answer = [](auto&& result, auto encode) {
    if (!result.ok()) return ErrorReply(result.status());
    return Reply{blobproto::kOk, encode(*result), {}, false};
  };
  if (c == blobproto::kFindMissing || c == blobproto::kStat || c == blobproto::kGet) {
    auto l = blobproto::DecodeDigestList(m.body);
    if (!l.ok()) return ErrorReply(l.status());
    if (c == blobproto::kGet) return Get(*l);
    if (c == blobproto::kFindMissing) {
      std::vector<Digest> missing;
      for (const Digest& d : l->digests) {
        if (!store.Contains(d)) missing.push_back(d);
      }
      return Reply{blobproto::kOk, blobproto::EncodeMissing(missing), {}, false};
    }
    std::vector<BlobInfo> infos;
    for (const Digest& d : l->digests) {
      auto rec = store.Stat(d);
      if (rec.ok()) {
        infos.push_back(
            {d, BlobInfo::State::kPresent, rec->size, rec->artifact_class, rec->media_type});
      } else {
        infos.push_back({d, BlobInfo::State::kMissing, 0, ArtifactClass::kGenerated, ""});
      }
    }
    return Reply{blobproto::kOk, blobproto::EncodeBlobInfos(infos), {}, false};
  }
  if (c == blobproto::kRead) {
    auto q = blobproto::DecodeReadRequest(m.body);
    return q.ok() ? Read(*q) : ErrorReply(q.status());
  }
  if (c == blobproto::kPut) {
    auto items = blobproto::DecodePutItems(m.body);
    if (!items.ok()) return ErrorReply(items.status());
    if (m.data.size() > blobproto::kMaxBatchBytes) {
      return ErrorReply(Status::ResourceExhausted("put: more than 4 MiB of inline bytes"));
    }
    stats.bytes_received += m.data.size();
    return answer(uploads.Put(peer, *items, m.data, Clock::now()), blobproto::EncodePutAnswers);
  }
  if (c == blobproto::kChunk) {
    auto h = blobproto::DecodeChunkHeader(m.body);
    if (!h.ok()) return ErrorReply(h.status());
    if (m.data.size() > blobproto::kMaxChunk) {
      return ErrorReply(Status::ResourceExhausted("chunk: more than 1 MiB"));
    }
    MaybeFlip(&m.data, &chunks);
    stats.bytes_received += m.data.size();
    return answer(uploads.Chunk(peer, *h, m.data, Clock::now()), blobproto::EncodeChunkAck);
  }
  if (c == blobproto::kCommit || c == blobproto::kAbort) {
    auto ids = blobproto::DecodeUploadIds(m.body);
    if (!ids.ok()) return ErrorReply(ids.status());
    if (c == blobproto::kAbort) {
      uploads.Abort(peer, *ids);
      return Reply{blobproto::kOk, proto::EmptyBody(), {}, false};
    }
    auto refs = uploads.Commit(peer, *ids);
    if (refs.ok()) stats.blobs_committed += refs->size();
    return answer(refs, [](const std::vector<std::string>& r) {
      return proto::JsonBody({{"refs", r}});
    });
  }
  if (c == blobproto::kList) {
    auto q = blobproto::DecodeListRequest(m.body);
    if (!q.ok()) return ErrorReply(q.status());
    auto found = store.ListPage(q->after, q->limit, q->artifact_class);
    if (!found.ok()) return ErrorReply(found.status());
    blobproto::ListPage page{std::move(found->records), found->next};
    return Reply{blobproto::kOk, blobproto::EncodeListPage(page), {}, false};
  }
  if (c == blobproto::kStats) {
    return Reply{blobproto::kOk,
                 proto::JsonBody({{"bytes_sent", stats.bytes_sent.load()},
                                  {"bytes_received", stats.bytes_received.load()},
                                  {"blobs_committed", stats.blobs_committed.load()},
                                  {"requests", stats.requests.load()},
                                  {"refused", stats.refused.load()},
                                  {"uploads_open", uploads.open_uploads()},
                                  {"staging_reserved_bytes", uploads.reserved_bytes()},
                                  {"uploads_expired", stats.uploads_expired.load()}}),
                 {},
                 false};
  }
  return ErrorReply(Status::InvalidArgument("unknown blob command '" + c + "'"));
}

void BlobService::Impl::HandleOne(net::Received&& received) {
  ++stats.requests;
  std::vector<std::string>& frames = received.frames;
  if (frames.empty()) return;
  std::string peer = frames[0];
  std::vector<std::string> envelope{peer};
  Reply reply;
  if (frames.size() < 2 || frames[1] != blobproto::kTag) {
    envelope = net::FallbackEnvelope(frames);
    reply =
        ErrorReply(Status::InvalidArgument("malformed request: no RBL1 frame after the "
                                           "routing id"));
  } else {
    received.total_frames -= 1;
    frames.erase(frames.begin());
    user = std::move(received.user_id);
    auto m = net::Parse(blobproto::kTag, std::move(received), net::DataFrame::kOptional);
    Status permitted = m.ok() ? Permit(m->command) : Status::Ok();
    if (!m.ok()) {
      reply = ErrorReply(m.status());
    } else {
      reply = permitted.ok() ? Execute(peer, *m) : ErrorReply(permitted);
    }
  }
  if (reply.command == blobproto::kError) {
    ++stats.refused;
    Log()->info("blob request from {} refused: {}", net::PeerName(peer),
                proto::DecodeError(reply.body).ToString());
  }
  std::vector<std::string> out = std::move(envelope);
  out.emplace_back(blobproto::kTag);
  out.emplace_back(reply.command);
  out.push_back(std::move(reply.body));
  if (reply.has_data) out.push_back(std::move(reply.data));
  std::string error;
  net::SendResult sent = net::Send(socket, out, &error);
  if (sent != net::SendResult::kOk) {
    // The peer gone or not reading: it asks again after its own timeout.
    Log()->debug("blob reply to {} not sent: {} {}", net::PeerName(peer), net::ToString(sent),
                 error);
  }
}

void BlobService::Impl::Sweep(Clock::time_point now) {
  stats.uploads_expired += uploads.Expire(now);
  for (auto it = readers.begin(); it != readers.end();) {
    it = now - it->second.used > kReaderIdle ? readers.erase(it) : std::next(it);
  }
}

Status BlobService::Impl::Serve(const std::atomic<bool>& stop) {
  Clock::time_point next_sweep = Clock::now() + kSweepInterval;
  while (!stop.load()) {
    zmq::pollitem_t item{socket.handle(), 0, ZMQ_POLLIN, 0};
    Status st = net::Poll(&item, 1, std::chrono::milliseconds(100));
    if (!st.ok() && st.code() != Status::Code::kCancelled) return st;
    for (size_t i = 0; i < kMaxMessagesPerTurn; ++i) {
      net::Received r;
      RECOMP_ASSIGN_OR_RETURN(bool got, net::Receive(socket, &r));
      if (!got) break;
      HandleOne(std::move(r));
    }
    Clock::time_point now = Clock::now();
    if (now >= next_sweep) {
      Sweep(now);
      next_sweep = now + kSweepInterval;
    }
  }
  return Status::Ok();
}

Result<std::unique_ptr<BlobService>> BlobService::Create(zmq::context_t& ctx,
                                                         BlobServiceOptions options,
                                                         store::ArtifactStore* store) {
  net::SocketOptions so;
  if (options.access != nullptr) {
    so.curve_server = {options.curve_secret, std::string(ZapDomain(Endpoint::kBlobs))};
  }
  so.max_frame_bytes = kMaxFrameBytes;
  so.sndhwm = 1000;
  so.rcvhwm = 1000;
  RECOMP_ASSIGN_OR_RETURN(zmq::socket_t s, net::MakeSocket(ctx, zmq::socket_type::router, so));
  std::unique_ptr<BlobService> svc(new BlobService());
  RECOMP_ASSIGN_OR_RETURN(svc->endpoint_, net::Bind(s, options.endpoint, "blobs"));
  svc->impl_ = std::make_unique<Impl>(std::move(s), std::move(options), store, svc->stats_);
  return svc;
}

BlobService::~BlobService() = default;

Status BlobService::Run() {
  return impl_->Serve(stop_);
}

}  // namespace recomp::coordinator
