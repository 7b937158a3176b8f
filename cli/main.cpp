// recomp: the command-line entry point. Parses flags with CLI11 and dispatches to the
// subcommand groups registered in commands.h; all logic lives in the component libraries.
#include <cstdio>
#include <cstdlib>

#include "cli/commands.h"

namespace recomp::cli {

int ReportStatus(const Status& s) {
  if (s.ok()) return 0;
  std::fprintf(stderr, "error: %s\n", s.ToString().c_str());
  // The pool did not answer, or refused us: a different failure from a bad request or run.
  const bool unreachable =
      s.code() == Status::Code::kUnavailable || s.code() == Status::Code::kPermissionDenied;
  return unreachable ? kExitUnreachable : kExitFailed;
}

void ExitIfError(const Status& s) {
  if (!s.ok()) throw CLI::RuntimeError(ReportStatus(s));
}

void ExitWith(int code) {
  if (code != 0) throw CLI::RuntimeError(code);
}

}  // namespace recomp::cli

int main(int argc, char** argv) {
  CLI::App app{"recomp: a local-first worker pool for static recompilation pipelines"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "recomp 0.1.0");
  recomp::cli::AddArtifactCommands(app);
  recomp::cli::AddUpCommand(app);
  recomp::cli::AddCoordinatorCommands(app);
  recomp::cli::AddWorkerCommands(app);
  recomp::cli::AddSubmitCommand(app);
  recomp::cli::AddClientCommands(app);
  recomp::cli::AddKeysCommands(app);
  recomp::cli::AddProvenanceCommands(app);
  recomp::cli::AddShowCommand(app);
  recomp::cli::AddLogsCommand(app);
  recomp::cli::AddTopCommand(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::RuntimeError& e) {
    return e.get_exit_code();  // a subcommand failed; it already printed why
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  return 0;
}
