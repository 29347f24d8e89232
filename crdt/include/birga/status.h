// Status and Result<T>: Birga's errors are values, never exceptions.
//
// A Status is either ok or carries a Code and a message that names what was wrong
// ("field 'status' of 'visit' is mv; an lww write is refused"). Every code belongs to one
// Kind that tells the caller what to do about it:
//   kTransient  - retry later may succeed (peer unreachable, disk full, busy);
//   kPermanent  - the same input will fail again (bad argument, forged change, refused peer);
//   kDataLoss   - the store itself is damaged; stop writing and run `birga verify`.
// Absence is not an error: lookups return std::optional.
//
// Thread rule: plain values; safe to copy between threads.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <variant>

namespace birga {

enum class Code : uint8_t {
  kOk = 0,
  kInvalidArgument,    // a caller's input is malformed or violates the schema
  kNotFound,           // a named thing that must exist does not
  kAlreadyExists,      // creating something that is there already
  kPermissionDenied,   // wrong passphrase, missing right, refused certificate
  kCorruptInput,       // bytes from outside (a frame, a change, a file) failed a check
  kUnavailable,        // transient: peer unreachable, timed out, busy
  kResourceExhausted,  // transient: disk or map full, limit reached
  kDataLoss,           // the local store is damaged
  kInternal,           // a broken invariant inside Birga
};

enum class Kind : uint8_t { kOk, kTransient, kPermanent, kDataLoss };

// The Kind a Code belongs to.
Kind kind_of(Code code);
// A stable lower-case name for a Code ("invalid_argument").
const char* code_name(Code code);

class [[nodiscard]] Status {
 public:
  Status() = default;  // ok
  Status(Code code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status ok() { return Status(); }
  static Status invalid_argument(std::string m) { return {Code::kInvalidArgument, std::move(m)}; }
  static Status not_found(std::string m) { return {Code::kNotFound, std::move(m)}; }
  static Status already_exists(std::string m) { return {Code::kAlreadyExists, std::move(m)}; }
  static Status permission_denied(std::string m) { return {Code::kPermissionDenied, std::move(m)}; }
  static Status corrupt_input(std::string m) { return {Code::kCorruptInput, std::move(m)}; }
  static Status unavailable(std::string m) { return {Code::kUnavailable, std::move(m)}; }
  static Status resource_exhausted(std::string m) {
    return {Code::kResourceExhausted, std::move(m)};
  }
  static Status data_loss(std::string m) { return {Code::kDataLoss, std::move(m)}; }
  static Status internal(std::string m) { return {Code::kInternal, std::move(m)}; }

  bool is_ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  Kind kind() const { return kind_of(code_); }
  const std::string& message() const { return message_; }
  // "invalid_argument: field 'x' ..." or "ok".
  std::string to_string() const;

  // Returns a copy whose message is prefixed with `context`: "ingest: <message>".
  Status with_context(const std::string& context) const;

 private:
  Code code_ = Code::kOk;
  std::string message_;
};

// A value or the Status that explains why there is none. REQUIRES for value(): is_ok().
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}         // NOLINT: implicit by design
  Result(Status status) : v_(std::move(status)) {}  // NOLINT: implicit by design

  bool is_ok() const { return std::holds_alternative<T>(v_); }
  const Status& status() const {
    static const Status kOk;
    return is_ok() ? kOk : std::get<Status>(v_);
  }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace birga

// Returns early from the enclosing function when `expr` (a Status) is not ok.
#define BIRGA_RETURN_IF_ERROR(expr)                   \
  do {                                                \
    ::birga::Status birga_status_ = (expr);           \
    if (!birga_status_.is_ok()) return birga_status_; \
  } while (0)
