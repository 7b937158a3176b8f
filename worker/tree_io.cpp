// Trees in a sandbox (see tree_io.h).
#include "worker/tree_io.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/blake2b.h"
#include "base/posix_file.h"

namespace recomp::worker {
namespace {

// Hashes the file at `path` and reports its size and exec bit.
Status HashFile(const std::string& path, TreeEntry* e) {
  RECOMP_ASSIGN_OR_RETURN(Fd fd, OpenForRead(path));
  RECOMP_ASSIGN_OR_RETURN(struct stat st, StatFd(fd.get(), path));
  e->size = static_cast<uint64_t>(st.st_size);
  e->executable = (st.st_mode & 0111) != 0;
  Blake2b256 h;
  std::string buf(1 << 16, '\0');
  for (;;) {
    RECOMP_ASSIGN_OR_RETURN(size_t n, ReadSome(fd.get(), buf.data(), buf.size(), path));
    if (n == 0) break;
    h.Update(buf.data(), n);
  }
  e->digest = h.Finish();
  return Status::Ok();
}

Result<std::string> ReadSmallFile(const std::string& path, uint64_t limit) {
  RECOMP_ASSIGN_OR_RETURN(Fd fd, OpenForRead(path));
  RECOMP_ASSIGN_OR_RETURN(struct stat st, StatFd(fd.get(), path));
  if (static_cast<uint64_t>(st.st_size) > limit) {
    return Status::ResourceExhausted("'" + path + "' is " + std::to_string(st.st_size) +
                                     " bytes, more than " + std::to_string(limit));
  }
  std::string out(static_cast<size_t>(st.st_size), '\0');
  size_t got = 0;
  while (got < out.size()) {
    RECOMP_ASSIGN_OR_RETURN(size_t n, ReadSome(fd.get(), out.data() + got, out.size() - got, path));
    if (n == 0) break;
    got += n;
  }
  out.resize(got);
  return out;
}

}  // namespace

Status WriteTreeFile(const std::vector<std::pair<std::string, std::string>>& files,
                     const std::string& tree_path) {
  Tree tree;
  tree.entries.reserve(files.size());
  for (const auto& [rel, physical] : files) {
    TreeEntry e;
    e.path = rel;
    RECOMP_RETURN_IF_ERROR(HashFile(physical, &e));
    tree.entries.push_back(std::move(e));
  }
  RECOMP_RETURN_IF_ERROR(ValidateTree(tree));  // sorted: `files` comes from a sorted map
  std::string text = EncodeTree(std::move(tree));
  RECOMP_ASSIGN_OR_RETURN(Fd out, CreateExclusive(tree_path, 0600));
  RECOMP_RETURN_IF_ERROR(WriteAll(out.get(), text.data(), text.size(), tree_path));
  return out.Close(tree_path);
}

Result<std::vector<PlacedFile>> ExpandTree(const std::string& dir, const Digest& digest,
                                           BlobSource& source, const std::string& scratch) {
  const std::string what = "tree input '" + dir + "' (" + digest.Ref() + ")";
  RECOMP_RETURN_IF_ERROR(source.Materialize(digest, scratch, false).WithContext(what));
  Result<std::string> text = ReadSmallFile(scratch, kMaxTreeBytes);
  (void)Unlink(scratch);
  if (!text.ok()) return text.status().WithContext(what);
  Result<Tree> tree = DecodeTree(*text);
  if (!tree.ok()) return tree.status().WithContext(what);
  std::vector<PlacedFile> out;
  out.reserve(tree->entries.size());
  for (TreeEntry& e : tree->entries) {
    out.push_back({dir + e.path, e.digest, e.executable});
  }
  return out;
}

}  // namespace recomp::worker
