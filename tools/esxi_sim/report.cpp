#include "tools/esxi_sim/report.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

namespace atsarray::sim {
namespace {

// Nearest-rank percentile of sorted values.
double percentile(const std::vector<uint32_t>& sorted, double p) {
    if (sorted.empty()) {
        return 0;
    }
    const auto rank =
        static_cast<size_t>(std::ceil(p / 100.0 * static_cast<double>(sorted.size())));
    return sorted[std::clamp<size_t>(rank, 1, sorted.size()) - 1];
}

std::string json_string(const std::string& s) {
    std::string out = "\"";
    for (const char c : s) {
        if (c == '"' || c == '\\') {
            out += '\\';
            out += c;
        } else if (static_cast<unsigned char>(c) < 0x20) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\u%04x", c);
            out += buf;
        } else {
            out += c;
        }
    }
    return out + "\"";
}

unsigned long long u(uint64_t v) {
    return static_cast<unsigned long long>(v);
}

}  // namespace

void HostStats::add_latency(uint64_t us) {
    std::lock_guard lock(mutex_);
    latencies_us_.push_back(
        static_cast<uint32_t>(std::min<uint64_t>(us, std::numeric_limits<uint32_t>::max())));
}

HostCounters HostStats::counters() const {
    std::lock_guard lock(mutex_);
    return counters_;
}

LatencySummary HostStats::latency() const {
    std::vector<uint32_t> sorted;
    {
        std::lock_guard lock(mutex_);
        sorted = latencies_us_;
    }
    std::sort(sorted.begin(), sorted.end());
    LatencySummary s;
    s.count = sorted.size();
    s.p50_us = percentile(sorted, 50);
    s.p99_us = percentile(sorted, 99);
    s.max_us = sorted.empty() ? 0 : sorted.back();
    return s;
}

void print_text(const Report& report, std::FILE* out) {
    std::fprintf(out, "%-11s %7s %6s %5s %5s %6s %5s %5s %5s %7s %6s %6s %6s %5s %9s %9s\n", "host",
                 "ats_ok", "ats_mc", "tmo", "hb", "hb_mc", "late", "lost", "gap_s", "lk_acq",
                 "lk_bsy", "lk_mc", "stale", "rel", "p50_us", "p99_us");
    for (const HostReport& h : report.hosts) {
        const HostCounters& c = h.counters;
        std::fprintf(
            out,
            "esx-01-%-4d %7llu %6llu %5llu %5llu %6llu %5llu %5llu %5.1f %7llu %6llu %6llu "
            "%6llu %5llu %9.0f %9.0f%s%s\n",
            h.number, u(c.ats_successes), u(c.ats_miscompares), u(c.ats_timeouts), u(c.heartbeats),
            u(c.hb_miscompares), u(c.hb_late_retries), u(c.lost_events), c.longest_hb_gap_seconds,
            u(c.lock_acquisitions), u(c.lock_failures), u(c.lock_miscompares),
            u(c.stale_locks_broken), u(c.lock_releases), h.ats_latency.p50_us, h.ats_latency.p99_us,
            h.crashed ? "  (crashed)" : "", h.error.empty() ? "" : ("  error: " + h.error).c_str());
    }
    std::fprintf(out, "%.1f s, seed %llu, ownership conflicts %llu: %s\n", report.seconds,
                 u(report.seed), u(report.ownership_conflicts),
                 report.exit_status == 0   ? "OK (no host lost its heartbeat)"
                 : report.exit_status == 1 ? "FAILED (a host lost its heartbeat or a lock was "
                                             "owned twice)"
                                           : ("ERROR " + report.error).c_str());
}

void print_json(const Report& report, std::FILE* out) {
    std::fprintf(out,
                 "{\"exit_status\":%d,\"seconds\":%.3f,\"seed\":%llu,"
                 "\"ownership_conflicts\":%llu,\"error\":%s,\"hosts\":[",
                 report.exit_status, report.seconds, u(report.seed), u(report.ownership_conflicts),
                 json_string(report.error).c_str());
    for (size_t i = 0; i < report.hosts.size(); ++i) {
        const HostReport& h = report.hosts[i];
        const HostCounters& c = h.counters;
        std::fprintf(
            out,
            "%s{\"host\":%d,\"initiator\":%s,\"uuid\":%s,\"heartbeat_offset\":%llu,"
            "\"connected\":%s,\"crashed\":%s,\"error\":%s,"
            "\"ats\":{\"successes\":%llu,\"miscompares\":%llu,\"timeouts\":%llu,"
            "\"aborts_unanswered\":%llu,\"reconnects\":%llu,\"errors\":%llu,"
            "\"latency_us\":{\"count\":%llu,\"p50\":%.0f,\"p99\":%.0f,\"max\":%.0f}},"
            "\"heartbeat\":{\"successes\":%llu,\"miscompares\":%llu,\"late_retries\":%llu,"
            "\"restarts\":%llu,\"lost\":%llu,\"lost_seconds\":%.3f,\"longest_gap_seconds\":%.3f},"
            "\"locks\":{\"acquisitions\":%llu,\"failures\":%llu,\"miscompares\":%llu,"
            "\"stale_broken\":%llu,\"dead_heartbeats_cleared\":%llu,\"releases\":%llu,"
            "\"broken_while_held\":%llu}}",
            i == 0 ? "" : ",", h.number, json_string(h.initiator).c_str(),
            json_string(h.uuid).c_str(), u(h.heartbeat_offset), h.connected ? "true" : "false",
            h.crashed ? "true" : "false", json_string(h.error).c_str(), u(c.ats_successes),
            u(c.ats_miscompares), u(c.ats_timeouts), u(c.aborts_unanswered), u(c.reconnects),
            u(c.io_errors), u(h.ats_latency.count), h.ats_latency.p50_us, h.ats_latency.p99_us,
            h.ats_latency.max_us, u(c.heartbeats), u(c.hb_miscompares), u(c.hb_late_retries),
            u(c.hb_restarts), u(c.lost_events), c.lost_seconds, c.longest_hb_gap_seconds,
            u(c.lock_acquisitions), u(c.lock_failures), u(c.lock_miscompares),
            u(c.stale_locks_broken), u(c.dead_heartbeats_cleared), u(c.lock_releases),
            u(c.locks_broken_while_held));
    }
    std::fprintf(out, "]}\n");
}

}  // namespace atsarray::sim
