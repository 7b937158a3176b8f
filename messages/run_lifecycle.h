// The run lifecycle state machine (docs/lifecycle.md): states, the allowed transitions with
// their reasons, and which event each emits. Pure functions over constant tables: thread-safe.
#pragma once

#include <array>
#include <optional>
#include <span>
#include <string_view>

#include "base/status.h"

namespace recomp {

enum class RunState : uint8_t { kQueued = 0, kRunning, kBlocked, kFailed, kSucceeded };
inline constexpr std::array<std::string_view, 5> kRunStateNames = {"queued", "running", "blocked",
                                                                   "failed", "succeeded"};
inline constexpr std::array<RunState, 5> kAllRunStates = {RunState::kQueued, RunState::kRunning,
                                                          RunState::kBlocked, RunState::kFailed,
                                                          RunState::kSucceeded};

// SPEC-250's five run events, then recomp's extensions (docs/events.md, "Extensions"): a job
// attempt started on a worker, a failed attempt that will be retried (subject: the run), and a
// worker that joined or left the pool (subject: the worker id). Extensions never change a run's
// state; job.started sets its current_stage and stage_attempt.
enum class EventType : uint8_t {
  kRequested = 0,
  kStarted,
  kStageCompleted,
  kValidationCompleted,
  kCompleted,
  kJobStarted,
  kJobRetryScheduled,
  kWorkerJoined,
  kWorkerLeft,
};
inline constexpr std::array<std::string_view, 9> kEventTypeNames = {
    "recomp.run.requested",       "recomp.run.started",
    "recomp.run.stage.completed", "recomp.run.validation.completed",
    "recomp.run.completed",       "recomp.job.started",
    "recomp.job.retry_scheduled", "recomp.worker.joined",
    "recomp.worker.left"};
// Whether events of type `t` belong to a run (subject = run id, indexed by run, folded by the
// reducer): all but the worker events.
constexpr bool IsRunEvent(EventType t) {
  return t != EventType::kWorkerJoined && t != EventType::kWorkerLeft;
}

std::string_view ToString(RunState s);
std::string_view ToString(EventType t);
Result<RunState> ParseRunState(std::string_view s);
Result<EventType> ParseEventType(std::string_view s);
// True when `prefix` starts some event type's name (the empty prefix and "recomp.run." do):
// the subscriptions the events endpoint accepts.
bool IsEventTopicPrefix(std::string_view prefix);

// Terminal states (failed, succeeded) never change.
constexpr bool IsTerminal(RunState s) {
  return s == RunState::kFailed || s == RunState::kSucceeded;
}

struct Transition {
  RunState from;
  RunState to;
  std::string_view reason;         // why a run takes this edge
  std::optional<EventType> emits;  // the event published when it is taken, if any
};

// Every allowed transition; any pair not listed is illegal. A new run enters kQueued and
// emits recomp.run.requested (not a transition: there is no prior state).
std::span<const Transition> AllowedTransitions();

// OK when from -> to is allowed; FailedPrecondition naming both states and why otherwise
// (including the self-loop from == to and any change of a terminal state).
Status CheckTransition(RunState from, RunState to);

// The allowed transition from -> to, or nullptr.
const Transition* FindTransition(RunState from, RunState to);

}  // namespace recomp
