// The run state machine: every pair of states is checked against the table.
#include <doctest/doctest.h>

#include <fstream>
#include <set>
#include <sstream>

#include "messages/run_lifecycle.h"

using namespace recomp;

TEST_CASE("every pair of states is either allowed or refused with a reason") {
  const std::set<std::pair<RunState, RunState>> allowed = {
      {RunState::kQueued, RunState::kRunning},  {RunState::kQueued, RunState::kBlocked},
      {RunState::kQueued, RunState::kFailed},   {RunState::kRunning, RunState::kBlocked},
      {RunState::kRunning, RunState::kFailed},  {RunState::kRunning, RunState::kSucceeded},
      {RunState::kBlocked, RunState::kRunning}, {RunState::kBlocked, RunState::kQueued},
      {RunState::kBlocked, RunState::kFailed}};
  int checked = 0;
  for (RunState from : kAllRunStates) {
    for (RunState to : kAllRunStates) {
      Status s = CheckTransition(from, to);
      bool expect = allowed.count({from, to}) > 0;
      CHECK_MESSAGE(s.ok() == expect, ToString(from), " -> ", ToString(to));
      if (!expect) {
        CHECK(s.code() == Status::Code::kFailedPrecondition);
        CHECK(s.message().find(std::string(ToString(from)) + " -> " + std::string(ToString(to))) !=
              std::string::npos);
      }
      ++checked;
    }
  }
  CHECK(checked == 25);
  CHECK(AllowedTransitions().size() == allowed.size());
}

TEST_CASE("terminal states never change") {
  for (RunState t : {RunState::kFailed, RunState::kSucceeded}) {
    CHECK(IsTerminal(t));
    for (RunState to : kAllRunStates) {
      Status s = CheckTransition(t, to);
      CHECK_FALSE(s.ok());
      CHECK(s.message().find("terminal") != std::string::npos);
    }
  }
}

TEST_CASE("transitions into a terminal state emit recomp.run.completed; start emits started") {
  for (const Transition& t : AllowedTransitions()) {
    CHECK_FALSE(t.reason.empty());
    if (IsTerminal(t.to)) {
      REQUIRE(t.emits.has_value());
      CHECK(*t.emits == EventType::kCompleted);
    }
  }
  CHECK(*FindTransition(RunState::kQueued, RunState::kRunning)->emits == EventType::kStarted);
  CHECK_FALSE(FindTransition(RunState::kBlocked, RunState::kRunning)->emits.has_value());
}

TEST_CASE("names parse back and unknown names are refused") {
  for (RunState s : kAllRunStates) CHECK(ParseRunState(ToString(s)).value() == s);
  CHECK(ParseRunState("paused").status().message().find(
            "queued|running|blocked|failed|succeeded") != std::string::npos);
  CHECK(ParseEventType("recomp.run.completed").value() == EventType::kCompleted);
  CHECK_FALSE(ParseEventType("recomp.run.done").ok());
}

TEST_CASE("docs/lifecycle.md lists exactly the allowed transitions") {
  const char* root = std::getenv("RECOMP_SOURCE_DIR");
  REQUIRE(root != nullptr);
  std::ifstream in(std::string(root) + "/docs/lifecycle.md");
  REQUIRE(in.good());
  std::stringstream ss;
  ss << in.rdbuf();
  std::string doc = ss.str();
  for (const Transition& t : AllowedTransitions()) {
    std::string row =
        "| " + std::string(ToString(t.from)) + " | " + std::string(ToString(t.to)) + " |";
    CHECK_MESSAGE(doc.find(row) != std::string::npos, "missing row: ", row);
  }
}
