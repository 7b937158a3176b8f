// Trees in a sandbox (messages/tree.h): building one from the files of a directory output, and
// expanding a tree input into the file inputs it lists. Stateless functions; thread-safe (each
// call works on its own files).
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "base/digest.h"
#include "base/status.h"
#include "messages/tree.h"
#include "worker/blob_source.h"

namespace recomp::worker {

// A file to place in a sandbox: at `path` relative to in/, with or without exec bits.
struct PlacedFile {
  std::string path;
  Digest digest;
  bool executable = false;
};

// The tree of `files` (path relative to the directory output -> file to read), each hashed
// here (BLAKE2b-256) with its size and exec bit, written canonically to `tree_path`.
// IOError naming the file that could not be read.
Status WriteTreeFile(const std::vector<std::pair<std::string, std::string>>& files,
                     const std::string& tree_path);

// The entries of the tree `digest` as files under `dir` ("in/" path of the tree input, with
// its trailing '/'): the tree blob is materialised at `scratch` (then removed), read (at most
// kMaxTreeBytes) and decoded strictly. NotFound/Corruption from the source; InvalidArgument
// for a malformed tree, naming the input.
Result<std::vector<PlacedFile>> ExpandTree(const std::string& dir, const Digest& digest,
                                           BlobSource& source, const std::string& scratch);

}  // namespace recomp::worker
