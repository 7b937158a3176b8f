// Logger factory (see log.h).
#include "base/log.h"

#include <spdlog/sinks/stdout_color_sinks.h>

namespace recomp {

std::shared_ptr<spdlog::logger> GetLogger(const std::string& name) {
  if (auto existing = spdlog::get(name)) return existing;
  try {
    return spdlog::stderr_color_mt(name);
  } catch (const spdlog::spdlog_ex&) {  // registered meanwhile by another thread
    return spdlog::get(name);
  }
}

}  // namespace recomp
