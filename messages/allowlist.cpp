// Allowlist (see allowlist.h).
#include "messages/allowlist.h"

#include <array>
#include <sstream>

#include "base/names.h"

namespace recomp {
namespace {

constexpr std::array<std::string_view, 3> kRoleNames = {"worker", "submitter", "reader"};
constexpr std::string_view kZ85 =
    "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";

bool IsZ85Key(std::string_view k) {
  return k.size() == 40 && k.find_first_not_of(kZ85) == std::string_view::npos;
}

// The words of a line before its comment. Z85 has '#' in its alphabet, so a comment is a word
// starting with '#' that is not the line's key (a key is exactly 40 characters; "#<key> ..." is
// 41 and so a commented-out entry).
std::vector<std::string> Words(const std::string& line) {
  std::istringstream in(line);
  std::vector<std::string> words;
  for (std::string w; in >> w;) {
    if (w[0] == '#' && !(words.empty() && IsZ85Key(w))) break;
    words.push_back(w);
  }
  return words;
}

// One line's entry (`words` has at least one word); errors without the line prefix.
Result<AllowedKey> ParseEntry(const std::vector<std::string>& words) {
  if (words.size() < 3) {
    return Status::InvalidArgument("expected '<public key> <name> <role> [key=value ...]'");
  }
  AllowedKey k;
  if (!IsZ85Key(words[0])) {
    return Status::InvalidArgument("'" + words[0].substr(0, 48) +
                                   "' is not a CURVE public key (40 characters of Z85)");
  }
  k.public_key = words[0];
  RECOMP_RETURN_IF_ERROR(ValidateSafeName(words[1], 64, "name"));
  k.name = words[1];
  RECOMP_ASSIGN_OR_RETURN(k.role, ParseRole(words[2]));
  for (size_t i = 3; i < words.size(); ++i) {
    size_t eq = words[i].find('=');
    if (eq == std::string::npos) {
      return Status::InvalidArgument("label '" + words[i].substr(0, 64) + "' is not key=value");
    }
    if (!k.labels.emplace(words[i].substr(0, eq), words[i].substr(eq + 1)).second) {
      return Status::InvalidArgument("label " + words[i].substr(0, eq) + " given twice");
    }
  }
  RECOMP_RETURN_IF_ERROR(ValidateLabels(k.labels, "labels"));
  if (!k.labels.empty() && k.role != Role::kWorker) {
    return Status::InvalidArgument("only a worker key has labels");
  }
  return k;
}

}  // namespace

std::string_view ToString(Role r) {
  return kRoleNames[static_cast<size_t>(r)];
}

Result<Role> ParseRole(std::string_view s) {
  for (size_t i = 0; i < kRoleNames.size(); ++i) {
    if (kRoleNames[i] == s) return static_cast<Role>(i);
  }
  return Status::InvalidArgument("role '" + std::string(s.substr(0, 32)) +
                                 "' is not worker, submitter or reader");
}

Result<Allowlist> Allowlist::Parse(std::string_view text, std::string_view source) {
  const std::string where(source);
  if (text.size() > kMaxAllowlistBytes) {
    return Status::InvalidArgument(where + ": more than " + std::to_string(kMaxAllowlistBytes) +
                                   " bytes");
  }
  Allowlist list;
  std::map<std::string, size_t> names;  // name -> line
  std::istringstream in{std::string(text)};
  size_t line_no = 0;
  for (std::string line; std::getline(in, line);) {
    ++line_no;
    std::vector<std::string> words = Words(line);
    if (words.empty()) continue;
    const std::string at = where + ":" + std::to_string(line_no) + ": ";
    Result<AllowedKey> k = ParseEntry(words);
    if (!k.ok()) return k.status().WithContext(at.substr(0, at.size() - 2));
    if (list.by_key_.count(k->public_key) != 0) {
      return Status::InvalidArgument(at + "key of " + k->name + " is listed twice");
    }
    if (auto n = names.find(k->name); n != names.end()) {
      return Status::InvalidArgument(at + "name " + k->name + " is already used on line " +
                                     std::to_string(n->second));
    }
    if (list.entries_.size() == kMaxAllowlistKeys) {
      return Status::InvalidArgument(at + "more than " + std::to_string(kMaxAllowlistKeys) +
                                     " keys");
    }
    names.emplace(k->name, line_no);
    RECOMP_RETURN_IF_ERROR(list.Add(std::move(k).value()));
  }
  return list;
}

Status Allowlist::Add(AllowedKey key) {
  if (by_key_.count(key.public_key) != 0) {
    return Status::InvalidArgument("key of " + key.name + " is listed twice");
  }
  if (by_name_.count(key.name) != 0) {
    return Status::InvalidArgument("name " + key.name + " is listed twice");
  }
  by_key_.emplace(key.public_key, entries_.size());
  by_name_.emplace(key.name, entries_.size());
  entries_.push_back(std::move(key));
  return Status::Ok();
}

const AllowedKey* Allowlist::FindName(std::string_view name) const {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : &entries_[it->second];
}

const AllowedKey* Allowlist::Find(std::string_view public_key) const {
  auto it = by_key_.find(public_key);
  return it == by_key_.end() ? nullptr : &entries_[it->second];
}

}  // namespace recomp
