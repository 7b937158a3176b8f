// BlobClient (see blob_client.h; the protocol is docs/blob-protocol.md).
#include "transfer/blob_client.h"

#include <sys/stat.h>

#include <algorithm>
#include <set>

#include "base/blake2b.h"
#include "base/posix_file.h"
#include "base/stream_hasher.h"
#include "messages/protocol.h"
#include "net/framing.h"
#include "net/socket.h"

namespace recomp::transfer {
namespace {

using blobproto::BlobInfo;
using Clock = std::chrono::steady_clock;

// A file to upload, hashed.
struct Hashed {
  blobproto::PutItem item;
  const UploadFile* file = nullptr;
};

Result<Hashed> HashFile(const UploadFile& f) {
  RECOMP_ASSIGN_OR_RETURN(Fd fd, OpenForRead(f.path));
  Blake2b256 h;
  std::string buf(1 << 20, '\0');
  uint64_t size = 0;
  for (;;) {
    RECOMP_ASSIGN_OR_RETURN(size_t n, ReadSome(fd.get(), buf.data(), buf.size(), f.path));
    if (n == 0) break;
    h.Update(buf.data(), n);
    size += n;
  }
  Hashed out;
  out.item = {h.Finish(),   size,       f.artifact_class,
              f.media_type, f.producer, size <= blobproto::kMaxSmallBlob};
  out.file = &f;
  return out;
}

}  // namespace

struct BlobClient::Impl {
  zmq::context_t& ctx;
  BlobClientOptions opt;
  TransferCounters* counters = nullptr;
  std::unique_ptr<zmq::socket_t> socket;

  Impl(zmq::context_t& c, BlobClientOptions o) : ctx(c), opt(std::move(o)) {}

  Status Reconnect() {
    socket.reset();
    net::SocketOptions so;
    so.max_frame_bytes = 2 * blobproto::kMaxBatchBytes;
    so.curve_client = opt.curve;
    RECOMP_ASSIGN_OR_RETURN(zmq::socket_t s, net::MakeSocket(ctx, zmq::socket_type::dealer, so));
    RECOMP_RETURN_IF_ERROR(net::Connect(s, opt.endpoint, "blob service"));
    socket = std::make_unique<zmq::socket_t>(std::move(s));
    return Status::Ok();
  }

  Status Unanswered() const {
    return Status::Unavailable(
        "blob service at " + opt.endpoint + " did not answer within " +
        std::to_string(opt.timeout.count()) + " ms" +
        (opt.curve.enabled() ? " (is key " + opt.curve.public_key + " in the pool's allowlist?)"
                             : ""));
  }

  // Sends one request, waiting up to the timeout for the connection to take it.
  Status Send(std::string_view cmd, std::string body, std::string data, bool has_data) {
    auto frames = has_data ? net::Frames(blobproto::kTag, cmd, std::move(body), std::move(data))
                           : net::Frames(blobproto::kTag, cmd, std::move(body));
    Clock::time_point deadline = Clock::now() + opt.timeout;
    for (;;) {
      std::string error;
      net::SendResult r = net::Send(*socket, frames, &error);
      if (r == net::SendResult::kOk) return Status::Ok();
      if (r != net::SendResult::kAgain) return Status::Unavailable("blob service: " + error);
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      if (left.count() <= 0) return Unanswered();
      zmq::pollitem_t item{socket->handle(), 0, ZMQ_POLLOUT, 0};
      Status st = net::Poll(&item, 1, std::min(left, std::chrono::milliseconds(100)));
      if (!st.ok() && st.code() != Status::Code::kCancelled) return st;
    }
  }

