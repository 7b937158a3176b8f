// A blob service on loopback for tests: a store in a temp dir, the service on its own thread,
// external blobs granted by a test-controlled predicate. Stops and joins on destruction.
#pragma once

#include <doctest/doctest.h>

#include <functional>
#include <memory>
#include <string>
#include <thread>

#include <zmq.hpp>

#include "base/blake2b.h"
#include "coordinator/blob_service.h"
#include "store/artifact_store.h"
#include "tests/store/store_test_util.h"

namespace recomp::testing {

struct BlobServiceFixture {
  store::testing::TempDir dir;
  zmq::context_t ctx;
  std::unique_ptr<store::ArtifactStore> store;
  std::unique_ptr<coordinator::BlobService> svc;
  std::thread thread;
  std::function<bool(const std::string& worker, const Digest& d)> grant = [](auto&, auto&) {
    return false;
  };

  explicit BlobServiceFixture(uint32_t flip_every = 0, coordinator::UploadLimits limits = {}) {
    store = std::move(store::ArtifactStore::Open(dir / "store")).value();
    coordinator::BlobServiceOptions o;
    o.endpoint = "tcp://127.0.0.1:0";
    o.flip_byte_every = flip_every;
    o.uploads = limits;
    o.may_read_external = [this](const std::string& w, const Digest& d) { return grant(w, d); };
    auto s = coordinator::BlobService::Create(ctx, o, store.get());
    REQUIRE(s.ok());
    svc = std::move(s).value();
    thread = std::thread([this] { REQUIRE(svc->Run().ok()); });
  }
  ~BlobServiceFixture() {
    svc->Stop();
    thread.join();
  }
  Digest Put(const std::string& bytes, ArtifactClass cls = ArtifactClass::kGenerated) {
    store::PutOptions o;
    o.artifact_class = cls;
    REQUIRE(store->PutBytes(bytes, o).ok());
    return Blake2b256::Of(bytes);
  }
};

}  // namespace recomp::testing
