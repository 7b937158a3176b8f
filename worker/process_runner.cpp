// ProcessRunner (see process_runner.h): posix_spawn into a new process group, a pidfd for the
// exit, a timerfd for the timeout / kill grace / group drain, both behind one epoll fd.
#include "worker/process_runner.h"
#include "worker/job_groups.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sys/prctl.h>

#include <cerrno>
#include <cstring>
#include <mutex>
#include "base/log.h"

namespace recomp::worker {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// How long the runner waits, after the leader died and the group got SIGKILL, for the other
// members to die before reporting anyway (group_drained = false).
constexpr milliseconds kGroupDrainLimit{2000};
constexpr milliseconds kDrainPollInterval{5};

int64_t MillisSince(Clock::time_point t0, Clock::time_point t1) {
  return std::chrono::duration_cast<milliseconds>(t1 - t0).count();
}

std::string SignalName(int sig) {
  const char* abbrev = sigabbrev_np(sig);
  return abbrev ? std::string("SIG") + abbrev : "signal " + std::to_string(sig);
}

std::string JoinPath(const std::string& dir, const std::string& rel) {
  if (!rel.empty() && rel[0] == '/') return rel;
  return dir + "/" + rel;
}

Status ValidateSpec(const ProcessSpec& spec) {
  if (spec.argv.empty() || spec.argv[0].empty()) {
    return Status::InvalidArgument("process spec: argv is empty");
  }
  for (const auto& arg : spec.argv) {
    if (arg.find('\0') != std::string::npos) {
      return Status::InvalidArgument("process spec: argument contains NUL");
    }
  }
  for (const auto& [key, value] : spec.env) {
    if (key.empty() || key.find_first_of(std::string("=\0", 2)) != std::string::npos ||
        value.find('\0') != std::string::npos) {
      return Status::InvalidArgument("process spec: invalid environment variable name '" + key +
                                     "'");
    }
  }
  if (spec.working_dir.empty()) return Status::InvalidArgument("process spec: no working dir");
  if (spec.log_path.empty()) return Status::InvalidArgument("process spec: no log path");
  if (spec.timeout.count() < 0 || spec.kill_grace.count() < 0) {
    return Status::InvalidArgument("process spec: negative timeout or kill grace");
  }
  return Status::Ok();
}

bool IsExecutableFile(const std::string& path, bool* exists) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return false;
  *exists = true;
  return ::access(path.c_str(), X_OK) == 0;
}

// Resolves argv[0] against the JOB's PATH (never the worker's). On failure returns the
// spawn-failure message in *error.
std::string ResolveCommand(const ProcessSpec& spec, std::string* error) {
  const std::string& name = spec.argv[0];
  if (name.find('/') != std::string::npos) return name;  // exec'd after chdir(working_dir)
  auto path_it = spec.env.find("PATH");
  if (path_it == spec.env.end()) {
    *error = "command not found: " + name +
             " (the job environment has no PATH: give an absolute path or set PATH)";
    return "";
  }
  bool found_not_executable = false;
  const std::string& path = path_it->second;
  size_t begin = 0;
  while (true) {
    size_t end = path.find(':', begin);
    std::string dir = path.substr(begin, end == std::string::npos ? end : end - begin);
    std::string candidate = JoinPath(spec.working_dir, (dir.empty() ? "." : dir) + "/" + name);
    bool exists = false;
    if (IsExecutableFile(candidate, &exists)) return candidate;
    found_not_executable |= exists;
    if (end == std::string::npos) break;
    begin = end + 1;
  }
  *error = found_not_executable ? "permission denied: " + name + " (found in job PATH=" + path +
                                      " but not executable)"
                                : "command not found: " + name + " (job PATH=" + path + ")";
  return "";
}

