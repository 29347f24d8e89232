#include "secrets.h"

#include <optional>

#include "crypto.h"
#include "lmdb_env.h"

namespace birga::engine {

Result<uint64_t> change_passphrase(const std::string& dir, std::string_view current,
                                   std::string_view next) {
  if (next.empty()) return Status::invalid_argument("the new passphrase must not be empty");
  if (next == current) {
    return Status::invalid_argument("the new passphrase is the same as the current one");
  }
  auto env = LmdbEnv::open(dir);
  if (!env.is_ok()) return env.status();
  // Another process holding the store open keeps copies of its pages in its buffers, which
  // LMDB may write out again later: it must be stopped first.
  BIRGA_RETURN_IF_ERROR((*env)->lock_exclusive());
  std::string blob;
  BIRGA_RETURN_IF_ERROR((*env)->read([&](const Txn& txn) -> Status {
    auto stored = txn.get(Table::kMeta, "secrets");
    if (!stored.is_ok()) return stored.status();
    if (!*stored) return Status::data_loss(dir + ": the sealed secrets are missing");
    blob = std::string(**stored);
    return Status::ok();
  }));
  auto secrets = open_with_passphrase(blob, current);
  if (!secrets.is_ok()) {
    if (secrets.status().code() == Code::kPermissionDenied) {
      return Status::permission_denied("the current passphrase is wrong");
    }
    return secrets.status();
  }
  auto sealed = seal_with_passphrase(secrets->view(), next);
  if (!sealed.is_ok()) return sealed.status();
  BIRGA_RETURN_IF_ERROR(
      (*env)->write([&](Txn& txn) -> Status { return txn.put(Table::kMeta, "secrets", *sealed); }));
  auto scrubbed = (*env)->scrub_stale_bytes();
  if (!scrubbed.is_ok()) {
    return Status::internal(
        "the passphrase is changed, but removing the old copies of the keys "
        "sealed under the old one failed: " +
        scrubbed.status().message());
  }
  return scrubbed;
}

}  // namespace birga::engine
