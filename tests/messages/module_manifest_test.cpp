// ModuleManifest v1: canonical encoding, round trips, and every refusal of the strict decoder.
#include "messages/module_manifest.h"

#include <doctest/doctest.h>

#include <string>

#include <nlohmann/json.hpp>

#include "messages/artifact_ref.h"
#include "tests/messages/test_util.h"

using namespace recomp;
using recomp::testing::Ref;

namespace {

// The digest whose ref is Ref(c).
Digest D(char c) {
  return ParseArtifactRef(Ref(c)).value();
}

bool Has(const Status& s, const std::string& text) {
  return s.message().find(text) != std::string::npos;
}

// Decodes `j` (dumped) and returns the refusal.
Status Refusal(const nlohmann::json& j) {
  auto m = DecodeModuleManifest(j.dump());
  REQUIRE_FALSE_MESSAGE(m.ok(), j.dump());
  CHECK(m.status().code() == Status::Code::kInvalidArgument);
  return m.status();
}

nlohmann::json WithFiles(nlohmann::json files) {
  return {{"schema_version", 1}, {"files", std::move(files)}};
}

}  // namespace

TEST_CASE("module manifest round-trips and is sorted by name") {
  ModuleManifest m;
  m.files = {{"symbols.toml", D('b')}, {"game.z64", D('a')}, {"a.bin", D('c')}};
  std::string text = EncodeModuleManifest(m);
  auto back = DecodeModuleManifest(text);
  REQUIRE_MESSAGE(back.ok(), back.status().ToString());
  REQUIRE(back->files.size() == 3);
  CHECK(back->files[0] == ModuleFile{"a.bin", D('c')});
  CHECK(back->files[1] == ModuleFile{"game.z64", D('a')});
  CHECK(back->files[2] == ModuleFile{"symbols.toml", D('b')});
  // Re-encoding the decoded manifest gives the same bytes.
  CHECK(EncodeModuleManifest(*back) == text);
}

TEST_CASE("module manifest encoding is canonical: same files, same bytes") {
  ModuleManifest a, b;
  a.files = {{"x", D('1')}, {"y", D('2')}};
  b.files = {{"y", D('2')}, {"x", D('1')}};
  CHECK(EncodeModuleManifest(a) == EncodeModuleManifest(b));
  std::string text = EncodeModuleManifest(a);
  CHECK(text.back() == '\n');
  CHECK(text.find(' ') == std::string::npos);  // compact
  CHECK(text == "{\"files\":[{\"name\":\"x\",\"ref\":\"" + Ref('1') +
                    "\"},{\"name\":\"y\",\"ref\":\"" + Ref('2') + "\"}],\"schema_version\":1}\n");
  // Decoding does not depend on key order, whitespace or file order.
  auto loose = DecodeModuleManifest("{ \"files\": [ {\"ref\": \"" + Ref('2') +
                                    "\", \"name\": \"y\"},\n {\"name\": \"x\", \"ref\": \"" +
                                    Ref('1') + "\"} ],\n \"schema_version\": 1 }");
  REQUIRE(loose.ok());
  CHECK(EncodeModuleManifest(*loose) == text);
}

TEST_CASE("an empty module manifest is valid") {
  ModuleManifest empty;
  auto back = DecodeModuleManifest(EncodeModuleManifest(empty));
  REQUIRE(back.ok());
  CHECK(back->files.empty());
}

TEST_CASE("unknown keys are tolerated (forward compatible within v1)") {
  nlohmann::json j = WithFiles({{{"name", "a"}, {"ref", Ref('a')}, {"size", 3}}});
  j["comment"] = "x";
  CHECK(DecodeModuleManifest(j.dump()).ok());
}

