// The coordinator package's logger ("coordinator", to stderr; base/log.h). Thread-safe.
#pragma once

#include <memory>

#include "base/log.h"

namespace recomp::coordinator {

inline std::shared_ptr<spdlog::logger> Log() {
  static const std::shared_ptr<spdlog::logger> logger = GetLogger("coordinator");
  return logger;
}

}  // namespace recomp::coordinator
