// The one rule for names that become file names or identities (job ids in sandbox paths, key
// names, allowlist names): 1-max of [A-Za-z0-9._-], not starting with '.', so a name is never
// a path, never hidden, never "." or "..". Pure; thread-safe.
#pragma once

#include <cstddef>
#include <string_view>

#include "base/status.h"

namespace recomp {

// OK when `name` follows the rule with at most `max_len` bytes; else InvalidArgument naming
// `what` ("job id", "key name") and quoting the name (cut to max_len).
Status ValidateSafeName(std::string_view name, size_t max_len, std::string_view what);

}  // namespace recomp
