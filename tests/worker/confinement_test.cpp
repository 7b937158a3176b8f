// Confinement: the launcher bwrap and setpriv get, readable copies of inputs for the job user,
// the working directory handed to it, and a job cgroup that kills a setsid escapee (where a
// writable cgroup v2 exists). The whole path with real jobs: tests/python/test_confined_jobs.py.
#include "worker/confinement.h"

#include <doctest/doctest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <string>
#include <vector>

#include "tests/worker/worker_test_util.h"
#include "worker/job_cgroup.h"

namespace recomp::worker {
namespace {

using testing::FakeSource;
using testing::TempDir;

bool Has(const std::vector<std::string>& v, const std::string& x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

TEST_CASE("confinement: nothing confined means no launcher") {
  CHECK(Launcher(ConfinementOptions{}, "/w", false).empty());
}

TEST_CASE("confinement: bwrap hides the data, binds the work dir back, and cuts the network") {
  ConfinementOptions c;
  c.bubblewrap = true;
  c.change_user = true;
  c.hidden = {"/srv/recomp", "/srv/recomp/work"};
  const std::string work = "/srv/recomp/work/job.1.2.abc/work";
  std::vector<std::string> a = Launcher(c, work, false);
  REQUIRE(!a.empty());
  CHECK(a[0] == c.bwrap);
  auto at = [&](const std::string& x) { return std::find(a.begin(), a.end(), x) - a.begin(); };
  CHECK(at("--ro-bind") < at("--tmpfs"));
  CHECK(Has(a, "/srv/recomp/work"));
  CHECK(at("/srv/recomp/work/job.1.2.abc") < at("--bind"));  // passable parent, made first
  CHECK(Has(a, "--unshare-net"));
  CHECK(Has(a, "--unshare-pid"));
  CHECK(Has(a, "--die-with-parent"));
  CHECK(Has(a, c.setpriv));
  CHECK(at("--") < at(c.setpriv));  // setpriv runs inside the sandbox
  CHECK(Has(a, "--no-new-privs"));
  CHECK(Has(a, "--reuid=65534"));
  CHECK(a.back() == "--");
  CHECK_FALSE(Has(Launcher(c, work, true), "--unshare-net"));  // the stage asked for it
}

TEST_CASE("confinement: inputs become the job user's readable copies, never links") {
  TempDir dir;
  FakeSource fake;
  Digest d = Blake2b256::Of("rom bytes");
  fake.blobs[d] = "rom bytes";
  ReadableCopies copies(fake);
  REQUIRE(copies.Materialize(d, dir / "rom.bin", false).ok());
  REQUIRE(copies.Materialize(d, dir / "tool", true).ok());
  struct stat st;
  REQUIRE(::stat((dir / "rom.bin").c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0444);
  CHECK(st.st_nlink == 1);
  REQUIRE(::stat((dir / "tool").c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0555);
  CHECK_FALSE(std::filesystem::exists(dir / "rom.bin.recomp-link"));
  CHECK(copies.Materialize(Blake2b256::Of("missing"), dir / "x", false).code() ==
        Status::Code::kNotFound);
  CHECK_FALSE(std::filesystem::exists(dir / "x"));
}

TEST_CASE("confinement: the work dir is the job user's (as root)") {
  if (::geteuid() != 0) return;  // only root can give a directory away
  TempDir dir;
  std::filesystem::create_directories(dir / "sb/work");
  ConfinementOptions c;
  c.change_user = true;
  REQUIRE(PrepareWorkDir(c, dir / "sb/work").ok());
  struct stat st;
  REQUIRE(::stat((dir / "sb/work").c_str(), &st) == 0);
  CHECK(st.st_uid == 65534);
  REQUIRE(::stat((dir / "sb").c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0711);  // without bwrap: passable, not listable
}

TEST_CASE("job cgroup: a setsid escapee in it is killed and the cgroup removed") {
  std::vector<std::string> notes;
  ConfinementRequest with_cgroups;
  auto decided = DecideConfinement(with_cgroups, &notes);
  if (!decided.ok() || decided->cgroup_parent.empty()) return;  // no writable cgroup v2 here
  auto cg = JobCgroup::Create(decided->cgroup_parent, "recomp-test-" + std::to_string(::getpid()));
  REQUIRE(cg.ok());
  pid_t child = ::fork();
  if (child == 0) {
    ::setsid();
    ::pause();
    ::_exit(0);
  }
  REQUIRE((*cg)->Attach(child).ok());
  CHECK((*cg)->KillAll());
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  CHECK(WIFSIGNALED(status));
  const std::string dir = (*cg)->dir();
  cg->reset();
  CHECK_FALSE(std::filesystem::exists(dir));
}

}  // namespace
}  // namespace recomp::worker
