// JobGroups (see job_groups.h).
#include "worker/job_groups.h"

#include <dirent.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "base/posix_file.h"

namespace recomp::worker {
namespace {

// One message to the guard: {op, pgid}, 8 bytes, sent atomically on a SOCK_SEQPACKET socket.
struct GuardRecord {
  int32_t op;  // 1 = add, 2 = remove
  int32_t pgid;
};
constexpr size_t kMaxGuarded = 65536;
pid_t g_guarded[kMaxGuarded];  // the guard's table (in the guard process, a copy of this one)

// The guard process's body, after fork() from a multithreaded process: async-signal-safe calls
// only (no allocation, no locks). Leaves the worker's process group so that a signal to the
// worker's group spares it, keeps only its socket, and on EOF kills every registered group.
[[noreturn]] void GuardMain(int sock) {
  ::setsid();
  ::prctl(PR_SET_NAME, kGuardName, 0, 0, 0);  // its argv is the worker's: `ps -o comm` tells
  struct sigaction ignore = {};
  ignore.sa_handler = SIG_IGN;
  for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGPIPE}) ::sigaction(sig, &ignore, nullptr);
  if (sock != 3) {
    ::dup2(sock, 3);
    sock = 3;
  }
  if (::syscall(SYS_close_range, 4U, ~0U, 0U) != 0) {
    for (int fd = 4; fd < 65536; ++fd) ::close(fd);
  }
  size_t n = 0;
  for (;;) {
    GuardRecord r;
    ssize_t got = ::recv(sock, &r, sizeof r, 0);
    if (got < 0 && errno == EINTR) continue;
    if (got != static_cast<ssize_t>(sizeof r)) break;  // EOF (the worker is gone) or an error
    if (r.op == 1 && n < kMaxGuarded) {
      g_guarded[n++] = r.pgid;
    } else if (r.op == 2) {
      for (size_t i = 0; i < n; ++i) {
        if (g_guarded[i] == r.pgid) {
          g_guarded[i] = g_guarded[--n];
          break;
        }
      }
    }
  }
  for (size_t i = 0; i < n; ++i) ::kill(-g_guarded[i], SIGKILL);
  ::_exit(0);
}

// Children of every thread of this process (a subreaper's adopted orphans may hang off any).
std::vector<pid_t> Children() {
  std::vector<pid_t> out;
  DIR* d = ::opendir("/proc/self/task");
  if (d == nullptr) return out;
  while (struct dirent* e = ::readdir(d)) {
    if (e->d_name[0] == '.') continue;
    std::ifstream in(std::string("/proc/self/task/") + e->d_name + "/children");
    long pid;
    while (in >> pid) out.push_back(static_cast<pid_t>(pid));
  }
  ::closedir(d);
  return out;
}

// The state letter and process group of `pid` from /proc/<pid>/stat; false if it is gone.
bool StateOf(pid_t pid, char* state, pid_t* pgrp) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(in, line)) return false;
  size_t paren = line.rfind(')');  // the command name may contain spaces and parentheses
  if (paren == std::string::npos) return false;
  long ppid = 0, group = 0;
  if (std::sscanf(line.c_str() + paren + 1, " %c %ld %ld", state, &ppid, &group) != 3) return false;
  *pgrp = static_cast<pid_t>(group);
  return true;
}

}  // namespace

JobGroups& JobGroups::Get() {
  static JobGroups* g = new JobGroups();  // never destroyed: runners may outlive statics
  return *g;
}

Status JobGroups::StartGuard() {
  MutexLock lock(&mu_);
  if (guard_fd_ >= 0) return Status::Ok();
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
    return ErrnoStatus("job guard: socketpair", "", errno);
  }
  pid_t pid = ::fork();
  if (pid < 0) {
    int err = errno;
    ::close(sv[0]);
    ::close(sv[1]);
    return ErrnoStatus("job guard: fork", "", err);
  }
  if (pid == 0) GuardMain(sv[1]);
  ::close(sv[1]);
  guard_fd_ = sv[0];
  for (pid_t g : groups_) TellGuard(1, g);
  return Status::Ok();
}

void JobGroups::TellGuard(int32_t op, pid_t pgid) {
  if (guard_fd_ < 0) return;
  GuardRecord r{op, static_cast<int32_t>(pgid)};
  // A guard that died cannot protect anyone; the jobs still run (and are reaped) as usual.
  (void)::send(guard_fd_, &r, sizeof r, MSG_NOSIGNAL);
}

pid_t JobGroups::SpawnRegistered(const std::function<pid_t()>& spawn) {
  MutexLock lock(&mu_);
  pid_t pgid = spawn();
  if (pgid > 0) {
    groups_.insert(pgid);
    TellGuard(1, pgid);
  }
  return pgid;
}

void JobGroups::Remove(pid_t pgid) {
  MutexLock lock(&mu_);
  if (groups_.erase(pgid) > 0) TellGuard(2, pgid);
}

size_t JobGroups::ReapEscapedZombies() {
  MutexLock lock(&mu_);  // no spawn registers a group meanwhile
  size_t reaped = 0;
  for (pid_t pid : Children()) {
    char state = 0;
    pid_t pgrp = 0;
    if (!StateOf(pid, &state, &pgrp) || state != 'Z' || groups_.count(pgrp) != 0) continue;
    int status;
    if (::waitpid(pid, &status, WNOHANG) == pid) ++reaped;
  }
  return reaped;
}

}  // namespace recomp::worker
