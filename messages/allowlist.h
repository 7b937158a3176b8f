// The allowlist of CURVE keys (docs/security.md): who may connect to a pool, under what name,
// in what role, and (for workers) with which labels. Deny by default: a key not listed is
// refused. Text, one key per line:
//   <public key: 40 characters of Z85> <name> <role> [key=value ...]
// A word starting with '#' starts a comment, except a line's first word when it is a key (Z85
// has '#' in its alphabet); blank lines are ignored. Pure values; thread-safe once built.
#pragma once

#include <cstddef>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "messages/stage_job.h"  // Labels

namespace recomp {

enum class Role : uint8_t {
  kWorker = 0,     // registers as a worker, takes jobs, reads their inputs, stores outputs
  kSubmitter = 1,  // submits and cancels runs, and everything a reader may
  kReader = 2,     // status, runs, events, replay, generated blobs
};
std::string_view ToString(Role r);
Result<Role> ParseRole(std::string_view s);

struct AllowedKey {
  std::string public_key;  // Z85
  std::string name;        // the authenticated identity: ZAP's user id, `requested_by`
  Role role = Role::kReader;
  Labels labels;  // the labels a worker may declare besides os, arch and pool=default
};

inline constexpr size_t kMaxAllowlistBytes = 4u << 20;
inline constexpr size_t kMaxAllowlistKeys = 100000;

class Allowlist {
 public:
  // Parses allowlist text; `source` (a path) names it in errors, which give the line number.
  // InvalidArgument for a malformed line, a duplicate key or name, or too much text.
  static Result<Allowlist> Parse(std::string_view text, std::string_view source);

  // Adds one entry (the pool's own keys); InvalidArgument when its key or name is listed.
  Status Add(AllowedKey key);
  // The entry of `public_key` (Z85), or nullptr: not allowed.
  const AllowedKey* Find(std::string_view public_key) const;
  // The entry named `name`, or nullptr.
  const AllowedKey* FindName(std::string_view name) const;
  const std::vector<AllowedKey>& entries() const { return entries_; }

 private:
  std::vector<AllowedKey> entries_;
  std::map<std::string, size_t, std::less<>> by_key_;
  std::map<std::string, size_t, std::less<>> by_name_;
};

}  // namespace recomp