std::string DescribeSpawnError(const ProcessSpec& spec, const std::string& exe, int err) {
  const std::string& name = spec.argv[0];
  struct stat st;
  switch (err) {
    case ENOENT:
      if (::stat(JoinPath(spec.working_dir, exe).c_str(), &st) != 0) {
        return "command not found: " + name;
      }
      return "cannot execute '" + exe + "': No such file or directory (missing interpreter?)";
    case EACCES:
      return "permission denied: " + exe;
    case ENOEXEC:
      return "not an executable: " + exe;
    default:
      return "cannot execute '" + exe + "': " + ErrnoText(err);
  }
}

// Checks what can be checked before spawning: returns the spawn-failure message, or "" and the
// executable's path in *exe.
std::string Preflight(const ProcessSpec& spec, std::string* exe) {
  struct stat st;
  int err = ::stat(spec.working_dir.c_str(), &st) != 0 ? errno : S_ISDIR(st.st_mode) ? 0 : ENOTDIR;
  if (err == ENOENT) return "working directory does not exist: " + spec.working_dir;
  if (err != 0) return "working directory " + spec.working_dir + ": " + ErrnoText(err);
  std::string error;
  *exe = ResolveCommand(spec, &error);
  return error;
}

// Owns posix_spawn attributes and file actions for one spawn.
class SpawnSetup {
 public:
  SpawnSetup() {
    posix_spawnattr_init(&attr_);
    posix_spawn_file_actions_init(&actions_);
  }
  ~SpawnSetup() {
    posix_spawnattr_destroy(&attr_);
    posix_spawn_file_actions_destroy(&actions_);
  }
  SpawnSetup(const SpawnSetup&) = delete;
  SpawnSetup& operator=(const SpawnSetup&) = delete;

  // Returns 0 or an errno value.
  int Configure(int log_fd, const std::string& working_dir) {
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    int rc = 0;
    // New group led by the child (pgid = pid); default dispositions (the worker ignores
    // SIGPIPE for ZeroMQ; a job must not inherit that) and an empty signal mask.
    rc = rc ? rc
            : posix_spawnattr_setflags(
                  &attr_, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    rc = rc ? rc : posix_spawnattr_setpgroup(&attr_, 0);
    rc = rc ? rc : posix_spawnattr_setsigmask(&attr_, &none);
    rc = rc ? rc : posix_spawnattr_setsigdefault(&attr_, &all);
    rc = rc ? rc : posix_spawn_file_actions_addchdir_np(&actions_, working_dir.c_str());
    rc = rc ? rc : posix_spawn_file_actions_addopen(&actions_, 0, "/dev/null", O_RDONLY, 0);
    rc = rc ? rc : posix_spawn_file_actions_adddup2(&actions_, log_fd, 1);
    rc = rc ? rc : posix_spawn_file_actions_adddup2(&actions_, log_fd, 2);
    rc = rc ? rc : posix_spawn_file_actions_addclosefrom_np(&actions_, 3);
    return rc;
  }
  const posix_spawnattr_t* attr() const { return &attr_; }
  const posix_spawn_file_actions_t* actions() const { return &actions_; }

 private:
  posix_spawnattr_t attr_;
  posix_spawn_file_actions_t actions_;
};

// waitid(2) with the rusage the raw system call fills (glibc's waitid has no such argument).
int WaitId(idtype_t type, id_t id, siginfo_t* info, int options, struct rusage* usage) {
  return static_cast<int>(::syscall(SYS_waitid, type, id, info, options, usage));
}

// The wait(2)-style status of a child described by waitid's siginfo.
int WaitStatusOf(const siginfo_t& info) {
  switch (info.si_code) {
    case CLD_EXITED:
      return (info.si_status & 0xff) << 8;
    case CLD_DUMPED:
      return (info.si_status & 0x7f) | 0x80;
    default:
      return info.si_status & 0x7f;  // CLD_KILLED
  }
}

void KillGroup(pid_t pgid, int sig) {
  assert(pgid > 0);
  if (::kill(-pgid, sig) != 0 && errno != ESRCH) {
    WorkerLog()->warn("kill(-{}, {}): {}", pgid, SignalName(sig), ErrnoText(errno));
  }
}

// Fills kind, exit_code, signal and message from a wait status and why we stopped the job
// (kExited = we did not).
void DescribeExit(int status, ProcessOutcome::Kind stop_kind, milliseconds timeout,
                  ProcessOutcome* o) {
  if (WIFEXITED(status)) o->exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) o->signal = WTERMSIG(status);
  const std::string how = o->exit_code >= 0 ? "exited with code " + std::to_string(o->exit_code)
                                            : "killed by " + SignalName(o->signal);
  switch (stop_kind) {
    case ProcessOutcome::Kind::kTimedOut:
      o->kind = stop_kind;
      o->message = "timed out after " + std::to_string(timeout.count()) + " ms (" + how + ")";
      return;
    case ProcessOutcome::Kind::kKilled:
      o->kind = stop_kind;
      o->message = "cancelled (" + how + ")";
      return;
    default:
      o->kind = WIFEXITED(status) ? ProcessOutcome::Kind::kExited : ProcessOutcome::Kind::kSignaled;
      o->message = how;
  }
}

}  // namespace

