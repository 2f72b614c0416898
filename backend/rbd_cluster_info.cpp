#include "backend/rbd_cluster_info.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <utility>

namespace atsarray::backend {

namespace {

using nlohmann::json;

constexpr const char* status_command = R"({"prefix":"status","format":"json"})";
constexpr const char* osd_dump_command = R"({"prefix":"osd dump","format":"json"})";
constexpr const char* osd_perf_command = R"({"prefix":"osd perf","format":"json"})";
constexpr const char* perf_dump_command =
    R"({"prefix":"perf dump","logger":"osd","format":"json"})";

std::string errno_text(int e) {
    return std::string(std::strerror(e)) + " (errno " + std::to_string(e) + ")";
}

// The JSON object `text` holds, or a discarded value.
json parse_object(std::string_view text) {
    json j = json::parse(text.begin(), text.end(), nullptr, false);
    if (!j.is_discarded() && !j.is_object()) {
        return json(json::value_t::discarded);
    }
    return j;
}

// A number of `j[key]` (Ceph prints booleans of the OSD map as 0/1 and some counts as text in
// older releases): `fallback` when absent or of another type.
double number_at(const json& j, const char* key, double fallback = 0) {
    const auto it = j.find(key);
    if (it == j.end()) {
        return fallback;
    }
    if (it->is_number()) {
        return it->get<double>();
    }
    if (it->is_boolean()) {
        return it->get<bool>() ? 1 : 0;
    }
    return fallback;
}

std::string string_at(const json& j, const char* key) {
    const auto it = j.find(key);
    return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

OsdLatency& osd_entry(std::vector<OsdLatency>& osds, int64_t id) {
    const auto it =
        std::find_if(osds.begin(), osds.end(), [id](const OsdLatency& o) { return o.id == id; });
    if (it != osds.end()) {
        return *it;
    }
    OsdLatency added;
    added.id = id;
    osds.push_back(added);
    return osds.back();
}

}  // namespace

bool parse_status(std::string_view text, ClusterInfo& out, std::string& error) {
    const json j = parse_object(text);
    if (j.is_discarded()) {
        error = "not a JSON object";
        return false;
    }
    const auto health = j.find("health");
    if (health == j.end() || !health->is_object() || string_at(*health, "status").empty()) {
        error = "no health.status";
        return false;
    }
    out.fsid = string_at(j, "fsid");
    out.health = string_at(*health, "status");
    out.checks.clear();
    if (const auto checks = health->find("checks");
        checks != health->end() && checks->is_object()) {
        for (const auto& [code, check] : checks->items()) {
            ClusterHealthCheck c;
            c.code = code;
            if (check.is_object()) {
                c.severity = string_at(check, "severity");
                if (const auto s = check.find("summary"); s != check.end() && s->is_object()) {
                    c.summary = string_at(*s, "message");
                }
            }
            out.checks.push_back(std::move(c));
        }
    }
    if (const auto osdmap = j.find("osdmap"); osdmap != j.end() && osdmap->is_object()) {
        // Releases before 15 nest the counts once more ({"osdmap": {"osdmap": {...}}}).
        const json& m = osdmap->contains("osdmap") && (*osdmap)["osdmap"].is_object()
                            ? (*osdmap)["osdmap"]
                            : *osdmap;
        out.osds = static_cast<uint32_t>(number_at(m, "num_osds"));
        out.osds_up = static_cast<uint32_t>(number_at(m, "num_up_osds"));
        out.osds_in = static_cast<uint32_t>(number_at(m, "num_in_osds"));
    }
    out.manager = false;
    if (const auto mgrmap = j.find("mgrmap"); mgrmap != j.end() && mgrmap->is_object()) {
        out.manager = number_at(*mgrmap, "available") != 0;
    }
    return true;
}

bool parse_osd_dump(std::string_view text, std::vector<OsdLatency>& osds, std::string& error) {
    const json j = parse_object(text);
    if (j.is_discarded() || !j.contains("osds") || !j["osds"].is_array()) {
        error = "no osds array";
        return false;
    }
    for (const json& o : j["osds"]) {
        if (!o.is_object() || !o.contains("osd") || !o["osd"].is_number_integer()) {
            continue;
        }
        OsdLatency& entry = osd_entry(osds, o["osd"].get<int64_t>());
        entry.up = number_at(o, "up") != 0;
        entry.in = number_at(o, "in") != 0;
    }
    std::sort(osds.begin(), osds.end(),
              [](const OsdLatency& a, const OsdLatency& b) { return a.id < b.id; });
    return true;
}

bool parse_osd_perf(std::string_view text, std::vector<OsdLatency>& osds, std::string& error) {
    const json j = parse_object(text);
    if (j.is_discarded()) {
        error = "not a JSON object";
        return false;
    }
    const json* infos = nullptr;
    if (j.contains("osdstats") && j["osdstats"].is_object() &&
        j["osdstats"].contains("osd_perf_infos")) {
        infos = &j["osdstats"]["osd_perf_infos"];
    } else if (j.contains("osd_perf_infos")) {
        infos = &j["osd_perf_infos"];
    }
    if (infos == nullptr || !infos->is_array()) {
        error = "no osd_perf_infos array";
        return false;
    }
    for (const json& o : *infos) {
        if (!o.is_object() || !o.contains("id") || !o["id"].is_number_integer() ||
            !o.contains("perf_stats") || !o["perf_stats"].is_object()) {
            continue;
        }
        const json& stats = o["perf_stats"];
        OsdLatency& entry = osd_entry(osds, o["id"].get<int64_t>());
        // The nanosecond fields (16.2) are exact; the millisecond ones are rounded down.
        entry.commit_latency_ms = stats.contains("commit_latency_ns")
                                      ? number_at(stats, "commit_latency_ns") / 1e6
                                      : number_at(stats, "commit_latency_ms");
        entry.apply_latency_ms = stats.contains("apply_latency_ns")
                                     ? number_at(stats, "apply_latency_ns") / 1e6
                                     : number_at(stats, "apply_latency_ms");
    }
    std::sort(osds.begin(), osds.end(),
              [](const OsdLatency& a, const OsdLatency& b) { return a.id < b.id; });
    return true;
}

RbdClusterInfo::RbdClusterInfo(rados_t cluster, std::chrono::milliseconds interval)
    : cluster_(cluster), interval_(interval) {
    latest_.error = "not asked yet";
}

RbdClusterInfo::~RbdClusterInfo() {
    stop();
}

void RbdClusterInfo::start() {
    std::lock_guard lock(mutex_);
    if (thread_.joinable()) {
        return;
    }
    stopping_ = false;
    thread_ = std::thread([this] { run(); });
}

void RbdClusterInfo::stop() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable()) {
        thread_.join();
    }
}

