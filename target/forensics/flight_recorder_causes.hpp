#pragma once
// Why a miscompare happened, read from its block's history (flight_recorder.hpp, "Causes").
// Private to target/forensics: the recorder thread calls it with its state lock held, once per
// ATS that answered MISCOMPARE, right after appending it.

#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <span>
#include <string>

#include "target/forensics/flight_recorder.hpp"

namespace atsarray::forensics {

struct CauseContext {
    // The block's history up to the miscompare, in medium order; the miscompare is its last
    // entry.
    const std::deque<HistoryEntry>& entries;
    // Why the history may not reach back far enough.
    bool truncated = false;        // entries_per_block dropped older entries
    size_t entries_per_block = 0;  // the bound, for the sentence
    bool evicted_before = false;   // the block was tracked, evicted, tracked again
    uint64_t notes_dropped = 0;    // notes the full queue dropped while it was tracked
    // An image's bytes (empty when unknown).
    std::function<std::span<const uint8_t>(ImageId)> image;
};

struct CauseFinding {
    Cause cause = Cause::unknown;
    std::string explanation;
    std::optional<uint64_t> culprit_seq;
};

CauseFinding explain_miscompare(const CauseContext& context);

// "2026-12-07T15:37:37.123Z".
std::string rfc3339_ms(SystemTime t);

}  // namespace atsarray::forensics
