// JobSandbox (see job_sandbox.h and docs/worker-sandbox.md).
#include "worker/job_sandbox.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <spdlog/spdlog.h>
#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <map>
#include <set>

#include "base/names.h"
#include "base/posix_file.h"
#include "messages/stage_job.h"
#include "messages/tree.h"
#include "worker/dir_recycler.h"
#include "worker/process_runner.h"

namespace recomp::worker {

struct JobSandbox::Gathered {
  std::map<std::string, std::string> files;  // relative name -> physical path to read
  uint64_t bytes = 0;
};

namespace {

constexpr mode_t kWriteBits = S_IWUSR | S_IWGRP | S_IWOTH;

std::string Quote(std::string_view s) {
  return "'" + std::string(s) + "'";
}

Status ValidateJobId(std::string_view id) {
  return ValidateSafeName(id, 128, "job id");
}

Result<struct stat> Lstat(const std::string& path) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) return ErrnoStatus("lstat", path, errno);
  return st;
}

// Validates all input paths; on OK *by_path maps each path to its input (sorted).
Status ValidateInputs(const std::vector<PlacedFile>& inputs, uint64_t max_inputs,
                      std::map<std::string, const PlacedFile*>* by_path) {
  if (inputs.size() > max_inputs) {
    return Status::ResourceExhausted(std::to_string(inputs.size()) +
                                     " inputs exceed the limit of " + std::to_string(max_inputs));
  }
  for (const PlacedFile& in : inputs) {
    RECOMP_RETURN_IF_ERROR(
        ValidateRelativePath(in.path, "input path " + Quote(in.path.substr(0, 256)), false));
    if (!by_path->emplace(in.path, &in).second) {
      return Status::InvalidArgument("input path " + Quote(in.path) + " is listed twice");
    }
  }
  for (const auto& [path, in] : *by_path) {  // "a" and "a/b": a file cannot also be a directory
    auto next = by_path->lower_bound(path + "/");
    if (next != by_path->end() && next->first.compare(0, path.size() + 1, path + "/") == 0) {
      return Status::InvalidArgument("input path " + Quote(path) +
                                     " is both a file and a directory (see " + Quote(next->first) +
                                     ")");
    }
  }
  return Status::Ok();
}

// 12 hex digits, distinct within this process, with no system call (UniqueBits).
// ReclaimDeadSandboxes reads the pid in front of them.
std::string SandboxSuffix() {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%012llx",
                static_cast<unsigned long long>(UniqueBits() & 0xffffffffffffull));
  return buf;
}

}  // namespace

JobSandbox::JobSandbox(std::string dir, SandboxLimits limits)
    : dir_(std::move(dir)),
      work_dir_(dir_ + "/work"),
      log_path_(dir_ + "/job.log"),
      limits_(limits) {}

Result<std::unique_ptr<JobSandbox>> JobSandbox::Create(const std::string& root,
                                                       std::string_view job_id, uint32_t attempt,
                                                       SandboxLimits limits) {
  RECOMP_RETURN_IF_ERROR(ValidateJobId(job_id));
  if (root.empty()) return Status::InvalidArgument("sandbox root is empty");
  auto recycler = DirRecycler::ForRoot(root);
  if (!recycler.ok() && recycler.status().code() == Status::Code::kNotFound) {
    RECOMP_RETURN_IF_ERROR(MakeDirs(root, 0700));  // usually there already
    recycler = DirRecycler::ForRoot(root);
  }
  if (!recycler.ok()) return recycler.status().WithContext("sandbox root");
  std::string dir;
  std::vector<std::string> reused;  // the empty directories a recycled tree came with
  for (int tries = 0; dir.empty(); ++tries) {
    std::string candidate = root + "/" + std::string(job_id) + "." + std::to_string(attempt) + "." +
                            std::to_string(ProcessId()) + "." + SandboxSuffix();
    Result<std::vector<std::string>> made = (*recycler)->MakeTree(candidate, 0700);
    if (made.ok()) {
      dir = candidate;
      reused = std::move(made).value();
    } else if (made.status().code() != Status::Code::kAlreadyExists || tries >= 16) {
      return made.status().WithContext("sandbox");
    }
  }
  std::unique_ptr<JobSandbox> sandbox(new JobSandbox(dir, limits));  // removes `dir` from now on
  sandbox->recycler_ = *recycler;
  sandbox->reused_.insert(reused.begin(), reused.end());
  for (const char* rel : {"work", "work/in"}) {
    if (sandbox->reused_.count(rel) == 0)
      RECOMP_RETURN_IF_ERROR(sandbox->recycler_->Make(dir + "/" + rel, 0700));
    sandbox->skeleton_.insert(rel);
  }
  RECOMP_ASSIGN_OR_RETURN(Fd log, CreateExclusive(sandbox->log_path_, 0600));
  // Every directory below the root was made here (no symlinks): only the root needs resolving.
  sandbox->work_real_ = (*recycler)->root_real() + dir.substr(root.size()) + "/work";
  WorkerLog()->debug("sandbox {} created", dir);
  return sandbox;
}