ClusterInfo RbdClusterInfo::latest() const {
    std::lock_guard lock(mutex_);
    return latest_;
}

void RbdClusterInfo::run() {
    std::unique_lock lock(mutex_);
    while (!stopping_) {
        lock.unlock();
        refresh();
        lock.lock();
        wake_.wait_for(lock, interval_, [this] { return stopping_; });
    }
}

int RbdClusterInfo::command(const std::string& text, std::string& out, std::string& outs,
                            bool manager, int64_t osd) const {
    const char* cmd[] = {text.c_str()};
    char* out_buffer = nullptr;
    size_t out_length = 0;
    char* status_buffer = nullptr;
    size_t status_length = 0;
    int r = 0;
    if (osd >= 0) {
        r = rados_osd_command(cluster_, static_cast<int>(osd), cmd, 1, "", 0, &out_buffer,
                              &out_length, &status_buffer, &status_length);
    } else if (manager) {
        r = rados_mgr_command(cluster_, cmd, 1, "", 0, &out_buffer, &out_length, &status_buffer,
                              &status_length);
    } else {
        r = rados_mon_command(cluster_, cmd, 1, "", 0, &out_buffer, &out_length, &status_buffer,
                              &status_length);
    }
    out.assign(out_buffer != nullptr ? out_buffer : "", out_buffer != nullptr ? out_length : 0);
    outs.assign(status_buffer != nullptr ? status_buffer : "",
                status_buffer != nullptr ? status_length : 0);
    rados_buffer_free(out_buffer);
    rados_buffer_free(status_buffer);
    return r;
}

