// The broker package's logger ("broker", to stderr; base/log.h). Thread-safe.
#pragma once

#include "base/log.h"

namespace recomp::broker {
inline const PackageLogger Log("broker");
}  // namespace recomp::broker