JobSandbox::~JobSandbox() {
  Status st = Remove();
  if (!st.ok()) WorkerLog()->error("removing sandbox {}: {}", dir_, st.ToString());
}

Status JobSandbox::Remove() {
  if (removed_) return Status::Ok();
  Status st = recycler_ ? RecycleTree(dir_, skeleton_, recycler_.get()) : RemoveTree(dir_);
  if (st.ok() || st.code() == Status::Code::kNotFound) {
    removed_ = true;
    return Status::Ok();
  }
  return st;
}

Result<std::vector<PlacedFile>> JobSandbox::ExpandInputs(const std::vector<SandboxInput>& inputs,
                                                         BlobSource& source) const {
  std::vector<PlacedFile> files;
  files.reserve(inputs.size());
  for (const SandboxInput& in : inputs) {
    if (!IsTreePath(in.path)) {
      files.push_back({in.path, in.digest, false});
      continue;
    }
    RECOMP_RETURN_IF_ERROR(ValidateRelativePath(
        in.path, "input path " + Quote(in.path.substr(0, 256)), /*allow_dir_slash=*/true));
    RECOMP_ASSIGN_OR_RETURN(auto entries,
                            ExpandTree(in.path, in.digest, source, dir_ + "/tree-input"));
    if (files.size() + entries.size() > limits_.max_inputs) {
      return Status::ResourceExhausted("inputs with tree " + Quote(in.path) +
                                       " exceed the limit of " +
                                       std::to_string(limits_.max_inputs) + " files");
    }
    files.insert(files.end(), std::make_move_iterator(entries.begin()),
                 std::make_move_iterator(entries.end()));
  }
  return files;
}

Status JobSandbox::MaterializeInputs(const std::vector<SandboxInput>& inputs, BlobSource& source) {
  RECOMP_ASSIGN_OR_RETURN(std::vector<PlacedFile> files, ExpandInputs(inputs, source));
  std::map<std::string, const PlacedFile*> by_path;
  RECOMP_RETURN_IF_ERROR(ValidateInputs(files, limits_.max_inputs, &by_path));
  std::vector<Digest> digests;
  digests.reserve(by_path.size());
  for (const auto& entry : by_path) digests.push_back(entry.second->digest);
  source.Prefetch(digests);
  std::set<std::string> dirs = {input_dir()};
  for (const auto& [path, in] : by_path) {
    for (size_t slash = path.find('/'); slash != std::string::npos;
         slash = path.find('/', slash + 1)) {
      std::string rel = "work/in/" + path.substr(0, slash);
      std::string sub = dir_ + "/" + rel;
      if (dirs.insert(sub).second) {
        if (reused_.count(rel) == 0) RECOMP_RETURN_IF_ERROR(recycler_->Make(sub, 0700));
        skeleton_.insert(rel);
      }
    }
    std::string dest = input_dir() + "/" + path;
    Status st = source.Materialize(in->digest, dest, in->executable);
    if (!st.ok()) return st.WithContext("input " + Quote(path) + " (" + in->digest.Ref() + ")");
    RECOMP_ASSIGN_OR_RETURN(struct stat info, Lstat(dest));
    if (!S_ISREG(info.st_mode)) {
      return Status::Internal("blob source made input " + Quote(path) + " a non-regular file");
    }
    if ((info.st_mode & kWriteBits) != 0 &&
        ::chmod(dest.c_str(), info.st_mode & ~kWriteBits & 07777) != 0) {
      return ErrnoStatus("chmod a-w", dest, errno);
    }
    stamps_.push_back({path, in->digest, info});
  }
  // The recycled tree's directories this job does not use go before it can see them
  // (children first: they sort after their parents).
  for (auto it = reused_.rbegin(); it != reused_.rend(); ++it) {
    if (skeleton_.count(*it) != 0) continue;
    std::string path = dir_ + "/" + *it;
    RECOMP_RETURN_IF_ERROR(recycler_->Retire(AT_FDCWD, path, path));
  }
  reused_.clear();
  for (auto it = dirs.rbegin(); it != dirs.rend(); ++it) {
    if (::chmod(it->c_str(), 0555) != 0) return ErrnoStatus("chmod 0555", *it, errno);
  }
  return Status::Ok();
}

