// The deterministic job ID: BLAKE2b-256 of a canonical, length-prefixed encoding of everything a
// job does and reads (docs/job-id.md specifies it byte by byte). Never includes a run id, an
// attempt or a time, so equal work gets equal IDs across runs. Pure functions: thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/digest.h"

namespace recomp::coordinator {

// The version tag that opens every encoding; bump it whenever the encoding changes.
inline constexpr std::string_view kJobIdVersion = "recomp-job-id/v4";

// Everything one job does and reads.
struct JobSpec {
  std::string stage;
  std::vector<std::string> argv;
  // The job's whole environment except RECOMP_JOB_ID: the stage's env plus RECOMP_SHARD,
  // RECOMP_SHARDS and RECOMP_STAGE. RECOMP_JOB_ID must not be here (it is this hash).
  std::map<std::string, std::string> env;
  uint32_t shard = 0;   // 0..shards-1
  uint32_t shards = 1;  // >= 1
  // Every file placed under in/: (path relative to the working dir, e.g. "in/tools/lift.py",
  // digest of its bytes). Order does not matter; paths must be unique.
  std::vector<std::pair<std::string, Digest>> inputs;
  std::vector<std::string> outputs;  // as declared; order does not matter
  uint32_t timeout_s = 0;
  std::string salt;
  // The stage's `requires`: labels the worker must have (a job that must run on a GPU worker
  // is different work from one that may run anywhere).
  std::map<std::string, std::string> requirements;
  // The stage's `network = true`: a job that may reach the network is different work from a
  // confined one that cannot.
  bool network = false;
};

// The canonical encoding (docs/job-id.md). Inputs and outputs are sorted by their UTF-8 bytes,
// env by key. Requires (asserts) a well-formed spec: shard < shards, no RECOMP_JOB_ID in env.
std::string EncodeJobSpec(const JobSpec& spec);

// BLAKE2b-256 of EncodeJobSpec(spec). Its text form is Digest::Hex(): 64 lowercase hex digits.
Digest ComputeJobId(const JobSpec& spec);

}  // namespace recomp::coordinator
