// Job IDs: a committed golden value, sensitivity to every field, insensitivity to ordering, and
// an unambiguous encoding.
#include "coordinator/job_id.h"
#include "base/blake2b.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <functional>
#include <string>

using namespace recomp;
using namespace recomp::coordinator;

namespace {

Digest D(uint8_t b) {
  Digest d;
  d.bytes.fill(b);
  return d;
}

// The example of docs/job-id.md ("Worked example"); keep the two in sync.
JobSpec Example() {
  JobSpec s;
  s.stage = "lift";
  s.argv = {"python3", "in/tools/lift.py"};
  s.env = {{"LANG", "C"}, {"RECOMP_SHARD", "1"}, {"RECOMP_SHARDS", "2"}, {"RECOMP_STAGE", "lift"}};
  s.shard = 1;
  s.shards = 2;
  s.inputs = {{"in/tools/lift.py", D(0x22)}, {"in/module/game.bin", D(0x11)}};
  s.outputs = {"out/"};
  s.timeout_s = 600;
  s.salt = "";
  s.requirements = {{"arch", "x86_64"}};
  return s;
}

}  // namespace

TEST_CASE("BLAKE2b-256 matches the reference vector") {
  // BLAKE2b-256("abc"), RFC 7693 parameters with a 32-byte digest (hashlib.blake2b(b"abc",
  // digest_size=32)).
  CHECK(Blake2b256::Of("abc").Hex() ==
        "bddd813c634239723171ef3fee98579b94964e3bb1cb3e427262c8c068d52319");
}

TEST_CASE("golden job ID of the documented example") {
  // Also asserted by tests/python/test_job_id_doc.py from docs/job-id.md alone.
  CHECK(ComputeJobId(Example()).Hex() ==
        "a387f0909f4868b088eda0f9266f010afa77dbc9c1dbc629cb342c1c08e34acf");
}

TEST_CASE("the encoding starts with the version tag and is length-prefixed") {
  std::string enc = EncodeJobSpec(Example());
  CHECK(enc.substr(0, 4) == std::string("\0\0\0\x10", 4));
  CHECK(enc.substr(4, 16) == "recomp-job-id/v4");
  CHECK(enc.substr(20, 8) == std::string("\0\0\0\x04lift", 8));
  CHECK(ComputeJobId(Example()) == Blake2b256::Of(enc));
}

TEST_CASE("the job ID changes when any field changes") {
  const Digest base = ComputeJobId(Example());
  const std::vector<std::pair<const char*, std::function<void(JobSpec&)>>> changes = {
      {"stage", [](JobSpec& s) { s.stage = "lift2"; }},
      {"argv element", [](JobSpec& s) { s.argv[1] = "in/tools/lift2.py"; }},
      {"argv extra", [](JobSpec& s) { s.argv.push_back("-v"); }},
      {"argv order", [](JobSpec& s) { std::swap(s.argv[0], s.argv[1]); }},
      {"argv empty", [](JobSpec& s) { s.argv.clear(); }},
      {"env value", [](JobSpec& s) { s.env["LANG"] = "C.UTF-8"; }},
      {"env key",
       [](JobSpec& s) {
         s.env.erase("LANG");
         s.env["LC_ALL"] = "C";
       }},
      {"env extra", [](JobSpec& s) { s.env["X"] = ""; }},
      {"shard", [](JobSpec& s) { s.shard = 0; }},
      {"shards", [](JobSpec& s) { s.shards = 3; }},
      {"input digest", [](JobSpec& s) { s.inputs[0].second.bytes[31] ^= 1; }},
      {"input path", [](JobSpec& s) { s.inputs[1].first = "in/module/game.z64"; }},
      {"input extra",
       [](JobSpec& s) {
         s.inputs.push_back({"in/a/0/x", D(0)});
       }},
      {"input removed", [](JobSpec& s) { s.inputs.pop_back(); }},
      {"output", [](JobSpec& s) { s.outputs[0] = "out2/"; }},
      {"output dir vs file", [](JobSpec& s) { s.outputs[0] = "out"; }},
      {"output extra", [](JobSpec& s) { s.outputs.push_back("log.txt"); }},
      {"timeout", [](JobSpec& s) { s.timeout_s = 601; }},
      {"salt", [](JobSpec& s) { s.salt = "gcc-13"; }},
      {"requires value", [](JobSpec& s) { s.requirements["arch"] = "aarch64"; }},
      {"requires extra", [](JobSpec& s) { s.requirements["gpu"] = "1"; }},
      {"requires removed", [](JobSpec& s) { s.requirements.clear(); }},
      {"network", [](JobSpec& s) { s.network = true; }},
  };
  for (const auto& [what, change] : changes) {
    JobSpec s = Example();
    change(s);
    CHECK_MESSAGE(ComputeJobId(s) != base, "changing ", what, " kept the job ID");
  }
}

TEST_CASE("the job ID ignores input, output and env ordering") {
  JobSpec a = Example();
  JobSpec b = Example();
  std::reverse(b.inputs.begin(), b.inputs.end());
  b.outputs = {"out/"};
  a.outputs = {"b.txt", "out/", "a.txt"};
  b.outputs = {"a.txt", "b.txt", "out/"};
  std::map<std::string, std::string> env;
  for (auto it = a.env.rbegin(); it != a.env.rend(); ++it) env.insert(*it);
  b.env = env;
  CHECK(ComputeJobId(a) == ComputeJobId(b));
  CHECK(EncodeJobSpec(a) == EncodeJobSpec(b));
}

TEST_CASE("the encoding is unambiguous across field boundaries") {
  JobSpec a = Example(), b = Example();
  a.argv = {"ab", "c"};
  b.argv = {"a", "bc"};
  CHECK(ComputeJobId(a) != ComputeJobId(b));
  a = Example(), b = Example();
  a.env = {{"A", "BC"}};
  b.env = {{"AB", "C"}};
  CHECK(ComputeJobId(a) != ComputeJobId(b));
  a = Example(), b = Example();
  a.argv = {"x"};
  a.outputs = {};
  b.argv = {};
  b.outputs = {"x"};
  CHECK(ComputeJobId(a) != ComputeJobId(b));
  a = Example(), b = Example();
  a.stage = "lift";
  a.salt = "";
  b.stage = "";
  b.salt = "lift";
  CHECK(ComputeJobId(a) != ComputeJobId(b));
}

TEST_CASE("the job ID is stable across calls") {
  CHECK(ComputeJobId(Example()) == ComputeJobId(Example()));
  CHECK(ComputeJobId(Example()).Hex().size() == 64);
}
