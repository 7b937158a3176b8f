// Tree v1: canonical encoding (sorted entries, fixed key order), round trips, and every refusal
// of the strict decoder.
#include "messages/tree.h"

#include <doctest/doctest.h>

#include <string>

#include "base/blake2b.h"

using namespace recomp;

namespace {

TreeEntry Entry(std::string path, bool exec = false) {
  TreeEntry e;
  e.path = std::move(path);
  e.executable = exec;
  e.size = e.path.size();
  e.digest = Blake2b256::Of(e.path);
  return e;
}

bool Has(const Status& s, const std::string& text) {
  return s.message().find(text) != std::string::npos;
}

}  // namespace

TEST_CASE("a tree encodes canonically: entries sorted, one spelling per tree") {
  Tree a, b;
  a.entries = {Entry("z.c"), Entry("a/b.c", true), Entry("a.c")};
  b.entries = {Entry("a.c"), Entry("z.c"), Entry("a/b.c", true)};
  std::string text = EncodeTree(a);
  CHECK(text == EncodeTree(b));
  CHECK(text.rfind("{\"schema_version\":1,\"entries\":[{\"path\":\"a.c\",\"executable\":false,",
                   0) == 0);
  CHECK(text.back() == '\n');
  auto back = DecodeTree(text);
  REQUIRE_MESSAGE(back.ok(), back.status().ToString());
  REQUIRE(back->entries.size() == 3);
  CHECK(back->entries[0] == Entry("a.c"));
  CHECK(back->entries[1] == Entry("a/b.c", true));
  CHECK(EncodeTree(*back) == text);
  CHECK(DecodeTree(EncodeTree(Tree{})).value().entries.empty());
}

TEST_CASE("the decoder refuses malformed trees naming the entry") {
  const std::string d = Blake2b256::Of("x").Hex();
  auto tree = [&](const std::string& entries) {
    return "{\"schema_version\":1,\"entries\":[" + entries + "]}";
  };
  auto entry = [&](const std::string& path, const std::string& digest = "") {
    return "{\"path\":\"" + path + "\",\"executable\":false,\"size\":1,\"digest\":\"" +
           (digest.empty() ? d : digest) + "\"}";
  };
  CHECK(Has(DecodeTree("[]").status(), "not a JSON object"));
  CHECK(Has(DecodeTree("{\"schema_version\":2,\"entries\":[]}").status(), "schema_version"));
  CHECK(Has(DecodeTree("{\"schema_version\":1}").status(), "entries must be an array"));
  CHECK(Has(DecodeTree(tree(entry("b") + "," + entry("a"))).status(), "not sorted and unique"));
  CHECK(Has(DecodeTree(tree(entry("a") + "," + entry("a"))).status(), "not sorted and unique"));
  CHECK(Has(DecodeTree(tree(entry("a") + "," + entry("a/b"))).status(),
            "'a' is a file and a directory"));
  CHECK(Has(DecodeTree(tree(entry("../x"))).status(), "'..' component"));
  CHECK(Has(DecodeTree(tree(entry("dir/"))).status(), "empty path component"));
  CHECK(Has(DecodeTree(tree(entry("a", "XYZ"))).status(), "entries[0]: malformed digest"));
  CHECK(Has(DecodeTree(tree("{\"path\":\"a\",\"size\":1,\"digest\":\"" + d + "\"}")).status(),
            "entries[0]: needs path"));
  CHECK(Has(
      DecodeTree(tree("{\"path\":\"a\",\"executable\":false,\"size\":-1,\"digest\":\"" + d + "\"}"))
          .status(),
      "needs path"));
}

TEST_CASE("tree paths end in a slash") {
  CHECK(IsTreePath("out/"));
  CHECK_FALSE(IsTreePath("out"));
  CHECK_FALSE(IsTreePath(""));
}
