// Subcommand registration for the `recomp` CLI. Each cli/<group>_cmd.cpp adds its subcommands
// to the app; main.cpp only wires them. Exit codes: 0 ok, 1 runtime failure, 2 usage error.
#pragma once

#include <string>

#include <CLI/CLI.hpp>

#include "base/status.h"
#include "cli/config.h"  // DefaultHome, DataDir

namespace recomp::cli {

struct Connection;
class BlobAccess;

// Exit codes of every subcommand (README, `recomp --help`).
inline constexpr int kExitFailed = 1;       // the run failed, or the command could not do it
inline constexpr int kExitUsage = 2;        // bad flags or arguments
inline constexpr int kExitUnreachable = 3;  // the pool did not answer, or refused the key
inline constexpr int kExitInterrupted = 130;

// Prints "error: <message>" to stderr and returns the exit code for `s` (0 when ok; in a
// command that talks to a pool (Connect was called) kExitUnreachable for UNAVAILABLE and
// PERMISSION_DENIED; else kExitFailed).
int ReportStatus(const Status& s);
// Connect calls it: from now on this process is a client of a pool (see ReportStatus).
void MarkPoolClient();
// For subcommand callbacks: returns when `s` is ok, else prints it and throws
// CLI::RuntimeError(ReportStatus(s)), which main() turns into the process exit code.
void ExitIfError(const Status& s);
// Ends the subcommand with `code` (no message) when code != 0.
void ExitWith(int code);

void AddArtifactCommands(CLI::App& app);
void AddCoordinatorCommands(CLI::App& app);
void AddUpCommand(CLI::App& app);
void AddSubmitCommand(CLI::App& app);
void AddClientCommands(CLI::App& app);
void AddWorkerCommands(CLI::App& app);
void AddKeysCommands(CLI::App& app);
void AddProvenanceCommands(CLI::App& app);
void AddShowCommand(CLI::App& app);
void AddLogsCommand(CLI::App& app);
void AddTopCommand(CLI::App& app);
// `help`, `completion`, and the global --log-level / -v (their value lands in *log_level,
// which must outlive parsing).
void AddHelpCommands(CLI::App& app, std::string* log_level);
// The registered command closest to `typed` (at most 2 edits, or one it starts), or "".
std::string SuggestCommand(CLI::App& app, const std::string& typed);

// Follows run_id's events to its end, printing progress (the final status as JSON with
// `json`); on failure also PrintFailureTail. Returns the exit code: 0 succeeded, 1 failed.
int WaitForRun(Connection& c, BlobAccess* blobs, const std::string& run_id, bool json);
// To stderr: the failing job of failed run `run_id`, the last 20 lines of its log (read
// through `blobs` when not null) and the `recomp logs` command that prints all of it.
void PrintFailureTail(Connection& c, BlobAccess* blobs, const std::string& run_id);

}  // namespace recomp::cli
