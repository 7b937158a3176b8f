// The coordinator component's spdlog logger ("coordinator", to stderr). Created on first use;
// thread-safe (spdlog's registry).
#pragma once

#include <memory>

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

namespace recomp::coordinator {

inline std::shared_ptr<spdlog::logger> Log() {
  static std::shared_ptr<spdlog::logger> log = [] {
    if (auto existing = spdlog::get("coordinator")) return existing;
    try {
      return spdlog::stderr_color_mt("coordinator");
    } catch (const spdlog::spdlog_ex&) {  // registered meanwhile by another thread
      return spdlog::get("coordinator");
    }
  }();
  return log;
}

}  // namespace recomp::coordinator
