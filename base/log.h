// The logger factory: every component logs through a named spdlog logger that writes to stderr,
// created on first use. Thread-safe (spdlog's registry; concurrent first uses get one logger).
#pragma once

#include <memory>
#include <string>

#include <spdlog/spdlog.h>

namespace recomp {

// The logger called `name` ("coordinator", "broker", "worker", "store", ...), created on first
// use with a colour stderr sink. Callers keep the returned pointer (a function-local static).
std::shared_ptr<spdlog::logger> GetLogger(const std::string& name);

}  // namespace recomp
