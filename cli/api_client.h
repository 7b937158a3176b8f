// ApiClient: a blocking client of the coordinator's API and replay endpoints (docs/protocol.md)
// over a DEALER socket, with a reply deadline; and endpoint discovery from endpoints.json.
// One instance per thread.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>
#include <zmq.hpp>

#include "base/status.h"
#include "net/monitor.h"
#include "net/socket.h"

namespace recomp::cli {

struct Endpoints {
  std::string api, events, replay, workers;
  std::string blobs;       // "" when the coordinator runs no blob service
  std::string server_key;  // the coordinator's CURVE public key; "" = no CURVE
  std::string metrics;     // http://host:port/metrics of the coordinator; "" = not served
};

// Reads DIR/endpoints.json. NotFound (with a hint to start `recomp up`) when absent.
Result<Endpoints> ReadEndpoints(const std::string& data_dir);
// Writes DIR/endpoints.json atomically (temp file + rename).
Status WriteEndpoints(const std::string& data_dir, const Endpoints& e);
// --api wins; else endpoints.json of the data dir.
Result<Endpoints> ResolveEndpoints(const std::string& api_flag, const std::string& data_dir);

class ApiClient {
 public:
  // `curve` (if enabled) is used for every socket: a refused key is PermissionDenied naming it.
  ApiClient(std::string api_endpoint, int timeout_ms, net::CurveClient curve = {});
  // Sends [RCP1, command, body] and waits for the reply body. An ERROR reply becomes its
  // Status; no reply within the timeout is Unavailable naming the endpoint.
  Result<std::string> Call(const std::string& endpoint_kind, const std::string& command,
                           const std::string& body);
  Result<std::string> Api(const std::string& command, const std::string& body) {
    return Call("api", command, body);
  }
  // One REPLAY request to `replay_endpoint`.
  Result<std::string> Replay(const std::string& replay_endpoint, const std::string& body);
  zmq::context_t& context() { return ctx_; }
  const net::CurveClient& curve() const { return curve_; }

 private:
  struct Conn {
    zmq::socket_t socket;
    std::optional<net::SocketMonitor> monitor;  // destroyed before the socket
  };
  Result<std::string> Exchange(Conn& c, const std::string& endpoint, const std::string& command,
                               const std::string& body);
  // The connection in *slot, created and connected to `endpoint` on first use.
  Result<Conn*> Connection(std::unique_ptr<Conn>* slot, const std::string& endpoint,
                           const char* kind);
  zmq::context_t ctx_;
  std::string api_;
  int timeout_ms_;
  net::CurveClient curve_;
  std::unique_ptr<Conn> api_conn_, replay_conn_;
};

}  // namespace recomp::cli
