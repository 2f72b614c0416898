#pragma once
// What `atsarrayctl top` shows, computed from two polls of the API a second apart: every rate is
// the difference of two polls over the time between them, never a total over the uptime.

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace atsarray::ctl {

// One poll: GET /api/v1/ats, /api/v1/latency, /api/v1/sessions and /api/v1/targets.
struct Sample {
    nlohmann::json ats;
    nlohmann::json latency;
    nlohmann::json sessions;
    nlohmann::json targets;
    std::chrono::steady_clock::time_point at;
};

enum class View { luns, initiators };

// One line of the view. A value that cannot be known (no ATS in the interval, the first poll)
// is NaN and shows as "-".
struct TopRow {
    std::string name;    // "target/lun" or the initiator name
    double ats_s;        // ATS/s: successful ATS per second
    double atsf_s;       // ATSF/s: ATS that miscompared (genuine or injected) per second
    double aavg_suc_us;  // AAVG/suc: mean latency of the interval's successful ATS
    double aavg_f_us;    // AAVG/f: mean latency of the interval's failed ATS
    double mcr;          // miscompares / ATS in the interval
    double actv;         // ACTV: commands in flight now
    double p99_us;       // P99: see the help screen for where it comes from per view
};

// The columns, in TopRow's order after the name.
inline constexpr int top_columns = 7;
double top_value(const TopRow& row, int column);

// The rows of `view` between `before` and `now` (`before` null: the first poll, no rates).
std::vector<TopRow> top_rows(const Sample* before, const Sample& now, View view);

struct AtsTotals {
    uint64_t successes = 0;
    uint64_t miscompares = 0;
    uint64_t injected_miscompares = 0;
    uint64_t errors = 0;
};
// The per-LUN counters of `now` summed (GET /api/v1/ats), as the header shows them.
AtsTotals ats_totals(const Sample& now);

// The 99th percentile of the commands between two bucket lists ([[upper_bound_us, count]...]
// of GET /api/v1/latency), NaN when none.
double interval_p99(const nlohmann::json& before, const nlohmann::json& now);

}  // namespace atsarray::ctl
