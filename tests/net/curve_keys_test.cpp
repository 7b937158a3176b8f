#include "net/curve_keys.h"

#include <doctest/doctest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "tests/store/store_test_util.h"

namespace recomp::net {
namespace {

using recomp::store::testing::TempDir;

mode_t ModeOf(const std::string& path) {
  struct stat st;
  REQUIRE(::stat(path.c_str(), &st) == 0);
  return st.st_mode & 0777;
}

TEST_CASE("curve keys: a new pair is valid Z85 and its public key derives from the secret") {
  REQUIRE(HasCurve());
  auto pair = NewCurveKeyPair();
  REQUIRE(pair.ok());
  CHECK(pair->public_key.size() == kZ85KeyChars);
  CHECK(ValidateZ85Key(pair->public_key, "public").ok());
  CHECK(ValidateZ85Key(pair->secret_key, "secret").ok());
  auto derived = CurvePublicKey(pair->secret_key);
  REQUIRE(derived.ok());
  CHECK(*derived == pair->public_key);
  CHECK(NewCurveKeyPair()->public_key != pair->public_key);
}

TEST_CASE("curve keys: malformed keys are refused, naming what they were") {
  auto short_key = ValidateZ85Key("abc", "allowlist line 3");
  REQUIRE_FALSE(short_key.ok());
  CHECK(short_key.message().find("allowlist line 3") != std::string::npos);
  CHECK_FALSE(ValidateZ85Key(std::string(40, ' '), "k").ok());  // not in the Z85 alphabet
  CHECK_FALSE(ValidateZ85Key(std::string(41, 'a'), "k").ok());
  CHECK_FALSE(CurvePublicKey("nope").ok());
}

TEST_CASE("curve keys: files are written 0600 / 0644, never overwritten, and read back") {
  TempDir d;
  std::string dir = d.path() + "/keys";
  auto pair = NewCurveKeyPair();
  REQUIRE(pair.ok());
  REQUIRE(WriteKeyFiles(dir, "builder-1", *pair).ok());
  CHECK(ModeOf(dir) == 0700);
  CHECK(ModeOf(dir + "/builder-1.key") == 0600);
  CHECK(ModeOf(dir + "/builder-1.pub") == 0644);
  auto again = WriteKeyFiles(dir, "builder-1", *NewCurveKeyPair());
  REQUIRE_FALSE(again.ok());
  CHECK(again.code() == Status::Code::kAlreadyExists);

  auto back = ReadSecretKeyFile(dir + "/builder-1.key");
  REQUIRE(back.ok());
  CHECK(back->public_key == pair->public_key);
  CHECK(back->secret_key == pair->secret_key);
  auto pub = ReadPublicKeyFile(dir + "/builder-1.pub");
  REQUIRE(pub.ok());
  CHECK(*pub == pair->public_key);
  std::ifstream in(dir + "/builder-1.pub");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  CHECK(text.find("secret-key") == std::string::npos);  // the .pub holds no secret

  CHECK_FALSE(WriteKeyFiles(dir, "../escape", *pair).ok());
  CHECK_FALSE(WriteKeyFiles(dir, "", *pair).ok());
}

TEST_CASE("curve keys: a secret readable by others, or a mismatched pair, is refused") {
  TempDir d;
  auto pair = NewCurveKeyPair();
  REQUIRE(pair.ok());
  REQUIRE(WriteKeyFiles(d.path(), "w", *pair).ok());
  std::string key = d.path() + "/w.key";
  REQUIRE(::chmod(key.c_str(), 0644) == 0);
  auto open = ReadSecretKeyFile(key);
  REQUIRE_FALSE(open.ok());
  CHECK(open.status().code() == Status::Code::kFailedPrecondition);
  CHECK(open.status().message().find("chmod 600") != std::string::npos);

  std::string forged = d.path() + "/forged.key";
  {
    std::ofstream out(forged);
    out << "curve\n    public-key = \"" << NewCurveKeyPair()->public_key
        << "\"\n    secret-key = \"" << pair->secret_key << "\"\n";
  }
  REQUIRE(::chmod(forged.c_str(), 0600) == 0);
  auto mismatch = ReadSecretKeyFile(forged);
  REQUIRE_FALSE(mismatch.ok());
  CHECK(mismatch.status().message().find("does not belong") != std::string::npos);
  CHECK_FALSE(ReadPublicKeyFile(d.path() + "/missing.pub").ok());
}

}  // namespace
}  // namespace recomp::net
