#include "birga/transport/sync_result.h"

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <sstream>

#include "birga/crdt/codec.h"

namespace birga::transport {

namespace {

std::string hex_prefix(const PublicKey& key, size_t bytes) {
  return crdt::to_hex(key).substr(0, 2 * bytes);
}

std::string utc_timestamp() {
  const auto now = std::chrono::system_clock::now();
  const std::time_t secs = std::chrono::system_clock::to_time_t(now);
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()) % 1000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(ms.count()));
  return buf;
}

}  // namespace

LogSink stderr_log_sink() {
  return [](const std::string& line) {
    const std::string text = utc_timestamp() + " " + line + "\n";
    std::fwrite(text.data(), 1, text.size(), stderr);  // one call: lines do not interleave
  };
}

std::string peer_label(const std::string& remote, const Certificate* peer) {
  if (peer == nullptr || peer->device == PublicKey{}) return remote;
  return remote + " " + peer->name + " [" + hex_prefix(peer->device, 8) + "]";
}

std::string describe(const SyncResult& r) {
  std::ostringstream out;
  out << "session " << peer_label(r.remote, &r.peer);
  if (r.status.is_ok()) {
    out << " completed";
  } else {
    out << " closed: " << r.status.to_string();
    // The peer stops there by design; what the connection showed is only the consequence.
    if (!r.stats.restored_peer.empty()) {
      out << "; the peer stopped because its store is behind its own changes held here "
             "(restored from a backup or copied; restored_peer alert: "
          << r.stats.restored_peer.front() << ")";
    }
  }
  char secs[32];
  std::snprintf(secs, sizeof secs, "%.3f", r.seconds);
  out << " (" << secs << " s; changes sent " << r.stats.changes_sent << ", received "
      << r.stats.changes_received << "; bytes sent " << r.wire_bytes_sent << ", received "
      << r.wire_bytes_received << ")";
  if (const std::string warning = clock_warning(r); !warning.empty()) out << "; " << warning;
  for (const PeerNotKept& n : r.stats.peer_not_kept)
    out << "\n  not kept by the peer: " << describe(n);
  if (r.stats.peer_not_kept_unlisted > 0) {
    out << "\n  not kept by the peer: " << r.stats.peer_not_kept_unlisted << " more change(s)";
  }
  return out.str();
}

std::string describe(const PeerNotKept& n) {
  std::string text = n.own ? "your change" : "change";
  if (!n.scope.empty()) text += " " + std::to_string(n.seq) + " in scope '" + n.scope + "'";
  text += " (id " + crdt::to_hex(n.change).substr(0, 16) + "): ";
  switch (n.outcome) {
    case PeerNotKept::Outcome::kRefused:
      text += "refused by the peer: ";
      break;
    case PeerNotKept::Outcome::kQuarantined:
      text += "quarantined by the peer: ";
      break;
    case PeerNotKept::Outcome::kWaiting:
      text += "waiting at the peer for an earlier change: ";
      break;
  }
  return text + n.reason;
}

Status own_changes_not_kept(const SyncResult& r) {
  const size_t own = r.stats.own_not_kept();
  if (!r.status.is_ok() || own == 0) return Status::ok();
  const auto first = std::find_if(r.stats.peer_not_kept.begin(), r.stats.peer_not_kept.end(),
                                  [](const PeerNotKept& n) { return n.own; });
  const std::string peer = r.peer.name.empty() ? r.remote : "'" + r.peer.name + "'";
  // Said for the field worker: the sync ran, but these records are not at the hub.
  return Status::permission_denied(
      peer + " did not keep " + std::to_string(own) + " of the changes this device wrote" +
      (r.stats.peer_not_kept_unlisted > 0
           ? " (and " + std::to_string(r.stats.peer_not_kept_unlisted) +
                 " more changes it did not keep, not listed)"
           : std::string()) +
      ": those records did not reach it, and syncing again "
      "will not change that. First: " +
      describe(*first) +
      ". Ask the supervisor or hub operator (not entitled or no write right: the device's grant; "
      "quarantined: the device was restored or copied and must be re-enrolled)");
}

std::string clock_warning(const SyncResult& r) {
  if (!r.peer_clock_offset_ms) return "";
  const int64_t offset = *r.peer_clock_offset_ms;
  const uint64_t apart = offset < 0 ? 0 - static_cast<uint64_t>(offset) : offset;
  if (apart <= static_cast<uint64_t>(Handshake::kClockWarningMs)) return "";
  const uint64_t minutes = apart / 60000, hours = minutes / 60, days = hours / 24;
  std::string amount;
  if (days >= 2) {
    amount = std::to_string(days) + " days";
  } else if (hours > 0) {
    amount = std::to_string(hours) + " h " + std::to_string(minutes % 60) + " min";
  } else {
    amount = std::to_string(minutes) + " min";
  }
  // A hub keeps its clock set (operations.md): the device syncing with it is the one to fix.
  if (r.peer.role == Role::kHub) {
    return "this device's clock is " + amount + (offset > 0 ? " behind" : " ahead of") +
           " the clock of hub '" + r.peer.name +
           "': set this device's date, time and time zone (writes carry the device's time)";
  }
  return "the clock of '" + r.peer.name + "' is " + amount +
         (offset > 0 ? " ahead of" : " behind") +
         " this device's: check the date, time and time zone of the one that is wrong (writes "
         "carry the device's time)";
}

}  // namespace birga::transport