const char* OutcomeKindName(ProcessOutcome::Kind kind) {
  switch (kind) {
    case ProcessOutcome::Kind::kExited:
      return "exited";
    case ProcessOutcome::Kind::kSignaled:
      return "signaled";
    case ProcessOutcome::Kind::kTimedOut:
      return "timed_out";
    case ProcessOutcome::Kind::kKilled:
      return "killed";
    case ProcessOutcome::Kind::kSpawnFailed:
      return "spawn_failed";
    case ProcessOutcome::Kind::kLost:
      return "lost";
  }
  return "unknown";
}

ProcessRunner::ProcessRunner(const ProcessSpec& spec) : spec_(spec) {}

Status EnableChildSubreaper() {
  static std::once_flag once;
  static int err = 0;
  std::call_once(once, [] {
    if (::prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0) err = errno;
  });
  if (err != 0) return ErrnoStatus("prctl(PR_SET_CHILD_SUBREAPER)", "", err);
  return Status::Ok();
}

Result<std::unique_ptr<ProcessRunner>> ProcessRunner::Start(const ProcessSpec& spec) {
  RECOMP_RETURN_IF_ERROR(ValidateSpec(spec));
  RECOMP_RETURN_IF_ERROR(EnableChildSubreaper());
  std::unique_ptr<ProcessRunner> runner(new ProcessRunner(spec));
  RECOMP_RETURN_IF_ERROR(runner->Init());
  RECOMP_RETURN_IF_ERROR(runner->Spawn());
  return runner;
}

Status ProcessRunner::Init() {
  log_fd_ = Fd(::open(spec_.log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644));
  if (!log_fd_.valid()) return ErrnoStatus("open job log", spec_.log_path, errno);
  timer_fd_ = Fd(::timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC));
  if (!timer_fd_.valid()) return ErrnoStatus("timerfd_create", "", errno);
  epoll_fd_ = Fd(::epoll_create1(EPOLL_CLOEXEC));
  if (!epoll_fd_.valid()) return ErrnoStatus("epoll_create1", "", errno);
  struct epoll_event ev = {};
  ev.events = EPOLLIN;
  ev.data.fd = timer_fd_.get();
  if (::epoll_ctl(epoll_fd_.get(), EPOLL_CTL_ADD, timer_fd_.get(), &ev) != 0) {
    return ErrnoStatus("epoll_ctl add timerfd", "", errno);
  }
  return Status::Ok();
}