  // The next reply; an ERROR reply becomes its status. DeadlineExceeded on the timeout.
  Result<net::Message> Receive() {
    Clock::time_point deadline = Clock::now() + opt.timeout;
    for (;;) {
      net::Received r;
      RECOMP_ASSIGN_OR_RETURN(bool got, net::Receive(*socket, &r));
      if (got) {
        ++counters->round_trips;
        RECOMP_ASSIGN_OR_RETURN(
            net::Message m, net::Parse(blobproto::kTag, std::move(r), net::DataFrame::kOptional));
        if (m.command == blobproto::kError) return proto::DecodeError(m.body);
        return m;
      }
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      if (left.count() <= 0) return Status::DeadlineExceeded(Unanswered().message());
      zmq::pollitem_t item{socket->handle(), 0, ZMQ_POLLIN, 0};
      Status st = net::Poll(&item, 1, std::min(left, std::chrono::milliseconds(100)));
      if (!st.ok() && st.code() != Status::Code::kCancelled) return st;
    }
  }

  // One request and its reply, on a new socket after a timeout (so no late reply is taken for
  // the next one), up to `retries` more times. For requests that are safe to repeat.
  Result<net::Message> Call(std::string_view cmd, const std::string& body,
                            const std::string& data = {}, bool has_data = false) {
    for (uint32_t attempt = 0;; ++attempt) {
      Status st = Send(cmd, body, data, has_data);
      if (st.ok()) {
        auto reply = Receive();
        if (reply.ok() || reply.status().code() != Status::Code::kDeadlineExceeded) return reply;
        st = reply.status();
      }
      if (attempt >= opt.retries) return Unanswered();
      RECOMP_RETURN_IF_ERROR(Reconnect());
    }
  }

  // Sends `command` for each batch of at most kMaxDigests of `digests` and appends what
  // `decode` makes of each reply (given the batch's size) to the result.
  template <typename T, typename Decode>
  Result<std::vector<T>> Batched(std::string_view command, const std::vector<Digest>& digests,
                                 Decode decode) {
    std::vector<T> out;
    for (size_t at = 0; at < digests.size(); at += blobproto::kMaxDigests) {
      blobproto::DigestList l;
      size_t end = std::min(digests.size(), at + blobproto::kMaxDigests);
      l.digests.assign(digests.begin() + static_cast<long>(at),
                       digests.begin() + static_cast<long>(end));
      l.worker = opt.worker;
      RECOMP_ASSIGN_OR_RETURN(net::Message m, Call(command, blobproto::EncodeDigestList(l)));
      RECOMP_ASSIGN_OR_RETURN(std::vector<T> part, decode(m.body, l.digests.size()));
      out.insert(out.end(), part.begin(), part.end());
    }
    return out;
  }

