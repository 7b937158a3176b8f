// Blocking API client; the CLI's cppzmq adapter.
#include "cli/api_client.h"

#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "messages/protocol.h"
#include "net/framing.h"

namespace recomp::cli {

Result<Endpoints> ReadEndpoints(const std::string& data_dir) {
  std::string path = data_dir + "/endpoints.json";
  std::ifstream in(path);
  if (!in) {
    return Status::NotFound("no " + path +
                            ": is the pool running? (start it with `recomp up --data " + data_dir +
                            "`, or pass --api ENDPOINT)");
  }
  std::stringstream ss;
  ss << in.rdbuf();
  nlohmann::json j = nlohmann::json::parse(ss.str(), nullptr, false);
  if (j.is_discarded() || !j.is_object())
    return Status::InvalidArgument(path + ": not a JSON object");
  Endpoints e;
  for (auto [key, field] : {std::pair{"api", &e.api}, std::pair{"events", &e.events},
                            std::pair{"replay", &e.replay}, std::pair{"workers", &e.workers}}) {
    if (!j.contains(key) || !j[key].is_string()) {
      return Status::InvalidArgument(path + ": missing string field '" + key + "'");
    }
    *field = j[key].get<std::string>();
  }
  for (auto [key, field] : {std::pair{"blobs", &e.blobs}, std::pair{"server_key", &e.server_key},
                            std::pair{"metrics", &e.metrics}}) {
    if (j.contains(key) && j[key].is_string()) *field = j[key].get<std::string>();
  }
  return e;
}

Status WriteEndpoints(const std::string& data_dir, const Endpoints& e) {
  nlohmann::json j = {{"api", e.api},
                      {"events", e.events},
                      {"replay", e.replay},
                      {"workers", e.workers},
                      {"blobs", e.blobs}};
  if (!e.server_key.empty()) j["server_key"] = e.server_key;
  if (!e.metrics.empty()) j["metrics"] = e.metrics;
  std::string path = data_dir + "/endpoints.json";
  std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << j.dump(2) << "\n";
    if (!out.flush()) return Status::IOError("cannot write " + tmp);
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0)
    return Status::IOError("cannot rename " + tmp + " to " + path);
  return Status::Ok();
}

Result<Endpoints> ResolveEndpoints(const std::string& api_flag, const std::string& data_dir) {
  auto e = ReadEndpoints(data_dir);
  if (!api_flag.empty()) {
    Endpoints out = e.ok() ? *e : Endpoints{};
    out.api = api_flag;
    return out;
  }
  return e;
}

ApiClient::ApiClient(std::string api_endpoint, int timeout_ms, net::CurveClient curve)
    : ctx_(1), api_(std::move(api_endpoint)), timeout_ms_(timeout_ms), curve_(std::move(curve)) {}

Result<std::string> ApiClient::Exchange(Conn& c, const std::string& endpoint,
                                        const std::string& command, const std::string& body) {
  zmq::socket_t& s = c.socket;
  std::string err;
  net::SendResult sent = net::Send(s, net::Frames(proto::kTag, command, body), &err);
  if (sent != net::SendResult::kOk) {
    return Status::Unavailable("talking to " + endpoint + ": " + std::string(net::ToString(sent)) +
                               (err.empty() ? "" : ": " + err));
  }
  // The monitor is polled too: a refused key is reported at once, not as a timeout.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms_);
  zmq::pollitem_t items[] = {{s.handle(), 0, ZMQ_POLLIN, 0},
                             {c.monitor ? c.monitor->handle() : nullptr, 0, ZMQ_POLLIN, 0}};
  zmq::pollitem_t& item = items[0];
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() < 0) break;
    RECOMP_RETURN_IF_ERROR(net::Poll(items, c.monitor ? 2 : 1, left));
    if (item.revents & ZMQ_POLLIN) break;
    if (!(items[1].revents & ZMQ_POLLIN)) continue;
    for (const net::SocketEvent& e : c.monitor->Drain()) {
      if (e.kind != net::SocketEvent::Kind::kHandshakeFailed) continue;
      std::string why = net::HandshakeFailure(e, curve_.public_key);
      if (net::IsKeyRefused(e)) return Status::PermissionDenied(why);
      return Status::Unavailable(why);
    }
  }
  if (!(item.revents & ZMQ_POLLIN)) {
    return Status::Unavailable("no reply from the coordinator at " + endpoint + " within " +
                               std::to_string(timeout_ms_) + " ms (is `recomp up` running?)");
  }
  net::Received m;
  RECOMP_ASSIGN_OR_RETURN(bool got, net::Receive(s, &m));
  if (!got) return Status::Internal("talking to " + endpoint + ": reply vanished");
  RECOMP_ASSIGN_OR_RETURN(net::Message reply, net::Parse(proto::kTag, m));
  if (reply.command == proto::kError) return proto::DecodeError(reply.body);
  if (reply.command != proto::kOk) return Status::Internal("unexpected reply " + reply.command);
  return reply.body;
}

Result<ApiClient::Conn*> ApiClient::Connection(std::unique_ptr<Conn>* slot,
                                               const std::string& endpoint, const char* kind) {
  if (!*slot) {
    net::SocketOptions o;
    o.curve_client = curve_;
    RECOMP_ASSIGN_OR_RETURN(zmq::socket_t s, net::MakeSocket(ctx_, zmq::socket_type::dealer, o));
    auto conn = std::make_unique<Conn>(Conn{std::move(s), std::nullopt});
    if (curve_.enabled()) {
      // Only a CURVE handshake can be refused; a plain client needs no monitor.
      RECOMP_ASSIGN_OR_RETURN(net::SocketMonitor m, net::SocketMonitor::Start(ctx_, conn->socket));
      conn->monitor.emplace(std::move(m));
    }
    RECOMP_RETURN_IF_ERROR(net::Connect(conn->socket, endpoint, kind));
    *slot = std::move(conn);
  }
  return slot->get();
}

Result<std::string> ApiClient::Call(const std::string& kind, const std::string& command,
                                    const std::string& body) {
  RECOMP_ASSIGN_OR_RETURN(Conn * c, Connection(&api_conn_, api_, kind.c_str()));
  return Exchange(*c, api_, command, body);
}

Result<std::string> ApiClient::Replay(const std::string& replay_endpoint, const std::string& body) {
  RECOMP_ASSIGN_OR_RETURN(Conn * c, Connection(&replay_conn_, replay_endpoint, "replay"));
  return Exchange(*c, replay_endpoint, std::string(proto::kReplay), body);
}

}  // namespace recomp::cli
