// JobQueue and WorkerRegistry: ordering, bounds, keys and the dispatch choice.
#include "broker/job_queue.h"
#include "broker/worker_registry.h"

#include <doctest/doctest.h>

#include "broker_test_util.h"

namespace recomp::broker {
namespace {

using testing::MakeJob;

TEST_CASE("job queue: priority first, FIFO within a priority") {
  JobQueue q(10);
  CHECK(q.Push(MakeJob(1, Priority::kLow)) == JobQueue::PushResult::kQueued);
  CHECK(q.Push(MakeJob(2, Priority::kStandard)) == JobQueue::PushResult::kQueued);
  CHECK(q.Push(MakeJob(3, Priority::kHigh)) == JobQueue::PushResult::kQueued);
  CHECK(q.Push(MakeJob(4, Priority::kHigh)) == JobQueue::PushResult::kQueued);
  CHECK(q.Push(MakeJob(5, Priority::kLow)) == JobQueue::PushResult::kQueued);
  std::vector<std::string> order;
  while (auto j = q.Pop()) order.push_back(j->job_id);
  CHECK(order == std::vector<std::string>{testing::JobId(3), testing::JobId(4), testing::JobId(2),
                                          testing::JobId(1), testing::JobId(5)});
  CHECK(q.empty());
}

TEST_CASE("job queue: bounded, duplicates recognised, remove and push-front") {
  JobQueue q(2);
  CHECK(q.Push(MakeJob(1)) == JobQueue::PushResult::kQueued);
  CHECK(q.Push(MakeJob(1)) == JobQueue::PushResult::kDuplicate);
  CHECK(q.Push(MakeJob(1, Priority::kStandard, 2)) ==
        JobQueue::PushResult::kQueued);  // other attempt
  CHECK(q.Push(MakeJob(3)) == JobQueue::PushResult::kFull);
  CHECK(q.Contains({testing::JobId(1), 2}));
  auto removed = q.Remove({testing::JobId(1), 2});
  REQUIRE(removed.has_value());
  CHECK(removed->attempt == 2);
  CHECK_FALSE(q.Remove({testing::JobId(1), 2}).has_value());
  CHECK(q.Push(MakeJob(3)) == JobQueue::PushResult::kQueued);
  auto first = q.Pop();
  REQUIRE(first);
  CHECK(first->job_id == testing::JobId(1));
  q.PushFront(*first);  // back at the head, ahead of job 3
  CHECK(q.Pop()->job_id == testing::JobId(1));
  CHECK(q.Pop()->job_id == testing::JobId(3));
  CHECK_FALSE(q.Pop().has_value());
}

TEST_CASE("job queue: a job's wire bytes travel with it through push, push-front and remove") {
  JobQueue q(4);
  CHECK(q.Push(QueuedJob(MakeJob(1), "dispatch-body-1")) == JobQueue::PushResult::kQueued);
  CHECK(q.Push(MakeJob(2)) == JobQueue::PushResult::kQueued);  // wire unknown
  auto a = q.Pop();
  REQUIRE(a);
  CHECK(a->wire == "dispatch-body-1");
  q.PushFront(std::move(*a));
  CHECK(q.Remove({testing::JobId(1), 1})->wire == "dispatch-body-1");
  CHECK(q.Pop()->wire.empty());
}

TEST_CASE("worker registry: most free credits first, ties least recently used") {
  WorkerRegistry reg;
  auto now = Clock::now();
  proto::WorkerHello a{"a", 2, 1000, 3, "h", 1};
  proto::WorkerHello b{"b", 1, 1000, 3, "h", 2};
  proto::WorkerHello c{"c", 2, 1000, 3, "h", 3};
  reg.Add("ida", a, now, 0);
  reg.Add("idb", b, now, 0);
  reg.Add("idc", c, now, 0);
  auto lease = [](int n) {
    Lease l;
    l.job.job_id = testing::JobId(n);
    l.job.attempt = 1;
    return l;
  };
  // a and c tie at 2 free credits, both never used: identity breaks the tie.
  WorkerEntry* w = reg.PickFreeSlot();
  REQUIRE(w);
  CHECK(w->hello.worker_id == "a");
  reg.AddLease(*w, lease(1));
  w = reg.PickFreeSlot();  // c has 2 free; a and b 1
  CHECK(w->hello.worker_id == "c");
  reg.AddLease(*w, lease(2));
  w = reg.PickFreeSlot();  // all have 1 free: b was never used
  CHECK(w->hello.worker_id == "b");
  reg.AddLease(*w, lease(3));
  w = reg.PickFreeSlot();  // a and c have 1 free: a was used longer ago
  CHECK(w->hello.worker_id == "a");
  reg.AddLease(*w, lease(4));
  w = reg.PickFreeSlot();
  CHECK(w->hello.worker_id == "c");
  reg.AddLease(*w, lease(5));
  CHECK(reg.PickFreeSlot() == nullptr);
  CHECK(reg.Holder({testing::JobId(3), 1})->hello.worker_id == "b");
  CHECK_FALSE(reg.RemoveLease(*reg.Find("ida"), {testing::JobId(3), 1}).has_value());  // not a's
  CHECK(reg.RemoveLease(*reg.Find("idb"), {testing::JobId(3), 1}).has_value());
  CHECK(reg.PickFreeSlot()->hello.worker_id == "b");
  auto removed = reg.Remove("ida");
  REQUIRE(removed);
  CHECK(removed->jobs.size() == 2);
  CHECK(reg.Holder({testing::JobId(1), 1}) == nullptr);
  CHECK(reg.FindByWorkerId("a") == nullptr);
  CHECK(reg.size() == 2);
}

StageJob Requiring(int n, Labels req, Priority p = Priority::kStandard) {
  StageJob j = MakeJob(n, p);
  j.requirements = std::move(req);
  return j;
}

TEST_CASE("job queue: a worker gets the best job among the queues its labels satisfy") {
  JobQueue q(100);
  REQUIRE(q.Push(Requiring(1, {{"gpu", "1"}})) == JobQueue::PushResult::kQueued);
  REQUIRE(q.Push(Requiring(2, {})) == JobQueue::PushResult::kQueued);
  REQUIRE(q.Push(Requiring(3, {{"gpu", "1"}}, Priority::kHigh)) == JobQueue::PushResult::kQueued);
  REQUIRE(q.Push(Requiring(4, {{"arch", "aarch64"}})) == JobQueue::PushResult::kQueued);
  Labels plain{{"arch", "x86_64"}, {"pool", "default"}};
  Labels gpu{{"arch", "x86_64"}, {"gpu", "1"}, {"pool", "default"}};
  auto a = q.PopFor(plain);
  REQUIRE(a.has_value());
  CHECK(a->job_id == testing::JobId(2));  // the only one it may take
  CHECK_FALSE(q.PopFor(plain).has_value());
  CHECK(q.PopFor(gpu)->job_id == testing::JobId(3));  // high priority first
  CHECK(q.PopFor(gpu)->job_id == testing::JobId(1));
  CHECK_FALSE(q.PopFor(gpu).has_value());
  CHECK(q.size() == 1);
  CHECK(q.Pop()->job_id == testing::JobId(4));
  CHECK(q.empty());
}

TEST_CASE("job queue: age decides across queues of equal priority") {
  JobQueue q(100);
  REQUIRE(q.Push(Requiring(1, {{"gpu", "1"}})) == JobQueue::PushResult::kQueued);
  REQUIRE(q.Push(Requiring(2, {})) == JobQueue::PushResult::kQueued);
  Labels gpu{{"gpu", "1"}};
  CHECK(q.PopFor(gpu)->job_id == testing::JobId(1));  // older, though in another queue
  CHECK(q.PopFor(gpu)->job_id == testing::JobId(2));
}

TEST_CASE("job queue: jobs no live worker can take are taken out after the wait") {
  JobQueue q(100);
  QueuedJob old(Requiring(1, {{"gpu", "1"}}));
  old.queued_at = std::chrono::steady_clock::now() - std::chrono::seconds(100);
  REQUIRE(q.Push(old) == JobQueue::PushResult::kQueued);
  REQUIRE(q.Push(Requiring(2, {{"gpu", "1"}})) == JobQueue::PushResult::kQueued);  // fresh
  QueuedJob plain_old(Requiring(3, {}));
  plain_old.queued_at = old.queued_at;
  REQUIRE(q.Push(plain_old) == JobQueue::PushResult::kQueued);
  auto cutoff = std::chrono::steady_clock::now() - std::chrono::seconds(10);
  auto taken = q.TakeUnservable(cutoff, [](const Labels& req) { return req.empty(); });
  REQUIRE(taken.size() == 1);
  CHECK(taken[0].job_id == testing::JobId(1));
  CHECK(q.size() == 2);
  CHECK(q.TakeUnservable(cutoff, [](const Labels&) { return true; }).empty());
}

TEST_CASE("worker registry: a free slot is picked only among eligible label sets") {
  WorkerRegistry reg;
  proto::WorkerHello a, b;
  a.worker_id = "a";
  a.slots = 4;
  a.labels = {{"pool", "default"}};
  b.worker_id = "b";
  b.slots = 1;
  b.labels = {{"gpu", "1"}, {"pool", "default"}};
  reg.Add("ia", a, Clock::now(), 0);
  reg.Add("ib", b, Clock::now(), 0);
  CHECK(reg.total_slots() == 5);
  CHECK(reg.PickFreeSlot()->hello.worker_id == "a");  // most free credits
  auto* w = reg.PickFreeSlot([](const Labels& l) { return l.count("gpu") != 0; });
  REQUIRE(w != nullptr);
  CHECK(w->hello.worker_id == "b");
  CHECK(reg.PickFreeSlot([](const Labels&) { return false; }) == nullptr);
  CHECK(reg.AnySatisfies({{"gpu", "1"}}));
  CHECK_FALSE(reg.AnySatisfies({{"gpu", "2"}}));
  reg.Remove("ib");
  CHECK(reg.total_slots() == 4);
  CHECK_FALSE(reg.AnySatisfies({{"gpu", "1"}}));
}

}  // namespace
}  // namespace recomp::broker
