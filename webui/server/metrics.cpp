// /metrics in the Prometheus text exposition format 0.0.4: counters end in _total, latency is a
// histogram in seconds with cumulative buckets, labels name target, LUN, initiator and op.
#include <string>

#include <fmt/format.h>

#include "target/iscsi/server_state.hpp"
#include "webui/server/router.hpp"

namespace atsarray::webui {

namespace {

// A label value with \, " and newline escaped.
std::string esc(std::string_view v) {
    std::string out;
    for (const char c : v) {
        if (c == '\\' || c == '"') {
            out += '\\';
            out += c;
        } else if (c == '\n') {
            out += "\\n";
        } else {
            out += c;
        }
    }
    return out;
}

// Bucket bounds in seconds: powers of two from 16 µs to ~67 s, a readable subset of the
// registry's log-linear buckets.
constexpr int first_power = 4;
constexpr int last_power = 26;

void histogram(std::string& out, std::string_view name, const std::string& labels,
               const ats::Histogram& h) {
    uint64_t cumulative = 0;
    int bucket = 0;
    for (int p = first_power; p <= last_power; ++p) {
        const uint64_t bound_us = uint64_t{1} << p;
        while (bucket < ats::Histogram::bucket_count &&
               ats::Histogram::lower_bound(bucket + 1) <= bound_us) {
            cumulative += h.buckets()[static_cast<size_t>(bucket)];
            ++bucket;
        }
        out += fmt::format("{}_bucket{{{},le=\"{}\"}} {}\n", name, labels,
                           static_cast<double>(bound_us) / 1e6, cumulative);
    }
    out += fmt::format("{}_bucket{{{},le=\"+Inf\"}} {}\n", name, labels, h.count());
    out +=
        fmt::format("{}_sum{{{}}} {}\n", name, labels, static_cast<double>(h.sum_micros()) / 1e6);
    out += fmt::format("{}_count{{{}}} {}\n", name, labels, h.count());
}

void help(std::string& out, std::string_view name, std::string_view type, std::string_view text) {
    out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, text, name, type);
}

}  // namespace

