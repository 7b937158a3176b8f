#include "messages/allowlist.h"

#include <doctest/doctest.h>

#include <string>

namespace recomp {
namespace {

const std::string kA = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7";
const std::string kB = "Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hID";

bool Has(const Status& s, const std::string& part) {
  return s.message().find(part) != std::string::npos;
}

TEST_CASE("allowlist: a key may start with '#' (Z85) and a comment may follow it") {
  const std::string hash_key = "#" + kA.substr(1);
  std::string text = "#" + kB + " commented-out submitter\n" + hash_key +
                     " hashy reader # a reader\n  # indented comment\n";
  auto list = Allowlist::Parse(text, "allow.txt");
  REQUIRE_MESSAGE(list.ok(), list.status().ToString());
  REQUIRE(list->entries().size() == 1);
  CHECK(list->entries()[0].public_key == hash_key);
  CHECK(list->entries()[0].name == "hashy");
  CHECK(list->Find(kB) == nullptr);
}

TEST_CASE("allowlist: entries, comments, labels; unlisted keys are not found") {
  std::string text = "# who may connect\n\n" + kA + " builder-1 worker gpu=1 pool=fast  # a box\n" +
                     kB + " alice submitter\n";
  auto list = Allowlist::Parse(text, "allow.txt");
  REQUIRE(list.ok());
  CHECK(list->entries().size() == 2);
  const AllowedKey* w = list->Find(kA);
  REQUIRE(w != nullptr);
  CHECK(w->name == "builder-1");
  CHECK(w->role == Role::kWorker);
  CHECK(w->labels == Labels{{"gpu", "1"}, {"pool", "fast"}});
  REQUIRE(list->Find(kB) != nullptr);
  CHECK(list->Find(kB)->role == Role::kSubmitter);
  CHECK(list->Find(std::string(40, 'x')) == nullptr);
  CHECK(Allowlist::Parse("", "empty")->entries().empty());  // deny everyone
}

TEST_CASE("allowlist: malformed lines are refused with the file and line") {
  auto role = Allowlist::Parse(kA + " w1 admin\n", "allow.txt");
  REQUIRE_FALSE(role.ok());
  CHECK(Has(role.status(), "allow.txt:1"));
  CHECK(Has(role.status(), "not worker, submitter or reader"));

  auto key = Allowlist::Parse("\n" + std::string(39, 'a') + " w1 worker\n", "allow.txt");
  REQUIRE_FALSE(key.ok());
  CHECK(Has(key.status(), "allow.txt:2"));
  CHECK(Has(key.status(), "not a CURVE public key"));

  CHECK(Has(Allowlist::Parse(kA + " w1\n", "f").status(), "expected"));
  CHECK(Has(Allowlist::Parse(kA + " ../x worker\n", "f").status(), "name"));
  CHECK(Has(Allowlist::Parse(kA + " w1 worker gpu\n", "f").status(), "key=value"));
  CHECK(Has(Allowlist::Parse(kA + " w1 worker GPU=1\n", "f").status(), "label key"));
  CHECK(Has(Allowlist::Parse(kA + " r1 reader gpu=1\n", "f").status(), "only a worker"));
  CHECK(Has(Allowlist::Parse(kA + " w1 worker a=1 a=2\n", "f").status(), "twice"));
}

TEST_CASE("allowlist: a key or a name listed twice is refused") {
  auto key = Allowlist::Parse(kA + " w1 worker\n" + kA + " w2 worker\n", "f");
  REQUIRE_FALSE(key.ok());
  CHECK(Has(key.status(), "f:2"));
  CHECK(Has(key.status(), "listed twice"));
  auto name = Allowlist::Parse(kA + " same worker\n" + kB + " same reader\n", "f");
  REQUIRE_FALSE(name.ok());
  CHECK(Has(name.status(), "already used on line 1"));
  CHECK_FALSE(Allowlist::Parse(std::string(kMaxAllowlistBytes + 1, '#'), "f").ok());
}

TEST_CASE("roles: names round trip") {
  for (Role r : {Role::kWorker, Role::kSubmitter, Role::kReader}) {
    CHECK(ParseRole(ToString(r)).value() == r);
  }
  CHECK_FALSE(ParseRole("").ok());
}

}  // namespace
}  // namespace recomp
