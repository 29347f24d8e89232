// SyncSession: the transport-free sync protocol (see birga/session.h, docs/protocol.md).
//
// Both sides open with a Summary of the scopes the peer may receive. From the peer's summary
// each side knows what the peer lacks, and streams it in Batches (control scope first, then
// each scope in name order, chain order per author), at most `window` unacknowledged at a
// time. Each received batch is ingested in one transaction and its id acknowledged, riding on
// the next outgoing batch or in an Ack. A side's last batch says so (`last`), possibly empty.
// With the acknowledgement go the ids of that batch's changes the receiver did not keep, and
// why: without them a sender whose changes are refused or quarantined believes they arrived.
#include <algorithm>
#include <optional>
#include <set>

#include "birga/session.h"
#include "capnp_util.h"
#include "replica_impl.h"
#include "store_keys.h"
#include "sync.capnp.h"
#include "trust_internal.h"

namespace birga {

using engine::Table;
using engine::Txn;

namespace {

constexpr engine::MessageLimits kSyncLimits{(kMaxFrameBytes / 8) * 2, 16};

std::string flat(capnp::MallocMessageBuilder& mb) {
  kj::Array<capnp::word> words = capnp::messageToFlatArray(mb);
  const auto bytes = words.asBytes();
  return std::string(reinterpret_cast<const char*>(bytes.begin()), bytes.size());
}

// What this side sent in a batch, to name a change the peer reports not kept.
// A change sent in a batch not yet acknowledged. Its id is worked out only if the peer reports
// changes it did not keep (hashing every change sent would cost a pass over all of them):
// from the store by (scope, author, seq), or kept as sent for fork evidence, which the store
// holds under no such key.
struct SentChange {
  std::string scope;
  crdt::ActorId author;
  uint64_t seq = 0;
  bool own = false;
  std::optional<ChangeHash> id;
};

// A reason as it is sent and as it is shown: a peer's text reaches terminals and the hub's log,
// so control characters (a forged log line, terminal escapes) become spaces, and a long one is
// cut on a UTF-8 character boundary (names and scopes may be Cyrillic).
std::string cut_reason(std::string reason) {
  for (char& c : reason) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = ' ';
  }
  if (reason.size() > kMaxNotKeptReasonBytes) {
    size_t keep = kMaxNotKeptReasonBytes - 3;
    while (keep > 0 && (static_cast<unsigned char>(reason[keep]) & 0xc0) == 0x80) --keep;
    reason.resize(keep);
    reason += "...";
  }
  return reason;
}

}  // namespace

size_t SyncStats::own_not_kept() const {
  return static_cast<size_t>(std::count_if(peer_not_kept.begin(), peer_not_kept.end(),
                                           [](const PeerNotKept& n) { return n.own; }));
}

// What a peer's summary says of this device's own chain in one scope, beyond what this store
// holds (check_own_chain).
struct OwnChainClaim {
  std::string scope;
  uint64_t own_seq = 0;  // this store's last seq there when the summary came
  std::string what;      // the peer's words, for the messages
  // An honest peer then sends a change that shows it: the changes past this store's last seq,
  // or its change at that seq as fork evidence. Not for a different change below this store's
  // last seq: the peer, seeing this store ahead of it, sends nothing of that chain, and
  // protocol 1 has no way to ask for it; such a claim is taken on the peer's word.
  bool provable = true;
};

class SyncSession::State {
 public:
  // Outgoing.
  bool peer_summary_received = false;
  std::vector<std::string> send_scopes;             // control first, then by name
  std::map<std::string, crdt::VersionVector> sent;  // what the peer holds or was sent
  size_t cursor = 0;
  std::vector<std::string> forced;  // evidence of a fork to show the peer
  uint64_t next_batch = 1;
  std::set<uint64_t> in_flight;
  std::map<uint64_t, std::vector<SentChange>> in_flight_changes;  // by batch id
  bool all_sent = false;
  // Incoming.
  bool peer_last = false;
  std::vector<uint64_t> acks_to_send;
  std::vector<IngestReport::NotKept> not_kept_to_send;  // at most kMaxNotKeptListed
  uint64_t not_kept_unlisted = 0;
  uint32_t data_hops = 0;
  // The peer's summary says it holds more of this device's own chain, or another change at
  // one of its seqs (check_own_chain). Nothing is sent while this stands; the peer's own
  // batches must then show such a change, signed with this device's key, or the claim is
  // dropped and the session fails (receive).
  std::vector<OwnChainClaim> own_claims;
};

