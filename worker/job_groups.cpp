// JobGroups (see job_groups.h).
#include "worker/job_groups.h"

#include <dirent.h>
#include <sys/wait.h>

#include <cerrno>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

namespace recomp::worker {
namespace {

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

pid_t JobGroups::SpawnRegistered(const std::function<pid_t()>& spawn) {
  MutexLock lock(&mu_);
  pid_t pgid = spawn();
  if (pgid > 0) groups_.insert(pgid);
  return pgid;
}

void JobGroups::Remove(pid_t pgid) {
  MutexLock lock(&mu_);
  groups_.erase(pgid);
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
