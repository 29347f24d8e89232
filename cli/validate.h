// Validation of what a user types: record ids, dates, integers, yes/no and the enumerations
// DOMAIN.md gives, each error naming the field ("--birth-date: '2024-02-30' is not a date
// (YYYY-MM-DD)"), so nothing malformed is ever written.
//
// Thread rule: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "birga/crdt/op.h"
#include "birga/crdt/schema.h"
#include "birga/crdt/value.h"
#include "birga/status.h"

namespace birga::cli {

// Case status, in the order a case moves through it.
inline const std::vector<std::string_view> kCaseStatuses = {"identification", "assessment",
                                                            "placement", "monitoring", "closed"};
inline const std::vector<std::string_view> kCaseTypes = {"guardianship", "sponsorship",
                                                         "foster-care", "care-leaver"};
inline const std::vector<std::string_view> kVisitTypes = {
    "initial-assessment", "reassessment-6m", "reassessment-12m",
    "monitoring",         "care-needs",      "protection-concern"};

// A 32-hex-digit record id.
Result<crdt::RecordId> parse_id(std::string_view text, std::string_view field);
// A calendar date YYYY-MM-DD (checked: no 2024-02-30).
Status check_date(std::string_view text, std::string_view field);
// A date (as check_date) no later than tomorrow: when something happened (a visit, a
// delivery, a birth). Tomorrow is allowed for a clock a time zone behind.
Status check_past_date(std::string_view text, std::string_view field);
// Today's local date as YYYY-MM-DD.
std::string today();
Result<int64_t> parse_int(std::string_view text, std::string_view field);
// "yes"/"no" (also true/false).
Result<bool> parse_yes_no(std::string_view text, std::string_view field);
Status check_one_of(std::string_view text, const std::vector<std::string_view>& options,
                    std::string_view field);
// Non-empty, no control characters other than tab and newline.
Status check_text(std::string_view text, std::string_view field);
// check_text, and no line break (a value shown on one line of a listing).
Status check_line(std::string_view text, std::string_view field);
// "PERSON_ID:relation" of a household member.
Status check_member(std::string_view text, std::string_view field);
// A scope path "region/district/mahalla": non-empty segments of lowercase letters, digits, '-',
// '_' and '.', joined by '/', not starting with '_' (reserved for the control scope). Capital
// letters are refused with the lowercase path suggested: scopes are matched byte for byte.
Status check_scope_path(std::string_view path, std::string_view field);
// Milliseconds since the epoch at the end (24:00 UTC) of date YYYY-MM-DD.
Result<uint64_t> end_of_day_ms(std::string_view date, std::string_view field);
// "YYYY-MM-DD" (UTC) of a wall-clock time in milliseconds.
std::string date_of_ms(uint64_t ms);
// A wall-clock time in milliseconds, in UTC, formatted by strftime's `format`.
std::string utc_text(uint64_t ms, const char* format);

// Parses `text` as a value of `field` of `collection` for --where and resolve: by the field's
// type (int, bool, text), then any date or enumeration rule the CLI knows for it.
Result<crdt::Value> parse_field_value(const crdt::Schema& schema, std::string_view collection,
                                      std::string_view field, std::string_view text);

// The collection a KIND names: a collection of the schema, or a short name (aid, case).
Result<std::string> collection_named(const crdt::Schema& schema, std::string_view kind);

}  // namespace birga::cli
