// LMDB adapter: shared env per directory, txns abort unless committed, codes named in errors.
#include "store/lmdb_env.h"

#include <doctest/doctest.h>

#include <condition_variable>
#include <future>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "tests/store/store_test_util.h"

using namespace recomp;
using namespace recomp::store;

TEST_CASE("opening one directory twice yields the same env") {
  testing::TempDir dir;
  auto a = Env::OpenShared(dir.path(), {});
  auto b = Env::OpenShared(dir.path() + "/.", {});
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  CHECK(a->get() == b->get());
}

TEST_CASE("put, get, delete; uncommitted writes vanish") {
  testing::TempDir dir;
  auto env = Env::OpenShared(dir.path(), {}).value();
  MDB_dbi dbi = env->OpenDbi("t").value();
  {
    auto txn = Txn::Begin(*env, true).value();
    REQUIRE(txn.Put(dbi, "k", "v").ok());
    REQUIRE(txn.Commit().ok());
  }
  {
    auto txn = Txn::Begin(*env, true).value();
    REQUIRE(txn.Put(dbi, "gone", "x").ok());
    // destroyed without Commit: aborted
  }
  auto txn = Txn::Begin(*env, false).value();
  CHECK(txn.Get(dbi, "k").value().value() == "v");
  CHECK_FALSE(txn.Get(dbi, "gone").value().has_value());
  txn.Abort();
  auto w = Txn::Begin(*env, true).value();
  Status st = w.Put(dbi, "k", "other", /*no_overwrite=*/true);
  CHECK(st.code() == Status::Code::kAlreadyExists);
  CHECK(st.message().find("MDB_KEYEXIST") != std::string::npos);
  CHECK(w.Del(dbi, "k").value());
  CHECK_FALSE(w.Del(dbi, "k").value());
}

TEST_CASE("ForEach visits in key order and stops on error") {
  testing::TempDir dir;
  auto env = Env::OpenShared(dir.path(), {}).value();
  MDB_dbi dbi = env->OpenDbi("t").value();
  auto txn = Txn::Begin(*env, true).value();
  for (const char* k : {"b", "a", "c"}) REQUIRE(txn.Put(dbi, k, "1").ok());
  std::string seen;
  REQUIRE(txn.ForEach(dbi,
                      [&](std::string_view k, std::string_view) {
                        seen += k;
                        return Status::Ok();
                      })
              .ok());
  CHECK(seen == "abc");
  Status st = txn.ForEach(
      dbi, [&](std::string_view, std::string_view) { return Status::Cancelled("stop"); });
  CHECK(st.code() == Status::Code::kCancelled);
}

TEST_CASE("LmdbStatus names the code and the place") {
  Status st = LmdbStatus(MDB_MAP_FULL, "commit", "/x/index");
  CHECK(st.code() == Status::Code::kResourceExhausted);
  CHECK(st.message().find("MDB_MAP_FULL") != std::string::npos);
  CHECK(st.message().find("/x/index") != std::string::npos);
  CHECK(LmdbStatus(MDB_CORRUPTED, "get", "p").code() == Status::Code::kCorruption);
  CHECK(LmdbStatus(ENOSPC, "commit", "p").message().find("ENOSPC") != std::string::npos);
  CHECK(LmdbStatus(0, "x", "p").ok());
}

TEST_CASE("a missing directory is a clear error") {
  auto env = Env::OpenShared("/nonexistent/recomp/index", {});
  REQUIRE_FALSE(env.ok());
  CHECK(env.status().message().find("/nonexistent/recomp/index") != std::string::npos);
}

TEST_CASE("AwaitDurable: at once for a commit known durable; else via the writer lock") {
  testing::TempDir dir;
  auto env = Env::OpenShared(dir.path(), {}).value();
  MDB_dbi dbi = env->OpenDbi("t").value();
  {
    auto txn = Txn::Begin(*env, true).value();
    REQUIRE(txn.Put(dbi, "k", "v").ok());
    REQUIRE(txn.Commit().ok());
  }
  size_t committed = Txn::Begin(*env, false).value().id();
  REQUIRE(env->AwaitDurable(committed).ok());  // takes the free writer lock once, then knows
  // Another thread holds the writer lock (as a writer in another process would, mid-commit).
  std::mutex mu;
  std::condition_variable cv;
  bool holding = false, release = false;
  std::thread writer([&] {
    auto w = Txn::Begin(*env, true).value();
    std::unique_lock<std::mutex> l(mu);
    holding = true;
    cv.notify_all();
    cv.wait(l, [&] { return release; });
  });
  {
    std::unique_lock<std::mutex> l(mu);
    cv.wait(l, [&] { return holding; });
  }
  auto known = std::async(std::launch::async, [&] { return env->AwaitDurable(committed); });
  bool at_once = known.wait_for(std::chrono::seconds(10)) == std::future_status::ready;
  // A newer id than this process knows durable needs the lock: it waits for the writer.
  auto unknown = std::async(std::launch::async, [&] { return env->AwaitDurable(committed + 1); });
  bool waited = unknown.wait_for(std::chrono::milliseconds(50)) == std::future_status::timeout;
  {
    std::lock_guard<std::mutex> l(mu);
    release = true;
  }
  cv.notify_all();
  writer.join();
  CHECK(at_once);
  CHECK(waited);
  CHECK(unknown.get().ok());
  if (at_once) CHECK(known.get().ok());
  CHECK(Txn::Begin(*env, false).value().id() == committed);  // nothing was written
}

TEST_CASE(
    "ForEachFrom starts at the first key >= from; ForEach visits all; a stop status ends it") {
  testing::TempDir dir;
  auto env = Env::OpenShared(dir.path(), {}).value();
  MDB_dbi dbi = env->OpenDbi("seek").value();
  {
    auto txn = Txn::Begin(*env, true).value();
    for (const char* k : {"a", "b1", "b3", "c"})
      REQUIRE(txn.Put(dbi, k, std::string(k) + "!").ok());
    REQUIRE(txn.Commit().ok());
  }
  auto txn = Txn::Begin(*env, false).value();
  auto keys_from = [&](std::string_view from) {
    std::vector<std::string> keys;
    REQUIRE(txn.ForEachFrom(dbi, from,
                            [&](std::string_view k, std::string_view v) {
                              CHECK(v == std::string(k) + "!");
                              keys.emplace_back(k);
                              return Status::Ok();
                            })
                .ok());
    return keys;
  };
  CHECK(keys_from("b2") == std::vector<std::string>{"b3", "c"});
  CHECK(keys_from("b1") == std::vector<std::string>{"b1", "b3", "c"});
  CHECK(keys_from("d").empty());
  CHECK(keys_from("") == std::vector<std::string>{"a", "b1", "b3", "c"});
  int seen = 0;
  Status st = txn.ForEachFrom(dbi, "a", [&](std::string_view, std::string_view) {
    return ++seen == 2 ? Status::Cancelled("enough") : Status::Ok();
  });
  CHECK(st.code() == Status::Code::kCancelled);
  CHECK(seen == 2);
}
