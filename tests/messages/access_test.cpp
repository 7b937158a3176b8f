// AccessControl: ZAP admission per endpoint, role permissions, a worker's identity against its
// key, and reloading the allowlist file (a bad file keeps the list in force).
#include "messages/access.h"

#include <doctest/doctest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "tests/store/store_test_util.h"

namespace recomp {
namespace {

using store::testing::TempDir;
using store::testing::WriteFile;

const std::string kW = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7";
const std::string kS = "Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hID";
const std::string kR = "JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6";
const std::string kOwn = "Oo[:{qJN2gJ2PiXB4Qf7bUk&R?m*4XkX[u^Zz/d9";

bool Has(const Status& s, const std::string& part) {
  return s.message().find(part) != std::string::npos;
}

std::string ThreeKeys() {
  return kW + " builder-1 worker gpu=1\n" + kS + " alice submitter\n" + kR + " bob reader\n";
}

std::unique_ptr<AccessControl> OpenWith(const TempDir& dir, const std::string& text) {
  WriteFile(dir / "allowlist", text);
  auto ac = AccessControl::Open(dir / "allowlist", {{kOwn, "local", Role::kSubmitter, {}}});
  REQUIRE_MESSAGE(ac.ok(), ac.status().ToString());
  return std::move(ac).value();
}

TEST_CASE("access: ZAP admits a listed key only at the endpoints its role uses") {
  TempDir dir;
  auto ac = OpenWith(dir, ThreeKeys());
  auto at = [&](Endpoint e, const std::string& key) { return ac->Admit(ZapDomain(e), key); };
  CHECK(at(Endpoint::kWorkers, kW).allowed);
  CHECK(at(Endpoint::kWorkers, kW).name == "builder-1");
  CHECK(at(Endpoint::kBlobs, kW).allowed);
  CHECK_FALSE(at(Endpoint::kApi, kW).allowed);
  CHECK_FALSE(at(Endpoint::kEvents, kW).allowed);
  CHECK_FALSE(at(Endpoint::kWorkers, kS).allowed);  // a submitter cannot register as a worker
  CHECK_FALSE(at(Endpoint::kWorkers, kR).allowed);
  for (Endpoint e : {Endpoint::kApi, Endpoint::kEvents, Endpoint::kReplay, Endpoint::kBlobs}) {
    CHECK(at(e, kS).allowed);
    CHECK(at(e, kR).allowed);
  }
  CHECK(at(Endpoint::kApi, kOwn).allowed);  // the pool's own keys are listed too
  Admission unlisted = at(Endpoint::kApi, std::string(40, 'x'));
  CHECK_FALSE(unlisted.allowed);
  CHECK(unlisted.reason.find("not allowed") != std::string::npos);
  CHECK_FALSE(ac->Admit("some-other-domain", kS).allowed);
}

TEST_CASE("access: each role may do what docs/security.md says, and nothing else") {
  TempDir dir;
  auto ac = OpenWith(dir, ThreeKeys());
  CHECK(ac->Authorize("alice", Permission::kSubmit).ok());
  CHECK(ac->Authorize("alice", Permission::kRead).ok());
  CHECK(ac->Authorize("bob", Permission::kRead).ok());
  Status reader_submits = ac->Authorize("bob", Permission::kSubmit);
  CHECK(reader_submits.code() == Status::Code::kPermissionDenied);
  CHECK(Has(reader_submits, "reader"));
  CHECK(ac->Authorize("builder-1", Permission::kWork).ok());
  CHECK_FALSE(ac->Authorize("builder-1", Permission::kRead).ok());
  CHECK_FALSE(ac->Authorize("alice", Permission::kWork).ok());
  CHECK(ac->Authorize("nobody", Permission::kRead).code() == Status::Code::kPermissionDenied);
  CHECK_FALSE(ac->Authorize("", Permission::kRead).ok());
}

TEST_CASE("access: a worker registers only under its key's name with labels it was granted") {
  AllowedKey k{kW, "builder-1", Role::kWorker, {{"gpu", "1"}}};
  Labels facts{{"os", "linux"}, {"arch", "x86_64"}, {"pool", "default"}};
  CHECK(CheckWorkerIdentity(k, "builder-1", facts).ok());
  CHECK(CheckWorkerIdentity(k, "builder-1:host:42:abc", facts).ok());
  Labels gpu = facts;
  gpu["gpu"] = "1";
  CHECK(CheckWorkerIdentity(k, "builder-1", gpu).ok());
  CHECK(Has(CheckWorkerIdentity(k, "builder-2", facts), "not key builder-1's"));
  CHECK_FALSE(CheckWorkerIdentity(k, "builder-10", facts).ok());  // a prefix is not enough
  Labels more = facts;
  more["gpu"] = "8";
  CHECK(Has(CheckWorkerIdentity(k, "builder-1", more), "gpu=8 is not granted"));
  Labels fast = facts;
  fast["pool"] = "fast";
  CHECK_FALSE(CheckWorkerIdentity(k, "builder-1", fast).ok());
  AllowedKey submitter{kS, "alice", Role::kSubmitter, {}};
  CHECK(CheckWorkerIdentity(submitter, "alice", facts).code() == Status::Code::kPermissionDenied);
}

TEST_CASE("access: the file is re-read when it changes; a bad edit keeps the old list") {
  TempDir dir;
  auto ac = OpenWith(dir, ThreeKeys());
  const uint64_t g0 = ac->generation();
  auto same = ac->ReloadIfChanged();
  REQUIRE(same.ok());
  CHECK_FALSE(*same);
  CHECK(ac->generation() == g0);
  // Remove bob (a new file renamed into place, as editors and config tools do).
  WriteFile(dir / "allowlist.new", kW + " builder-1 worker gpu=1\n" + kS + " alice submitter\n");
  std::filesystem::rename(dir / "allowlist.new", dir / "allowlist");
  auto changed = ac->ReloadIfChanged();
  REQUIRE(changed.ok());
  CHECK(*changed);
  CHECK(ac->generation() == g0 + 1);
  CHECK_FALSE(ac->Lookup("bob").has_value());
  CHECK(ac->Authorize("bob", Permission::kRead).code() == Status::Code::kPermissionDenied);
  // A malformed edit: reported once, and alice keeps working.
  WriteFile(dir / "allowlist.new", kS + " alice submitter\nthis is not a key line\n");
  std::filesystem::rename(dir / "allowlist.new", dir / "allowlist");
  auto bad = ac->ReloadIfChanged();
  REQUIRE_FALSE(bad.ok());
  CHECK(Has(bad.status(), ":2:"));
  CHECK(ac->Authorize("alice", Permission::kSubmit).ok());
  CHECK(ac->Authorize("builder-1", Permission::kWork).ok());
  auto again = ac->ReloadIfChanged();
  REQUIRE(again.ok());
  CHECK_FALSE(*again);
  // A removed file lists no keys but the pool's own.
  std::filesystem::remove(dir / "allowlist");
  REQUIRE(ac->ReloadIfChanged().ok());
  CHECK_FALSE(ac->Lookup("alice").has_value());
  CHECK(ac->Lookup("local").has_value());
  CHECK(ac->size() == 1);
}

TEST_CASE("access: a file that reuses the pool's own key or name is refused at open") {
  TempDir dir;
  WriteFile(dir / "allowlist", kS + " local submitter\n");
  auto same_name = AccessControl::Open(dir / "allowlist", {{kOwn, "local", Role::kSubmitter, {}}});
  REQUIRE_FALSE(same_name.ok());
  CHECK(Has(same_name.status(), "local"));
  WriteFile(dir / "allowlist", kOwn + " eve submitter\n");
  auto same_key = AccessControl::Open(dir / "allowlist", {{kOwn, "local", Role::kSubmitter, {}}});
  CHECK_FALSE(same_key.ok());
  auto missing = AccessControl::Open(dir / "none", {});
  REQUIRE(missing.ok());
  CHECK((*missing)->size() == 0);
}

}  // namespace
}  // namespace recomp
