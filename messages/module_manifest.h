// ModuleManifest v1: the files a run recompiles (the ROM, symbol files, ...), each by name and
// artifact ref. Stored as a JSON artifact (docs/pipeline.md); jobs see them at in/module/<name>.
// Plain value; thread-compatible.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "base/digest.h"
#include "base/status.h"

namespace recomp {

// A file of the module under recompilation; jobs see it at in/module/<name>.
struct ModuleFile {
  std::string name;  // a single path component: no '/', not "." or "..", 1-255 bytes
  Digest digest;     // of its bytes; its ref is digest.Ref()
  bool operator==(const ModuleFile&) const = default;
};

struct ModuleManifest {
  static constexpr int kSchemaVersion = 1;
  std::vector<ModuleFile> files;  // sorted by name, names unique
};

// The one rule for module file names: a plain file name (no '/', not "." or "..", no NUL,
// 1-255 bytes). InvalidArgument naming the name.
Status ValidateModuleFileName(std::string_view name);
// Every name valid and no name twice.
Status ValidateModuleFiles(const std::vector<ModuleFile>& files);
// Canonical JSON text (sorted, compact, trailing newline): the same files give the same bytes,
// hence the same artifact ref.
std::string EncodeModuleManifest(const ModuleManifest& m);
// Strict: JSON object {"schema_version":1,"files":[{"name":..,"ref":..}]}, at most 10,000 files.
Result<ModuleManifest> DecodeModuleManifest(std::string_view json_text);

}  // namespace recomp
