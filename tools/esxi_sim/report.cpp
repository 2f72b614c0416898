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

void keep(std::vector<uint32_t>& v, uint64_t us) {
    v.push_back(
        static_cast<uint32_t>(std::min<uint64_t>(us, std::numeric_limits<uint32_t>::max())));
}

LatencySummary summarize(std::vector<uint32_t> sorted) {
    std::sort(sorted.begin(), sorted.end());
    LatencySummary s;
    s.count = sorted.size();
    s.p50_us = percentile(sorted, 50);
    s.p99_us = percentile(sorted, 99);
    s.max_us = sorted.empty() ? 0 : sorted.back();
    return s;
}

std::string json_latency(const LatencySummary& l) {
    char buf[160];
    std::snprintf(buf, sizeof buf, "{\"count\":%llu,\"p50\":%.0f,\"p99\":%.0f,\"max\":%.0f}",
                  u(l.count), l.p50_us, l.p99_us, l.max_us);
    return buf;
}

std::string json_device(const DeviceReport& d) {
    std::string out = "{\"device\":" + json_string(d.device) +
                      ",\"dqlen\":" + std::to_string(d.dqlen) +
                      ",\"dqlen_max\":" + std::to_string(d.dqlen_max) +
                      ",\"dqlen_min\":" + std::to_string(d.dqlen_min) + ",\"paths\":[";
    for (size_t i = 0; i < d.paths.size(); ++i) {
        const PathReport& p = d.paths[i];
        out += std::string(i == 0 ? "" : ",") + "{\"name\":" + json_string(p.name) +
               ",\"portal\":" + json_string(p.portal) + ",\"group\":" + std::to_string(p.group) +
               ",\"state\":" + json_string(p.state) + ",\"alua\":" + json_string(p.alua) +
               ",\"active\":" + (p.active ? "true" : "false") + "}";
    }
    return out + "]}";
}

std::string active_path(const DeviceReport& d) {
    for (const PathReport& p : d.paths) {
        if (p.active) {
            return p.name + " (TPG " + std::to_string(p.group) + " " + p.alua + ")";
        }
    }
    return "none";
}

}  // namespace

void HostStats::add_latency(uint64_t us) {
    std::lock_guard lock(mutex_);
    keep(latencies_us_, us);
}

void HostStats::add_queue_time(bool ats, uint64_t us) {
    if (!ats) {
        return;
    }
    std::lock_guard lock(mutex_);
    keep(ats_queue_us_, us);
}

void HostStats::add_vm(uint64_t queue_us, uint64_t service_us) {
    std::lock_guard lock(mutex_);
    ++counters_.vm_ios;
    keep(vm_queue_us_, queue_us);
    keep(vm_service_us_, service_us);
}

void HostStats::set_device(DeviceReport device) {
    std::lock_guard lock(mutex_);
    device_ = std::move(device);
}

DeviceReport HostStats::device() const {
    std::lock_guard lock(mutex_);
    return device_;
}

LatencySummary HostStats::ats_queue() const {
    std::lock_guard lock(mutex_);
    return summarize(ats_queue_us_);
}

LatencySummary HostStats::vm_service() const {
    std::lock_guard lock(mutex_);
    return summarize(vm_service_us_);
}

LatencySummary HostStats::vm_queue() const {
    std::lock_guard lock(mutex_);
    return summarize(vm_queue_us_);
}

HostCounters HostStats::counters() const {
    std::lock_guard lock(mutex_);
    return counters_;
}

