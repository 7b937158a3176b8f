// libFuzzer target, one per text format (RECOMP_FUZZ_TEXT selects it at compile time): the
// pipeline manifest (TOML, user-written and resolved), the module manifest and trees (JSON),
// and the config file (TOML).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "tests/fuzz/fuzz_records.h"

#if RECOMP_FUZZ_TEXT == 1
#include "coordinator/pipeline.h"
#elif RECOMP_FUZZ_TEXT == 2
#include "messages/module_manifest.h"
#include "messages/tree.h"
#elif RECOMP_FUZZ_TEXT == 3
#include "cli/config.h"
#endif

using namespace recomp;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
#if RECOMP_FUZZ_TEXT == 1
  auto p = coordinator::ParsePipeline(text, "fuzz.toml");
  if (p.ok()) {
    FuzzCheck(p->order.size() == p->stages.size(), "every stage is ordered");
    for (const auto& s : p->stages) FuzzCheck(p->FindStage(s.name) == &s, "stages are indexed");
  }
  (void)coordinator::ParseResolvedPipeline(text, "fuzz.toml");
#elif RECOMP_FUZZ_TEXT == 2
  auto m = DecodeModuleManifest(text);
  if (m.ok()) {
    auto again = DecodeModuleManifest(EncodeModuleManifest(*m));
    FuzzCheck(again.ok() && EncodeModuleManifest(*again) == EncodeModuleManifest(*m),
              "a module manifest re-encodes");
  }
  auto t = DecodeTree(text);
  if (t.ok()) {
    auto again = DecodeTree(EncodeTree(*t));
    FuzzCheck(again.ok() && again->entries == t->entries, "a tree re-encodes");
  }
#elif RECOMP_FUZZ_TEXT == 3
  (void)cli::Config::Parse(text, "fuzz.toml");
#else
#error "RECOMP_FUZZ_TEXT selects the format (1-3)"
#endif
  return 0;
}