void RbdClusterInfo::perf_dump(OsdLatency& osd) {
    std::string out;
    std::string outs;
    const int r = command(perf_dump_command, out, outs, false, osd.id);
    if (r < 0) {
        osd.error = "perf dump: " + errno_text(-r) + (outs.empty() ? "" : ": " + outs);
        return;
    }
    const json j = parse_object(out);
    if (j.is_discarded() || !j.contains("osd") || !j["osd"].is_object()) {
        osd.error = "perf dump: no osd counters in the answer";
        return;
    }
    const json& counters = j["osd"];
    const auto counter = [&counters](const char* name) {
        Counter c;
        if (const auto it = counters.find(name); it != counters.end() && it->is_object()) {
            c.count = static_cast<uint64_t>(number_at(*it, "avgcount"));
            c.sum_s = number_at(*it, "sum");
        }
        return c;
    };
    // Writes are op_w and op_rw together: a compare-and-set of the records (the gateways'
    // heartbeats), COMPARE AND WRITE and an omap update are read-modify-write ops to the OSD.
    Counter written = counter("op_w_latency");
    const Counter read_modify_write = counter("op_rw_latency");
    written.count += read_modify_write.count;
    written.sum_s += read_modify_write.sum_s;
    const OsdCounters now{written, counter("op_r_latency")};
    // The mean of the ops since the previous refresh; a counter that went back is an OSD that
    // restarted: nothing to compare with yet.
    const auto mean = [](const Counter& before, const Counter& after, uint64_t& ops) {
        std::optional<double> ms;
        if (after.count >= before.count && after.sum_s >= before.sum_s) {
            ops = after.count - before.count;
            if (ops > 0) {
                ms = (after.sum_s - before.sum_s) * 1000.0 / static_cast<double>(ops);
            }
        }
        return ms;
    };
    if (const auto before = previous_.find(osd.id); before != previous_.end()) {
        osd.write_latency_ms = mean(before->second.write, now.write, osd.writes);
        osd.read_latency_ms = mean(before->second.read, now.read, osd.reads);
    }
    previous_[osd.id] = now;
}

ClusterInfo RbdClusterInfo::refresh() {
    const auto started = std::chrono::steady_clock::now();
    ClusterInfo info;
    std::string out;
    std::string outs;
    std::string error;
    const auto stopping = [this] {
        std::lock_guard lock(mutex_);
        return stopping_;
    };
    if (const int r = command(status_command, out, outs, false, -1); r < 0) {
        std::array<char, 32> timeout{};
        const bool timed_out = r == -ETIMEDOUT;
        if (timed_out &&
            rados_conf_get(cluster_, "rados_mon_op_timeout", timeout.data(), timeout.size()) == 0) {
            info.error = std::string("unreachable: the monitors did not answer within ") +
                         timeout.data() + " s";
        } else {
            info.error =
                "unreachable: status: " + errno_text(-r) + (outs.empty() ? "" : ": " + outs);
        }
    } else if (!parse_status(out, info, error)) {
        info.error = "unreachable: the answer to status is not understood: " + error;
    } else {
        info.reachable = true;
        if (const int d = command(osd_dump_command, out, outs, false, -1); d < 0) {
            info.latency_error = "osd dump: " + errno_text(-d);
        } else if (!parse_osd_dump(out, info.osd_latency, error)) {
            info.latency_error = "osd dump: " + error;
        }
        // Without a manager the monitor would keep `osd perf` until its timeout.
        if (info.manager && !stopping()) {
            if (const int p = command(osd_perf_command, out, outs, true, -1); p < 0) {
                info.latency_error = "osd perf: " + errno_text(-p);
            } else if (!parse_osd_perf(out, info.osd_latency, error)) {
                info.latency_error = "osd perf: " + error;
            }
        }
        size_t asked = 0;
        for (OsdLatency& osd : info.osd_latency) {
            if (!osd.up || asked == max_perf_osds || stopping()) {
                continue;
            }
            ++asked;
            perf_dump(osd);
        }
    }
    info.refreshed = std::chrono::steady_clock::now();
    info.took = std::chrono::duration_cast<std::chrono::milliseconds>(info.refreshed - started);
    std::lock_guard lock(mutex_);
    info.refreshes = latest_.refreshes + 1;
    latest_ = info;
    return info;
}

}  // namespace atsarray::backend