LatencySummary HostStats::latency() const {
    std::vector<uint32_t> copy;
    {
        std::lock_guard lock(mutex_);
        copy = latencies_us_;
    }
    return summarize(std::move(copy));
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
    // Paths and the device queue: where the time of an ATS went (host queue, array service).
    std::fprintf(out, "%-11s %-32s %3s %4s %5s %5s %6s %9s %9s %9s %8s %9s %9s\n", "host",
                 "active path", "fo", "dead", "dqlen", "min", "qfull", "atsq_p50", "atsq_p99",
                 "svc_p99", "vm_ios", "vmq_p99", "vmsvc_p99");
    double worst_queue = 0;
    double worst_service = 0;
    for (const HostReport& h : report.hosts) {
        const HostCounters& c = h.counters;
        std::fprintf(out,
                     "esx-01-%-4d %-32s %3llu %4llu %5d %5d %6llu %9.0f %9.0f %9.0f %8llu %9.0f "
                     "%9.0f\n",
                     h.number, active_path(h.device).c_str(), u(c.failovers), u(c.paths_dead),
                     h.device.dqlen, h.device.dqlen_min, u(c.queue_full_answers),
                     h.ats_queue.p50_us, h.ats_queue.p99_us, h.ats_latency.p99_us, u(c.vm_ios),
                     h.vm_queue.p99_us, h.vm_service.p99_us);
        worst_queue = std::max(worst_queue, h.ats_queue.p99_us);
        worst_service = std::max(worst_service, h.ats_latency.p99_us);
    }
    std::fprintf(out, "ATS p99 (worst host): %.0f us queued at the host, %.0f us at the array\n",
                 worst_queue, worst_service);
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
            "\"miscompare_classes\":{\"genuine\":%llu,\"late_retry\":%llu,\"no_cause\":%llu},"
            "\"latency_us\":{\"count\":%llu,\"p50\":%.0f,\"p99\":%.0f,\"max\":%.0f}},"
            "\"heartbeat\":{\"successes\":%llu,\"miscompares\":%llu,\"late_retries\":%llu,"
            "\"restarts\":%llu,\"lost\":%llu,\"lost_seconds\":%.3f,\"longest_gap_seconds\":%.3f},"
            "\"locks\":{\"acquisitions\":%llu,\"failures\":%llu,\"miscompares\":%llu,"
            "\"stale_broken\":%llu,\"dead_heartbeats_cleared\":%llu,\"releases\":%llu,"
            "\"broken_while_held\":%llu},"
            "\"paths\":{\"failovers\":%llu,\"dead\":%llu,\"restored\":%llu,"
            "\"alua_changes\":%llu,\"ats_retried_on_other_path\":%llu},"
            "\"queue\":{\"queue_full_answers\":%llu,\"halvings\":%llu,\"raises\":%llu,"
            "\"ats_queue_us\":%s},"
            "\"vm_io\":{\"ios\":%llu,\"errors\":%llu,\"timeouts\":%llu,\"queue_us\":%s,"
            "\"service_us\":%s},"
            "\"device\":%s}",
            i == 0 ? "" : ",", h.number, json_string(h.initiator).c_str(),
            json_string(h.uuid).c_str(), u(h.heartbeat_offset), h.connected ? "true" : "false",
            h.crashed ? "true" : "false", json_string(h.error).c_str(), u(c.ats_successes),
            u(c.ats_miscompares), u(c.ats_timeouts), u(c.aborts_unanswered), u(c.reconnects),
            u(c.io_errors), u(c.miscompares_genuine), u(c.miscompares_late_retry),
            u(c.miscompares_no_cause), u(h.ats_latency.count), h.ats_latency.p50_us,
            h.ats_latency.p99_us, h.ats_latency.max_us, u(c.heartbeats), u(c.hb_miscompares),
            u(c.hb_late_retries), u(c.hb_restarts), u(c.lost_events), c.lost_seconds,
            c.longest_hb_gap_seconds, u(c.lock_acquisitions), u(c.lock_failures),
            u(c.lock_miscompares), u(c.stale_locks_broken), u(c.dead_heartbeats_cleared),
            u(c.lock_releases), u(c.locks_broken_while_held), u(c.failovers), u(c.paths_dead),
            u(c.paths_restored), u(c.alua_changes), u(c.ats_retried_on_other_path),
            u(c.queue_full_answers), u(c.dqlen_halvings), u(c.dqlen_raises),
            json_latency(h.ats_queue).c_str(), u(c.vm_ios), u(c.vm_errors), u(c.vm_timeouts),
            json_latency(h.vm_queue).c_str(), json_latency(h.vm_service).c_str(),
            json_device(h.device).c_str());
    }
    std::fprintf(out, "]}\n");
}

}  // namespace atsarray::sim