Status ProcessRunner::Spawn() {
  start_ = Clock::now();
  std::string exe;
  if (std::string failure = Preflight(spec_, &exe); !failure.empty()) {
    FinishSpawnFailed(failure);
    return Status::Ok();
  }
  std::vector<std::string> env_strings;
  for (const auto& [key, value] : spec_.env) env_strings.push_back(key + "=" + value);
  std::vector<std::string> args = spec_.argv;
  if (!spec_.launcher.empty()) {  // launcher... /abs/command args...
    args[0] = exe[0] == '/' ? exe : spec_.working_dir + "/" + exe;
    args.insert(args.begin(), spec_.launcher.begin(), spec_.launcher.end());
    exe = spec_.launcher[0];
  }
  std::vector<char*> envp, argv;
  for (auto& s : env_strings) envp.push_back(s.data());
  for (auto& s : args) argv.push_back(s.data());
  envp.push_back(nullptr);
  argv.push_back(nullptr);

  SpawnSetup setup;
  if (int rc = setup.Configure(log_fd_.get(), spec_.working_dir); rc != 0) {
    return ErrnoStatus("posix_spawn setup", spec_.argv[0], rc);
  }
  // posix_spawn (not posix_spawnp): PATH was resolved above against the job's environment.
  // Registered in the same breath, so the zombie reaper never takes our leader for an escapee.
  int rc = 0;
  JobGroups::Get().SpawnRegistered([&] {
    rc = ::posix_spawn(&pid_, exe.c_str(), setup.actions(), setup.attr(), argv.data(), envp.data());
    return rc == 0 ? pid_ : 0;
  });
  if (rc != 0) {
    pid_ = 0;
    FinishSpawnFailed(DescribeSpawnError(spec_, exe, rc));
    return Status::Ok();
  }
  if (!spec_.cgroup_parent.empty()) {
    // Right after the spawn: the leader is still exec'ing the launcher, which forks nothing
    // before it has parsed its options, and a job in bwrap is in its own pid namespace anyway.
    auto cg = JobCgroup::Create(spec_.cgroup_parent, spec_.cgroup_name);
    Status st = cg.ok() ? (*cg)->Attach(pid_) : cg.status();
    if (st.ok()) {
      cgroup_ = std::move(cg).value();
    } else {
      WorkerLog()->warn("job {}: no cgroup: {}", spec_.cgroup_name, st.message());
    }
  }
  return Watch();
}