SyncSession::SyncSession(Replica& replica, Certificate peer, SyncOptions options)
    : replica_(replica),
      peer_(std::move(peer)),
      options_(options),
      state_(std::make_unique<State>()) {}

SyncSession::~SyncSession() = default;

std::vector<std::string> SyncSession::start() {
  capnp::MallocMessageBuilder mb;
  auto msg = mb.initRoot<engine::wire::SyncMessage>();
  msg.setHop(1);
  auto scopes = replica_.scopes();
  std::vector<std::pair<std::string, std::map<crdt::ActorId, Head>>> listed;
  if (scopes.is_ok()) {
    const crdt::ActorId peer_actor = engine::actor_of(peer_.device);
    for (const std::string& s : *scopes) {
      auto h = replica_.heads(s);
      if (!h.is_ok()) continue;
      if (!peer_.may_receive(s)) {
        // A scope the peer may not receive is listed with the peer's own chain alone, when this
        // node holds some of it (work from before a move): the peer then sends only what is
        // missing of it, and learns nothing it did not write.
        auto own = h->find(peer_actor);
        if (own == h->end()) continue;
        std::map<crdt::ActorId, Head> only_own{*own};
        listed.emplace_back(s, std::move(only_own));
        continue;
      }
      listed.emplace_back(s, std::move(*h));
    }
  }
  auto list = msg.initSummary().initScopes(static_cast<unsigned>(listed.size()));
  for (size_t i = 0; i < listed.size(); ++i) {
    list[i].setScope(listed[i].first);
    auto heads = list[i].initHeads(static_cast<unsigned>(listed[i].second.size()));
    size_t j = 0;
    for (const auto& [actor, head] : listed[i].second) {
      heads[j].setActor(engine::data_of(
          std::string_view(reinterpret_cast<const char*>(actor.bytes.data()), actor.bytes.size())));
      heads[j].setSeq(head.seq);
      heads[j].setHash(engine::data_of(engine::key_bytes(head.hash)));
      ++j;
    }
  }
  std::string out = flat(mb);
  stats_.bytes_sent += out.size();
  ++stats_.messages_sent;
  state_->data_hops = std::max<uint32_t>(state_->data_hops, 1);
  stats_.round_trips = (state_->data_hops + 1) / 2;
  return {std::move(out)};
}

bool SyncSession::done() const {
  const State& s = *state_;
  return s.all_sent && s.in_flight.empty() && s.peer_last && s.acks_to_send.empty();
}

