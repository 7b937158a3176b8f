// Strict MessagePack decoding: hostile, truncated, oversized and mistyped input.
#include "messages/codec.h"

#include <doctest/doctest.h>

#include "tests/messages/test_util.h"

using namespace recomp;

namespace {
std::string Pack(const nlohmann::json& j) {
  msgpack::sbuffer buf;
  wire::Packer pk(buf);
  wire::PackJson(pk, j);
  return wire::ToBytes(buf);
}
}  // namespace

TEST_CASE("Unpack rejects empty, truncated, trailing and garbage bytes") {
  CHECK(wire::Unpack("", "x").status().message().find("empty") != std::string::npos);
  std::string good = Pack({{"a", "hello"}});
  auto t = wire::Unpack(good.substr(0, good.size() - 2), "x");
  CHECK_FALSE(t.ok());
  CHECK(t.status().message().find("truncated") != std::string::npos);
  auto trailing = wire::Unpack(good + "\x01", "x");
  CHECK_FALSE(trailing.ok());
  CHECK(trailing.status().message().find("trailing") != std::string::npos);
  CHECK_FALSE(wire::Unpack("\xc1", "x").ok());  // 0xc1 is never used in MessagePack
  // A map header announcing 2^32-1 entries with no bytes behind it.
  CHECK_FALSE(wire::Unpack(std::string("\xdf\xff\xff\xff\xff", 5), "x").ok());
  // A str32 header announcing 4 GiB.
  CHECK_FALSE(wire::Unpack(std::string("\xdb\xff\xff\xff\xff", 5), "x").ok());
}

TEST_CASE("Unpack enforces the nesting limit") {
  nlohmann::json deep = 1;
  for (int i = 0; i < 40; ++i) deep = nlohmann::json::array({deep});
  auto r = wire::Unpack(Pack(deep), "deep");
  CHECK_FALSE(r.ok());
  CHECK(r.status().code() == Status::Code::kResourceExhausted);
}

TEST_CASE("Unpack refuses an oversized frame") {
  std::string big(wire::kMaxMessageBytes + 1, '\0');
  CHECK(wire::Unpack(big, "x").status().code() == Status::Code::kResourceExhausted);
}

TEST_CASE("MapReader names the record and field in every error") {
  std::string bytes = Pack({{"s", 5}, {"n", "x"}, {"l", {1, 2}}, {"big", std::string(5000, 'a')}});
  auto oh = wire::Unpack(bytes, "rec");
  auto r = wire::MapReader::From(oh.value().get(), "rec").value();
  std::string s;
  int64_t n;
  std::vector<std::string> l;
  CHECK(r.Str("s", &s).message() == "rec.s: expected string, got integer");
  CHECK(r.Int("n", &n).message() == "rec.n: expected integer, got string");
  CHECK(r.StrList("l", &l).message() == "rec.l[0]: expected string, got integer");
  CHECK(r.Str("big", &s).message().find("exceeds") != std::string::npos);
  CHECK(r.Str("missing", &s).message() == "rec.missing: missing required field");
  CHECK(r.Str("missing", &s, wire::Need::kOptional).ok());
}

TEST_CASE("MapReader rejects non-map and non-string keys") {
  auto a = wire::Unpack(Pack({1, 2}), "x");
  CHECK_FALSE(wire::MapReader::From(a.value().get(), "rec").ok());
  msgpack::sbuffer buf;
  wire::Packer pk(buf);
  pk.pack_map(1);
  pk.pack(1);
  pk.pack(2);
  auto b = wire::Unpack(wire::ToBytes(buf), "x");
  auto r = wire::MapReader::From(b.value().get(), "rec");
  CHECK(r.status().message().find("keys must be strings") != std::string::npos);
}

TEST_CASE("Int range and Uint sign are enforced") {
  auto oh = wire::Unpack(Pack({{"a", -1}, {"b", 50}}), "x");
  auto r = wire::MapReader::From(oh.value().get(), "rec").value();
  uint64_t u;
  int64_t i;
  CHECK_FALSE(r.Uint("a", &u).ok());
  CHECK(r.Int("b", &i, wire::Need::kRequired, 0, 10).message().find("out of range") !=
        std::string::npos);
}

TEST_CASE("PackJson and ToJson round-trip") {
  nlohmann::json j = {{"a", 1}, {"b", {true, nullptr, 2.5, "s"}}, {"c", {{"d", -7}}}};
  auto oh = wire::Unpack(Pack(j), "x");
  CHECK(wire::ToJson(oh.value().get(), "x").value() == j);
}
