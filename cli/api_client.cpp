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
  if (j.contains("blobs") && j["blobs"].is_string()) e.blobs = j["blobs"].get<std::string>();
  return e;
}

Status WriteEndpoints(const std::string& data_dir, const Endpoints& e) {
  nlohmann::json j = {{"api", e.api},
                      {"events", e.events},
                      {"replay", e.replay},
                      {"workers", e.workers},
                      {"blobs", e.blobs}};
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

ApiClient::ApiClient(std::string api_endpoint, int timeout_ms)
    : ctx_(1), api_(std::move(api_endpoint)), timeout_ms_(timeout_ms) {}

Result<std::string> ApiClient::Exchange(zmq::socket_t& s, const std::string& endpoint,
                                        const std::string& command, const std::string& body) {
  std::string err;
  net::SendResult sent = net::Send(s, net::Frames(proto::kTag, command, body), &err);
  if (sent != net::SendResult::kOk) {
    return Status::Unavailable("talking to " + endpoint + ": " + std::string(net::ToString(sent)) +
                               (err.empty() ? "" : ": " + err));
  }
  zmq::pollitem_t item{s.handle(), 0, ZMQ_POLLIN, 0};
  RECOMP_RETURN_IF_ERROR(net::Poll(&item, 1, std::chrono::milliseconds(timeout_ms_)));
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

Result<zmq::socket_t*> ApiClient::Socket(std::unique_ptr<zmq::socket_t>* slot,
                                         const std::string& endpoint, const char* kind) {
  if (!*slot) {
    RECOMP_ASSIGN_OR_RETURN(zmq::socket_t s, net::MakeSocket(ctx_, zmq::socket_type::dealer));
    RECOMP_RETURN_IF_ERROR(net::Connect(s, endpoint, kind));
    *slot = std::make_unique<zmq::socket_t>(std::move(s));
  }
  return slot->get();
}

Result<std::string> ApiClient::Call(const std::string& kind, const std::string& command,
                                    const std::string& body) {
  RECOMP_ASSIGN_OR_RETURN(zmq::socket_t * s, Socket(&api_sock_, api_, kind.c_str()));
  return Exchange(*s, api_, command, body);
}

Result<std::string> ApiClient::Replay(const std::string& replay_endpoint, const std::string& body) {
  RECOMP_ASSIGN_OR_RETURN(zmq::socket_t * s, Socket(&replay_sock_, replay_endpoint, "replay"));
  return Exchange(*s, replay_endpoint, std::string(proto::kReplay), body);
}

}  // namespace recomp::cli
