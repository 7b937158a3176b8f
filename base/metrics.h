// Metrics: the process's Prometheus registry and its HTTP endpoint (prometheus-cpp's pull
// exposer; the one adapter to prometheus-cpp: its exceptions become Status here). Components
// add their metric families to Registry() and update them from any thread (prometheus-cpp
// metrics are atomic). Thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include "base/status.h"

namespace prometheus {
class Exposer;
}

namespace recomp::metrics {

// The registry every metric of this process lives in (docs/metrics.md lists them).
prometheus::Registry& Registry();

// Families, created on first use by name (the same name twice returns the same family).
prometheus::Family<prometheus::Counter>& CounterFamily(const std::string& name,
                                                       const std::string& help);
prometheus::Family<prometheus::Gauge>& GaugeFamily(const std::string& name,
                                                   const std::string& help);
prometheus::Family<prometheus::Histogram>& HistogramFamily(const std::string& name,
                                                           const std::string& help);
// Buckets for durations in seconds: 1 ms to ~1 h, x4 per bucket.
const prometheus::Histogram::BucketBoundaries& DurationBuckets();

// A metric read from `read` whenever it is scraped (for values another component already keeps
// in atomics); `read` must be thread-safe. Scrapes stop reading it when the handle goes.
enum class Kind { kCounter, kGauge };
class Callback {
 public:
  Callback(std::string name, std::string help, Kind kind, std::function<double()> read);
  ~Callback();
  Callback(const Callback&) = delete;
  Callback& operator=(const Callback&) = delete;

 private:
  uint64_t id_;
};

// Serves Registry() and the callbacks in the Prometheus text format at http://<addr>/metrics.
class Endpoint {
 public:
  // `addr` is "host:port" (port 0 = any free port). Unavailable naming the address when it
  // cannot be bound.
  static Result<std::unique_ptr<Endpoint>> Start(const std::string& addr);
  ~Endpoint();
  // "http://host:port/metrics" with the bound port.
  const std::string& url() const { return url_; }

 private:
  Endpoint() = default;
  std::unique_ptr<prometheus::Exposer> exposer_;
  std::string url_;
};

}  // namespace recomp::metrics
