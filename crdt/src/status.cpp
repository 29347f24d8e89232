#include "birga/status.h"

namespace birga {

Kind kind_of(Code code) {
  switch (code) {
    case Code::kOk:
      return Kind::kOk;
    case Code::kUnavailable:
    case Code::kResourceExhausted:
      return Kind::kTransient;
    case Code::kDataLoss:
      return Kind::kDataLoss;
    default:
      return Kind::kPermanent;
  }
}

const char* code_name(Code code) {
  switch (code) {
    case Code::kOk:
      return "ok";
    case Code::kInvalidArgument:
      return "invalid_argument";
    case Code::kNotFound:
      return "not_found";
    case Code::kAlreadyExists:
      return "already_exists";
    case Code::kPermissionDenied:
      return "permission_denied";
    case Code::kCorruptInput:
      return "corrupt_input";
    case Code::kUnavailable:
      return "unavailable";
    case Code::kResourceExhausted:
      return "resource_exhausted";
    case Code::kDataLoss:
      return "data_loss";
    case Code::kInternal:
      return "internal";
  }
  return "unknown";
}

std::string Status::to_string() const {
  if (is_ok()) return "ok";
  return std::string(code_name(code_)) + ": " + message_;
}

Status Status::with_context(const std::string& context) const {
  if (is_ok()) return *this;
  return Status(code_, context + ": " + message_);
}

}  // namespace birga
