#include "write_fields.h"

#include "context.h"
#include "json.h"
#include "records.h"
#include "validate.h"

namespace birga::cli {

namespace {

Result<crdt::Value> reference(const Replica& replica, std::string_view collection,
                              std::string_view text, std::string_view what) {
  auto id = parse_id(text, what);
  if (!id.is_ok()) return id.status();
  auto record = find_record(replica, collection, *id);
  if (!record.is_ok()) return record.status().with_context(std::string(what));
  return crdt::text(text);
}

Result<crdt::Value> checked_text(Status s, std::string_view text) {
  if (!s.is_ok()) return s;
  return crdt::text(text);
}

}  // namespace

Result<crdt::Value> value_for(const Replica& replica, Rule rule, std::string_view text,
                              std::string_view what) {
  switch (rule) {
    case Rule::kText:
      return checked_text(check_text(text, what), text);
    case Rule::kDate:
      return checked_text(check_past_date(text, what), text);
    case Rule::kInt:
    case Rule::kPositive: {
      auto i = parse_int(text, what);
      if (!i.is_ok()) return i.status();
      if (rule == Rule::kPositive && *i <= 0) {
        return Status::invalid_argument(std::string(what) + ": must be greater than 0");
      }
      return crdt::Value(*i);
    }
    case Rule::kYesNo: {
      auto b = parse_yes_no(text, what);
      if (!b.is_ok()) return b.status();
      return crdt::Value(*b);
    }
    case Rule::kCaseStatus:
      return checked_text(check_one_of(text, kCaseStatuses, what), text);
    case Rule::kCaseType:
      return checked_text(check_one_of(text, kCaseTypes, what), text);
    case Rule::kVisitType:
      return checked_text(check_one_of(text, kVisitTypes, what), text);
    case Rule::kHousehold:
      return reference(replica, "household", text, what);
    case Rule::kPerson:
      return reference(replica, "person", text, what);
    case Rule::kPinfl: {
      const bool ok = text.size() == 14 && text.find_first_not_of("0123456789") == text.npos;
      if (!ok) {
        return Status::invalid_argument(std::string(what) + ": '" + std::string(text) +
                                        "' is not a PINFL (14 digits)");
      }
      return crdt::text(text);
    }
    case Rule::kMember: {
      BIRGA_RETURN_IF_ERROR(check_member(text, what));
      auto person = reference(replica, "person", text.substr(0, text.find(':')), what);
      if (!person.is_ok()) return person.status();
      return crdt::text(text);
    }
  }
  return Status::internal("unknown rule");
}

Status apply_flags(Transaction& txn, const Replica& replica, const std::string& collection,
                   const crdt::RecordId& id, const Args& args,
                   const std::vector<FieldFlag>& flags) {
  for (const FieldFlag& f : flags) {
    const std::string what = "--" + std::string(f.flag);
    std::vector<std::string> texts = args.all(f.flag);
    const crdt::FieldSpec* spec = replica.schema().field(collection, f.field);
    if (!spec && texts.empty()) continue;  // this deployment's schema leaves the field out
    if (!spec) {
      return Status::invalid_argument(what + ": the schema has no field '" + std::string(f.field) +
                                      "' in '" + collection + "'");
    }
    if (texts.empty() && f.today_default) texts.push_back(today());
    if (texts.empty() && f.required) {
      return Status::invalid_argument("missing " + what + " (required)");
    }
    for (const std::string& text : texts) {
      auto value = value_for(replica, f.rule, text, what);
      if (!value.is_ok()) return value.status();
      if (spec->kind == crdt::FieldKind::kSet) {
        txn.add(collection, id, spec->name, std::move(*value));
      } else {
        txn.set(collection, id, spec->name, std::move(*value));
      }
    }
  }
  return txn.status();
}

Result<RecordView> writable_record(const Replica& replica, const std::string& collection,
                                   std::string_view id_text, const Args& args) {
  auto id = parse_id(id_text, "ID");
  if (!id.is_ok()) return id.status();
  auto record = find_record(replica, collection, *id);
  if (!record.is_ok()) return record.status();
  if (auto scope = args.get("scope"); scope && *scope != record->scope) {
    return Status::invalid_argument("--scope " + *scope + " does not match the record's scope " +
                                    record->scope);
  }
  auto cert = writer_certificate(replica);
  if (!cert.is_ok()) return cert.status();
  if (!(cert->rights_on(record->scope) & kWrite)) {
    return Status::permission_denied("this device's certificate grants no write on scope '" +
                                     record->scope + "'");
  }
  if (record->deleted()) {
    return Status::invalid_argument(collection + " " + record->id.to_hex() + " is deleted");
  }
  return record;
}

Status append_entry(const Args& args, const std::string& collection, const std::string& field,
                    const std::string& text, std::string_view what) {
  BIRGA_RETURN_IF_ERROR(check_text(text, what));
  auto replica = open_replica(args);
  if (!replica.is_ok()) return replica.status();
  auto record = writable_record(**replica, collection, args.positional()[0], args);
  if (!record.is_ok()) return record.status();
  Transaction txn = (*replica)->begin();
  txn.append(collection, record->id, field, crdt::text(signed_text(text, **replica)));
  BIRGA_RETURN_IF_ERROR(txn.commit());
  return print_written(args, **replica, collection, record->id);
}

Status append_text_arg(const Args& args, const std::string& collection, const std::string& field) {
  BIRGA_RETURN_IF_ERROR(args.expect_positional({"ID", "TEXT"}));
  return append_entry(args, collection, field, args.positional()[1], "TEXT");
}

Status print_written(const Args& args, const Replica& replica, const std::string& collection,
                     const crdt::RecordId& id) {
  if (!args.has("json")) {
    print_line(id.to_hex());
    return Status::ok();
  }
  auto record = replica.get(collection, id);
  if (!record.is_ok()) return record.status();
  if (!*record) return Status::internal("the record just written is missing");
  JsonWriter w;
  write_record_json(w, **record, replica.schema());
  print_line(w.str());
  return Status::ok();
}

}  // namespace birga::cli
