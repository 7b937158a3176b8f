// Test helper for the net suites: waiting on a SocketMonitor with a deadline (never a sleep).
#pragma once

#include <doctest/doctest.h>

#include <chrono>

#include "net/monitor.h"
#include "net/socket.h"

namespace recomp::net::testing {

// Drains `mon` until an event `pred` accepts arrives (true) or `limit` passes (false); every
// event is logged, and passed to `seen` (if given).
template <typename Pred, typename Seen>
bool WaitEvent(SocketMonitor& mon, Pred pred, std::chrono::milliseconds limit, Seen seen) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    zmq::pollitem_t item{mon.handle(), 0, ZMQ_POLLIN, 0};
    REQUIRE(Poll(&item, 1, std::chrono::milliseconds(50)).ok());
    for (const SocketEvent& e : mon.Drain()) {
      MESSAGE(Describe(e));
      seen(e);
      if (pred(e)) return true;
    }
  }
  return false;
}

template <typename Pred>
bool WaitEvent(SocketMonitor& mon, Pred pred, std::chrono::milliseconds limit) {
  return WaitEvent(mon, pred, limit, [](const SocketEvent&) {});
}

}  // namespace recomp::net::testing
