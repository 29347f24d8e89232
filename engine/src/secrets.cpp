#include "secrets.h"

#include <optional>

#include "birga/replica.h"
#include "crypto.h"
#include "lmdb_env.h"

namespace birga {

Status check_new_passphrase(std::string_view passphrase) {
  if (passphrase.size() < kMinPassphraseBytes) {
    return Status::invalid_argument("the new passphrase is too short: at least " +
                                    std::to_string(kMinPassphraseBytes) + " characters");
  }
  return Status::ok();
}

}  // namespace birga

namespace birga::engine {

Result<uint64_t> change_passphrase(const std::string& dir, std::string_view current,
                                   std::string_view next) {
  BIRGA_RETURN_IF_ERROR(check_new_passphrase(next));
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
  // Never a lower cost than the blob had (BIRGA_FAST_KDF set by mistake).
  const PwhashCost cost = pwhash_cost_of(blob) == PwhashCost::kInteractive
                              ? PwhashCost::kInteractive
                              : default_pwhash_cost();
  auto sealed = seal_with_passphrase(secrets->view(), next, cost);
  if (!sealed.is_ok()) return sealed.status();
  // Put twice: after two commits, both of LMDB's meta pages name trees holding the new blob,
  // so the pages the first one freed, which hold the old blob, may be cleared by LMDB's own
  // rule for reusing pages (LmdbEnv::scrub_stale_bytes).
  for (int i = 0; i < 2; ++i) {
    BIRGA_RETURN_IF_ERROR((*env)->write(
        [&](Txn& txn) -> Status { return txn.put(Table::kMeta, "secrets", *sealed); }));
  }
  auto scrubbed = (*env)->scrub_stale_bytes();
  if (!scrubbed.is_ok()) {
    return Status(scrubbed.status().code(),
                  "the passphrase is changed, but clearing the old copies of the keys sealed "
                  "under the old one failed (" +
                      scrubbed.status().message() +
                      "): change it again, giving the new passphrase as both the current and "
                      "the new one, to finish");
  }
  return scrubbed;
}

}  // namespace birga::engine
