# Birga trust and sync messages: device certificates, the handshake, and the messages of a
# sync session. The byte-level contract is in docs/protocol.md.
#
# Certificates are written in Cap'n Proto canonical form and readers refuse any certificate
# body that is not canonical, so the signed bytes are the only encoding of a certificate.
# Handshake and sync messages travel inside the authenticated channel (or, for the hello, are
# bound by the proof that follows); they are decoded with explicit size and nesting limits.
# Field numbers are part of the format: add new fields at the end, never renumber.
@0xab6bf9e9d1371be1;

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("birga::engine::wire");

struct ScopeGrant {
  path @0 :Text;              # "region/district/mahalla"; covers everything below it
  rights @1 :UInt8;           # bits: 1 read, 2 write, 4 relay
}

# What the authority signs about a device.
struct CertificateBody {
  magic @0 :UInt32;           # 0x42524354 ("BRCT")
  version @1 :UInt16;         # = 1
  authority @2 :Data;         # 32-byte Ed25519 public key of the deployment authority
  device @3 :Data;            # 32-byte Ed25519 public key of the device
  name @4 :Text;
  role @5 :UInt8;             # 1 field, 2 supervisor, 3 hub, 4 relay
  scopes @6 :List(ScopeGrant);
  serial @7 :UInt64;
  issuedMs @8 :UInt64;
  expiresMs @9 :UInt64;       # 0: never
}

struct Certificate {
  body @0 :Data;              # a canonical CertificateBody message
  signature @1 :Data;         # Ed25519 by `authority` over "birga-cert-v1" || body
}

# First handshake message, sent in clear by both sides at once: only a fresh ephemeral key,
# so a passive observer learns nothing about who is syncing.
struct Hello {
  magic @0 :UInt32;           # 0x42524853 ("BRHS")
  version @1 :UInt16;         # = 1
  ephemeral @2 :Data;         # 32-byte X25519 (crypto_kx) public key for this session
}

# Second handshake message, the first frame sealed under the session keys (frame counter 0):
# the sender's certificate and its proof of holding the certified key, binding both hellos.
struct Proof {
  certificate @0 :Data;       # the sender's Certificate
  signature @1 :Data;         # Ed25519 by the sender's device key over
                              # "birga-handshake-v1" || u8 sender-is-initiator ||
                              # u32 LE len || initiator hello || u32 LE len || responder hello
  wallMs @2 :UInt64;          # the sender's wall clock (ms since the Unix epoch) as it sent
                              # the proof; 0: not given. Tells each side how far apart the
                              # two clocks are (Handshake::peer_clock_offset_ms).
}

# Messages of a sync session (inside the encrypted channel).
struct SyncMessage {
  hop @0 :UInt32;             # 1 for the opening summary; one more than the message it answers
  union {
    summary @1 :Summary;
    batch @2 :Batch;
    ack @3 :Ack;
  }
}

struct Summary {
  scopes @0 :List(ScopeSummary);
}

struct ScopeSummary {
  scope @0 :Text;
  heads @1 :List(HeadEntry);
}

struct HeadEntry {
  actor @0 :Data;             # 16 bytes: first half of the author's public key
  seq @1 :UInt64;             # every change 1..seq of this author in this scope is held
  hash @2 :Data;              # 32-byte change id of change `seq`
}

struct Batch {
  id @0 :UInt64;              # 1, 2, ... per session and direction
  changes @1 :List(Data);     # sealed changes, in chain order per author
  last @2 :Bool;              # the sender has nothing more to send in this session
  acks @3 :List(UInt64);      # ids of the peer's batches durably ingested
  notKept @4 :NotKeptList;    # of the batches in `acks`, the changes not kept; null: none
}

struct Ack {
  acks @0 :List(UInt64);
  notKept @1 :NotKeptList;    # as in Batch
}

# The changes of the acknowledged batches that the receiver did not keep as applied or held
# (added after the first release: a peer that predates it sends none and ignores them).
struct NotKeptList {
  listed @0 :List(NotKept);   # at most 64
  unlisted @1 :UInt64;        # more such changes, beyond the 64 listed
}

# One change not kept. The reason is at most 256 bytes.
struct NotKept {
  change @0 :Data;            # 32-byte change id
  outcome @1 :Outcome;
  reason @2 :Text;            # why, for a person: names the scope, the author, the check
  enum Outcome {
    refused @0;               # not entitled, malformed, forged, no right: dropped
    quarantined @1;           # an equivocation: a different change holds its seq here
    waiting @2;               # held until an earlier change of its author arrives
  }
}