Status JobSandbox::CheckInputsUnchanged() const {
  for (const InputStamp& stamp : stamps_) {
    struct stat now;
    std::string path = input_dir() + "/" + stamp.path;
    if (::lstat(path.c_str(), &now) != 0 || !S_ISREG(now.st_mode) ||
        now.st_dev != stamp.st.st_dev || now.st_ino != stamp.st.st_ino ||
        now.st_size != stamp.st.st_size || now.st_mtim.tv_sec != stamp.st.st_mtim.tv_sec ||
        now.st_mtim.tv_nsec != stamp.st.st_mtim.tv_nsec) {
      return Status::FailedPrecondition("input " + Quote(stamp.path) + " (" + stamp.digest.Ref() +
                                        ") was modified, replaced or removed by the job");
    }
  }
  return Status::Ok();
}

Result<std::string> JobSandbox::ResolveInside(const std::string& rel) const {
  std::string full = work_dir_ + "/" + rel;
  struct stat st;
  if (::lstat(full.c_str(), &st) != 0) {
    if (errno == ENOENT || errno == ENOTDIR) {
      return Status::NotFound("declared output " + Quote(rel) + " is missing");
    }
    return ErrnoStatus("lstat output", full, errno);
  }
  char real[PATH_MAX];
  if (::realpath(full.c_str(), real) == nullptr) {
    if (errno == ENOENT || errno == ELOOP) {
      return Status::FailedPrecondition("output " + Quote(rel) + " is a dangling symlink");
    }
    return ErrnoStatus("realpath output", full, errno);
  }
  std::string resolved = real;
  if (resolved != work_real_ && resolved.compare(0, work_real_.size() + 1, work_real_ + "/") != 0) {
    return Status::FailedPrecondition(
        "output " + Quote(rel) + " escapes the working dir (resolves to " + Quote(resolved) + ")");
  }
  return resolved;
}

Status JobSandbox::AddFile(const std::string& rel, const std::string& physical, uint64_t size,
                           Gathered* g) const {
  if (g->files.count(rel) != 0) return Status::Ok();  // declared twice (e.g. "d/" and "d/x")
  if (g->files.size() + 1 > limits_.max_output_files) {
    return Status::ResourceExhausted("outputs exceed " + std::to_string(limits_.max_output_files) +
                                     " files (at " + Quote(rel) + ")");
  }
  if (g->bytes + size > limits_.max_output_bytes) {
    return Status::ResourceExhausted("outputs exceed " + std::to_string(limits_.max_output_bytes) +
                                     " bytes (at " + Quote(rel) + ")");
  }
  g->bytes += size;
  g->files.emplace(rel, physical);
  return Status::Ok();
}

