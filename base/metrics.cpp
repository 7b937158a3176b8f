// The prometheus-cpp adapter.
#include "base/metrics.h"

#include <prometheus/collectable.h>
#include <prometheus/exposer.h>
#include <prometheus/metric_family.h>

#include <exception>
#include <map>
#include <mutex>

namespace recomp::metrics {
namespace {

std::shared_ptr<prometheus::Registry>& SharedRegistry() {
  static auto* r = new std::shared_ptr<prometheus::Registry>(
      std::make_shared<prometheus::Registry>());  // never destroyed: used until exit
  return *r;
}

template <typename T, typename Builder>
prometheus::Family<T>& FamilyOf(const std::string& name, const std::string& help, Builder builder) {
  static std::mutex mu;
  static auto* families = new std::map<std::string, prometheus::Family<T>*>();
  std::lock_guard<std::mutex> l(mu);
  auto it = families->find(name);
  if (it != families->end()) return *it->second;
  prometheus::Family<T>& f = builder().Name(name).Help(help).Register(Registry());
  families->emplace(name, &f);
  return f;
}

// The callbacks, as one collectable registered next to the registry.
class Callbacks : public prometheus::Collectable {
 public:
  struct Entry {
    std::string name, help;
    Kind kind;
    std::function<double()> read;
  };
  uint64_t Add(Entry e) {
    std::lock_guard<std::mutex> l(mu_);
    entries_.emplace(++next_, std::move(e));
    return next_;
  }
  void Remove(uint64_t id) {
    std::lock_guard<std::mutex> l(mu_);
    entries_.erase(id);
  }
  std::vector<prometheus::MetricFamily> Collect() const override {
    std::lock_guard<std::mutex> l(mu_);
    std::vector<prometheus::MetricFamily> out;
    for (const auto& [id, e] : entries_) {
      prometheus::MetricFamily f;
      f.name = e.name;
      f.help = e.help;
      prometheus::ClientMetric m;
      if (e.kind == Kind::kCounter) {
        f.type = prometheus::MetricType::Counter;
        m.counter.value = e.read();
      } else {
        f.type = prometheus::MetricType::Gauge;
        m.gauge.value = e.read();
      }
      f.metric.push_back(std::move(m));
      out.push_back(std::move(f));
    }
    return out;
  }

 private:
  mutable std::mutex mu_;
  std::map<uint64_t, Entry> entries_;
  uint64_t next_ = 0;
};

std::shared_ptr<Callbacks>& SharedCallbacks() {
  static auto* c = new std::shared_ptr<Callbacks>(std::make_shared<Callbacks>());
  return *c;
}

}  // namespace

Callback::Callback(std::string name, std::string help, Kind kind, std::function<double()> read)
    : id_(SharedCallbacks()->Add({std::move(name), std::move(help), kind, std::move(read)})) {}

Callback::~Callback() {
  SharedCallbacks()->Remove(id_);
}

prometheus::Registry& Registry() {
  return *SharedRegistry();
}

prometheus::Family<prometheus::Counter>& CounterFamily(const std::string& name,
                                                       const std::string& help) {
  return FamilyOf<prometheus::Counter>(name, help, [] { return prometheus::BuildCounter(); });
}

prometheus::Family<prometheus::Gauge>& GaugeFamily(const std::string& name,
                                                   const std::string& help) {
  return FamilyOf<prometheus::Gauge>(name, help, [] { return prometheus::BuildGauge(); });
}

prometheus::Family<prometheus::Histogram>& HistogramFamily(const std::string& name,
                                                           const std::string& help) {
  return FamilyOf<prometheus::Histogram>(name, help, [] { return prometheus::BuildHistogram(); });
}

const prometheus::Histogram::BucketBoundaries& DurationBuckets() {
  static const prometheus::Histogram::BucketBoundaries b = {
      0.001, 0.004, 0.016, 0.064, 0.256, 1.024, 4.096, 16.384, 65.536, 262.144, 1048.576, 4194.304};
  return b;
}

Result<std::unique_ptr<Endpoint>> Endpoint::Start(const std::string& addr) {
  auto host_end = addr.rfind(':');
  if (host_end == std::string::npos || host_end == 0 || host_end + 1 == addr.size())
    return Status::InvalidArgument("metrics address '" + addr + "': expected HOST:PORT");
  std::unique_ptr<Endpoint> e(new Endpoint());
  try {
    e->exposer_ = std::make_unique<prometheus::Exposer>(addr, 2);
    e->exposer_->RegisterCollectable(SharedRegistry());
    e->exposer_->RegisterCollectable(SharedCallbacks());
    std::vector<int> ports = e->exposer_->GetListeningPorts();
    if (ports.empty()) return Status::Unavailable("metrics: nothing listening on " + addr);
    e->url_ =
        "http://" + addr.substr(0, host_end) + ":" + std::to_string(ports.front()) + "/metrics";
  } catch (const std::exception& ex) {
    return Status::Unavailable("metrics: cannot serve on " + addr + ": " + ex.what());
  }
  return e;
}

Endpoint::~Endpoint() = default;

}  // namespace recomp::metrics
