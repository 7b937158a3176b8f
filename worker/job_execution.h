// JobExecution: runs one stage job to its StageResult on the calling thread: a sandbox, the
// inputs from the BlobSource, the process (ProcessRunner), the outputs and the log into the
// BlobSink. Every path ends in one place, which stores the log when nothing else did, so a
// failed attempt always says why in its log. JobControl lets another thread cancel it and find
// its log file while it runs.
// Thread-safety: a JobExecution runs on one thread; JobControl's methods are thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <string>

#include "base/mutex.h"
#include "base/posix_file.h"
#include "base/status.h"
#include "messages/stage_job.h"
#include "messages/stage_result.h"
#include "worker/blob_source.h"
#include "worker/confinement.h"
#include "worker/job_sandbox.h"
#include "worker/process_runner.h"

namespace recomp::worker {

// How a running job is told to stop.
class JobControl {
 public:
  // IOError when the eventfd cannot be created.
  static Result<std::unique_ptr<JobControl>> Create();
  // Asks the job to stop: a running process is killed (SIGTERM, then SIGKILL after the grace).
  // With `orphan`, nobody wants the result any more: nothing is stored or reported.
  void Cancel(bool orphan);
  bool cancelled() const { return cancel_.load(); }
  bool orphaned() const { return orphan_.load(); }
  // Readable after Cancel(); Acknowledge() empties it.
  int wake_fd() const { return wake_.get(); }
  void Acknowledge();
  // The job's log file (stdout+stderr) once its sandbox exists, "" before: a watcher may read
  // it while the job runs (the file may vanish once it ended).
  void SetLogPath(std::string path) EXCLUDES(mu_);
  std::string log_path() const EXCLUDES(mu_);

 private:
  explicit JobControl(Fd wake) : wake_(std::move(wake)) {}
  mutable Mutex mu_;
  std::string log_path_ GUARDED_BY(mu_);
  std::atomic<bool> cancel_{false};
  std::atomic<bool> orphan_{false};
  Fd wake_;  // eventfd
};

// What an execution needs from its worker. `source` and `sink` must outlive it.
struct ExecutionContext {
  std::string work_root;  // sandboxes are created under it
  std::string worker_id;  // reported in the result and in stored blobs' producer
  std::chrono::milliseconds kill_grace{2000};
  BlobSource* source = nullptr;
  BlobSink* sink = nullptr;
  // How jobs are confined (not owned; null = not at all): docs/worker-sandbox.md.
  const ConfinementOptions* confinement = nullptr;
};

class JobExecution {
 public:
  JobExecution(const StageJob& job, const ExecutionContext& ctx, JobControl& control)
      : job_(job), ctx_(ctx), control_(control) {}

  // Runs the job and returns its result (never throws); call once. Outcomes are listed in
  // docs/worker-sandbox.md. The sandbox is removed when the JobExecution is destroyed, so the
  // caller can report the result first.
  StageResult Run();

 private:
  // Each step either lets the next one run (true) or has set result_ (false).
  bool PrepareInputs();
  bool RunProcess();
  // Classifies the process's end and, after a clean exit, stores the outputs.
  void Conclude();
  void Fail(JobOutcome outcome, std::string message);
  void StoreLog();

  const StageJob& job_;
  const ExecutionContext& ctx_;
  JobControl& control_;
  std::string producer_;
  StageResult result_;
  std::unique_ptr<JobSandbox> sandbox_;
  ProcessOutcome process_;
  bool log_stored_ = false;  // the log went with the outputs
};

}  // namespace recomp::worker
