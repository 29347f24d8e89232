#include "birga/crdt/dot.h"

#include <algorithm>

#include "birga/crdt/codec.h"

namespace birga::crdt {

std::string ActorId::to_hex() const {
  return crdt::to_hex(bytes);
}

std::optional<ActorId> ActorId::from_hex(std::string_view hex) {
  const std::optional<std::string> raw = crdt::from_hex(hex);
  if (!raw || raw->size() != 16) return std::nullopt;
  ActorId id;
  std::copy(raw->begin(), raw->end(), id.bytes.begin());
  return id;
}

ActorId ActorId::named(std::string_view name) {
  ActorId id;
  std::copy_n(name.begin(), std::min(name.size(), id.bytes.size()), id.bytes.begin());
  return id;
}

std::string Dot::to_string() const {
  return actor.to_hex().substr(0, 8) + ":" + std::to_string(counter);
}

uint64_t VersionVector::get(const ActorId& actor) const {
  auto it = entries_.find(actor);
  return it == entries_.end() ? 0 : it->second;
}

void VersionVector::advance(const ActorId& actor, uint64_t counter) {
  if (counter == 0) return;
  uint64_t& slot = entries_[actor];
  slot = std::max(slot, counter);
}

bool VersionVector::contains(const Dot& dot) const {
  return dot.counter != 0 && dot.counter <= get(dot.actor);
}

void VersionVector::merge(const VersionVector& other) {
  for (const auto& [actor, counter] : other.entries_) advance(actor, counter);
}

Order VersionVector::compare(const VersionVector& other) const {
  bool some_less = false;     // this lacks something other has
  bool some_greater = false;  // this has something other lacks
  for (const auto& [actor, counter] : entries_) {
    const uint64_t theirs = other.get(actor);
    if (counter > theirs) some_greater = true;
    if (counter < theirs) some_less = true;
  }
  for (const auto& [actor, counter] : other.entries_) {
    if (get(actor) < counter) some_less = true;
  }
  if (some_less && some_greater) return Order::kConcurrent;
  if (some_less) return Order::kBefore;
  if (some_greater) return Order::kAfter;
  return Order::kEqual;
}

// ---- DotRanges ------------------------------------------------------------------------------

bool DotRanges::contains(const Dot& d) const {
  // The first run that starts after d; the one before it is the only one that can hold d.
  auto it = std::upper_bound(runs_.begin(), runs_.end(), d, [](const Dot& x, const Run& r) {
    return x.actor < r.actor || (x.actor == r.actor && x.counter < r.first);
  });
  if (it == runs_.begin()) return false;
  --it;
  return it->actor == d.actor && it->first <= d.counter && d.counter <= it->last;
}

void DotRanges::insert_run(const ActorId& actor, uint64_t first, uint64_t last) {
  // The first run of `actor` that overlaps or touches [first, last], or where one would go.
  auto begin = std::lower_bound(runs_.begin(), runs_.end(), std::pair(&actor, first),
                                [](const Run& r, const auto& key) {
                                  const auto& [a, f] = key;
                                  return r.actor < *a || (r.actor == *a && f > 0 && r.last < f - 1);
                                });
  auto end = begin;
  // Runs of `actor` from `begin` on that overlap [first, last] or start right after it.
  while (end != runs_.end() && end->actor == actor &&
         (end->first <= last || end->first - last == 1)) {
    first = std::min(first, end->first);
    last = std::max(last, end->last);
    ++end;
  }
  if (begin == end) {
    runs_.insert(begin, Run{actor, first, last});
    return;
  }
  *begin = Run{actor, first, last};
  runs_.erase(begin + 1, end);
}

void DotRanges::insert(const DotRanges& other) {
  if (&other == this) return;
  for (const Run& r : other.runs_) insert_run(r.actor, r.first, r.last);
}

DotSet DotRanges::to_set() const {
  DotSet out;
  for (const Run& r : runs_) {
    for (uint64_t c = r.first;; ++c) {
      out.insert(out.end(), Dot{r.actor, c});
      if (c == r.last) break;
    }
  }
  return out;
}

}  // namespace birga::crdt
