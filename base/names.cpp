// ValidateSafeName (see names.h).
#include "base/names.h"

#include <cctype>
#include <string>

namespace recomp {

Status ValidateSafeName(std::string_view name, size_t max_len, std::string_view what) {
  bool ok = !name.empty() && name.size() <= max_len && name[0] != '.';
  for (char c : name) {
    ok = ok && (std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-');
  }
  if (ok) return Status::Ok();
  return Status::InvalidArgument(std::string(what) + " '" + std::string(name.substr(0, max_len)) +
                                 "' is not 1-" + std::to_string(max_len) +
                                 " of [A-Za-z0-9._-] starting with no '.'");
}

}  // namespace recomp
