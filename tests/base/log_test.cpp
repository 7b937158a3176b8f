// The logger factory: one logger per name, also when many threads ask first at once.
#include "base/log.h"

#include <doctest/doctest.h>

#include <thread>
#include <vector>

using namespace recomp;

TEST_CASE("GetLogger returns one logger per name, created once under concurrent first use") {
  std::vector<std::shared_ptr<spdlog::logger>> got(8);
  std::vector<std::thread> threads;
  for (size_t i = 0; i < got.size(); ++i) {
    threads.emplace_back([&got, i] { got[i] = GetLogger("log-test-concurrent"); });
  }
  for (auto& t : threads) t.join();
  for (const auto& l : got) {
    REQUIRE(l != nullptr);
    CHECK(l.get() == got[0].get());
  }
  CHECK(GetLogger("log-test-concurrent")->name() == "log-test-concurrent");
  CHECK(GetLogger("log-test-other").get() != got[0].get());
}