namespace {

// Whether the peer says it holds more of this device's own chain in `scope` than this store,
// or a different change at one of its seqs: if so, this store is behind what this device
// itself wrote (restored from a backup, or copied to another device), and every change it
// writes from there forks the chain, which every peer quarantines. A summary is the peer's
// word, not signed changes: `*claim` (scope, seqs) is only a claim, which the session holds
// against the changes the peer then sends (SyncSession::receive). Only scopes this store holds
// are judged. An error is the store's own.
Status check_own_chain(const std::string& scope, const std::map<crdt::ActorId, Head>& theirs,
                       const std::map<crdt::ActorId, Head>& mine, const Replica& replica,
                       const Replica::Impl& impl, const std::string& peer_name,
                       std::optional<OwnChainClaim>* claim) {
  const auto peer_head = theirs.find(replica.actor());
  if (mine.empty() || peer_head == theirs.end() || peer_head->second.seq == 0) {
    return Status::ok();
  }
  const uint64_t peer_seq = peer_head->second.seq;
  const auto own = mine.find(replica.actor());
  const uint64_t own_seq = own == mine.end() ? 0 : own->second.seq;
  std::string what;
  if (peer_seq > own_seq) {
    what = "peer '" + peer_name + "' holds this device's changes 1.." + std::to_string(peer_seq) +
           " in scope '" + scope + "', but this store's last is " + std::to_string(own_seq);
  } else {
    auto change = impl.change_at(scope, replica.actor(), peer_seq);
    if (!change.is_ok()) return change.status();
    if (!*change || engine::change_id(**change) == peer_head->second.hash) return Status::ok();
    what = "peer '" + peer_name + "' holds a different change " + std::to_string(peer_seq) +
           " of this device in scope '" + scope + "' than this store (whose last is " +
           std::to_string(own_seq) + ")";
  }
  *claim = OwnChainClaim{scope, own_seq, std::move(what), peer_seq >= own_seq};
  return Status::ok();
}

// The finding once the peer has shown this device's own change `seq`, signed with its key; or,
// without `seq`, for a claim the peer cannot show (OwnChainClaim::provable), on its word.
std::string restored_finding(const OwnChainClaim& claim, std::optional<uint64_t> seq) {
  return claim.what +
         ": this store is behind what this device itself wrote, so it was restored from a "
         "backup or copied from another device. Nothing was sent: its changes from there would "
         "be quarantined as equivocations. Do not write on this store again; re-enrol the "
         "device with a new key (birga init in a new directory, then enrol it). " +
         (seq ? "(The peer sent this device's change " + std::to_string(*seq) +
                    " of that scope, signed with its key, as proof.)"
              : std::string("(This is what the peer says it holds: if this store was never "
                            "restored or copied, report that peer.)"));
}

// Whether `c`, sent by the peer, is a change of this device's own chain in the claim's scope,
// validly signed, that this store does not hold: past its last seq, or another change at one
// of its seqs. Its seq, if so.
Result<std::optional<uint64_t>> proves_claim(const OwnChainClaim& claim, std::string_view c,
                                             const Replica& replica, const Replica::Impl& impl) {
  auto h = engine::read_header(c);
  if (!h.is_ok() || h->header.scope != claim.scope ||
      engine::actor_of(h->header.author) != replica.actor() ||
      h->header.author != replica.device_key()) {
    return std::optional<uint64_t>();
  }
  if (!engine::verify_change(c).is_ok()) return std::optional<uint64_t>();
  const uint64_t seq = h->header.seq;
  if (seq <= claim.own_seq) {
    auto held = impl.change_at(claim.scope, replica.actor(), seq);
    if (!held.is_ok()) return held.status();
    if (!*held || engine::change_id(**held) == engine::change_id(c)) {
      return std::optional<uint64_t>();
    }
  }
  return std::optional<uint64_t>(seq);
}

// The mirror of check_own_chain, seen from the other side: the peer lists a scope but holds
// less of its own chain there than this node does. Its store was restored or copied; it
// stops its own session (check_own_chain), and this node keeps an alert saying why.
std::optional<std::string> peer_behind(const std::string& scope,
                                       const std::map<crdt::ActorId, Head>& theirs,
                                       const std::map<crdt::ActorId, Head>& mine,
                                       const Certificate& peer) {
  const crdt::ActorId actor = engine::actor_of(peer.device);
  const auto held = mine.find(actor);
  if (held == mine.end()) return std::nullopt;
  const auto listed = theirs.find(actor);
  const uint64_t peer_seq = listed == theirs.end() ? 0 : listed->second.seq;
  if (peer_seq >= held->second.seq) return std::nullopt;
  return "device '" + peer.name + "' holds its own changes in scope '" + scope + "' only to " +
         std::to_string(peer_seq) + ", and this node holds them to " +
         std::to_string(held->second.seq) +
         ": its store was restored from a backup or copied. It must not write again: re-enrol "
         "it with a new key and revoke this one";
}

// Reads the peer's summary into per-scope heads; checks each shared chain's hash at the
// peer's seq against ours, returning our change where they differ (a forked chain).
Status read_summary(engine::wire::Summary::Reader summary, Replica& replica,
                    const Replica::Impl& impl, const Certificate& peer,
                    std::map<std::string, std::map<crdt::ActorId, Head>>* peer_heads,
                    std::vector<std::pair<std::string, std::string>>* forks,
                    std::vector<std::string>* restored_peer,
                    std::vector<OwnChainClaim>* own_claims) {
  const std::string& peer_name = peer.name;
  for (auto scope : summary.getScopes()) {
    const std::string name = scope.getScope().cStr();
    BIRGA_RETURN_IF_ERROR(engine::check_name("summary scope", name));
    // A scope the peer may not receive is ignored: it cannot claim to hold this device's
    // chain there, nor draw a change of it out as fork evidence.
    if (!peer.may_receive(name)) continue;
    auto& heads = (*peer_heads)[name];
    for (auto h : scope.getHeads()) {
      if (h.getActor().size() != 16 || h.getHash().size() != 32) {
        return Status::corrupt_input("summary: malformed head entry in scope '" + name + "'");
      }
      crdt::ActorId actor;
      std::copy(h.getActor().begin(), h.getActor().end(), actor.bytes.begin());
      Head head;
      head.seq = h.getSeq();
      std::copy(h.getHash().begin(), h.getHash().end(), head.hash.begin());
      heads[actor] = head;
    }
  }
  for (const auto& [scope, heads] : *peer_heads) {
    auto mine = replica.heads(scope);
    if (!mine.is_ok()) return mine.status();
    std::optional<OwnChainClaim> claim;
    BIRGA_RETURN_IF_ERROR(check_own_chain(scope, heads, *mine, replica, impl, peer_name, &claim));
    if (claim) own_claims->push_back(std::move(*claim));
    if (auto behind = peer_behind(scope, heads, *mine, peer)) {
      restored_peer->push_back(std::move(*behind));
    }
    for (const auto& [actor, theirs] : heads) {
      auto it = mine->find(actor);
      if (it == mine->end() || theirs.seq == 0 || theirs.seq > it->second.seq) continue;
      auto change = impl.change_at(scope, actor, theirs.seq);
      if (!change.is_ok()) return change.status();
      if (*change && engine::change_id(**change) != theirs.hash) {
        if (actor == engine::actor_of(peer.device)) {
          restored_peer->push_back(
              "device '" + peer_name + "' holds a different change " + std::to_string(theirs.seq) +
              " of its own in scope '" + scope +
              "' than this node: its store was restored from a backup or copied. It must not "
              "write again: re-enrol it with a new key and revoke this one");
        }
        forks->emplace_back(scope, std::move(**change));
      }
    }
  }
  return Status::ok();
}

// Moves the list of changes not kept into the message that carries their acknowledgement.
// Null (nothing at all on the wire) when every change was kept.
void set_not_kept(engine::wire::NotKeptList::Builder report, SyncSession::State& s) {
  using Outcome = IngestReport::NotKept::Outcome;
  report.setUnlisted(s.not_kept_unlisted);
  s.not_kept_unlisted = 0;
  auto list = report.initListed(static_cast<unsigned>(s.not_kept_to_send.size()));
  for (size_t i = 0; i < s.not_kept_to_send.size(); ++i) {
    const IngestReport::NotKept& n = s.not_kept_to_send[i];
    auto e = list[static_cast<unsigned>(i)];
    e.setChange(engine::data_of(engine::key_bytes(n.change)));
    e.setOutcome(n.outcome == Outcome::kQuarantined ? engine::wire::NotKept::Outcome::QUARANTINED
                 : n.outcome == Outcome::kWaiting   ? engine::wire::NotKept::Outcome::WAITING
                                                    : engine::wire::NotKept::Outcome::REFUSED);
    e.setReason(n.reason);
  }
  s.not_kept_to_send.clear();
}

}  // namespace

