// The replay's report (tools/replay/report.hpp).
#include "tools/replay/report.hpp"

#include <sstream>

#include <nlohmann/json.hpp>

#include "tools/replay/cdb.hpp"

namespace atsarray::replay {
namespace {

Entry entry_for(const trace::Trace& trace, size_t index, const std::vector<std::string>& labels) {
    const trace::Command& c = trace.commands[index];
    Entry e;
    e.command = index;
    e.session = c.session;
    e.session_label = c.session < labels.size() ? labels[c.session] : "";
    e.operation = command_name(c.cdb);
    if (const std::optional<BlockRange> range = block_range(c.cdb)) {
        e.lba = range->lba;
    }
    return e;
}

nlohmann::json entry_json(const Entry& e) {
    nlohmann::json j = {{"command", e.command},
                        {"session", e.session},
                        {"session_label", e.session_label},
                        {"operation", e.operation}};
    if (e.lba) {
        j["lba"] = *e.lba;
    }
    if (e.verdict == Verdict::diverged) {
        j["recorded"] = e.recorded;
        j["replayed"] = e.replayed;
    } else {
        j["reason"] = e.recorded;
    }
    return j;
}

}  // namespace

Report build_report(const trace::Trace& trace, const std::vector<std::optional<Outcome>>& outcomes,
                    const std::vector<std::string>& labels) {
    Report r;
    for (size_t i = 0; i < trace.commands.size(); ++i) {
        const trace::Command& c = trace.commands[i];
        if (!replayable(c)) {
            ++r.summary.not_replayable;
            Entry e = entry_for(trace, i, labels);
            e.verdict = Verdict::not_replayable;
            e.recorded = c.cdb.empty() || c.cdb.size() > 16
                             ? "a CDB of " + std::to_string(c.cdb.size()) + " bytes"
                             : "its Data-Out was not kept";
            r.entries.push_back(std::move(e));
            continue;
        }
        if (i >= outcomes.size() || !outcomes[i]) {
            continue;
        }
        ++r.summary.sent;
        if (!comparable(c)) {
            ++r.summary.not_compared;
            continue;
        }
        const Comparison cmp = compare(c, *outcomes[i]);
        if (cmp.verdict == Verdict::identical) {
            ++r.summary.identical;
            continue;
        }
        ++r.summary.diverged;
        Entry e = entry_for(trace, i, labels);
        e.recorded = cmp.recorded;
        e.replayed = cmp.replayed;
        r.entries.push_back(std::move(e));
    }
    return r;
}

std::string report_text(const Report& report) {
    // A stream, not string +: GCC 12's -Wrestrict misfires on chains of std::string operator+.
    std::ostringstream text;
    for (const Entry& e : report.entries) {
        text << '#' << e.command << " session " << e.session << " (" << e.session_label << ") "
             << e.operation;
        if (e.lba) {
            text << " lba " << *e.lba;
        }
        if (e.verdict == Verdict::diverged) {
            text << ": recorded " << e.recorded << ", replayed " << e.replayed << '\n';
        } else {
            text << ": not replayable, " << e.recorded << '\n';
        }
    }
    for (const std::string& note : report.notes) {
        text << "note: " << note << '\n';
    }
    const Summary& s = report.summary;
    text << "sent " << s.sent << ", identical " << s.identical << ", diverged " << s.diverged
         << ", not compared " << s.not_compared << ", not replayable " << s.not_replayable << '\n';
    return text.str();
}

std::string report_json(const Report& report) {
    nlohmann::json divergences = nlohmann::json::array();
    nlohmann::json skipped = nlohmann::json::array();
    for (const Entry& e : report.entries) {
        (e.verdict == Verdict::diverged ? divergences : skipped).push_back(entry_json(e));
    }
    const Summary& s = report.summary;
    const nlohmann::json j = {{"divergences", divergences},
                              {"not_replayable", skipped},
                              {"notes", report.notes},
                              {"summary",
                               {{"sent", s.sent},
                                {"identical", s.identical},
                                {"diverged", s.diverged},
                                {"not_compared", s.not_compared},
                                {"not_replayable", s.not_replayable}}}};
    return j.dump();
}

}  // namespace atsarray::replay
