// JobCgroup (see job_cgroup.h). cgroup v2 interface files: cgroup.procs (members; writing a
// pid moves it), cgroup.kill (Linux >= 5.14: writing 1 kills every member), cgroup.events
// ("populated 0|1").
#include "worker/job_cgroup.h"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <fstream>
#include <thread>

#include "base/posix_file.h"
#include "worker/process_runner.h"  // WorkerLog

namespace recomp::worker {
namespace {

Status WriteFile(const std::string& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
  out.flush();
  if (!out) return Status::IOError("cannot write " + text + " to " + path);
  return Status::Ok();
}

}  // namespace

Result<std::unique_ptr<JobCgroup>> JobCgroup::Create(const std::string& parent,
                                                     std::string_view name) {
  std::string dir = parent + "/" + std::string(name);
  if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) {
    return ErrnoStatus("mkdir cgroup", dir, errno);
  }
  return std::unique_ptr<JobCgroup>(new JobCgroup(std::move(dir)));
}

JobCgroup::~JobCgroup() {
  if (!KillAll()) WorkerLog()->warn("cgroup {}: processes left after SIGKILL", dir_);
  if (::rmdir(dir_.c_str()) != 0 && errno != ENOENT) {
    WorkerLog()->warn("cgroup {}: rmdir: {}", dir_, ErrnoText(errno));
  }
}

Status JobCgroup::Attach(pid_t pid) {
  return WriteFile(dir_ + "/cgroup.procs", std::to_string(pid));
}

bool JobCgroup::Populated() const {
  std::ifstream in(dir_ + "/cgroup.events");
  std::string key, value;
  while (in >> key >> value) {
    if (key == "populated") return value != "0";
  }
  return false;  // gone
}

bool JobCgroup::KillAll() {
  const bool has_kill = WriteFile(dir_ + "/cgroup.kill", "1").ok();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  while (Populated()) {
    if (!has_kill) {  // older kernels: signal each member (a fork in between is caught next turn)
      std::ifstream procs(dir_ + "/cgroup.procs");
      for (pid_t pid; procs >> pid;) ::kill(pid, SIGKILL);
    }
    if (std::chrono::steady_clock::now() > deadline) return false;
    // Killed processes leave within microseconds: a short wait, not a long one, is the norm.
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  return true;
}

}  // namespace recomp::worker
