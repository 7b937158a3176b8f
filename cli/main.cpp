// recomp: the command-line entry point. Parses flags with CLI11 and dispatches to the
// subcommand groups registered in commands.h; all logic lives in the component libraries.
#include <cstdio>
#include <cstdlib>

#include "cli/commands.h"

namespace recomp::cli {

namespace {
bool g_pool_client = false;  // set by the main thread (Connect), read when a command fails
}  // namespace

void MarkPoolClient() {
  g_pool_client = true;
}

int ReportStatus(const Status& s) {
  if (s.ok()) return 0;
  std::fprintf(stderr, "error: %s\n", s.ToString().c_str());
  // The pool did not answer, or refused us: a different failure from a bad request or run.
  const bool unreachable =
      s.code() == Status::Code::kUnavailable || s.code() == Status::Code::kPermissionDenied;
  return g_pool_client && unreachable ? kExitUnreachable : kExitFailed;
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
  // Before the commands are added (they inherit it): --log-level and -v also after a command.
  app.fallthrough();
  app.set_version_flag("--version", std::string("recomp ") + RECOMP_VERSION);
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
  std::string log_level;
  recomp::cli::AddHelpCommands(app, &log_level);
  app.footer(
      "Exit codes: 0 done, 1 the run failed or the command could not do it, 2 bad usage, 3 the "
      "pool did not answer (--timeout) or refused the key, 130 interrupted.\n"
      "`recomp help COMMAND` shows a command's options.");
  // A mistyped command: name the closest one instead of a generic parse error.
  if (argc > 1 && argv[1][0] != '-') {
    const std::string typed = argv[1];
    bool known = false;
    for (CLI::App* s : app.get_subcommands({})) known = known || s->get_name() == typed;
    if (!known) {
      const std::string hint = recomp::cli::SuggestCommand(app, typed);
      std::fprintf(stderr, "recomp: unknown command '%s'%s (recomp help lists them)\n",
                   typed.c_str(), hint.empty() ? "" : ("; did you mean '" + hint + "'?").c_str());
      return recomp::cli::kExitUsage;
    }
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::RuntimeError& e) {
    return e.get_exit_code();  // a subcommand failed; it already printed why
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : recomp::cli::kExitUsage;
  }
  return 0;
}
