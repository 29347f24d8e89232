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

# The plaintext body (before compression and encryption): the ops of one change, in columns.
# Ops are numbered 0..n-1 in the order given to encode_ops, n = the length of `kinds` (at most
# 2^20 - 1). An op's dot and time are not carried: op i gets dot (author actor,
# (seq << 20) | (i + 1)) and time hlc. Names and ids are stored once, in tables in first-use
# order, and ops refer to them by index. The value columns are grouped by field: the values of
# the ops whose field index is 0 (in op order), then those of field 1, and so on, so that
# similar values (all notes, all dates) sit together and compress well. A writer leaves empty
# columns null. Byte layout and the reader's checks: docs/protocol.md section 8.
struct OpBody {
  collections @0 :List(Text);         # distinct collection names
  fields @1 :List(Text);              # distinct field names ("" for record-level ops)
  records @2 :Data;                   # distinct record ids, 16 bytes each, concatenated
  kinds @3 :Data;                     # per op: crdt::OpKind, 1..8
  collection @4 :List(UInt32);        # per op: index into collections
  record @5 :List(UInt32);            # per op: index into records (in 16-byte ids)
  field @6 :List(UInt32);             # per op: index into fields
  valueTypes @7 :Data;                # per op: 0 none, 1 false, 2 true, 3 integer, 4 text
  integers @8 :List(Int64);           # one per op of value type 3, grouped by field
  textLengths @9 :List(UInt32);       # one per op of value type 4, grouped by field
  texts @10 :Data;                    # the text values concatenated, in textLengths' order
  actors @11 :Data;                   # distinct actors of observed dots, 16 bytes each
  observedOp @12 :List(UInt32);       # per observed dot: its op's index, non-decreasing
  observedActor @13 :List(UInt32);    # per observed dot: index into actors
  observedCounter @14 :List(UInt64);  # per observed dot: its counter
  incTotals @15 :List(UInt64);        # per kCounterUpdate op, in op order
  decTotals @16 :List(UInt64);        # per kCounterUpdate op, in op order
}
