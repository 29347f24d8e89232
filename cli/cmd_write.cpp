// Write commands for households, persons, visits and aid deliveries. Each validates every
// flag, then commits one transaction (one change in the record's scope) and prints the id.
#include <algorithm>
#include <iostream>

#include "command.h"
#include "context.h"
#include "records.h"
#include "validate.h"
#include "write_fields.h"

namespace birga::cli {

namespace {

using Type = FlagSpec::Type;

// After a create: a warning on stderr for each alert-duplicates value another record holds
// (two deliveries against one entitlement). Both are kept; `birga alerts` lists them.
Status warn_duplicates(const Replica& replica, const std::string& collection,
                       const crdt::RecordId& id) {
  auto record = replica.get(collection, id);
  if (!record.is_ok() || !*record) return record.status();
  for (const auto& [name, field] : replica.schema().collection(collection)->fields) {
    const auto value = (*record)->value(name);
    if (!field.alert_duplicates || !value) continue;
    auto others = holders_of(replica, collection, name, *value, id);
    if (!others.is_ok()) return others.status();
    for (const RecordView& other : *others) {
      std::cerr << "warning: " << name << " '" << crdt::to_display(*value) << "' is also named by "
                << collection << " " << other.id.to_hex()
                << ": both are kept and an over_issuance alert is raised (birga alerts)\n";
    }
  }
  return Status::ok();
}

// Creates a record of `collection` from `flags`, plus whatever `extra` queues, and prints it.
template <typename Extra>
Status create_record(const Args& args, const std::string& collection,
                     const std::vector<FieldFlag>& flags, Extra extra) {
  BIRGA_RETURN_IF_ERROR(args.expect_positional({}));
  auto replica = open_replica(args);
  if (!replica.is_ok()) return replica.status();
  auto scope = write_scope(**replica, args);
  if (!scope.is_ok()) return scope.status();
  Transaction txn = (*replica)->begin();
  const crdt::RecordId id = txn.create(collection, *scope);
  BIRGA_RETURN_IF_ERROR(apply_flags(txn, **replica, collection, id, args, flags));
  BIRGA_RETURN_IF_ERROR(extra(txn, **replica, id));
  BIRGA_RETURN_IF_ERROR(txn.commit());
  BIRGA_RETURN_IF_ERROR(warn_duplicates(**replica, collection, id));
  return print_written(args, **replica, collection, id);
}

// Writes the flags given over record ID of `collection` (at least one) and prints it.
Status update_record(const Args& args, const std::string& collection,
                     const std::vector<FieldFlag>& flags) {
  BIRGA_RETURN_IF_ERROR(args.expect_positional({"ID"}));
  if (std::none_of(flags.begin(), flags.end(),
                   [&](const FieldFlag& f) { return args.has(f.flag); })) {
    std::string names;
    for (const FieldFlag& f : flags) names += (names.empty() ? "--" : ", --") + std::string(f.flag);
    return Status::invalid_argument("nothing to change: give one of " + names);
  }
  auto replica = open_replica(args);
  if (!replica.is_ok()) return replica.status();
  auto record = writable_record(**replica, collection, args.positional()[0], args);
  if (!record.is_ok()) return record.status();
  Transaction txn = (*replica)->begin();
  BIRGA_RETURN_IF_ERROR(apply_flags(txn, **replica, collection, record->id, args, flags));
  BIRGA_RETURN_IF_ERROR(txn.commit());
  return print_written(args, **replica, collection, record->id);
}

Status no_extra(Transaction& txn, const Replica&, const crdt::RecordId&) {
  return txn.status();
}

// The household fields; `address` is required and members are given at creation.
std::vector<FieldFlag> household_flags(bool creating) {
  std::vector<FieldFlag> flags = {{"address", "address", Rule::kText, creating},
                                  {"phone", "phone", Rule::kText},
                                  {"category", "register_category", Rule::kText},
                                  {"head", "head", Rule::kPerson}};
  if (creating) flags.push_back({"member", "members", Rule::kMember});
  return flags;
}

Status run_household_add(const Args& args) {
  return create_record(args, "household", household_flags(true), no_extra);
}

Status run_household_set(const Args& args) {
  return update_record(args, "household", household_flags(false));
}

Status run_household_note(const Args& args) {
  return append_text_arg(args, "household", "notes");
}

// add-member / remove-member ID PERSON:RELATION
Status change_member(const Args& args, bool add) {
  BIRGA_RETURN_IF_ERROR(args.expect_positional({"ID", "PERSON:RELATION"}));
  auto replica = open_replica(args);
  if (!replica.is_ok()) return replica.status();
  auto record = writable_record(**replica, "household", args.positional()[0], args);
  if (!record.is_ok()) return record.status();
  const std::string& member = args.positional()[1];
  Transaction txn = (*replica)->begin();
  if (add) {
    auto value = value_for(**replica, Rule::kMember, member, "PERSON:RELATION");
    if (!value.is_ok()) return value.status();
    txn.add("household", record->id, "members", *value);
  } else {
    const auto* set = record->state.get<crdt::AwSet>("members");
    if (!set || !set->contains(crdt::text(member))) {
      return Status::not_found("'" + member + "' is not a member of household " +
                               record->id.to_hex());
    }
    txn.remove("household", record->id, "members", crdt::text(member));
  }
  BIRGA_RETURN_IF_ERROR(txn.commit());
  return print_written(args, **replica, "household", record->id);
}

Status run_household_add_member(const Args& args) {
  return change_member(args, true);
}

Status run_household_remove_member(const Args& args) {
  return change_member(args, false);
}

// The person fields; `name` is required at creation.
std::vector<FieldFlag> person_flags(bool creating) {
  return {{"name", "name_latin", Rule::kText, creating},
          {"name-cyrillic", "name_cyrillic", Rule::kText},
          {"pinfl", "pinfl", Rule::kPinfl},
          {"birth-date", "birth_date", Rule::kDate},
          {"sex", "sex", Rule::kText},
          {"household", "household", Rule::kHousehold},
          {"disability", "disability_status", Rule::kText}};
}

Status run_person_add(const Args& args) {
  return create_record(args, "person", person_flags(true), no_extra);
}

Status run_person_set(const Args& args) {
  return update_record(args, "person", person_flags(false));
}

Status run_visit_add(const Args& args) {
  auto notes = [&args](Transaction& txn, const Replica& replica,
                       const crdt::RecordId& id) -> Status {
    // Who visited: this device's worker, unless named (and if the schema records it).
    if (!args.has("visitor") && replica.schema().field("visit", "visitors")) {
      txn.add("visit", id, "visitors", crdt::text(device_label(replica)));
    }
    if (auto text = args.get("notes")) {
      BIRGA_RETURN_IF_ERROR(check_text(*text, "--notes"));
      txn.append("visit", id, "notes", crdt::text(signed_text(*text, replica)));
    }
    return txn.status();
  };
  return create_record(args, "visit",
                       {{"household", "household", Rule::kHousehold, true},
                        {"type", "visit_type", Rule::kVisitType, true},
                        {"date", "date", Rule::kDate, false, true},
                        {"present", "persons_present", Rule::kPerson},
                        {"visitor", "visitors", Rule::kText},
                        {"answers", "answers", Rule::kText},
                        {"need", "needs", Rule::kText},
                        {"referral", "referrals", Rule::kText},
                        {"consent", "consent", Rule::kYesNo}},
                       notes);
}

Status run_visit_amend(const Args& args) {
  BIRGA_RETURN_IF_ERROR(args.expect_positional({"ID"}));
  auto text = args.require("text", "TEXT (the amendment)");
  if (!text.is_ok()) return text.status();
  return append_entry(args, "visit", "amendments", *text, "--text");
}

Status run_aid_add(const Args& args) {
  auto delivered_by = [](Transaction& txn, const Replica& replica, const crdt::RecordId& id) {
    txn.set("aid_delivery", id, "delivered_by", crdt::text(device_label(replica)));
    return txn.status();
  };
  return create_record(args, "aid_delivery",
                       {{"household", "household", Rule::kHousehold, true},
                        {"value", "value_soums", Rule::kPositive, true},
                        {"entitlement", "entitlement", Rule::kText, true},
                        {"programme", "programme", Rule::kText},
                        {"funder", "funder", Rule::kText},
                        {"item", "item_code", Rule::kText},
                        {"quantity", "quantity", Rule::kPositive},
                        {"unit", "unit", Rule::kText},
                        {"recipient", "recipient", Rule::kText},
                        {"voucher", "voucher", Rule::kText},
                        {"delivered-at", "delivered_at", Rule::kDate, false, true},
                        {"place", "place", Rule::kText},
                        {"proof", "proof", Rule::kText},
                        {"outcome", "outcome", Rule::kText}},
                       delivered_by);
}

// Refuses to reverse a reversal, or a delivery some reversal held here already names.
Status check_reversible(const Replica& replica, const RecordView& original) {
  if (auto r = original.value("reverses"); r && crdt::type_of(*r) == crdt::ValueType::kText) {
    return Status::invalid_argument("aid_delivery " + original.id.to_hex() +
                                    " is itself a reversal (of " + crdt::to_display(*r) +
                                    "): record a new delivery instead");
  }
  auto earlier = replica.find("aid_delivery", "reverses", crdt::text(original.id.to_hex()));
  if (!earlier.is_ok()) return earlier.status();
  if (!earlier->empty()) {
    return Status::already_exists("aid_delivery " + original.id.to_hex() +
                                  " is already reversed by " + earlier->front().id.to_hex());
  }
  if (!original.value("value_soums")) {
    return Status::invalid_argument("aid_delivery " + original.id.to_hex() + " has no value");
  }
  return Status::ok();
}

// The reversing delivery: the original's household and item, the negated value.
void queue_reversal(Transaction& txn, const RecordView& original, const crdt::RecordId& id,
                    const std::string& reason, const std::string& by) {
  const std::string c = "aid_delivery";
  for (const char* field : {"household", "programme", "funder", "recipient", "item_code",
                            "quantity", "unit", "voucher"}) {
    if (auto v = original.value(field)) txn.set(c, id, field, *v);
  }
  const std::optional<crdt::Value> value = original.value("value_soums");
  const int64_t* soums = value ? std::get_if<int64_t>(&*value) : nullptr;
  txn.set(c, id, "value_soums", crdt::integer(soums ? -*soums : 0));
  txn.set(c, id, "reverses", crdt::text(original.id.to_hex()));
  txn.set(c, id, "delivered_at", crdt::text(today()));
  txn.set(c, id, "delivered_by", crdt::text(by));
  txn.set(c, id, "outcome", crdt::text("reversal: " + reason));
}

Status run_aid_reverse(const Args& args) {
  BIRGA_RETURN_IF_ERROR(args.expect_positional({"ID"}));
  auto reason = args.require("reason", "TEXT (why the delivery is reversed)");
  if (!reason.is_ok()) return reason.status();
  BIRGA_RETURN_IF_ERROR(check_text(*reason, "--reason"));
  auto replica = open_replica(args);
  if (!replica.is_ok()) return replica.status();
  auto original = writable_record(**replica, "aid_delivery", args.positional()[0], args);
  if (!original.is_ok()) return original.status();
  BIRGA_RETURN_IF_ERROR(check_reversible(**replica, *original));
  Transaction txn = (*replica)->begin();
  const crdt::RecordId id = txn.create("aid_delivery", original->scope);
  queue_reversal(txn, *original, id, *reason, device_label(**replica));
  BIRGA_RETURN_IF_ERROR(txn.commit());
  return print_written(args, **replica, "aid_delivery", id);
}

// The options of `household add` (creating) and `household set`.
std::vector<FlagSpec> household_options(bool creating) {
  std::vector<FlagSpec> flags = {
      kDirFlag,
      kScopeFlag,
      {"address", Type::kValue, creating ? "TEXT   the address (required)" : "TEXT   the address"},
      {"phone", Type::kValue, "TEXT   a contact phone"},
      {"category", Type::kValue, "TEXT   the social register category"},
      {"head", Type::kValue, "PERSON_ID  the head of the household"}};
  if (creating) {
    flags.push_back({"member", Type::kRepeated, "PERSON_ID:RELATION  a member (repeatable)"});
  }
  flags.push_back(kJsonFlag);
  return flags;
}

// The options of `person add` (creating) and `person set`.
std::vector<FlagSpec> person_options(bool creating) {
  return {
      kDirFlag,
      kScopeFlag,
      {"name", Type::kValue,
       creating ? "TEXT   the name in Latin script (required)" : "TEXT   the name in Latin script"},
      {"name-cyrillic", Type::kValue, "TEXT   the name in Cyrillic script"},
      {"pinfl", Type::kValue, "14DIGITS  the national id"},
      {"birth-date", Type::kValue, "YYYY-MM-DD  the date of birth"},
      {"sex", Type::kValue, "TEXT   the sex, as recorded in the civil register"},
      {"household", Type::kValue, "ID     the household the person lives in"},
      {"disability", Type::kValue, "TEXT   functioning-based disability status (S2)"},
      kJsonFlag};
}

}  // namespace

std::vector<Command> write_commands() {
  return {
      {"household add",
       "--address TEXT [--phone TEXT] [--category TEXT] [--head PERSON_ID] "
       "[--member PERSON_ID:RELATION ...] [--scope PATH]",
       "record a household; prints its id",
       "Members are persons already recorded (`birga person add`), with their relation to the "
       "household (head, spouse, child, ...).",
       household_options(true), run_household_add},
      {"household set",
       "ID [--address TEXT] [--phone TEXT] [--category TEXT] [--head PERSON_ID] [--scope PATH]",
       "correct a household's address, phone, category or head",
       "Each field given is written over its current value. When another device changed the "
       "same field meanwhile, both values are kept and the household shows in `birga "
       "conflicts` until `birga resolve`.",
       household_options(false), run_household_set},
      {"household note",
       "ID TEXT",
       "append a note to a household",
       "",
       {kDirFlag, kScopeFlag, kJsonFlag},
       run_household_note},
      {"household add-member",
       "ID PERSON_ID:RELATION",
       "add a member to a household",
       "",
       {kDirFlag, kScopeFlag, kJsonFlag},
       run_household_add_member},
      {"household remove-member",
       "ID PERSON_ID:RELATION",
       "remove a member from a household (raises a review alert)",
       "A removed member is always flagged for review on every replica: it can hide a child.",
       {kDirFlag, kScopeFlag, kJsonFlag},
       run_household_remove_member},
      {"person add",
       "--name TEXT [--name-cyrillic TEXT] [--pinfl 14DIGITS] [--birth-date YYYY-MM-DD] "
       "[--sex TEXT] [--household ID] [--disability TEXT] [--scope PATH]",
       "record a person; prints the id", "", person_options(true), run_person_add},
      {"person set",
       "ID [--name TEXT] [--name-cyrillic TEXT] [--pinfl 14DIGITS] [--birth-date YYYY-MM-DD] "
       "[--sex TEXT] [--household ID] [--disability TEXT] [--scope PATH]",
       "correct a person's fields",
       "Each field given is written over its current value. When another device changed the "
       "same field meanwhile, both values are kept and the person shows in `birga conflicts` "
       "until `birga resolve`.",
       person_options(false), run_person_set},
      {"visit add",
       "--household ID --type TYPE [--date YYYY-MM-DD] [--present PERSON_ID ...] "
       "[--visitor NAME ...] [--answers TEXT] [--notes TEXT] [--need X ...] "
       "[--referral X ...] [--consent yes|no] [--scope PATH]",
       "record a visit to a household; prints its id",
       "TYPE: initial-assessment, reassessment-6m, reassessment-12m, monitoring, care-needs, "
       "protection-concern. A visit is final once recorded: correct it with `birga visit "
       "amend`.",
       {kDirFlag,
        kScopeFlag,
        {"household", Type::kValue, "ID     the household visited (required)"},
        {"type", Type::kValue, "TYPE   the visit type (required)"},
        {"date", Type::kValue, "YYYY-MM-DD  (default: today)"},
        {"present", Type::kRepeated, "PERSON_ID  a person present (repeatable)"},
        {"visitor", Type::kRepeated, "NAME   who visited (repeatable; default: this device)"},
        {"answers", Type::kValue, "TEXT   the questionnaire's answers"},
        {"notes", Type::kValue, "TEXT   a first note"},
        {"need", Type::kRepeated, "X      a need found (repeatable)"},
        {"referral", Type::kRepeated, "X      a referral made (repeatable)"},
        {"consent", Type::kValue, "yes|no  the family's consent"},
        kJsonFlag},
       run_visit_add},
      {"visit amend",
       "ID --text TEXT",
       "append an amendment to a visit",
       "",
       {kDirFlag, kScopeFlag, {"text", Type::kValue, "TEXT   the correction"}, kJsonFlag},
       run_visit_amend},
      {"aid add",
       "--household ID --value SOUMS --entitlement ENT [--programme TEXT] [--funder TEXT] "
       "[--item CODE] [--quantity N] [--unit U] [--recipient TEXT] [--voucher TEXT] "
       "[--delivered-at YYYY-MM-DD] [--place TEXT] [--proof TEXT] [--outcome TEXT] "
       "[--scope PATH]",
       "record an aid delivery (a grow-only fact); prints its id",
       "The value is whole soums. Two deliveries naming one entitlement are both kept and "
       "raise an over_issuance alert (`birga alerts`). A delivery is never changed: correct "
       "it with `birga aid reverse`.",
       {kDirFlag,
        kScopeFlag,
        {"household", Type::kValue, "ID     the household (required)"},
        {"value", Type::kValue, "SOUMS  the value in whole soums (required)"},
        {"entitlement", Type::kValue, "ENT    the entitlement delivered against (required)"},
        {"programme", Type::kValue, "TEXT   the programme"},
        {"funder", Type::kValue, "TEXT   who funds it"},
        {"item", Type::kValue, "CODE   the item code"},
        {"quantity", Type::kValue, "N      how many"},
        {"unit", Type::kValue, "U      the unit (kg, pcs, ...)"},
        {"recipient", Type::kValue, "TEXT   who received it"},
        {"voucher", Type::kValue, "TEXT   voucher or serial number"},
        {"delivered-at", Type::kValue, "YYYY-MM-DD  (default: today)"},
        {"place", Type::kValue, "TEXT   where (no finer than the mahalla)"},
        {"proof", Type::kValue, "TEXT   how receipt was proved (signature, voucher, ...)"},
        {"outcome", Type::kValue, "TEXT   the outcome (delivered, partly, refused, ...)"},
        kJsonFlag},
       run_aid_add},
      {"aid reverse",
       "ID --reason TEXT",
       "record a reversing delivery (negative value); prints its id",
       "The original is never modified: a new aid_delivery names it in `reverses`, with the "
       "same household and the negated value, so totals over unique ids stay right.",
       {kDirFlag, kScopeFlag, {"reason", Type::kValue, "TEXT   why"}, kJsonFlag},
       run_aid_reverse},
  };
}

}  // namespace birga::cli