std::string render_metrics(const ConsoleModel& model, const ats::Snapshot& snap) {
    std::string out;
    help(out, "atsarray_sessions", "gauge", "Logged-in iSCSI sessions (I_T nexuses).");
    out += fmt::format("atsarray_sessions {}\n", api::session_count(model));
    // What an idle daemon holds: all three return to their resting values when every command has
    // ended (the chaos command reads them to find a leaked connection, buffer or lock).
    help(out, "atsarray_connections", "gauge",
         "iSCSI connection objects alive, including logins in progress and closing ones.");
    out += fmt::format("atsarray_connections {}\n",
                       model.state.live_connections.load(std::memory_order_relaxed));
    help(out, "atsarray_buffer_bytes", "gauge",
         "Bytes the commands of all connections hold against [iscsi] buffer_budget.");
    out += fmt::format("atsarray_buffer_bytes {}\n", model.state.buffers.used());
    if (model.locks != nullptr) {
        const ats::LockTableStats ls = model.locks->stats();
        help(out, "atsarray_lba_ranges_locked", "gauge",
             "LBA ranges held in the lock table (writes, ATS, UNMAP, XCOPY running now).");
        out += fmt::format("atsarray_lba_ranges_locked {}\n", ls.held);
        help(out, "atsarray_lba_ranges_waiting", "gauge",
             "LBA ranges queued behind another holder in the lock table.");
        out += fmt::format("atsarray_lba_ranges_waiting {}\n", ls.waiting);
    }
    help(out, "atsarray_connections_refused_total", "counter",
         "iSCSI connections refused over [iscsi] max_connections (portal) or "
         "max_connections_per_initiator (initiator).");
    const iscsi::ConnectionLimits& limits = model.state.connection_limits;
    out += fmt::format("atsarray_connections_refused_total{{limit=\"portal\"}} {}\n",
                       limits.refused(iscsi::ConnectionLimits::Verdict::portal_full));
    out += fmt::format("atsarray_connections_refused_total{{limit=\"initiator\"}} {}\n",
                       limits.refused(iscsi::ConnectionLimits::Verdict::initiator_full));
    help(out, "atsarray_accept_failures_total", "counter",
         "Failed accepts at the iSCSI portals (descriptors or memory ran out), each followed by a "
         "wait of 100 ms to 1 s.");
    out += fmt::format("atsarray_accept_failures_total {}\n",
                       model.state.failed_accepts.load(std::memory_order_relaxed));

    struct Counter {
        const char* name;
        const char* text;
        uint64_t ats::AtsCounters::*field;
    };
    static constexpr Counter counters[] = {
        {"atsarray_ats_successes_total", "COMPARE AND WRITE that wrote (esxtop ATS).",
         &ats::AtsCounters::successes},
        {"atsarray_ats_miscompares_total",
         "COMPARE AND WRITE that miscompared (esxtop ATSF), by cause.",
         &ats::AtsCounters::miscompares},
        {"atsarray_ats_errors_total", "COMPARE AND WRITE that failed otherwise.",
         &ats::AtsCounters::errors},
    };
    for (const Counter& c : counters) {
        help(out, c.name, "counter", c.text);
        for (const auto& [key, ac] : snap.ats_per_initiator) {
            const std::string labels =
                fmt::format("target=\"{}\",lun=\"{}\",initiator=\"{}\"", esc(std::get<0>(key)),
                            std::get<1>(key), esc(std::get<2>(key)));
            if (c.field == &ats::AtsCounters::miscompares) {
                out +=
                    fmt::format("{}{{{},cause=\"genuine\"}} {}\n", c.name, labels, ac.miscompares);
                out += fmt::format("{}{{{},cause=\"injected\"}} {}\n", c.name, labels,
                                   ac.injected_miscompares);
            } else {
                out += fmt::format("{}{{{}}} {}\n", c.name, labels, ac.*c.field);
            }
        }
    }
    help(out, "atsarray_ats_latency_seconds", "histogram",
         "COMPARE AND WRITE latency in the SCSI layer, by result (AAVG/suc, AAVG/f).");
    for (const auto& [key, ac] : snap.ats_per_initiator) {
        const std::string labels =
            fmt::format("target=\"{}\",lun=\"{}\",initiator=\"{}\"", esc(std::get<0>(key)),
                        std::get<1>(key), esc(std::get<2>(key)));
        histogram(out, "atsarray_ats_latency_seconds", labels + ",result=\"success\"",
                  ac.latency_success);
        histogram(out, "atsarray_ats_latency_seconds", labels + ",result=\"failure\"",
                  ac.latency_failure);
    }
    help(out, "atsarray_ats_lock_wait_seconds", "histogram",
         "Time COMPARE AND WRITE waited for its LBA locks.");
    for (const auto& [key, ac] : snap.ats_per_initiator) {
        histogram(out, "atsarray_ats_lock_wait_seconds",
                  fmt::format("target=\"{}\",lun=\"{}\",initiator=\"{}\"", esc(std::get<0>(key)),
                              std::get<1>(key), esc(std::get<2>(key))),
                  ac.lock_wait);
    }

    help(out, "atsarray_commands_total", "counter", "SCSI commands finished, by initiator and op.");
    for (const auto& [port, io] : snap.io_per_initiator) {
        for (size_t op = 0; op < ats::op_count; ++op) {
            out +=
                fmt::format("atsarray_commands_total{{initiator=\"{}\",op=\"{}\"}} {}\n", esc(port),
                            ats::to_string(static_cast<ats::Op>(op)), io.commands[op]);
        }
    }
    help(out, "atsarray_command_errors_total", "counter",
         "SCSI commands that ended other than GOOD, by initiator and op.");
    for (const auto& [port, io] : snap.io_per_initiator) {
        for (size_t op = 0; op < ats::op_count; ++op) {
            out += fmt::format("atsarray_command_errors_total{{initiator=\"{}\",op=\"{}\"}} {}\n",
                               esc(port), ats::to_string(static_cast<ats::Op>(op)), io.errors[op]);
        }
    }
    help(out, "atsarray_command_latency_seconds", "histogram",
         "SCSI command latency in the SCSI layer, by initiator and op.");
    for (const auto& [port, io] : snap.io_per_initiator) {
        for (size_t op = 0; op < ats::op_count; ++op) {
            histogram(out, "atsarray_command_latency_seconds",
                      fmt::format("initiator=\"{}\",op=\"{}\"", esc(port),
                                  ats::to_string(static_cast<ats::Op>(op))),
                      io.latency[op]);
        }
    }
    return out;
}

}  // namespace atsarray::webui
