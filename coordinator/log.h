// The coordinator package's logger ("coordinator", to stderr; base/log.h). Thread-safe.
#pragma once

#include "base/log.h"

namespace recomp::coordinator {
inline const PackageLogger Log("coordinator");
}  // namespace recomp::coordinator
