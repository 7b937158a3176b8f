// JobSandbox: one job attempt's private directory: inputs materialised read-only from a
// BlobSource, declared outputs validated and stored through a BlobSink, the whole tree removed
// on destruction. The contract is in docs/worker-sandbox.md. Thread-compatible.
#pragma once

#include <sys/stat.h>

#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "messages/artifact_ref.h"
#include "messages/codec.h"
#include "worker/blob_source.h"
#include "worker/sandbox_tree.h"  // RemoveTree, for callers that clean up sandboxes
#include "worker/tree_io.h"

namespace recomp::worker {

struct SandboxLimits {
  uint64_t max_inputs = wire::kMaxList;     // what one job message can carry
  uint64_t max_output_files = 100000;       // regular files over all declared outputs
  uint64_t max_output_bytes = 16ull << 30;  // sum of their sizes
  uint64_t max_log_bytes = 64ull << 20;     // a longer log is stored as its last bytes
};

struct SandboxInput {
  // Relative to in/ (e.g. "rom.z64", "syms/game.toml"); with a trailing '/' ("lift/0/out/")
  // a directory: `digest` is then a tree's (messages/tree.h), materialised as its entries.
  std::string path;
  Digest digest;
};

struct SandboxOutput {
  std::string path;  // a declared output, relative to the working dir ("out.bin", "gen/")
  std::string ref;   // "artifact://<hex>": the file's, or for a directory ("gen/") its tree's
  bool operator==(const SandboxOutput&) const = default;
};

struct CollectedOutputs {
  std::vector<SandboxOutput> files;  // one per declared output, sorted by path
  std::string log_ref;               // "" when the job wrote nothing (an empty log is not stored)
};

// Removes the sandbox directories under `root` whose worker process no longer exists (left by
// a worker that was killed): their names end in ".<pid>.<12 hex>". Returns how many.
Result<size_t> ReclaimDeadSandboxes(const std::string& root);

class JobSandbox {
 public:
  // Creates <root>/<job_id>.<attempt>.<pid>.<random>/ (mode 0700) with work/, work/in/ and an empty
  // job.log; creates `root` if missing. job_id: 1-128 of [A-Za-z0-9._-], not starting with '.'.
  static Result<std::unique_ptr<JobSandbox>> Create(const std::string& root,
                                                    std::string_view job_id, uint32_t attempt,
                                                    SandboxLimits limits = {});
  // Removes the directory (see Remove); failures are logged.
  ~JobSandbox();
  JobSandbox(const JobSandbox&) = delete;
  JobSandbox& operator=(const JobSandbox&) = delete;

  const std::string& dir() const { return dir_; }
  const std::string& work_dir() const { return work_dir_; }  // the job's cwd
  std::string input_dir() const { return work_dir_ + "/in"; }
  const std::string& log_path() const { return log_path_; }  // outside work/: ProcessSpec::log_path

  // Expands every tree input into its entries, then validates every path (ValidateRelativePath
  // of messages/stage_job.h, no duplicates, no path both a file and a directory, count <=
  // max_inputs) and creates nothing if one is bad. Then materialises each as in/<path> with no
  // write bits (and the exec bits its tree gave it), and makes in/ and its subdirectories
  // read-only. Call once, before the job runs (also with no inputs): a sandbox made
  // from a recycled tree may hold empty directories of an earlier job until this call prunes them.
  Status MaterializeInputs(const std::vector<SandboxInput>& inputs, BlobSource& source);

  // OK when every materialised input is still the file we created, unwritten (same inode, size
  // and mtime). Inputs may be hard links to the store's copies, so a job that chmods and writes
  // one may have corrupted the store: the message names the input and its ref. Detects
  // accidents, not a job that restores mtime on purpose. CollectOutputs calls it first.
  Status CheckInputsUnchanged() const;

  // Call after the job's process group is dead. Resolves each declared output (relative to the
  // work dir; a trailing '/' declares a directory: every regular file under it, recursively);
  // fails naming the path when one is missing, of the wrong type, escapes the work dir ("..",
  // absolute, a symlink resolving outside, anywhere inside a declared dir), or the limits are
  // exceeded. A directory output is stored as its files plus one tree listing them
  // (messages/tree.h), and named by the tree's ref. Then stores the outputs and the log (unless
  // empty) in ONE PutFiles call; with no outputs and an empty log, PutFiles is not called.
  Result<CollectedOutputs> CollectOutputs(const std::vector<std::string>& outputs, BlobSink& sink,
                                          const std::string& producer);

  // Stores only the log (e.g. after a failed job or a failed CollectOutputs); "" when it is
  // empty (nothing stored).
  Result<std::string> StoreLog(BlobSink& sink, const std::string& producer);

  // Removes the sandbox tree now (idempotent). A job left running in it is the caller's bug.
  Status Remove();

 private:
  struct Gathered;
  struct InputStamp {
    std::string path;
    Digest digest;
    struct stat st;
  };
  JobSandbox(std::string dir, SandboxLimits limits);

  Status GatherOutput(const std::string& declared, Gathered* g) const;
  Status GatherDir(const std::string& rel, const std::string& physical, Gathered* g) const;
  Status AddFile(const std::string& rel, const std::string& physical, uint64_t size,
                 Gathered* g) const;
  Result<std::string> ResolveInside(const std::string& rel) const;
  Result<std::string> LogForStorage();  // the file to store, "" for an empty log
  // The inputs with every tree input replaced by its entries.
  Result<std::vector<PlacedFile>> ExpandInputs(const std::vector<SandboxInput>& inputs,
                                               BlobSource& source) const;

  std::string dir_;
  std::string work_dir_;
  std::string work_real_;  // realpath of work_dir_, for containment checks
  std::string log_path_;
  SandboxLimits limits_;
  std::shared_ptr<DirRecycler> recycler_;  // directories come from and go back to it
  std::vector<InputStamp> stamps_;         // one per materialised input
  // Directories relative to dir_: those this sandbox uses ("work", "work/in", input subdirs),
  // kept as one spare tree on removal; and those a recycled tree brought that it has not
  // claimed yet (MaterializeInputs prunes the rest).
  std::set<std::string> skeleton_;
  std::set<std::string> reused_;
  bool removed_ = false;
};

}  // namespace recomp::worker
