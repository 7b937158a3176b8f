// Reading a pipeline manifest from disk with its tools (LoadPipelineFile, pipeline.h).
#include <fstream>
#include <sstream>
#include <system_error>

#include "coordinator/pipeline.h"

namespace recomp::coordinator {

Result<PipelineFile> LoadPipelineFile(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    return Status::NotFound("pipeline manifest '" + path.string() +
                            "' not found (or not a regular file)");
  }
  auto size = std::filesystem::file_size(path, ec);
  if (ec) return Status::IOError("pipeline manifest '" + path.string() + "': " + ec.message());
  if (size > kMaxManifestBytes) {
    return Status::ResourceExhausted("pipeline manifest '" + path.string() + "' is larger than " +
                                     std::to_string(kMaxManifestBytes >> 20) + " MiB");
  }
  std::ifstream in(path, std::ios::binary);
  std::ostringstream buf;
  buf << in.rdbuf();
  if (!in.good() && !in.eof())
    return Status::IOError("pipeline manifest '" + path.string() + "': read failed");
  PipelineFile f{path, buf.str(), {}, {}};
  RECOMP_ASSIGN_OR_RETURN(f.pipeline, ParsePipeline(f.text, path.string()));
  const std::filesystem::path dir = path.parent_path();
  const std::vector<std::string> paths = f.pipeline.AllTools();
  const std::vector<std::string> bases = f.pipeline.ToolBasenames();  // index-aligned
  for (size_t i = 0; i < paths.size(); ++i) {
    const std::string& t = paths[i];
    ToolFile tf{bases[i], dir / t};
    if (!std::filesystem::is_regular_file(tf.path, ec)) {
      return Status::NotFound(path.string() + ": tool '" + t + "' not found at '" +
                              tf.path.string() + "' (or not a regular file)");
    }
    f.tools.push_back(std::move(tf));
  }
  return f;
}

}  // namespace recomp::coordinator
