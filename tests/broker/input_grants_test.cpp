// InputGrants: a worker holds the inputs of the jobs leased to it, and nothing once the lease
// ends or the worker is dropped; other workers never hold them.
#include "broker/input_grants.h"

#include <doctest/doctest.h>

#include "base/blake2b.h"

using namespace recomp;

TEST_CASE("grants follow leases") {
  broker::InputGrants g;
  Digest rom = Blake2b256::Of("rom"), asset = Blake2b256::Of("asset");
  g.Grant("w1", {"job-a", 1}, {rom});
  g.Grant("w1", {"job-b", 1}, {rom, asset});
  CHECK(g.Holds("w1", rom));
  CHECK(g.Holds("w1", asset));
  CHECK_FALSE(g.Holds("w2", rom));
  g.Revoke("w1", {"job-b", 1});
  CHECK(g.Holds("w1", rom));
  CHECK_FALSE(g.Holds("w1", asset));
  g.Revoke("w1", {"job-a", 2});  // another attempt: not this lease
  CHECK(g.Holds("w1", rom));
  g.RevokeWorker("w1");
  CHECK_FALSE(g.Holds("w1", rom));
}
