// ModuleManifest v1 JSON encoding.
#include "messages/module_manifest.h"

#include <algorithm>
#include <set>

#include <nlohmann/json.hpp>

#include "messages/artifact_ref.h"

namespace recomp {

Status ValidateModuleFileName(std::string_view name) {
  if (name.empty()) return Status::InvalidArgument("module file name is empty");
  if (name == "." || name == ".." || name.find('/') != std::string_view::npos ||
      name.find('\0') != std::string_view::npos || name.size() > 255) {
    return Status::InvalidArgument(
        "module file name '" + Printable(name.substr(0, 64)) +
        "' is invalid: it must be a plain file name (no '/', not '.' or '..', no NUL, at most 255 "
        "bytes) placed at in/module/<name>");
  }
  return Status::Ok();
}

Status ValidateModuleFiles(const std::vector<ModuleFile>& files) {
  std::set<std::string_view> seen;
  for (const ModuleFile& m : files) {
    RECOMP_RETURN_IF_ERROR(ValidateModuleFileName(m.name));
    if (!seen.insert(m.name).second) {
      return Status::InvalidArgument("module file name '" + m.name + "' is given twice");
    }
  }
  return Status::Ok();
}

std::string EncodeModuleManifest(const ModuleManifest& m) {
  std::vector<ModuleFile> files = m.files;
  std::sort(files.begin(), files.end(),
            [](const auto& a, const auto& b) { return a.name < b.name; });
  nlohmann::json j = {{"schema_version", ModuleManifest::kSchemaVersion},
                      {"files", nlohmann::json::array()}};
  for (const ModuleFile& f : files) {
    j["files"].push_back({{"name", f.name}, {"ref", f.digest.Ref()}});
  }
  return j.dump() + "\n";
}

Result<ModuleManifest> DecodeModuleManifest(std::string_view text) {
  nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return Status::InvalidArgument("module manifest: not a JSON object");
  }
  if (!j.contains("schema_version") || j["schema_version"] != ModuleManifest::kSchemaVersion) {
    return Status::InvalidArgument("module manifest: schema_version must be 1");
  }
  if (!j.contains("files") || !j["files"].is_array() || j["files"].size() > 10000) {
    return Status::InvalidArgument("module manifest: files must be an array of at most 10000");
  }
  ModuleManifest m;
  std::set<std::string> seen;
  for (size_t i = 0; i < j["files"].size(); ++i) {
    const auto& f = j["files"][i];
    std::string where = "module manifest: files[" + std::to_string(i) + "]";
    if (!f.is_object() || !f.contains("name") || !f["name"].is_string() || !f.contains("ref") ||
        !f["ref"].is_string()) {
      return Status::InvalidArgument(where + ": needs string fields name and ref");
    }
    ModuleFile mf;
    mf.name = f["name"].get<std::string>();
    if (Status s = ValidateModuleFileName(mf.name); !s.ok()) return s.WithContext(where);
    auto d = ParseArtifactRef(f["ref"].get<std::string>());
    if (!d.ok()) return d.status().WithContext(where);
    mf.digest = *d;
    if (!seen.insert(mf.name).second) {
      return Status::InvalidArgument(where + ": duplicate name '" + mf.name + "'");
    }
    m.files.push_back(std::move(mf));
  }
  std::sort(m.files.begin(), m.files.end(),
            [](const auto& a, const auto& b) { return a.name < b.name; });
  return m;
}

}  // namespace recomp
