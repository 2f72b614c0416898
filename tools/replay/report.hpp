#pragma once
// The replay's report: one entry per command that diverged or could not be replayed, the notes,
// and the summary; as text (one line per entry) or as one JSON object.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "formats/trace.hpp"
#include "tools/replay/compare.hpp"

namespace atsarray::replay {

struct Entry {
    Verdict verdict = Verdict::diverged;  // diverged or not_replayable
    size_t command = 0;                   // index in the trace
    uint32_t session = 0;
    std::string session_label;  // "iqn...,0x800000012345"
    std::string operation;      // "COMPARE AND WRITE"
    std::optional<uint64_t> lba;
    std::string recorded;  // diverged: what each side answered; not_replayable: why
    std::string replayed;
};

struct Summary {
    uint64_t sent = 0;
    uint64_t identical = 0;
    uint64_t diverged = 0;
    uint64_t not_compared = 0;
    uint64_t not_replayable = 0;
};

struct Report {
    std::vector<Entry> entries;  // in the trace's order
    std::vector<std::string> notes;
    Summary summary;
};

// Compares every command's outcome (nullopt: not sent) with its recording. `labels` names each
// session of the trace.
Report build_report(const trace::Trace& trace, const std::vector<std::optional<Outcome>>& outcomes,
                    const std::vector<std::string>& labels);

// "#17 session 1 (iqn...,0x...) COMPARE AND WRITE lba 100: recorded MISCOMPARE at offset 3,
// replayed GOOD" per entry, "note: ..." per note, then the summary line.
std::string report_text(const Report& report);
// {"divergences": [...], "not_replayable": [...], "notes": [...], "summary": {...}}
std::string report_json(const Report& report);

}  // namespace atsarray::replay
