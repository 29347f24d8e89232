#include "visit_store.h"

namespace birga::bench {

const char* const kVisitFields[8] = {"household_id", "visitor_id", "date",       "status",
                                     "needs",        "notes",      "aid_amount", "geo"};

crdt::Schema visits_schema() {
  crdt::Schema s(1);
  crdt::CollectionSpec c{kVisits, {}, false};
  for (const char* f : kVisitFields) {
    const bool is_int = std::string(f) == "date" || std::string(f) == "aid_amount";
    c.add({f, crdt::FieldKind::kLww, is_int ? crdt::ValueType::kInt : crdt::ValueType::kText});
  }
  s.add(c);
  return s;
}

crdt::RecordId write_visit(Transaction& t, const std::string& scope, const VisitRecord& r,
                           const std::optional<crdt::RecordId>& id) {
  const crdt::RecordId rid = id ? t.create(kVisits, scope, *id) : t.create(kVisits, scope);
  t.set(kVisits, rid, "household_id", crdt::text(r.household_id))
      .set(kVisits, rid, "visitor_id", crdt::text(r.visitor_id))
      .set(kVisits, rid, "date", crdt::integer(r.date))
      .set(kVisits, rid, "status", crdt::text(r.status))
      .set(kVisits, rid, "needs", crdt::text(r.needs))
      .set(kVisits, rid, "notes", crdt::text(r.notes))
      .set(kVisits, rid, "aid_amount", crdt::integer(r.aid_amount))
      .set(kVisits, rid, "geo", crdt::text(r.geo));
  return rid;
}

}  // namespace birga::bench
