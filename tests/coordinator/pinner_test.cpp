// Pinner: pins reach the artifact store in the order they were enqueued (a run's terminal pin
// is never overwritten by its earlier active one), Drain waits for them, failures are counted
// and logged without stopping the thread, and destruction writes what is still queued.
#include "coordinator/pinner.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "tests/store/store_test_util.h"

using namespace recomp;
using namespace recomp::coordinator;
using recomp::store::testing::TempDir;

namespace {

std::unique_ptr<store::ArtifactStore> OpenStore(const TempDir& dir) {
  auto s = store::ArtifactStore::Open(dir / "store");
  REQUIRE_MESSAGE(s.ok(), s.status().ToString());
  return std::move(s).value();
}

Digest Put(store::ArtifactStore& s, const std::string& bytes) {
  auto rec = s.PutBytes(bytes);
  REQUIRE_MESSAGE(rec.ok(), rec.status().ToString());
  return ParseArtifactRef(rec->ref).value();
}

const store::RunPin* FindPin(const std::vector<store::RunPin>& pins, const std::string& run) {
  auto it = std::find_if(pins.begin(), pins.end(), [&](const auto& p) { return p.run_id == run; });
  return it == pins.end() ? nullptr : &*it;
}

}  // namespace

TEST_CASE("pinner: pins are written in order; Drain waits for them") {
  TempDir dir;
  auto store = OpenStore(dir);
  Digest a = Put(*store, "a"), b = Put(*store, "b");
  Pinner pinner(store.get());
  std::vector<Effects::Pin> batch;
  for (int i = 0; i < 50; ++i) {
    std::string run = "run-" + std::to_string(i);
    batch.push_back({run, store::RunPinState::kActive, {a}});
    batch.push_back(
        {run, i % 2 ? store::RunPinState::kSucceeded : store::RunPinState::kFailed, {b}});
  }
  pinner.Enqueue(std::move(batch));
  pinner.Drain();
  CHECK(pinner.written() == 100);
  CHECK(pinner.failed() == 0);
  auto pins = store->ListPins();
  REQUIRE(pins.ok());
  CHECK(pins->size() == 50);
  for (int i = 0; i < 50; ++i) {
    const store::RunPin* p = FindPin(*pins, "run-" + std::to_string(i));
    REQUIRE(p != nullptr);
    // The terminal pin came second and won; refs accumulate.
    CHECK(p->state == (i % 2 ? store::RunPinState::kSucceeded : store::RunPinState::kFailed));
    CHECK(p->refs.size() == 2);
  }
}

TEST_CASE("pinner: a refused pin is counted and the next ones are still written") {
  TempDir dir;
  auto store = OpenStore(dir);
  Digest a = Put(*store, "a");
  Pinner pinner(store.get());
  pinner.Enqueue({{"", store::RunPinState::kActive, {a}},  // no run id: refused by the store
                  {"run-ok", store::RunPinState::kActive, {a}}});
  pinner.Drain();
  CHECK(pinner.failed() == 1);
  CHECK(pinner.written() == 1);
  auto pins = store->ListPins();
  REQUIRE(pins.ok());
  CHECK(FindPin(*pins, "run-ok") != nullptr);
}

TEST_CASE("pinner: destruction writes what is still queued; an empty Enqueue is a no-op") {
  TempDir dir;
  auto store = OpenStore(dir);
  Digest a = Put(*store, "a");
  {
    Pinner pinner(store.get());
    pinner.Enqueue({});
    pinner.Drain();  // nothing queued: returns at once
    std::vector<Effects::Pin> batch;
    for (int i = 0; i < 20; ++i)
      batch.push_back({"r-" + std::to_string(i), store::RunPinState::kActive, {a}});
    pinner.Enqueue(std::move(batch));
  }
  auto pins = store->ListPins();
  REQUIRE(pins.ok());
  CHECK(pins->size() == 20);
}

TEST_CASE("pinner: pins queued while it lingers share one commit, in order") {
  TempDir dir;
  auto store = OpenStore(dir);
  Digest a = Put(*store, "a"), b = Put(*store, "b");
  Pinner pinner(store.get());
  // One Enqueue per pin, as the coordinator does per batch: the active pin of each run, then
  // its terminal pin in a later call. Whatever the batching, the terminal state wins.
  for (int i = 0; i < 30; ++i)
    pinner.Enqueue({{"run-" + std::to_string(i), store::RunPinState::kActive, {a}}});
  for (int i = 0; i < 30; ++i)
    pinner.Enqueue({{"run-" + std::to_string(i), store::RunPinState::kSucceeded, {b}}});
  pinner.Drain();
  CHECK(pinner.written() == 60);
  auto pins = store->ListPins();
  REQUIRE(pins.ok());
  REQUIRE(pins->size() == 30);
  for (const auto& p : *pins) {
    CHECK(p.state == store::RunPinState::kSucceeded);
    CHECK(p.refs.size() == 2);
  }
}
