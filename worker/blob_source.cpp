// OutputMediaType (see blob_source.h).
#include "worker/blob_source.h"

#include <sys/stat.h>

#include "messages/tree.h"

namespace recomp::worker {

std::string OutputMediaType(const std::string& path) {
  size_t slash = path.rfind('/');
  std::string base = slash == std::string::npos ? path : path.substr(slash + 1);
  const bool log = base == "job.log" || base == "job.log.tail";
  const bool tree = base.size() > 10 && base.compare(base.size() - 10, 10, ".tree.json") == 0;
  if (log || tree) {
    std::string dir = slash == std::string::npos ? "." : path.substr(0, slash);
    struct stat st;
    if (::lstat((dir + "/work").c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
      return log ? "text/plain" : std::string(kTreeMediaType);
    }
  }
  return "application/octet-stream";
}

}  // namespace recomp::worker
