// Job confinement (see confinement.h).
#include "worker/confinement.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "base/posix_file.h"

extern char** environ;

namespace recomp::worker {
namespace {

// Runs `argv` with stdout/stderr closed and returns its exit status (-1: could not spawn).
int RunQuietly(const std::vector<std::string>& argv) {
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = 0;
  int rc = ::posix_spawn(&pid, args[0], &fa, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) return -1;
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// The cgroup v2 directory this process is in, when that hierarchy is mounted and we may create
// cgroups below it; "" otherwise.
std::string CgroupParent() {
  std::ifstream mounts("/proc/self/mountinfo");
  std::string line, mount_point;
  while (std::getline(mounts, line)) {
    size_t dash = line.find(" - cgroup2 ");
    if (dash == std::string::npos) continue;
    std::istringstream f(line);
    std::string id, parent, devs, root;
    f >> id >> parent >> devs >> root >> mount_point;
    if (root == "/") break;
    mount_point.clear();
  }
  if (mount_point.empty()) return "";
  std::ifstream self("/proc/self/cgroup");
  std::string own;
  while (std::getline(self, line)) {
    if (line.rfind("0::", 0) == 0) own = line.substr(3);
  }
  if (own.empty()) return "";
  std::string dir = mount_point + (own == "/" ? "" : own);
  return ::access(dir.c_str(), W_OK) == 0 ? dir : "";
}

Status CopyReadable(const std::string& from, const std::string& to, mode_t mode) {
  RECOMP_ASSIGN_OR_RETURN(Fd in, OpenForRead(from));
  RECOMP_ASSIGN_OR_RETURN(Fd out, CreateExclusive(to, 0600));
  for (;;) {
    ssize_t n = ::copy_file_range(in.get(), nullptr, out.get(), nullptr, 1 << 30, 0);
    if (n == 0) break;
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus("copy_file_range", to, errno);
    }
  }
  RECOMP_RETURN_IF_ERROR(ChmodFd(out.get(), mode, to));  // not left to the umask
  return out.Close(to);
}

}  // namespace

Result<ConfinementOptions> DecideConfinement(const ConfinementRequest& r,
                                             std::vector<std::string>* notes) {
  ConfinementOptions c;
  if (r.mode == ConfinementRequest::Mode::kNone) {
    notes->push_back("jobs are not confined (confine = none): they run as the worker's user");
    return c;
  }
  c.uid = r.uid;
  c.gid = r.gid;
  c.change_user = ::geteuid() == 0;
  if (c.change_user && ::access(c.setpriv.c_str(), X_OK) != 0) {
    return Status::FailedPrecondition("the worker runs as root but " + c.setpriv +
                                      " (util-linux) is missing: jobs would run as root");
  }
  for (const std::string& h : r.hidden) {
    struct stat st;
    if (!h.empty() && h[0] == '/' && ::stat(h.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
      c.hidden.push_back(h);
    }
  }
  const bool works = ::access(c.bwrap.c_str(), X_OK) == 0 &&
                     RunQuietly({c.bwrap, "--ro-bind", "/", "/", "--unshare-pid", "--unshare-net",
                                 "--die-with-parent", "true"}) == 0;
  if (works) {
    c.bubblewrap = true;
  } else if (r.mode == ConfinementRequest::Mode::kBubblewrap) {
    return Status::FailedPrecondition(c.bwrap +
                                      " cannot make a sandbox here (missing, or no user "
                                      "namespaces for an unprivileged worker): install "
                                      "bubblewrap or set [worker] confine = \"auto\"");
  }
  if (r.cgroups) c.cgroup_parent = CgroupParent();
  notes->push_back(std::string("jobs run ") +
                   (c.change_user ? "as uid " + std::to_string(c.uid) + ":" +
                                        std::to_string(c.gid) + " with no new privileges"
                                  : "as the worker's user") +
                   (c.bubblewrap ? ", under bubblewrap (read-only system, private /tmp, no "
                                   "network unless the stage asks, own pid namespace)"
                                 : ", WITHOUT bubblewrap (" + c.bwrap + " unusable here)") +
                   (c.cgroup_parent.empty() ? ", no cgroup (no writable cgroup v2 here)"
                                            : ", each in its own cgroup under " + c.cgroup_parent));
  return c;
}

std::vector<std::string> Launcher(const ConfinementOptions& c, const std::string& work_dir,
                                  bool network) {
  std::vector<std::string> a;
  if (c.bubblewrap) {
    a = {c.bwrap,  "--ro-bind", "/",       "/",    "--dev",   "/dev",
         "--proc", "/proc",     "--perms", "1777", "--tmpfs", "/tmp"};
    for (const std::string& h : c.hidden) a.insert(a.end(), {"--tmpfs", h});
    // After the tmpfs mounts: the working directory reappears inside them, alone, below
    // directories the job user may pass through (bwrap would make them with the worker's
    // umask), so absolute paths into it work too.
    std::string base = "/tmp";
    for (const std::string& h : c.hidden) {
      if (work_dir.rfind(h + "/", 0) == 0 && h.size() > base.size()) base = h;
    }
    if (work_dir.rfind(base + "/", 0) == 0) {
      for (size_t at = work_dir.find('/', base.size() + 1); at != std::string::npos;
           at = work_dir.find('/', at + 1)) {
        a.insert(a.end(), {"--perms", "0711", "--dir", work_dir.substr(0, at)});
      }
    }
    a.insert(a.end(), {"--bind", work_dir, work_dir, "--unshare-pid", "--unshare-ipc",
                       "--unshare-uts", "--die-with-parent", "--chdir", work_dir});
    if (!network) a.push_back("--unshare-net");
    a.push_back("--");
  }
  if (c.change_user) {
    a.insert(a.end(),
             {c.setpriv, "--reuid=" + std::to_string(c.uid), "--regid=" + std::to_string(c.gid),
              "--clear-groups", "--no-new-privs", "--inh-caps=-all", "--"});
  }
  return a;
}

Status PrepareWorkDir(const ConfinementOptions& c, const std::string& work_dir) {
  if (!c.change_user) return Status::Ok();
  if (::chown(work_dir.c_str(), c.uid, c.gid) != 0) {
    return ErrnoStatus("chown to the job's user", work_dir, errno);
  }
  if (c.bubblewrap) return Status::Ok();  // bwrap shows the job its working directory alone
  // Without bubblewrap the job reaches work/ through the sandbox directory: let it pass (not
  // list). The work root and the data directory above must let it pass too (docs).
  const std::string sandbox = work_dir.substr(0, work_dir.rfind('/'));
  if (::chmod(sandbox.c_str(), 0711) != 0) return ErrnoStatus("chmod 0711", sandbox, errno);
  return Status::Ok();
}

Status ReadableCopies::Materialize(const Digest& digest, const std::string& dest_path,
                                   bool executable) {
  const std::string staged = dest_path + ".recomp-link";
  RECOMP_RETURN_IF_ERROR(inner_.Materialize(digest, staged, executable));
  Status st = CopyReadable(staged, dest_path, executable ? 0555 : 0444);
  ::unlink(staged.c_str());
  if (!st.ok()) ::unlink(dest_path.c_str());
  return st;
}

}  // namespace recomp::worker
