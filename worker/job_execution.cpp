// JobExecution (see job_execution.h).
#include "worker/job_execution.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "base/clock.h"
#include "messages/artifact_ref.h"

namespace recomp::worker {
namespace {

// Appends "[recomp worker] <line>" to the job's log, so the log says why the attempt ended.
void AppendToLog(const std::string& path, const std::string& line) {
  Fd fd(::open(path.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC));
  if (!fd.valid()) return;
  std::string text = "\n[recomp worker] " + line + "\n";
  (void)!::write(fd.get(), text.data(), text.size());
}

// A failure to store outputs is the job's fault (kFailed) when the job produced something that
// cannot be stored as declared, and the worker's (kError) otherwise.
JobOutcome CollectFailure(const Status& st) {
  switch (st.code()) {
    case Status::Code::kInvalidArgument:
    case Status::Code::kNotFound:
    case Status::Code::kResourceExhausted:
    case Status::Code::kFailedPrecondition:
      return JobOutcome::kFailed;
    default:
      return JobOutcome::kError;
  }
}

}  // namespace

Result<std::unique_ptr<JobControl>> JobControl::Create() {
  Fd fd(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  if (!fd.valid()) return ErrnoStatus("worker: eventfd", "", errno);
  return std::unique_ptr<JobControl>(new JobControl(std::move(fd)));
}

void JobControl::Cancel(bool orphan) {
  if (orphan) orphan_.store(true);
  cancel_.store(true);
  uint64_t one = 1;
  (void)!::write(wake_.get(), &one, sizeof one);
}

void JobControl::SetLogPath(std::string path) {
  MutexLock l(&mu_);
  log_path_ = std::move(path);
}

std::string JobControl::log_path() const {
  MutexLock l(&mu_);
  return log_path_;
}

void JobControl::Acknowledge() {
  uint64_t v;
  (void)!::read(wake_.get(), &v, sizeof v);
}

void JobExecution::Fail(JobOutcome outcome, std::string message) {
  result_.outcome = outcome;
  result_.exit_code = -1;
  result_.message = std::move(message);
}

StageResult JobExecution::Run() {
  auto t0 = SteadyClock::now();
  result_ = ResultFor(AttemptOf(job_));
  result_.worker = ctx_.worker_id;
  producer_ = "worker:" + ctx_.worker_id;
  auto sb = JobSandbox::Create(ctx_.work_root, job_.job_id, job_.attempt);
  if (!sb.ok()) {
    Fail(JobOutcome::kError, "worker could not create the job's sandbox: " + sb.status().message());
  } else {
    sandbox_ = std::move(sb).value();
    control_.SetLogPath(sandbox_->log_path());
    if (PrepareInputs() && RunProcess() && !control_.orphaned()) Conclude();
    if (!control_.orphaned() && !log_stored_) StoreLog();
  }
  if (result_.duration_ms == 0) result_.duration_ms = static_cast<uint64_t>(MillisSince(t0));
  return result_;
}

bool JobExecution::PrepareInputs() {
  // PathRef paths are relative to the working dir and live under in/.
  std::vector<SandboxInput> inputs;
  inputs.reserve(job_.inputs.size());
  for (const PathRef& in : job_.inputs) {
    if (in.path.rfind("in/", 0) != 0) {
      Fail(JobOutcome::kError, "input path " + in.path + " is not under in/");
      return false;
    }
    Result<Digest> d = ParseArtifactRef(in.ref);
    if (!d.ok()) {
      Fail(JobOutcome::kError, "input " + in.path + ": " + d.status().message());
      return false;
    }
    inputs.push_back({in.path.substr(3), *d});
  }
  // A job that runs as another user cannot read the store's 0400 files it would be linked to.
  ReadableCopies copies(*ctx_.source);
  const bool copy = ctx_.confinement != nullptr && ctx_.confinement->change_user;
  if (Status st = sandbox_->MaterializeInputs(inputs, copy ? copies : *ctx_.source); !st.ok()) {
    Fail(JobOutcome::kError, "inputs unavailable: " + st.message());
    return false;
  }
  if (control_.cancelled()) {
    Fail(JobOutcome::kCancelled, "cancelled before start");
    return false;
  }
  return true;
}

bool JobExecution::RunProcess() {
  ProcessSpec spec;
  spec.argv = job_.argv;
  spec.env = job_.env;
  spec.env["RECOMP_JOB_ID"] = job_.job_id;
  spec.env["RECOMP_ATTEMPT"] = std::to_string(job_.attempt);
  spec.working_dir = sandbox_->work_dir();
  spec.log_path = sandbox_->log_path();
  spec.timeout = std::chrono::seconds(job_.timeout_s);
  spec.kill_grace = ctx_.kill_grace;
  if (const ConfinementOptions* c = ctx_.confinement; c != nullptr) {
    if (Status st = PrepareWorkDir(*c, spec.working_dir); !st.ok()) {
      Fail(JobOutcome::kError, "worker could not prepare the job's directory: " + st.message());
      return false;
    }
    spec.launcher = Launcher(*c, spec.working_dir, job_.network);
    spec.cgroup_parent = c->cgroup_parent;
    spec.cgroup_name = "recomp-job-" + sandbox_->dir().substr(sandbox_->dir().rfind('/') + 1);
  }
  Result<std::unique_ptr<ProcessRunner>> runner = ProcessRunner::Start(spec);
  if (!runner.ok()) {
    Fail(JobOutcome::kError, "worker could not start the job: " + runner.status().message());
    return false;
  }
  bool killed = false;
  while (!(*runner)->Poll(&process_)) {
    if (control_.cancelled() && !killed) {
      (*runner)->Kill();
      killed = true;
      continue;
    }
    struct pollfd fds[2] = {{(*runner)->wait_fd(), POLLIN, 0}, {control_.wake_fd(), POLLIN, 0}};
    if (::poll(fds, 2, 250) > 0 && (fds[1].revents & POLLIN)) control_.Acknowledge();
  }
  result_.exit_code = process_.exit_code;
  result_.signal = process_.signal;
  result_.duration_ms = static_cast<uint64_t>(std::max<int64_t>(process_.wall_ms, 1));
  return true;
}

void JobExecution::Conclude() {
  const ProcessOutcome& out = process_;
  switch (out.kind) {
    case ProcessOutcome::Kind::kExited:
      if (out.exit_code == 0) {
        auto collected = sandbox_->CollectOutputs(job_.outputs, *ctx_.sink, producer_);
        if (collected.ok()) {
          result_.outcome = JobOutcome::kSucceeded;
          for (const SandboxOutput& o : collected->files)
            result_.outputs.push_back({o.path, o.ref});
          std::sort(result_.outputs.begin(), result_.outputs.end());
          result_.log_ref = collected->log_ref;
          log_stored_ = true;
          if (size_t bytes = EncodeStageResult(result_).size(); bytes > kMaxResultBytes) {
            result_.outcome = JobOutcome::kFailed;
            result_.message = "the job's result would be " + std::to_string(bytes) + " bytes (" +
                              std::to_string(result_.outputs.size()) + " outputs), over the " +
                              std::to_string(kMaxResultBytes) +
                              "-byte limit of a result: declare a directory output (one tree) "
                              "instead of many files";
            result_.outputs.clear();
          }
          return;
        }
        result_.outcome = CollectFailure(collected.status());
        result_.message = "outputs: " + collected.status().message();
      } else {
        result_.outcome = JobOutcome::kFailed;
        result_.message =
            out.message.empty() ? "exited with code " + std::to_string(out.exit_code) : out.message;
      }
      break;
    case ProcessOutcome::Kind::kSignaled:
      result_.outcome = JobOutcome::kFailed;
      result_.message = out.message;
      break;
    case ProcessOutcome::Kind::kTimedOut:
      result_.outcome = JobOutcome::kTimedOut;
      result_.message = "timed out after " + std::to_string(job_.timeout_s) + " s" +
                        (out.message.empty() ? "" : " (" + out.message + ")");
      break;
    case ProcessOutcome::Kind::kKilled:
      result_.outcome = JobOutcome::kCancelled;
      result_.message = "cancelled" + (out.message.empty() ? "" : " (" + out.message + ")");
      break;
    case ProcessOutcome::Kind::kSpawnFailed:
      result_.outcome = JobOutcome::kFailed;
      result_.message = "could not start the command: " + out.message;
      break;
    case ProcessOutcome::Kind::kLost:
      result_.outcome = JobOutcome::kError;
      result_.message = "the job's exit status was lost: " + out.message;
      break;
  }
  if (!out.group_drained) result_.message += " (some of the job's processes survived SIGKILL)";
}

void JobExecution::StoreLog() {
  if (!result_.message.empty()) AppendToLog(sandbox_->log_path(), result_.message);
  Result<std::string> log = sandbox_->StoreLog(*ctx_.sink, producer_);
  if (log.ok()) {
    result_.log_ref = *log;
  } else {
    result_.message += (result_.message.empty() ? "" : "; ") + std::string("log not stored: ") +
                       log.status().message();
  }
}

}  // namespace recomp::worker
