// StreamHasher: the digest of chunks hashed on another thread equals the one-shot digest of
// their concatenation, whatever the chunking and the bound on pending chunks; none is empty.
#include "base/stream_hasher.h"

#include <doctest/doctest.h>

#include <string>

using namespace recomp;

TEST_CASE("chunks hashed on a thread give the digest of their concatenation") {
  std::string all;
  for (int i = 0; i < 5000; ++i) all += std::to_string(i * 7919) + ",";
  for (size_t chunk : {size_t{1}, size_t{7}, size_t{4096}, all.size()}) {
    for (size_t pending : {size_t{1}, size_t{8}}) {
      StreamHasher h(pending);
      for (size_t at = 0; at < all.size(); at += chunk) h.Add(all.substr(at, chunk));
      CHECK(h.Finish() == Blake2b256::Of(all));
    }
  }
}

TEST_CASE("no chunk at all is the digest of nothing; an unfinished hasher joins cleanly") {
  StreamHasher empty;
  CHECK(empty.Finish() == Blake2b256::Of(""));
  StreamHasher dropped;
  dropped.Add("never asked for");
}

TEST_CASE("hashed buffers come back as spares, at most max_pending of them") {
  StreamHasher h(2);
  CHECK(h.TakeSpare().empty());
  std::string all;
  for (int i = 0; i < 6; ++i) {
    std::string chunk = h.TakeSpare();
    chunk.assign(1000, static_cast<char>('a' + i));
    all += chunk;
    h.Add(std::move(chunk));
  }
  CHECK(h.Finish() == Blake2b256::Of(all));
  int spares = 0;
  while (!h.TakeSpare().empty()) ++spares;  // a spare keeps its (stale) 1000 bytes
  CHECK(spares >= 1);
  CHECK(spares <= 2);
}
