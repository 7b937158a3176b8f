// The pure reducer that turns a run's events into its RunStatus. The coordinator computes
// every stored run row with it (row = fold(events)), and `recomp audit` replays the log with it
// and compares: the event log is the source of truth (as in Temporal). Pure; thread-safe.
#pragma once

#include <vector>

#include "base/status.h"
#include "messages/event.h"
#include "messages/run_status.h"

namespace recomp::coordinator {

// Applies one event to `status` (the run's row before it). Fails when the event is not for
// this run, breaks the lifecycle (e.g. a second `requested`, anything after `completed`), or
// its data lacks the fields the reducer reads.
Status ApplyEvent(const Event& event, RunStatus* status);

// Folds a run's events in sequence order from an empty row.
Result<RunStatus> ReduceEvents(const std::vector<Event>& events);

}  // namespace recomp::coordinator
