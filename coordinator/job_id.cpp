// Job ID encoding and hashing (docs/job-id.md).
#include "coordinator/job_id.h"

#include "base/blake2b.h"
#include "base/endian.h"

#include <algorithm>
#include <cassert>

namespace recomp::coordinator {
namespace {

// str: u32 byte length, then the bytes.
void PutStr(std::string& out, std::string_view s) {
  assert(s.size() <= UINT32_MAX);
  AppendU32(out, static_cast<uint32_t>(s.size()));
  out.append(s);
}

void PutCount(std::string& out, size_t n) {
  assert(n <= UINT32_MAX);
  AppendU32(out, static_cast<uint32_t>(n));
}

}  // namespace

std::string EncodeJobSpec(const JobSpec& spec) {
  assert(spec.shards >= 1 && spec.shard < spec.shards);
  assert(spec.env.count("RECOMP_JOB_ID") == 0 && "the job ID cannot hash itself");
  std::string out;
  PutStr(out, kJobIdVersion);
  PutStr(out, spec.stage);
  PutCount(out, spec.argv.size());
  for (const std::string& a : spec.argv) PutStr(out, a);
  PutCount(out, spec.env.size());
  for (const auto& [k, v] : spec.env) {  // std::map: sorted by key bytes (unsigned)
    PutStr(out, k);
    PutStr(out, v);
  }
  AppendU32(out, spec.shard);
  AppendU32(out, spec.shards);
  auto inputs = spec.inputs;
  std::sort(inputs.begin(), inputs.end());
  assert(std::adjacent_find(inputs.begin(), inputs.end(),
                            [](const auto& a, const auto& b) { return a.first == b.first; }) ==
             inputs.end() &&
         "duplicate input path");
  PutCount(out, inputs.size());
  for (const auto& [path, digest] : inputs) {
    PutStr(out, path);
    out.append(reinterpret_cast<const char*>(digest.bytes.data()), digest.bytes.size());
  }
  auto outputs = spec.outputs;
  std::sort(outputs.begin(), outputs.end());
  PutCount(out, outputs.size());
  for (const std::string& o : outputs) PutStr(out, o);
  AppendU32(out, spec.timeout_s);
  PutStr(out, spec.salt);
  PutCount(out, spec.requirements.size());
  for (const auto& [k, v] : spec.requirements) {  // sorted by key bytes
    PutStr(out, k);
    PutStr(out, v);
  }
  AppendU32(out, spec.network ? 1 : 0);
  return out;
}

Digest ComputeJobId(const JobSpec& spec) {
  return Blake2b256::Of(EncodeJobSpec(spec));
}

}  // namespace recomp::coordinator