Status JobSandbox::GatherOutput(const std::string& declared, Gathered* g) const {
  RECOMP_RETURN_IF_ERROR(
      ValidateRelativePath(declared, "output path " + Quote(declared.substr(0, 256)), true));
  bool want_dir = declared.back() == '/';
  std::string rel = want_dir ? declared.substr(0, declared.size() - 1) : declared;
  RECOMP_ASSIGN_OR_RETURN(std::string real, ResolveInside(rel));
  RECOMP_ASSIGN_OR_RETURN(struct stat st, Lstat(real));
  if (want_dir) {
    if (!S_ISDIR(st.st_mode)) {
      return Status::FailedPrecondition("output " + Quote(declared) +
                                        " was declared a directory but is not one");
    }
    return GatherDir(rel, real, g);
  }
  if (S_ISDIR(st.st_mode)) {
    return Status::FailedPrecondition("output " + Quote(declared) +
                                      " is a directory: declare it as " + Quote(rel + "/"));
  }
  if (!S_ISREG(st.st_mode)) {
    return Status::FailedPrecondition("output " + Quote(declared) + " is not a regular file");
  }
  return AddFile(rel, real, st.st_size, g);
}

Status JobSandbox::GatherDir(const std::string& rel, const std::string& physical,
                             Gathered* g) const {
  RECOMP_ASSIGN_OR_RETURN(std::vector<std::string> names, ListDirNames(physical));
  for (const std::string& name : names) {
    std::string child_rel = rel + "/" + name;
    std::string child = physical + "/" + name;
    RECOMP_ASSIGN_OR_RETURN(struct stat st, Lstat(child));
    if (S_ISDIR(st.st_mode)) {
      RECOMP_RETURN_IF_ERROR(GatherDir(child_rel, child, g));
      continue;
    }
    if (S_ISLNK(st.st_mode)) {  // stored by content if it stays inside; never followed as a dir
      RECOMP_ASSIGN_OR_RETURN(child, ResolveInside(child_rel));
      RECOMP_ASSIGN_OR_RETURN(st, Lstat(child));
      if (S_ISDIR(st.st_mode)) {
        return Status::FailedPrecondition("output " + Quote(child_rel) +
                                          " is a symlink to a directory (not followed)");
      }
    }
    if (!S_ISREG(st.st_mode)) {
      return Status::FailedPrecondition("output " + Quote(child_rel) + " is not a regular file");
    }
    RECOMP_RETURN_IF_ERROR(AddFile(child_rel, child, st.st_size, g));
  }
  return Status::Ok();
}

Result<std::string> JobSandbox::LogForStorage() {
  RECOMP_ASSIGN_OR_RETURN(struct stat st, Lstat(log_path_));
  uint64_t size = st.st_size;
  if (size == 0) return std::string();  // nothing to store: log_ref ""
  if (size <= limits_.max_log_bytes) return log_path_;
  // Keep the end (where the error usually is) behind a one-line marker.
  std::string tail_path = dir_ + "/job.log.tail";
  Status gone = Unlink(tail_path);
  if (!gone.ok() && gone.code() != Status::Code::kNotFound) return gone;
  RECOMP_ASSIGN_OR_RETURN(Fd in, OpenForRead(log_path_));
  RECOMP_ASSIGN_OR_RETURN(Fd out, CreateExclusive(tail_path, 0600));
  std::string marker = "[recomp: log truncated: first " +
                       std::to_string(size - limits_.max_log_bytes) + " of " +
                       std::to_string(size) + " bytes dropped]\n";
  RECOMP_RETURN_IF_ERROR(WriteAll(out.get(), marker.data(), marker.size(), tail_path));
  if (::lseek(in.get(), static_cast<off_t>(size - limits_.max_log_bytes), SEEK_SET) < 0) {
    return ErrnoStatus("lseek", log_path_, errno);
  }
  std::vector<char> buf(1 << 16);
  uint64_t left = limits_.max_log_bytes;
  while (left > 0) {
    RECOMP_ASSIGN_OR_RETURN(
        size_t n, ReadSome(in.get(), buf.data(), std::min<uint64_t>(left, buf.size()), log_path_));
    if (n == 0) break;
    RECOMP_RETURN_IF_ERROR(WriteAll(out.get(), buf.data(), n, tail_path));
    left -= n;
  }
  RECOMP_RETURN_IF_ERROR(out.Close(tail_path));
  return tail_path;
}

