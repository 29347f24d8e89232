// Shared by the write commands: flags mapped to fields with the rule that validates each, the
// scope checks, and printing what was written.
//
// A write command validates every flag before its transaction commits; the first bad value
// returns an error naming the flag and nothing is written.
//
// Thread rule: single-threaded CLI helpers.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "args.h"
#include "birga/replica.h"

namespace birga::cli {

enum class Rule {
  kText,        // non-empty text
  kDate,        // YYYY-MM-DD, no later than tomorrow (something that happened)
  kInt,         // a whole number
  kPositive,    // a whole number > 0
  kYesNo,       // yes|no -> bool
  kCaseStatus,  // identification|assessment|placement|monitoring|closed
  kCaseType,    // guardianship|sponsorship|foster-care|care-leaver
  kVisitType,   // initial-assessment|reassessment-6m|...
  kHousehold,   // the id of a household held here
  kPerson,      // the id of a person held here
  kMember,      // PERSON_ID:RELATION, the person held here
  kPinfl,       // a national id: 14 digits
};

struct FieldFlag {
  std::string_view flag;   // without "--"
  std::string_view field;  // the schema field it writes
  Rule rule = Rule::kText;
  bool required = false;
  bool today_default = false;  // a date defaulting to today
};

// `text` as the value of `rule` (errors name `what`, e.g. "--birth-date").
Result<crdt::Value> value_for(const Replica& replica, Rule rule, std::string_view text,
                              std::string_view what);

// Queues a write of every flag given: set for lww/mv fields, add (per value) for set fields
// (a set field's flag must be declared kRepeated).
Status apply_flags(Transaction& txn, const Replica& replica, const std::string& collection,
                   const crdt::RecordId& id, const Args& args, const std::vector<FieldFlag>& flags);

// The record `id_text` of `collection`, after checking this device may write in its scope
// (and that --scope, if given, names it).
Result<RecordView> writable_record(const Replica& replica, const std::string& collection,
                                   std::string_view id_text, const Args& args);

// Appends "TEXT (by DEVICE)" to the log `field` of the record of `collection` named by the
// first positional word (errors about the text name `what`), and prints the record.
Status append_entry(const Args& args, const std::string& collection, const std::string& field,
                    const std::string& text, std::string_view what);

// `COMMAND ID TEXT`: append_entry of the second positional word.
Status append_text_arg(const Args& args, const std::string& collection, const std::string& field);

// Prints a record just written: its id, or with --json the record as an object.
Status print_written(const Args& args, const Replica& replica, const std::string& collection,
                     const crdt::RecordId& id);

}  // namespace birga::cli
