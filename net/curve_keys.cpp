// CURVE keys (see curve_keys.h). The key files use czmq's zcert text format, which pyzmq's
// zmq.auth.load_certificate and czmq's tools read too.
#include "net/curve_keys.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdint>
#include <fstream>
#include <sstream>

#include <zmq.h>

#include "base/names.h"
#include "base/posix_file.h"

namespace recomp::net {
namespace {

std::string CertText(const std::string& name, const CurveKeyPair& pair, bool with_secret) {
  std::ostringstream out;
  out << "#   ****  recomp CURVE key '" << name << "' (zcert format)  ****\n"
      << (with_secret ? "#   The secret key: keep this file to yourself (mode 0600).\n"
                      : "#   The public key: give it to the coordinator's allowlist.\n")
      << "metadata\n    name = \"" << name << "\"\ncurve\n    public-key = \"" << pair.public_key
      << "\"\n";
  if (with_secret) out << "    secret-key = \"" << pair.secret_key << "\"\n";
  return out.str();
}

Status WriteNew(const std::string& path, const std::string& text, mode_t mode) {
  RECOMP_ASSIGN_OR_RETURN(Fd fd, CreateExclusive(path, mode));
  RECOMP_RETURN_IF_ERROR(WriteAll(fd.get(), text.data(), text.size(), path));
  RECOMP_RETURN_IF_ERROR(SyncData(fd.get(), path));
  return fd.Close(path);
}

// The value of `key = "value"` lines in zcert text; "" when absent.
std::string CertValue(const std::string& text, std::string_view key) {
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    size_t at = line.find_first_not_of(" \t");
    if (at == std::string::npos || line.compare(at, key.size(), key) != 0) continue;
    size_t eq = line.find('=', at + key.size());
    if (eq == std::string::npos) continue;
    if (line.find_first_not_of(" \t", at + key.size()) != eq) continue;  // "public-keyX ="
    std::string v = line.substr(eq + 1);
    size_t b = v.find_first_not_of(" \t\"'"), e = v.find_last_not_of(" \t\"'\r");
    return b == std::string::npos ? std::string() : v.substr(b, e - b + 1);
  }
  return {};
}

// A key file's text; at most 64 KiB.
Result<std::string> ReadSmallFile(const std::string& path) {
  RECOMP_ASSIGN_OR_RETURN(Fd fd, OpenForRead(path));
  std::string text(64 * 1024 + 1, '\0');
  size_t got = 0;
  while (got < text.size()) {
    ssize_t n = ::read(fd.get(), text.data() + got, text.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoStatus("read", path, errno);
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  if (got > 64 * 1024) return Status::InvalidArgument("key file " + path + " is too large");
  text.resize(got);
  return text;
}

}  // namespace

bool HasCurve() {
  return zmq_has("curve") != 0;
}

Result<CurveKeyPair> NewCurveKeyPair() {
  char pub[kZ85KeyChars + 1] = {}, sec[kZ85KeyChars + 1] = {};
  if (zmq_curve_keypair(pub, sec) != 0) {
    return Status::Unavailable(std::string("cannot make a CURVE keypair: ") + zmq_strerror(errno) +
                               (HasCurve() ? "" : " (this libzmq has no CURVE)"));
  }
  return CurveKeyPair{pub, sec, ""};
}

Status ValidateZ85Key(std::string_view key, std::string_view what) {
  uint8_t raw[32];
  std::string copy(key);
  if (key.size() != kZ85KeyChars || zmq_z85_decode(raw, copy.c_str()) == nullptr) {
    // The text is not echoed: it may be a secret key.
    return Status::InvalidArgument(std::string(what) + " is not a CURVE key (40 characters of " +
                                   "Z85; got " + std::to_string(key.size()) + " characters)");
  }
  return Status::Ok();
}

Result<std::string> KeyToZ85(std::string_view raw) {
  if (raw.size() != 32) return Status::InvalidArgument("a CURVE key has 32 bytes");
  char z85[kZ85KeyChars + 1] = {};
  if (zmq_z85_encode(z85, reinterpret_cast<const uint8_t*>(raw.data()), raw.size()) == nullptr) {
    return Status::Internal("zmq_z85_encode failed");
  }
  return std::string(z85);
}

Result<std::string> CurvePublicKey(std::string_view secret) {
  RECOMP_RETURN_IF_ERROR(ValidateZ85Key(secret, "secret key"));
  std::string sec(secret);
  char pub[kZ85KeyChars + 1] = {};
  if (zmq_curve_public(pub, sec.c_str()) != 0) {
    return Status::Unavailable(std::string("zmq_curve_public: ") + zmq_strerror(errno));
  }
  return std::string(pub);
}

Status WriteKeyFiles(const std::string& dir, const std::string& name, const CurveKeyPair& pair) {
  RECOMP_RETURN_IF_ERROR(ValidateSafeName(name, 64, "key name"));
  RECOMP_RETURN_IF_ERROR(ValidateZ85Key(pair.public_key, "public key"));
  RECOMP_RETURN_IF_ERROR(ValidateZ85Key(pair.secret_key, "secret key"));
  RECOMP_RETURN_IF_ERROR(MakeDirs(dir, 0700));
  const std::string secret_path = dir + "/" + name + ".key",
                    public_path = dir + "/" + name + ".pub";
  RECOMP_RETURN_IF_ERROR(WriteNew(secret_path, CertText(name, pair, true), 0600));
  ::unlink(public_path.c_str());  // derived from the .key just written: replace a stale one
  return WriteNew(public_path, CertText(name, pair, false), 0644);
}

Result<CurveKeyPair> ReadSecretKeyFile(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return ErrnoStatus("stat key file", path, errno);
  if ((st.st_mode & 077) != 0) {
    return Status::FailedPrecondition("secret key file " + path +
                                      " is readable by others: chmod 600 it (or make a new key)");
  }
  RECOMP_ASSIGN_OR_RETURN(std::string text, ReadSmallFile(path));
  CurveKeyPair pair{CertValue(text, "public-key"), CertValue(text, "secret-key"),
                    CertValue(text, "name")};
  if (pair.secret_key.empty()) return Status::InvalidArgument(path + " has no secret-key");
  RECOMP_RETURN_IF_ERROR(ValidateZ85Key(pair.secret_key, path + ": secret-key"));
  RECOMP_ASSIGN_OR_RETURN(std::string derived, CurvePublicKey(pair.secret_key));
  if (!pair.public_key.empty() && pair.public_key != derived) {
    return Status::InvalidArgument(path + ": public-key does not belong to its secret-key");
  }
  pair.public_key = derived;
  return pair;
}

Result<std::string> ReadPublicKeyFile(const std::string& path) {
  RECOMP_ASSIGN_OR_RETURN(std::string text, ReadSmallFile(path));
  std::string key = CertValue(text, "public-key");
  if (key.empty()) return Status::InvalidArgument(path + " has no public-key");
  RECOMP_RETURN_IF_ERROR(ValidateZ85Key(key, path + ": public-key"));
  return key;
}

}  // namespace recomp::net