Result<CollectedOutputs> JobSandbox::CollectOutputs(const std::vector<std::string>& outputs,
                                                    BlobSink& sink, const std::string& producer) {
  RECOMP_RETURN_IF_ERROR(CheckInputsUnchanged());
  Gathered g;
  for (const std::string& declared : outputs) RECOMP_RETURN_IF_ERROR(GatherOutput(declared, &g));
  // Everything is stored in one PutFiles: the files, one tree per directory output, the log.
  std::vector<std::string> paths;
  std::map<std::string, size_t> index;  // physical path -> position in `paths`
  for (const auto& [rel, physical] : g.files) {
    if (index.emplace(physical, paths.size()).second) paths.push_back(physical);
  }
  std::map<std::string, std::string> named;  // declared output -> the file that names it
  std::set<std::string> declared(outputs.begin(), outputs.end());
  size_t trees = 0;
  for (const std::string& d : declared) {
    if (!IsTreePath(d)) {
      named[d] = g.files.at(d);
      continue;
    }
    std::vector<std::pair<std::string, std::string>> entries;
    for (auto it = g.files.lower_bound(d); it != g.files.end() && it->first.rfind(d, 0) == 0;
         ++it) {
      entries.emplace_back(it->first.substr(d.size()), it->second);
    }
    std::string tree = dir_ + "/output-" + std::to_string(trees++) + ".tree.json";
    RECOMP_RETURN_IF_ERROR(WriteTreeFile(entries, tree).WithContext("output " + Quote(d)));
    named[d] = tree;
    index.emplace(tree, paths.size());
    paths.push_back(tree);
  }
  RECOMP_ASSIGN_OR_RETURN(std::string log, LogForStorage());
  if (!log.empty()) paths.push_back(log);
  std::vector<std::string> refs;
  if (!paths.empty()) {
    RECOMP_ASSIGN_OR_RETURN(refs, sink.PutFiles(paths, producer));
  }
  if (refs.size() != paths.size()) {
    return Status::Internal("blob sink returned " + std::to_string(refs.size()) + " refs for " +
                            std::to_string(paths.size()) + " files");
  }
  for (const std::string& ref : refs) {
    if (!IsArtifactRef(ref)) return Status::Internal("blob sink returned a bad ref " + Quote(ref));
  }
  CollectedOutputs result;
  for (const auto& [d, file] : named) result.files.push_back({d, refs[index.at(file)]});
  if (!log.empty()) result.log_ref = refs.back();
  return result;
}

Result<std::string> JobSandbox::StoreLog(BlobSink& sink, const std::string& producer) {
  RECOMP_ASSIGN_OR_RETURN(std::string log, LogForStorage());
  if (log.empty()) return std::string();
  RECOMP_ASSIGN_OR_RETURN(std::vector<std::string> refs, sink.PutFiles({log}, producer));
  if (refs.size() != 1 || !IsArtifactRef(refs[0])) {
    return Status::Internal("blob sink returned no valid ref for the log");
  }
  return refs[0];
}

namespace {

// The owner of a sandbox directory named "<job_id>.<attempt>.<pid>.<12 hex>", or 0.
pid_t SandboxOwner(const std::string& name) {
  size_t hex = name.rfind('.');
  if (hex == std::string::npos || name.size() - hex - 1 != 12 || hex == 0) return 0;
  size_t pid = name.rfind('.', hex - 1);
  if (pid == std::string::npos || pid + 1 == hex) return 0;
  long value = 0;
  for (size_t i = pid + 1; i < hex; ++i) {
    if (name[i] < '0' || name[i] > '9' || value > 1 << 24) return 0;
    value = value * 10 + (name[i] - '0');
  }
  return static_cast<pid_t>(value);
}

}  // namespace

Result<size_t> ReclaimDeadSandboxes(const std::string& root) {
  std::vector<std::string> dead;
  Status listed = ListDir(root, [&](const std::string& name) {
    pid_t owner = name[0] == '.' ? 0 : SandboxOwner(name);
    if (owner > 0 && ::kill(owner, 0) != 0 && errno == ESRCH) dead.push_back(name);
    return Status::Ok();
  });
  if (listed.code() == Status::Code::kNotFound) return size_t{0};
  RECOMP_RETURN_IF_ERROR(listed);
  for (const std::string& name : dead) {
    RECOMP_RETURN_IF_ERROR(RemoveTree(root + "/" + name).WithContext("reclaiming sandbox"));
  }
  return dead.size();
}

}  // namespace recomp::worker
