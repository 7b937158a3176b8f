// The broker package's logger ("broker", to stderr; base/log.h). Thread-safe.
#pragma once

#include <memory>

#include "base/log.h"

namespace recomp::broker {

inline std::shared_ptr<spdlog::logger> Log() {
  static const std::shared_ptr<spdlog::logger> logger = GetLogger("broker");
  return logger;
}

}  // namespace recomp::broker