Status ProcessRunner::Watch() {
  // The child is unreaped until we wait4 it, so its pid cannot be reused before pidfd_open.
  pidfd_ = Fd(static_cast<int>(::syscall(SYS_pidfd_open, pid_, 0)));
  if (!pidfd_.valid()) {
    Status st = ErrnoStatus("pidfd_open (needs Linux >= 5.3)", spec_.argv[0], errno);
    KillGroup(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    JobGroups::Get().Remove(pid_);
    pid_ = 0;
    state_ = State::kDone;
    return st;
  }
  struct epoll_event ev = {};
  ev.events = EPOLLIN;
  ev.data.fd = pidfd_.get();
  if (::epoll_ctl(epoll_fd_.get(), EPOLL_CTL_ADD, pidfd_.get(), &ev) != 0) {
    return ErrnoStatus("epoll_ctl add pidfd", spec_.argv[0], errno);  // dtor kills
  }
  if (spec_.timeout.count() > 0) {
    deadline_ = start_ + spec_.timeout;
    ArmTimer(deadline_);
  }
  WorkerLog()->debug("spawned pid {} ({}) in {}", pid_, spec_.argv[0], spec_.working_dir);
  return Status::Ok();
}

void ProcessRunner::FinishSpawnFailed(const std::string& message) {
  outcome_ = ProcessOutcome{};
  outcome_.kind = ProcessOutcome::Kind::kSpawnFailed;
  outcome_.message = message;
  outcome_.wall_ms = MillisSince(start_, Clock::now());
  AppendToLog("recomp: spawn failed: " + message + "\n");
  WorkerLog()->warn("spawn failed: {}", message);
  state_ = State::kDone;
  ArmTimer(Clock::now());  // make wait_fd readable so a poller notices at once
}

void ProcessRunner::ArmTimer(Clock::time_point when) {
  auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(when.time_since_epoch()).count();
  if (ns <= 0) ns = 1;  // an all-zero it_value would disarm the timer
  struct itimerspec spec = {};
  spec.it_value.tv_sec = ns / 1000000000;
  spec.it_value.tv_nsec = ns % 1000000000;
  // steady_clock is CLOCK_MONOTONIC on Linux/libstdc++; a time in the past fires at once.
  if (::timerfd_settime(timer_fd_.get(), TFD_TIMER_ABSTIME, &spec, nullptr) != 0) {
    WorkerLog()->error("timerfd_settime: {}", ErrnoText(errno));
  }
}

void ProcessRunner::AppendToLog(const std::string& line) {
  if (::write(log_fd_.get(), line.data(), line.size()) < 0) {
    WorkerLog()->warn("append to job log {}: {}", spec_.log_path, ErrnoText(errno));
  }
}

bool ProcessRunner::Poll(ProcessOutcome* out) {
  assert(out != nullptr);
  if (state_ == State::kDone) {
    *out = outcome_;
    return true;
  }
  uint64_t expirations;
  while (::read(timer_fd_.get(), &expirations, sizeof expirations) > 0) {
  }
  Clock::time_point now = Clock::now();
  if (state_ != State::kDraining) {
    struct pollfd pfd = {pidfd_.get(), POLLIN, 0};
    if (::poll(&pfd, 1, 0) > 0) {
      OnLeaderExited(now);
    } else {
      Escalate(now);
      return false;
    }
  }
  bool drained = ReapGroup();
  if (!drained && now < drain_until_) {
    ArmTimer(now + kDrainPollInterval);
    return false;
  }
  Finish(now, drained);
  *out = outcome_;
  return true;
}

bool ProcessRunner::ReapGroup() {
  for (;;) {
    siginfo_t info = {};
    struct rusage usage = {};
    // Only this job's group: never another job's children, never waitpid(-1).
    if (WaitId(P_PGID, static_cast<id_t>(pid_), &info, WEXITED | WNOHANG, &usage) != 0) {
      if (errno == EINTR) continue;
      if (errno != ECHILD) WorkerLog()->warn("waitid(P_PGID, {}): {}", pid_, ErrnoText(errno));
      return true;  // ECHILD: no child of ours is left in the group
    }
    if (info.si_pid == 0) return false;  // members alive, none exited yet
    if (info.si_pid == pid_) {
      leader_reaped_ = true;
      leader_status_ = WaitStatusOf(info);
      leader_usage_ = usage;
    }
  }
}

void ProcessRunner::OnLeaderExited(Clock::time_point now) {
  // The leader is a zombie, so its pid (= the pgid) is still ours: safe to signal the group.
  // Whatever it left behind in the group (background children) dies now.
  KillGroup(pid_, SIGKILL);
  if (cgroup_ && !cgroup_->KillAll()) {  // also what left the group (setsid)
    WorkerLog()->warn("job cgroup {}: processes left after SIGKILL", cgroup_->dir());
  }
  ::epoll_ctl(epoll_fd_.get(), EPOLL_CTL_DEL, pidfd_.get(), nullptr);  // stays readable
  state_ = State::kDraining;
  drain_until_ = now + kGroupDrainLimit;
}

void ProcessRunner::Escalate(Clock::time_point now) {
  if (state_ == State::kRunning && spec_.timeout.count() > 0 && now >= deadline_) {
    AppendToLog("recomp: timed out after " + std::to_string(spec_.timeout.count()) + " ms\n");
    Terminate(now, ProcessOutcome::Kind::kTimedOut);
  } else if (state_ == State::kTerminating && !kill_sent_ && now >= deadline_) {
    kill_sent_ = true;
    AppendToLog("recomp: still running " + std::to_string(spec_.kill_grace.count()) +
                " ms after SIGTERM: sending SIGKILL to the process group\n");
    KillGroup(pid_, SIGKILL);
  }
}

void ProcessRunner::Terminate(Clock::time_point now, ProcessOutcome::Kind why) {
  assert(state_ == State::kRunning);
  stop_kind_ = why;
  state_ = State::kTerminating;
  KillGroup(pid_, SIGTERM);
  deadline_ = now + spec_.kill_grace;
  ArmTimer(deadline_);
}

void ProcessRunner::Kill() {
  if (state_ != State::kRunning) return;  // finished, or already terminating
  AppendToLog("recomp: cancelled: sending SIGTERM to the process group\n");
  Terminate(Clock::now(), ProcessOutcome::Kind::kKilled);
}

void ProcessRunner::Finish(Clock::time_point now, bool drained) {
  outcome_ = ProcessOutcome{};
  outcome_.wall_ms = MillisSince(start_, now);
  outcome_.group_drained = drained;
  if (!leader_reaped_ && !drained) {  // gave up on the group: reap the leader alone
    siginfo_t info = {};
    struct rusage usage = {};
    int rc;
    do {  // the pidfd said the leader exited: this returns at once
      rc = WaitId(P_PID, static_cast<id_t>(pid_), &info, WEXITED, &usage);
    } while (rc != 0 && errno == EINTR);
    if (rc == 0 && info.si_pid == pid_) {
      leader_reaped_ = true;
      leader_status_ = WaitStatusOf(info);
      leader_usage_ = usage;
    }
  }
  if (!leader_reaped_) {
    outcome_.kind = ProcessOutcome::Kind::kLost;
    outcome_.message =
        "exit status of pid " + std::to_string(pid_) + " was lost (reaped elsewhere?)";
    WorkerLog()->error("{}", outcome_.message);
  } else {
    outcome_.max_rss_kb = leader_usage_.ru_maxrss;
    DescribeExit(leader_status_, stop_kind_, spec_.timeout, &outcome_);
  }
  if (!outcome_.group_drained) {
    WorkerLog()->warn("process group {} still has live members {} ms after SIGKILL", pid_,
                      kGroupDrainLimit.count());
  }
  pidfd_ = Fd();
  state_ = State::kDone;
  JobGroups::Get().Remove(pid_);  // members left behind are escapees for the reaper now
}

ProcessRunner::~ProcessRunner() {
  if (state_ == State::kDone || pid_ <= 0 || !pidfd_.valid()) return;
  if (state_ != State::kDraining) {
    KillGroup(pid_, SIGKILL);
    struct pollfd pfd = {pidfd_.get(), POLLIN, 0};
    int rc;
    do {
      rc = ::poll(&pfd, 1, static_cast<int>(kGroupDrainLimit.count()));
    } while (rc < 0 && errno == EINTR);
    if (rc <= 0) {
      WorkerLog()->error("pid {} did not die after SIGKILL; leaving it", pid_);
      JobGroups::Get().Remove(pid_);  // its zombie, if ever, goes to the reaper
      return;
    }
    if (stop_kind_ == ProcessOutcome::Kind::kExited) stop_kind_ = ProcessOutcome::Kind::kKilled;
    OnLeaderExited(Clock::now());
  }
  bool drained;
  while (!(drained = ReapGroup()) && Clock::now() < drain_until_) {
    ::poll(nullptr, 0, static_cast<int>(kDrainPollInterval.count()));
  }
  Finish(Clock::now(), drained);
}

Result<ProcessOutcome> RunToCompletion(const ProcessSpec& spec) {
  RECOMP_ASSIGN_OR_RETURN(std::unique_ptr<ProcessRunner> runner, ProcessRunner::Start(spec));
  ProcessOutcome outcome;
  while (!runner->Poll(&outcome)) {
    struct pollfd pfd = {runner->wait_fd(), POLLIN, 0};
    // The timerfd wakes us for every deadline; the bound only guards against surprises.
    if (::poll(&pfd, 1, 1000) < 0 && errno != EINTR) {
      return ErrnoStatus("poll job wait fd", spec.argv[0], errno);
    }
  }
  return outcome;
}

}  // namespace recomp::worker
