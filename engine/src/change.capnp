# Birga change sets on the wire and on disk. The byte-level contract (what is signed, what is
# encrypted, which checks a reader makes) is in sealed_change.h and docs/protocol.md.
#
# Every message here is written in Cap'n Proto canonical form (one segment, objects in
# pre-order, no padding garbage) behind the standard 8-byte segment table. Readers of a
# SealedChange and a ChangeHeader refuse any message whose bytes differ from the canonical
# re-encoding of what they parsed (an OpBody is authenticated by the AEAD instead). Field
# numbers are part of the format: add new fields at the end, never renumber.
@0xc4df1529b781bf3c;

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("birga::engine::wire");

# The clear header of a change: what a relay needs to verify, store and route it without
# reading it. Serialized on its own (exactly the bytes that are signed and used as AEAD
# associated data) and embedded in SealedChange.header.
struct ChangeHeader {
  formatVersion @0 :UInt16;   # = 1
  author @1 :Data;            # 32-byte Ed25519 public key of the authoring device
  scope @2 :Text;             # scope name (1..255 bytes)
  seq @3 :UInt64;             # 1-based, contiguous per (author, scope); < 2^44
  prevHash @4 :Data;          # 32-byte change id of the author's previous change in this
                              # scope; 32 zero bytes when seq = 1
  hlc @5 :UInt64;             # packed crdt::Timestamp (48-bit ms << 16 | counter)
  keyEpoch @6 :UInt32;        # which epoch of the scope data key encrypted the body
  bodyLength @7 :UInt32;      # plaintext op-body length before compression
  compression @8 :UInt8;      # 0 none, 1 zstd
  schemaVersion @9 :UInt32;   # version of the deployment's record schema the author used
}

# A sealed change: the unit that is stored, relayed and hashed (change id = BLAKE2b-256 of
# these bytes).
struct SealedChange {
  magic @0 :UInt32;           # 0x42524743 ("BRGC" read as a big-endian number)
  version @1 :UInt16;         # = 1
  header @2 :Data;            # a serialized ChangeHeader message (segment table included)
  ciphertext @3 :Data;        # 24-byte nonce || XChaCha20-Poly1305(body), AD = header
  signature @4 :Data;         # 64-byte Ed25519 by `author` over
                              # "birga-change-v1" || u32 LE len(header) || header || ciphertext
}

# The plaintext body (before compression and encryption): the ops of one change. An op's dot
# and time are not carried: dot = (author actor, (seq << 20) | (index + 1)), time = hlc.
struct OpBody {
  ops @0 :List(Op);           # at most 2^20 - 1
}

struct Dot {
  actor @0 :Data;             # 16 bytes
  counter @1 :UInt64;
}

struct Op {
  collection @0 :Text;
  record @1 :Data;            # 16-byte record id
  kind @2 :UInt8;             # crdt::OpKind
  field @3 :Text;             # empty for record-level ops
  value :union {
    none @4 :Void;
    boolean @5 :Bool;
    integer @6 :Int64;
    text @7 :Text;
  }
  observed @8 :List(Dot);
  incTotal @9 :UInt64;
  decTotal @10 :UInt64;
}