  Result<std::vector<BlobInfo>> GetBatch(
      const std::vector<Digest>& digests,
      const std::function<Status(const BlobInfo&, std::string_view)>& on_blob);
  // One pass of a download from `*done`; DeadlineExceeded when the service went quiet.
  Status DownloadFrom(const Digest& d, int fd, const std::string& name, StreamHasher& hash,
                      uint64_t* done, BlobInfo* info);
  Status SendChunks(const Hashed& h, const blobproto::PutAnswer& a);
  // PUT (inline bytes with it), CHUNKs for the rest, one COMMIT.
  Status UploadHashed(const std::vector<Hashed>& hashed);
};

BlobClient::BlobClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {
  impl_->counters = &counters_;
}
BlobClient::~BlobClient() = default;

Result<std::unique_ptr<BlobClient>> BlobClient::Create(zmq::context_t& ctx, BlobClientOptions opt) {
  if (opt.window == 0 || opt.chunk_bytes == 0 || opt.chunk_bytes > blobproto::kMaxChunk) {
    return Status::InvalidArgument("blob client: window >= 1 and chunk of 1 B - 1 MiB");
  }
  auto impl = std::make_unique<Impl>(ctx, std::move(opt));
  RECOMP_RETURN_IF_ERROR(impl->Reconnect());
  return std::unique_ptr<BlobClient>(new BlobClient(std::move(impl)));
}

Result<std::vector<Digest>> BlobClient::FindMissing(const std::vector<Digest>& digests) {
  return impl_->Batched<Digest>(
      blobproto::kFindMissing, digests,
      [](std::string_view body, size_t) { return blobproto::DecodeMissing(body); });
}

Result<std::vector<BlobInfo>> BlobClient::Stat(const std::vector<Digest>& digests) {
  return impl_->Batched<BlobInfo>(
      blobproto::kStat, digests,
      [](std::string_view body, size_t n) -> Result<std::vector<BlobInfo>> {
        RECOMP_ASSIGN_OR_RETURN(auto part, blobproto::DecodeBlobInfos(body));
        if (part.size() != n) return Status::Internal("blob service: STAT reply size");
        return part;
      });
}

Result<std::vector<BlobInfo>> BlobClient::Impl::GetBatch(
    const std::vector<Digest>& digests,
    const std::function<Status(const BlobInfo&, std::string_view)>& on_blob) {
  blobproto::DigestList l{digests, opt.worker};
  RECOMP_ASSIGN_OR_RETURN(net::Message m, Call(blobproto::kGet, blobproto::EncodeDigestList(l)));
  RECOMP_ASSIGN_OR_RETURN(auto infos, blobproto::DecodeBlobInfos(m.body));
  if (infos.size() != digests.size()) return Status::Internal("blob service: GET reply size");
  size_t at = 0;
  for (size_t i = 0; i < infos.size(); ++i) {
    BlobInfo& b = infos[i];
    if (b.digest != digests[i]) return Status::Internal("blob service: GET reply order");
    if (b.state != BlobInfo::State::kPresent) continue;
    if (b.size > m.data.size() - at) return Status::Internal("blob service: short GET data");
    std::string_view bytes(m.data.data() + at, static_cast<size_t>(b.size));
    at += static_cast<size_t>(b.size);
    counters->bytes_down += bytes.size();
    Digest got = Blake2b256::Of(bytes);
    if (got != b.digest) {
      return Status::Corruption("blob " + b.digest.Ref() + " arrived as bytes hashing to " +
                                got.Ref() + "; refused");
    }
    RECOMP_RETURN_IF_ERROR(on_blob(b, bytes));
  }
  return infos;
}

Result<std::vector<BlobInfo>> BlobClient::GetSmall(
    const std::vector<Digest>& digests,
    const std::function<Status(const BlobInfo&, std::string_view)>& on_blob) {
  std::vector<BlobInfo> out(digests.size());
  std::vector<size_t> pending(digests.size());
  for (size_t i = 0; i < pending.size(); ++i) pending[i] = i;
  while (!pending.empty()) {
    std::vector<Digest> ask;
    for (size_t i = 0; i < pending.size() && ask.size() < blobproto::kMaxDigests; ++i) {
      ask.push_back(digests[pending[i]]);
    }
    RECOMP_ASSIGN_OR_RETURN(auto infos, impl_->GetBatch(ask, on_blob));
    std::vector<size_t> again;
    for (size_t i = 0; i < infos.size(); ++i) {
      if (infos[i].state == BlobInfo::State::kDeferred)
        again.push_back(pending[i]);
      else
        out[pending[i]] = infos[i];
    }
    if (again.size() == pending.size() && ask.size() == pending.size()) {
      return Status::Internal("blob service deferred every blob of a GET");
    }
    again.insert(again.end(), pending.begin() + static_cast<long>(ask.size()), pending.end());
    pending = std::move(again);
  }
  return out;
}

Status BlobClient::Impl::DownloadFrom(const Digest& d, int fd, const std::string& name,
                                      StreamHasher& hash, uint64_t* done, BlobInfo* info) {
  bool size_known = info->state == BlobInfo::State::kPresent;
  uint64_t next = *done;
  uint32_t inflight = 0;
  auto ask = [&](uint64_t offset) {
    return Send(blobproto::kRead,
                blobproto::EncodeReadRequest(
                    {d, offset, static_cast<uint32_t>(opt.chunk_bytes), opt.worker}),
                {}, false);
  };
  if (!size_known) {
    RECOMP_RETURN_IF_ERROR(ask(next));
    next += opt.chunk_bytes;
    inflight = 1;
  }
  while (inflight > 0 || (size_known && *done < info->size)) {
    while (size_known && inflight < opt.window && next < info->size) {
      RECOMP_RETURN_IF_ERROR(ask(next));
      next += opt.chunk_bytes;
      ++inflight;
    }
    RECOMP_ASSIGN_OR_RETURN(net::Message m, Receive());
    --inflight;
    RECOMP_ASSIGN_OR_RETURN(blobproto::DataHeader h, blobproto::DecodeDataHeader(m.body));
    if (m.command != blobproto::kData || h.digest != d || h.offset != *done) {
      return Status::DeadlineExceeded("blob service: out-of-order reply");  // resume afresh
    }
    if (!size_known) {
      *info = {d, BlobInfo::State::kPresent, h.size, h.artifact_class, ""};
      size_known = true;
    }
    if (m.data.empty() && *done < info->size) {
      return Status::Internal("blob service: empty chunk inside " + d.Ref());
    }
    RECOMP_RETURN_IF_ERROR(WriteAll(fd, m.data.data(), m.data.size(), name));
    *done += m.data.size();
    counters->bytes_down += m.data.size();
    hash.Add(std::move(m.data));  // hashed on its own thread while the next chunk arrives
  }
  return Status::Ok();
}

Result<BlobInfo> BlobClient::Download(const Digest& d, int fd, const std::string& name) {
  StreamHasher hash(2 * impl_->opt.window);
  uint64_t done = 0;
  BlobInfo info{d, BlobInfo::State::kMissing, 0, ArtifactClass::kGenerated, ""};
  for (uint32_t attempt = 0;; ++attempt) {
    Status st = impl_->DownloadFrom(d, fd, name, hash, &done, &info);
    if (st.ok()) break;
    if (st.code() != Status::Code::kDeadlineExceeded) return st;
    if (attempt >= impl_->opt.retries) return impl_->Unanswered();
    RECOMP_RETURN_IF_ERROR(impl_->Reconnect());  // resume from `done`
  }
  Digest got = hash.Finish();
  if (got != d) {
    return Status::Corruption("blob " + d.Ref() + " arrived as bytes hashing to " + got.Ref() +
                              "; refused");
  }
  return info;
}

Status BlobClient::Impl::SendChunks(const Hashed& h, const blobproto::PutAnswer& a) {
  RECOMP_ASSIGN_OR_RETURN(Fd fd, OpenForRead(h.file->path));
  uint64_t next = a.offset, acked = a.offset;
  uint32_t inflight = 0;
  std::string buf;
  while (acked < h.item.size) {
    while (inflight < opt.window && next < h.item.size) {
      size_t n = static_cast<size_t>(std::min<uint64_t>(opt.chunk_bytes, h.item.size - next));
      buf.resize(n);
      size_t got = 0;
      while (got < n) {
        ssize_t r = ::pread(fd.get(), buf.data() + got, n - got, static_cast<off_t>(next + got));
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return Status::IOError("reading " + h.file->path + ": it shrank or failed");
        got += static_cast<size_t>(r);
      }
      RECOMP_RETURN_IF_ERROR(
          Send(blobproto::kChunk, blobproto::EncodeChunkHeader({a.upload, next}), buf, true));
      counters->bytes_up += n;
      next += n;
      ++inflight;
    }
    RECOMP_ASSIGN_OR_RETURN(net::Message m, Receive());
    RECOMP_ASSIGN_OR_RETURN(blobproto::ChunkAck ack, blobproto::DecodeChunkAck(m.body));
    --inflight;
    if (ack.upload != a.upload || ack.received <= acked) {
      return Status::Internal("blob service: unexpected chunk acknowledgement");
    }
    acked = ack.received;
  }
  return Status::Ok();
}

Result<std::vector<std::string>> BlobClient::Upload(const std::vector<UploadFile>& files) {
  std::vector<std::string> refs;
  std::vector<Hashed> hashed;  // one per distinct digest
  std::set<Digest> seen;
  for (const UploadFile& f : files) {
    RECOMP_ASSIGN_OR_RETURN(Hashed h, HashFile(f));
    refs.push_back(h.item.digest.Ref());
    if (seen.insert(h.item.digest).second) hashed.push_back(std::move(h));
  }
  // Ask first, so that no byte the store has travels (not even a small blob's).
  std::vector<Digest> digests;
  for (const Hashed& h : hashed) digests.push_back(h.item.digest);
  RECOMP_ASSIGN_OR_RETURN(std::vector<Digest> missing, FindMissing(digests));
  std::set<Digest> lacking(missing.begin(), missing.end());
  std::erase_if(hashed, [&](const Hashed& h) { return lacking.count(h.item.digest) == 0; });
  Status st = impl_->UploadHashed(hashed);
  if (!st.ok()) {
    (void)impl_->Reconnect();  // no late reply of this upload may answer a later request
    return st;
  }
  return refs;
}

Status BlobClient::Impl::UploadHashed(const std::vector<Hashed>& hashed) {
  std::vector<uint64_t> commit;
  for (size_t at = 0; at < hashed.size();) {
    std::vector<blobproto::PutItem> items;
    std::string data;
    size_t end = at;
    for (; end < hashed.size() && items.size() < blobproto::kMaxPutItems; ++end) {
      blobproto::PutItem item = hashed[end].item;
      if (item.inline_bytes && data.size() + item.size > blobproto::kMaxBatchBytes) break;
      if (item.inline_bytes) {
        RECOMP_ASSIGN_OR_RETURN(Fd fd, OpenForRead(hashed[end].file->path));
        std::string bytes(static_cast<size_t>(item.size), '\0');
        RECOMP_ASSIGN_OR_RETURN(
            size_t n, ReadSome(fd.get(), bytes.data(), bytes.size(), hashed[end].file->path));
        if (n != bytes.size()) return Status::IOError(hashed[end].file->path + " shrank");
        data += bytes;
      }
      items.push_back(std::move(item));
    }
    counters->bytes_up += data.size();
    // Not repeated on a timeout: the uploads belong to this connection.
    RECOMP_RETURN_IF_ERROR(
        Send(blobproto::kPut, blobproto::EncodePutItems(items), std::move(data), true));
    RECOMP_ASSIGN_OR_RETURN(net::Message m, Receive());
    RECOMP_ASSIGN_OR_RETURN(auto answers, blobproto::DecodePutAnswers(m.body));
    if (answers.size() != items.size()) return Status::Internal("blob service: PUT reply size");
    for (size_t i = 0; i < answers.size(); ++i) {
      const blobproto::PutAnswer& a = answers[i];
      if (a.state == blobproto::PutAnswer::State::kHave) continue;
      if (a.state == blobproto::PutAnswer::State::kSend) {
        RECOMP_RETURN_IF_ERROR(SendChunks(hashed[at + i], a));
      }
      commit.push_back(a.upload);
    }
    at = end;
  }
  if (commit.empty()) return Status::Ok();
  RECOMP_RETURN_IF_ERROR(Send(blobproto::kCommit, blobproto::EncodeUploadIds(commit), {}, false));
  return Receive().status();
}

Result<blobproto::ListPage> BlobClient::List(const blobproto::ListRequest& q) {
  RECOMP_ASSIGN_OR_RETURN(net::Message m,
                          impl_->Call(blobproto::kList, blobproto::EncodeListRequest(q)));
  return blobproto::DecodeListPage(m.body);
}

Result<std::string> BlobClient::ServiceStats() {
  RECOMP_ASSIGN_OR_RETURN(net::Message m, impl_->Call(blobproto::kStats, proto::EmptyBody()));
  RECOMP_ASSIGN_OR_RETURN(auto j, proto::BodyJson(m.body, "stats"));
  return j.dump();
}

}  // namespace recomp::transfer
