// The transition table. Keep it in step with docs/lifecycle.md (a test compares them).
#include "messages/run_lifecycle.h"

#include <string>

#include "messages/codec.h"

namespace recomp {
namespace {

using RS = RunState;
constexpr Transition kTransitions[] = {
    {RS::kQueued, RS::kRunning, "a first job was dispatched", EventType::kStarted},
    {RS::kQueued, RS::kBlocked, "the run cannot be scheduled yet (e.g. no backend for its mode)",
     std::nullopt},
    {RS::kQueued, RS::kFailed,
     "rejected before starting (bad pipeline, missing input) or cancelled", EventType::kCompleted},
    {RS::kRunning, RS::kBlocked, "waiting on something outside the run (no eligible worker)",
     std::nullopt},
    {RS::kRunning, RS::kFailed, "a job failed after its retries, or the run was cancelled",
     EventType::kCompleted},
    {RS::kRunning, RS::kSucceeded, "every stage completed and validation (if any) passed",
     EventType::kCompleted},
    {RS::kBlocked, RS::kRunning, "the blocking condition cleared", std::nullopt},
    {RS::kBlocked, RS::kQueued, "unblocked before any job was dispatched", std::nullopt},
    {RS::kBlocked, RS::kFailed, "cancelled, or the block became permanent", EventType::kCompleted},
};

}  // namespace

std::string_view ToString(RunState s) {
  return kRunStateNames[static_cast<size_t>(s)];
}
std::string_view ToString(EventType t) {
  return kEventTypeNames[static_cast<size_t>(t)];
}

Result<RunState> ParseRunState(std::string_view s) {
  return wire::ParseEnumName<RunState>(s, kRunStateNames, "run state");
}
Result<EventType> ParseEventType(std::string_view s) {
  return wire::ParseEnumName<EventType>(s, kEventTypeNames, "event type");
}

std::span<const Transition> AllowedTransitions() {
  return kTransitions;
}

const Transition* FindTransition(RunState from, RunState to) {
  for (const Transition& t : kTransitions) {
    if (t.from == from && t.to == to) return &t;
  }
  return nullptr;
}

Status CheckTransition(RunState from, RunState to) {
  if (FindTransition(from, to) != nullptr) return Status::Ok();
  std::string edge = std::string(ToString(from)) + " -> " + std::string(ToString(to));
  if (IsTerminal(from)) {
    return Status::FailedPrecondition("illegal run transition " + edge + ": " +
                                      std::string(ToString(from)) +
                                      " is terminal and never changes");
  }
  if (from == to) {
    return Status::FailedPrecondition("illegal run transition " + edge + ": already " +
                                      std::string(ToString(from)));
  }
  return Status::FailedPrecondition("illegal run transition " + edge +
                                    ": not in the lifecycle table (docs/lifecycle.md)");
}

bool IsEventTopicPrefix(std::string_view prefix) {
  for (std::string_view name : kEventTypeNames) {
    if (name.substr(0, prefix.size()) == prefix) return true;
  }
  return false;
}

}  // namespace recomp
