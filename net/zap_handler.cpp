// The ZAP responder (see zap_handler.h). RFC 27: a request is
// [version "1.0", request id, domain, address, routing id, mechanism, credentials...], a reply
// [version, request id, status code, status text, user id, metadata].
#include "net/zap_handler.h"

#include <chrono>
#include <vector>

#include "net/curve_keys.h"
#include "net/socket.h"

namespace recomp::net {
namespace {

constexpr std::chrono::milliseconds kStopCheck{100};  // how often the thread looks at Stop()

std::vector<std::string> ReplyFrames(const std::string& request_id, const ZapDecision& d) {
  return {"1.0",
          request_id,
          d.allow ? "200" : "400",
          d.allow ? "OK" : d.reason.substr(0, 200),
          d.allow ? d.user_id : "",
          ""};
}

}  // namespace

Result<std::unique_ptr<ZapHandler>> ZapHandler::Start(zmq::context_t& ctx, Decide decide) {
  SocketOptions o;
  o.max_frame_bytes = 4096;  // requests are a few short frames
  RECOMP_ASSIGN_OR_RETURN(zmq::socket_t s, MakeSocket(ctx, zmq::socket_type::rep, o));
  RECOMP_RETURN_IF_ERROR(Bind(s, kZapEndpoint, "ZAP handler").status());
  // The socket moves to the handler's thread; std::thread's start is the full barrier libzmq
  // asks for when a socket changes threads.
  std::unique_ptr<ZapHandler> h(new ZapHandler(std::move(s), std::move(decide)));
  h->thread_ = std::thread([raw = h.get()] { raw->Serve(); });
  return h;
}

ZapHandler::ZapHandler(zmq::socket_t socket, Decide decide)
    : socket_(std::move(socket)), decide_(std::move(decide)) {}

ZapHandler::~ZapHandler() {
  Stop();
}

void ZapHandler::Stop() {
  stop_.store(true);
  if (thread_.joinable()) thread_.join();
}

bool ZapHandler::Answer(const std::vector<std::string>& f) {
  // A REP socket must answer every request it read, well-formed or not.
  ZapDecision d;
  const bool ok = f.size() >= 6 && f[0] == "1.0";
  const std::string request_id = f.size() >= 2 ? f[1] : "";
  if (!ok) {
    d.reason = "malformed ZAP request";
  } else if (f[5] != "CURVE" || f.size() != 7 || f[6].size() != 32) {
    d.reason = "only CURVE clients are accepted";
  } else if (auto key = KeyToZ85(f[6]); !key.ok()) {
    d.reason = "bad client key";
  } else {
    d = decide_(ZapRequest{f[2], f[3], *key});
  }
  if (d.allow && d.user_id.empty()) d = ZapDecision{false, "", "no identity for this key"};
  (d.allow ? stats_.allowed : stats_.refused).fetch_add(1);  // counted before the client hears
  (void)Send(socket_, ReplyFrames(request_id, d));           // inproc REP: cannot block
  return ok;
}

void ZapHandler::Serve() {
  Received m;
  while (!stop_.load()) {
    zmq::pollitem_t item{socket_.handle(), 0, ZMQ_POLLIN, 0};
    if (!Poll(&item, 1, kStopCheck).ok()) continue;  // EINTR
    if (!(item.revents & ZMQ_POLLIN)) continue;
    auto got = Receive(socket_, &m);
    if (!got.ok()) break;  // the context is terminating
    if (!*got) continue;
    if (!Answer(m.frames)) stats_.malformed.fetch_add(1);
  }
  socket_.close();  // from now on handshakes find no handler and are refused
}

}  // namespace recomp::net
