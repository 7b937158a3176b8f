// BlobReader (see blob_reader.h).
#include "store/blob_reader.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>

namespace recomp::store {

Status BlobReader::ReadAt(uint64_t offset, size_t n, std::string* out) const {
  if (offset >= size()) return Status::Ok();
  size_t want = static_cast<size_t>(std::min<uint64_t>(n, size() - offset));
  if (inline_bytes_) {
    out->append(*inline_bytes_, static_cast<size_t>(offset), want);
    return Status::Ok();
  }
  size_t start = out->size();
  out->resize(start + want);
  size_t got = 0;
  while (got < want) {
    ssize_t r =
        ::pread(fd_.get(), out->data() + start + got, want - got, static_cast<off_t>(offset + got));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      int err = errno;
      out->resize(start);
      return ErrnoStatus("read", path_, err);
    }
    if (r == 0) {
      out->resize(start);
      return Status::Corruption(record_.ref + ": blob file " + path_ + " is shorter than its " +
                                std::to_string(size()) + " bytes");
    }
    got += static_cast<size_t>(r);
  }
  return Status::Ok();
}

}  // namespace recomp::store