TEST_CASE("module manifest refuses what is not a v1 JSON object") {
  for (const char* text : {"", "not json", "[]", "1", "\"s\"", "null", "{\"schema_version\":1,"}) {
    CAPTURE(text);
    auto m = DecodeModuleManifest(text);
    REQUIRE_FALSE(m.ok());
    CHECK(Has(m.status(), "not a JSON object"));
  }
  CHECK(Has(Refusal({{"files", nlohmann::json::array()}}), "schema_version must be 1"));
  CHECK(Has(Refusal({{"schema_version", 2}, {"files", nlohmann::json::array()}}),
            "schema_version must be 1"));
  CHECK(Has(Refusal({{"schema_version", 0}, {"files", nlohmann::json::array()}}),
            "schema_version must be 1"));
  CHECK(Has(Refusal({{"schema_version", "1"}, {"files", nlohmann::json::array()}}),
            "schema_version must be 1"));
  CHECK(Has(Refusal({{"schema_version", true}, {"files", nlohmann::json::array()}}),
            "schema_version must be 1"));
  CHECK(Has(Refusal({{"schema_version", 1}}), "files must be an array"));
  CHECK(Has(Refusal({{"schema_version", 1}, {"files", nlohmann::json::object()}}),
            "files must be an array"));
  CHECK(Has(Refusal({{"schema_version", 1}, {"files", "a"}}), "files must be an array"));
}

TEST_CASE("module manifest refuses malformed file entries, naming the index") {
  CHECK(Has(Refusal(WithFiles({"a"})), "files[0]: needs string fields name and ref"));
  CHECK(Has(Refusal(WithFiles({{{"name", "a"}}})), "files[0]: needs string fields"));
  CHECK(Has(Refusal(WithFiles({{{"ref", Ref('a')}}})), "files[0]: needs string fields"));
  CHECK(
      Has(Refusal(WithFiles({{{"name", 1}, {"ref", Ref('a')}}})), "files[0]: needs string fields"));
  CHECK(Has(Refusal(WithFiles({{{"name", "a"}, {"ref", nullptr}}})),
            "files[0]: needs string fields"));
  CHECK(Has(Refusal(WithFiles({{{"name", "ok"}, {"ref", Ref('a')}}, {{"name", "b"}}})),
            "files[1]: needs string fields"));
}

TEST_CASE("module manifest refuses names that are not plain file names") {
  for (const std::string& name : std::vector<std::string>{
           "", ".", "..", "a/b", "/abs", "dir/", std::string(256, 'n'), std::string("a\0b", 3)}) {
    CAPTURE(name);
    Status s = Refusal(WithFiles({{{"name", name}, {"ref", Ref('a')}}}));
    CHECK(Has(s, "module manifest: files[0]"));
    CHECK(Has(s, "module file name"));
  }
  // 255 bytes is the longest accepted name; dots and spaces inside a name are fine.
  CHECK(
      DecodeModuleManifest(WithFiles({{{"name", std::string(255, 'n')}, {"ref", Ref('a')}}}).dump())
          .ok());
  CHECK(DecodeModuleManifest(WithFiles({{{"name", "...a b"}, {"ref", Ref('a')}}}).dump()).ok());
  CHECK(ValidateModuleFileName("game.z64").ok());
  CHECK_FALSE(ValidateModuleFileName("..").ok());
}

TEST_CASE("module manifest refuses bad refs and duplicate names") {
  for (const std::string& ref : std::vector<std::string>{
           "", "artifact://", "artifact://" + std::string(64, 'A'),
           "artifact://" + std::string(63, 'a'), "sha256://" + std::string(64, 'a'),
           std::string(64, 'a'), Ref('a') + "x"}) {
    CAPTURE(ref);
    Status s = Refusal(WithFiles({{{"name", "a"}, {"ref", ref}}}));
    CHECK(Has(s, "module manifest: files[0]"));
    CHECK(Has(s, "malformed artifact ref"));
  }
  Status dup =
      Refusal(WithFiles({{{"name", "a"}, {"ref", Ref('a')}}, {{"name", "a"}, {"ref", Ref('b')}}}));
  CHECK(Has(dup, "files[1]: duplicate name 'a'"));
}

TEST_CASE("module manifest refuses more than 10000 files, accepts 10000") {
  nlohmann::json files = nlohmann::json::array();
  for (int i = 0; i < 10000; ++i)
    files.push_back({{"name", "f" + std::to_string(i)}, {"ref", Ref('a')}});
  auto ok = DecodeModuleManifest(WithFiles(files).dump());
  REQUIRE_MESSAGE(ok.ok(), ok.status().ToString());
  CHECK(ok->files.size() == 10000);
  files.push_back({{"name", "one-too-many"}, {"ref", Ref('a')}});
  CHECK(Has(Refusal(WithFiles(files)), "at most 10000"));
}
