#include "ctl/top_model.hpp"

#include <cmath>
#include <limits>
#include <map>

namespace atsarray::ctl {

using nlohmann::json;

namespace {

constexpr double unknown = std::numeric_limits<double>::quiet_NaN();

std::map<double, double> bucket_map(const json& buckets) {
    std::map<double, double> out;
    for (const json& b : buckets) {
        if (b.is_array() && b.size() == 2) {
            out[b[0].get<double>()] += b[1].get<double>();
        }
    }
    return out;
}

struct Counters {
    double successes = 0;
    double failures = 0;  // genuine and injected miscompares
    double success_count = 0;
    double success_sum_us = 0;  // mean * count: sums add across entries and subtract across polls
    double failure_count = 0;
    double failure_sum_us = 0;
    std::map<double, double> buckets;  // every ATS's latency: upper bound (us) -> count
    double in_flight = 0;

    void add(const json& e) {
        successes += e.value("successes", 0.0);
        failures += e.value("miscompares", 0.0) + e.value("injected_miscompares", 0.0);
        const json& ok = e.value("latency_success", json::object());
        const json& bad = e.value("latency_failure", json::object());
        success_count += ok.value("count", 0.0);
        success_sum_us += ok.value("count", 0.0) * ok.value("mean_us", 0.0);
        failure_count += bad.value("count", 0.0);
        failure_sum_us += bad.value("count", 0.0) * bad.value("mean_us", 0.0);
    }
};

using Keyed = std::map<std::string, Counters>;

std::string lun_key(const json& target, const json& lun) {
    return target.get<std::string>() + "/" + std::to_string(lun.get<uint64_t>());
}

// Per LUN: every LUN of GET /targets (an idle one too, as esxtop lists every device) with its
// commands in flight, and the /ats "luns" counters with their latency buckets.
Keyed by_lun(const Sample& s) {
    Keyed out;
    for (const json& t : s.targets) {
        for (const json& l : t.value("luns", json::array())) {
            out[lun_key(t.at("name"), l.at("id"))].in_flight = l.value("commands_in_flight", 0.0);
        }
    }
    for (const json& e : s.ats.value("luns", json::array())) {
        Counters& c = out[lun_key(e.at("target"), e.at("lun"))];
        c.add(e);
        c.buckets = bucket_map(e.value("latency_buckets", json::array()));
    }
    return out;
}

// Per initiator: the /ats "initiators" entries of one initiator name summed over its LUNs and
// sessions; ACTV from its sessions.
Keyed by_initiator(const Sample& s) {
    Keyed out;
    for (const json& e : s.ats.value("initiators", json::array())) {
        out[e.value("initiator_name", "")].add(e);
    }
    for (const json& session : s.sessions) {
        if (const auto it = out.find(session.value("initiator_name", "")); it != out.end()) {
            it->second.in_flight += session.value("commands_in_flight", 0.0);
        }
    }
    return out;
}

// The "ats" buckets of an initiator's /latency entries, summed by upper bound.
std::map<double, double> ats_buckets(const Sample& s, const std::string& initiator_name) {
    std::map<double, double> out;
    for (const json& e : s.latency) {
        if (e.value("initiator_name", "") != initiator_name) {
            continue;
        }
        const json& ats = e.value("ops", json::object()).value("ats", json::object());
        for (const json& b : ats.value("buckets", json::array())) {
            if (b.is_array() && b.size() == 2) {
                out[b[0].get<double>()] += b[1].get<double>();
            }
        }
    }
    return out;
}

double p99_of(const std::map<double, double>& before, const std::map<double, double>& now) {
    std::map<double, double> delta;
    double total = 0;
    for (const auto& [bound, count] : now) {
        const auto it = before.find(bound);
        const double d = count - (it == before.end() ? 0 : it->second);
        if (d > 0) {
            delta[bound] = d;
            total += d;
        }
    }
    if (total <= 0) {
        return unknown;
    }
    double seen = 0;
    for (const auto& [bound, count] : delta) {
        seen += count;
        if (seen >= 0.99 * total) {
            return bound;
        }
    }
    return delta.rbegin()->first;
}

}  // namespace

double top_value(const TopRow& row, int column) {
    switch (column) {
        case 0:
            return row.ats_s;
        case 1:
            return row.atsf_s;
        case 2:
            return row.aavg_suc_us;
        case 3:
            return row.aavg_f_us;
        case 4:
            return row.mcr;
        case 5:
            return row.actv;
        default:
            return row.p99_us;
    }
}

double interval_p99(const json& before, const json& now) {
    return p99_of(bucket_map(before), bucket_map(now));
}

std::vector<TopRow> top_rows(const Sample* before, const Sample& now, View view) {
    const Keyed current = view == View::luns ? by_lun(now) : by_initiator(now);
    Keyed previous;
    double seconds = 0;
    if (before != nullptr) {
        previous = view == View::luns ? by_lun(*before) : by_initiator(*before);
        seconds = std::chrono::duration<double>(now.at - before->at).count();
    }
    std::vector<TopRow> rows;
    for (const auto& [name, c] : current) {
        TopRow row{name, unknown, unknown, unknown, unknown, unknown, c.in_flight, unknown};
        const auto was = previous.find(name);
        if (before != nullptr && seconds > 0) {
            // A LUN or initiator that was not there a second ago started from zero.
            const Counters p = was == previous.end() ? Counters{} : was->second;
            const double d_ok = std::max(0.0, c.successes - p.successes);
            const double d_bad = std::max(0.0, c.failures - p.failures);
            row.ats_s = d_ok / seconds;
            row.atsf_s = d_bad / seconds;
            if (d_ok + d_bad > 0) {
                row.mcr = d_bad / (d_ok + d_bad);
            }
            if (const double n = c.success_count - p.success_count; n > 0) {
                row.aavg_suc_us = (c.success_sum_us - p.success_sum_us) / n;
            }
            if (const double n = c.failure_count - p.failure_count; n > 0) {
                row.aavg_f_us = (c.failure_sum_us - p.failure_sum_us) / n;
            }
            row.p99_us = view == View::luns
                             ? p99_of(p.buckets, c.buckets)
                             : p99_of(ats_buckets(*before, name), ats_buckets(now, name));
        }
        rows.push_back(row);
    }
    return rows;
}

AtsTotals ats_totals(const Sample& now) {
    AtsTotals t;
    for (const json& e : now.ats.value("luns", json::array())) {
        t.successes += e.value("successes", uint64_t{0});
        t.miscompares += e.value("miscompares", uint64_t{0});
        t.injected_miscompares += e.value("injected_miscompares", uint64_t{0});
        t.errors += e.value("errors", uint64_t{0});
    }
    return t;
}

}  // namespace atsarray::ctl
