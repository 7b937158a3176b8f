// The logger factory: every package logs through a named spdlog logger that writes to stderr,
// created on first use. Thread-safe (spdlog's registry; concurrent first uses get one logger).
#pragma once

#include <memory>
#include <mutex>
#include <string>

#include <spdlog/spdlog.h>

namespace recomp {

// The logger called `name` ("coordinator", "broker", "worker", "store", ...), created on first
// use with a colour stderr sink.
std::shared_ptr<spdlog::logger> GetLogger(const std::string& name);

// A package's logger, declared once per package as
//   inline const PackageLogger Log("coordinator");
// and used as Log()->info(...). The logger is looked up once, on first use.
class PackageLogger {
 public:
  explicit PackageLogger(const char* name) : name_(name) {}
  spdlog::logger* operator()() const {
    std::call_once(once_, [this] { logger_ = GetLogger(name_); });
    return logger_.get();
  }

 private:
  const char* name_;
  mutable std::once_flag once_;
  mutable std::shared_ptr<spdlog::logger> logger_;
};

}  // namespace recomp
