// Status and Result<T>: how every runtime failure crosses a module boundary in recomp.
// A Status is a code plus a human message naming what failed; Result<T> is a value or a Status.
// Both are plain values: thread-compatible (no shared state), cheap to move.
#pragma once

#include <cassert>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace recomp {

class Status {
 public:
  // Codes are stable: they are part of the CLI's and wire protocol's error replies.
  enum class Code : int {
    kOk = 0,
    kInvalidArgument = 1,     // malformed input: a field, a ref, a flag
    kNotFound = 2,            // a run, artifact, file that does not exist
    kAlreadyExists = 3,       // a conflicting record under an existing key
    kCorruption = 4,          // stored bytes do not match their digest / index
    kIOError = 5,             // the OS refused (disk full, permission, ...)
    kFailedPrecondition = 6,  // the operation is not allowed in this state
    kUnavailable = 7,         // a peer or resource cannot be reached now
    kDeadlineExceeded = 8,    // a timeout elapsed
    kResourceExhausted = 9,   // a size or count limit was hit
    kCancelled = 10,          // stopped on request
    kInternal = 11,           // a bug or an unexpected library failure
    kPermissionDenied = 12,   // the caller's key or role may not do this
  };

  Status() = default;  // OK
  Status(Code code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return Status(); }
  static Status InvalidArgument(std::string m) { return {Code::kInvalidArgument, std::move(m)}; }
  static Status NotFound(std::string m) { return {Code::kNotFound, std::move(m)}; }
  static Status AlreadyExists(std::string m) { return {Code::kAlreadyExists, std::move(m)}; }
  static Status Corruption(std::string m) { return {Code::kCorruption, std::move(m)}; }
  static Status IOError(std::string m) { return {Code::kIOError, std::move(m)}; }
  static Status FailedPrecondition(std::string m) {
    return {Code::kFailedPrecondition, std::move(m)};
  }
  static Status Unavailable(std::string m) { return {Code::kUnavailable, std::move(m)}; }
  static Status DeadlineExceeded(std::string m) { return {Code::kDeadlineExceeded, std::move(m)}; }
  static Status ResourceExhausted(std::string m) {
    return {Code::kResourceExhausted, std::move(m)};
  }
  static Status Cancelled(std::string m) { return {Code::kCancelled, std::move(m)}; }
  static Status Internal(std::string m) { return {Code::kInternal, std::move(m)}; }
  static Status PermissionDenied(std::string m) { return {Code::kPermissionDenied, std::move(m)}; }

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }
  // "<code name>: <message>", or "OK".
  std::string ToString() const;
  // Returns a copy whose message is "<prefix>: <message>" (adds context while unwinding).
  Status WithContext(std::string_view prefix) const;

  static std::string_view CodeName(Code code);
  // Inverse of CodeName; kInternal for an unknown name.
  static Code CodeFromName(std::string_view name);

 private:
  Code code_ = Code::kOk;
  std::string message_;
};

// A value of T or a non-OK Status. Accessing value() of an error is a programming error.
template <typename T>
class Result {
 public:
  Result(T value) : v_(std::move(value)) {}        // NOLINT: implicit by design
  Result(Status status) : v_(std::move(status)) {  // NOLINT: implicit by design
    assert(!std::get<Status>(v_).ok() && "Result constructed from an OK Status");
  }

  bool ok() const { return std::holds_alternative<T>(v_); }
  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<Status>(v_);
  }
  T& value() & {
    assert(ok());
    return std::get<T>(v_);
  }
  const T& value() const& {
    assert(ok());
    return std::get<T>(v_);
  }
  // By value, so `for (auto& x : F().value())` and `auto& y = F().value()` never dangle.
  T value() && {
    assert(ok());
    return std::get<T>(std::move(v_));
  }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace recomp

// Propagate a non-OK Status from an expression returning Status.
#define RECOMP_RETURN_IF_ERROR(expr)         \
  do {                                       \
    ::recomp::Status _recomp_st = (expr);    \
    if (!_recomp_st.ok()) return _recomp_st; \
  } while (0)

#define RECOMP_CONCAT_INNER(a, b) a##b
#define RECOMP_CONCAT(a, b) RECOMP_CONCAT_INNER(a, b)
// `RECOMP_ASSIGN_OR_RETURN(auto x, MakeX());` declares x from a Result or returns its Status.
#define RECOMP_ASSIGN_OR_RETURN(lhs, expr) \
  RECOMP_ASSIGN_OR_RETURN_IMPL(RECOMP_CONCAT(_recomp_r_, __LINE__), lhs, expr)
#define RECOMP_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                                 \
  if (!tmp.ok()) return tmp.status();                \
  lhs = std::move(tmp).value()