Result<std::vector<std::string>> SyncSession::receive(std::string_view message) {
  State& s = *state_;
  stats_.bytes_received += message.size();
  ++stats_.messages_received;
  uint32_t hop = 0;
  std::vector<std::string> incoming;
  bool incoming_last = false;
  uint64_t incoming_id = 0;
  enum { kSummary, kBatch, kAck } kind = kAck;

  // The peer's acknowledgements, and what of those batches it did not keep: named from what
  // was sent, before the batches leave in_flight.
  // The changes of the acknowledged batches by id, worked out once, when the first change not
  // kept is reported.
  std::map<ChangeHash, const SentChange*> sent_ids;
  bool named = false;
  auto name_sent = [&](capnp::List<uint64_t>::Reader acks) -> Status {
    if (named) return Status::ok();
    named = true;
    for (uint64_t id : acks) {
      const auto batch = s.in_flight_changes.find(id);
      if (batch == s.in_flight_changes.end()) continue;
      for (SentChange& c : batch->second) {
        if (!c.id) {
          auto sealed = replica_.impl_->change_at(c.scope, c.author, c.seq);
          if (!sealed.is_ok()) return sealed.status();
          if (!*sealed) continue;
          c.id = engine::change_id(**sealed);
        }
        sent_ids.emplace(*c.id, &c);
      }
    }
    return Status::ok();
  };
  auto take_acks = [&](capnp::List<uint64_t>::Reader acks, bool has_not_kept,
                       engine::wire::NotKeptList::Reader report) -> Status {
    const auto not_kept =
        has_not_kept ? report.getListed() : capnp::List<engine::wire::NotKept>::Reader();
    const uint64_t unlisted = has_not_kept ? report.getUnlisted() : 0;
    if (not_kept.size() > kMaxNotKeptListed) {
      return Status::corrupt_input("the peer listed " + std::to_string(not_kept.size()) +
                                   " changes not kept in one message (at most " +
                                   std::to_string(kMaxNotKeptListed) + ")");
    }
    uint64_t extra = 0;
    if (__builtin_add_overflow(stats_.peer_not_kept_unlisted, unlisted, &extra)) {
      return Status::corrupt_input("the peer's count of changes not kept overflows");
    }
    stats_.peer_not_kept_unlisted = extra;
    for (auto n : not_kept) {
      if (n.getChange().size() != 32) {
        return Status::corrupt_input("a change not kept whose id is " +
                                     std::to_string(n.getChange().size()) + " bytes, not 32");
      }
      if (stats_.peer_not_kept.size() >= kMaxPeerNotKeptKept) {
        ++stats_.peer_not_kept_unlisted;
        continue;
      }
      PeerNotKept entry;
      std::copy(n.getChange().begin(), n.getChange().end(), entry.change.begin());
      switch (n.getOutcome()) {
        case engine::wire::NotKept::Outcome::QUARANTINED:
          entry.outcome = PeerNotKept::Outcome::kQuarantined;
          break;
        case engine::wire::NotKept::Outcome::WAITING:
          entry.outcome = PeerNotKept::Outcome::kWaiting;
          break;
        default:  // refused, or an outcome added after this version: not kept either way
          entry.outcome = PeerNotKept::Outcome::kRefused;
      }
      const auto reason = n.getReason();
      entry.reason = cut_reason(std::string(reason.begin(), reason.size()));
      BIRGA_RETURN_IF_ERROR(name_sent(acks));
      if (const auto sent = sent_ids.find(entry.change); sent != sent_ids.end()) {
        entry.own = sent->second->own;
        entry.scope = sent->second->scope;
        entry.seq = sent->second->seq;
      }
      stats_.peer_not_kept.push_back(std::move(entry));
    }
    for (uint64_t id : acks) {
      s.in_flight_changes.erase(id);
      if (s.in_flight.erase(id)) ++stats_.batches_acked;
    }
    return Status::ok();
  };

  // An alert kept in the store unless the same one is open already.
  auto alert_once = [&](const std::string& kind, const std::string& detail) -> Status {
    auto alerts = replica_.alerts();
    if (!alerts.is_ok()) return alerts.status();
    for (const Alert& a : *alerts) {
      if (a.open() && a.kind == kind && a.detail == detail) return Status::ok();
    }
    return replica_.impl_->env->write([&](Txn& txn) {
      BIRGA_RETURN_IF_ERROR(replica_.impl_->add_alert(txn, kind, detail));
      if (kind != "restored_store") return Status::ok();
      // From here on the store refuses local writes (Replica::Impl::commit_local).
      auto position = txn.count(Table::kAlerts);
      if (!position.is_ok()) return position.status();
      std::string v;
      engine::put_be64(v, *position);
      return txn.put(Table::kMeta, "restored", v);
    });
  };
  Status parsed =
      engine::read_message(message, kSyncLimits, "sync message", [&](capnp::MessageReader& m) {
        auto msg = m.getRoot<engine::wire::SyncMessage>();
        hop = msg.getHop();
        switch (msg.which()) {
          case engine::wire::SyncMessage::SUMMARY: {
            if (s.peer_summary_received)
              return Status::corrupt_input("second summary from the peer");
            s.peer_summary_received = true;
            kind = kSummary;
            std::map<std::string, std::map<crdt::ActorId, Head>> peer_heads;
            std::vector<std::pair<std::string, std::string>> forks;
            std::vector<std::string> restored_peer;
            BIRGA_RETURN_IF_ERROR(read_summary(msg.getSummary(), replica_, *replica_.impl_, peer_,
                                               &peer_heads, &forks, &restored_peer, &s.own_claims));
            for (const std::string& detail : restored_peer) {
              BIRGA_RETURN_IF_ERROR(alert_once("restored_peer", detail));
            }
            stats_.restored_peer = std::move(restored_peer);
            for (const OwnChainClaim& claim : s.own_claims) {
              if (claim.provable) continue;
              // Kept in the store, so status shows it after this session (once, however often
              // the device retries).
              const std::string finding = restored_finding(claim, std::nullopt);
              BIRGA_RETURN_IF_ERROR(alert_once("restored_store", finding));
              return Status::data_loss(finding);
            }
            auto scopes = replica_.scopes();
            if (!scopes.is_ok()) return scopes.status();
            auto own = replica_.impl_->parse_certificate(replica_.impl_->certificate);
            if (!own.is_ok()) return own.status().with_context("this node's certificate");
            for (const std::string& scope : *scopes) {
              if (!peer_.may_receive(scope)) continue;
              s.send_scopes.push_back(scope);
              crdt::VersionVector& vv = s.sent[scope];
              for (const auto& [actor, head] : peer_heads[scope]) vv.advance(actor, head.seq);
              if (scope == kControlScope || own->rights_on(scope) != 0) continue;
              // A scope this node has no right on any more (it moved to another mahalla): it
              // hands over its own changes only, which the peer judges by the certificate in
              // force when each was made; the others' the peer would refuse from it.
              auto mine = replica_.heads(scope);
              if (!mine.is_ok()) return mine.status();
              for (const auto& [actor, head] : *mine) {
                if (actor != replica_.actor()) vv.advance(actor, head.seq);
              }
            }
            std::stable_partition(s.send_scopes.begin(), s.send_scopes.end(),
                                  [](const std::string& sc) { return sc == kControlScope; });
            for (auto& fork : forks) {
              const std::string& scope = fork.first;  // a plain reference: clang 14 cannot
              std::string& change = fork.second;      // capture a structured binding
              BIRGA_RETURN_IF_ERROR(replica_.impl_->env->write([&](Txn& txn) {
                return replica_.impl_->add_alert(
                    txn, "equivocation",
                    "peer '" + peer_.name +
                        "' holds a different change than this node for the same "
                        "seq in scope '" +
                        scope + "' (a cloned device?); sending ours as evidence");
              }));
              s.forced.push_back(std::move(change));
            }
            return Status::ok();
          }
          case engine::wire::SyncMessage::BATCH: {
            if (!s.peer_summary_received) return Status::corrupt_input("batch before summary");
            if (s.peer_last) return Status::corrupt_input("batch after the peer's last batch");
            kind = kBatch;
            auto b = msg.getBatch();
            incoming_id = b.getId();
            incoming_last = b.getLast();
            BIRGA_RETURN_IF_ERROR(take_acks(b.getAcks(), b.hasNotKept(), b.getNotKept()));
            for (auto c : b.getChanges()) {
              incoming.emplace_back(reinterpret_cast<const char*>(c.begin()), c.size());
            }
            return Status::ok();
          }
          case engine::wire::SyncMessage::ACK: {
            auto a = msg.getAck();
            return take_acks(a.getAcks(), a.hasNotKept(), a.getNotKept());
          }
          default:
            return Status::corrupt_input("unknown sync message kind");
        }
      });
  BIRGA_RETURN_IF_ERROR(parsed);

  if (kind == kBatch && !s.own_claims.empty()) {
    // The peer said it holds more of this device's chain: a change of it, signed with this
    // device's key, proves that this store was restored or copied. The finding is kept in the
    // store (so status shows it after this session; once, however often the device retries)
    // and nothing of the batch is taken.
    for (const std::string& c : incoming) {
      for (const OwnChainClaim& claim : s.own_claims) {
        auto seq = proves_claim(claim, c, replica_, *replica_.impl_);
        if (!seq.is_ok()) return seq.status();
        if (!*seq) continue;
        const std::string finding = restored_finding(claim, **seq);
        BIRGA_RETURN_IF_ERROR(alert_once("restored_store", finding));
        return Status::data_loss(finding);
      }
    }
    if (incoming_last) {
      // Its last batch showed no such change: its word alone does not stop this device.
      const std::string detail =
          s.own_claims.front().what +
          ", but it sent no change of this device that this store lacks: the claim is not "
          "taken, and this store is not marked restored (if it happens again, report that peer)";
      BIRGA_RETURN_IF_ERROR(alert_once("unproven_claim", detail));
      return Status::permission_denied(detail);
    }
  }
  if (kind == kBatch) {
    // Refuse what this node may not receive or the peer may not send, before ingest.
    std::vector<std::string> accepted;
    std::vector<IngestReport::NotKept> not_kept;
    // The peer's own changes, by id or by place in `accepted`: listed first if the list is cut.
    std::set<engine::ChangeId> peers_own;
    std::vector<size_t> peers_own_accepted;
    const bool carried_changes = !incoming.empty();
    auto own = replica_.impl_->parse_certificate(replica_.impl_->certificate);
    if (!own.is_ok()) return own.status().with_context("this node's certificate");
    for (std::string& c : incoming) {
      auto h = engine::read_header(c);
      if (!h.is_ok()) {
        stats_.refused.push_back(h.status());
        not_kept.push_back(
            {engine::change_id(c), IngestReport::NotKept::Outcome::kRefused, h.status().message()});
        continue;
      }
      const std::string& scope = h->header.scope;
      // A peer hands over changes of the scopes it has a right on, and its own changes of
      // any scope: one made before a move to another mahalla is judged, by the certificate in
      // force when it was made, where it is applied (check_author).
      const bool peer_may =
          scope == kControlScope || peer_.rights_on(scope) != 0 || h->header.author == peer_.device;
      if (!own->may_receive(scope) || !peer_may) {
        stats_.refused.push_back(Status::permission_denied(
            "change of scope '" + scope + "' from '" + peer_.name + "' refused: not entitled"));
        if (h->header.author == peer_.device) peers_own.insert(engine::change_id(c));
        not_kept.push_back(
            {engine::change_id(c), IngestReport::NotKept::Outcome::kRefused,
             "change " + std::to_string(h->header.seq) + " in scope '" + scope + "' refused: " +
                 (peer_may
                      ? "'" + own->name + "' may not receive this scope"
                      : "'" + peer_.name + "' has no right on this scope (certificate serial " +
                            std::to_string(peer_.serial) + ")") +
                 " (not entitled)"});
        continue;
      }
      if (h->header.author == peer_.device) peers_own_accepted.push_back(accepted.size());
      accepted.push_back(std::move(c));
    }
    auto report = replica_.ingest(accepted);
    if (!report.is_ok()) return report.status();
    stats_.changes_received +=
        report->applied + report->pending + report->sealed_only + report->quarantined;
    for (Status& r : report->refused) stats_.refused.push_back(std::move(r));
    for (auto& n : report->not_kept) not_kept.push_back(std::move(n));
    if (s.not_kept_to_send.size() + not_kept.size() > kMaxNotKeptListed) {
      // More than a message lists: the peer's own changes go first, since they are what its
      // device must be told of (a tablet relaying a colleague's refused changes would else
      // hear nothing of its own).
      for (size_t i : peers_own_accepted) peers_own.insert(engine::change_id(accepted[i]));
      std::stable_partition(not_kept.begin(), not_kept.end(),
                            [&](const auto& n) { return peers_own.count(n.change) > 0; });
    }
    for (auto& n : not_kept) {
      if (s.not_kept_to_send.size() >= kMaxNotKeptListed) {
        ++s.not_kept_unlisted;
        continue;
      }
      n.reason = cut_reason(std::move(n.reason));
      s.not_kept_to_send.push_back(std::move(n));
    }
    s.acks_to_send.push_back(incoming_id);
    if (incoming_last) s.peer_last = true;
    if (carried_changes) s.data_hops = std::max(s.data_hops, hop);
  }
  if (kind == kSummary) s.data_hops = std::max(s.data_hops, hop);

  // Answer: batches while the window allows, acks riding on the first; else a bare Ack.
  std::vector<std::string> out;
  const uint32_t reply_hop = hop + 1;
  while (s.peer_summary_received && s.own_claims.empty() && !s.all_sent &&
         s.in_flight.size() < options_.window) {
    capnp::MallocMessageBuilder mb;
    auto msg = mb.initRoot<engine::wire::SyncMessage>();
    msg.setHop(reply_hop);
    std::vector<std::string> changes;
    std::vector<SentChange> sent_changes;
    size_t bytes = 0;
    while (s.cursor < s.send_scopes.size() && bytes < options_.max_batch_bytes) {
      const std::string& scope = s.send_scopes[s.cursor];
      auto more = replica_.export_missing(scope, s.sent[scope], options_.max_batch_bytes - bytes);
      if (!more.is_ok()) return more.status();
      if (more->empty()) {
        ++s.cursor;
        continue;
      }
      for (std::string& c : *more) {
        auto h = engine::read_header(c);
        if (!h.is_ok()) return Status::data_loss("a stored change does not parse");
        const crdt::ActorId author = engine::actor_of(h->header.author);
        s.sent[scope].advance(author, h->header.seq);
        sent_changes.push_back({scope, author, h->header.seq, author == replica_.actor(), {}});
        bytes += c.size();
        changes.push_back(std::move(c));
      }
    }
    bool last = s.cursor >= s.send_scopes.size();
    // Evidence of a fork goes after the regular changes, so the control changes that let the
    // peer check its author come first.
    if (last) {
      // Within what one frame holds: evidence that does not fit beside this batch's changes
      // goes in the next batch (a restored peer stops only on seeing its own change: the
      // own-chain check); only a change too large for a frame on its own is dropped (the alert
      // was raised here, and the peer will see the fork when the histories meet again).
      std::vector<std::string> later;
      for (std::string& c : s.forced) {
        if (bytes + c.size() > kMaxFrameBytes / 2) {
          if (bytes > 0) later.push_back(std::move(c));
          continue;
        }
        if (auto h = engine::read_header(c); h.is_ok()) {
          const crdt::ActorId author = engine::actor_of(h->header.author);
          sent_changes.push_back({h->header.scope, author, h->header.seq,
                                  author == replica_.actor(), engine::change_id(c)});
        }
        bytes += c.size();
        changes.push_back(std::move(c));
      }
      s.forced = std::move(later);
      last = s.forced.empty();
    }
    auto b = msg.initBatch();
    const uint64_t id = s.next_batch++;
    b.setId(id);
    b.setLast(last);
    auto list = b.initChanges(static_cast<unsigned>(changes.size()));
    for (size_t i = 0; i < changes.size(); ++i) list.set(i, engine::data_of(changes[i]));
    auto acks = b.initAcks(static_cast<unsigned>(s.acks_to_send.size()));
    for (size_t i = 0; i < s.acks_to_send.size(); ++i) acks.set(i, s.acks_to_send[i]);
    s.acks_to_send.clear();
    if (!s.not_kept_to_send.empty() || s.not_kept_unlisted > 0) set_not_kept(b.initNotKept(), s);
    s.in_flight.insert(id);
    if (!sent_changes.empty()) s.in_flight_changes[id] = std::move(sent_changes);
    s.all_sent = last;
    stats_.changes_sent += changes.size();
    if (!changes.empty()) s.data_hops = std::max(s.data_hops, reply_hop);
    out.push_back(flat(mb));
  }
  if (!s.acks_to_send.empty()) {
    capnp::MallocMessageBuilder mb;
    auto msg = mb.initRoot<engine::wire::SyncMessage>();
    msg.setHop(reply_hop);
    auto ack = msg.initAck();
    auto acks = ack.initAcks(static_cast<unsigned>(s.acks_to_send.size()));
    for (size_t i = 0; i < s.acks_to_send.size(); ++i) acks.set(i, s.acks_to_send[i]);
    s.acks_to_send.clear();
    if (!s.not_kept_to_send.empty() || s.not_kept_unlisted > 0) set_not_kept(ack.initNotKept(), s);
    out.push_back(flat(mb));
  }
  for (const std::string& m : out) stats_.bytes_sent += m.size();
  stats_.messages_sent += out.size();
  stats_.round_trips = (s.data_hops + 1) / 2;
  return out;
}

}  // namespace birga
