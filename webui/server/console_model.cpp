#include "webui/server/console_model.hpp"

#include <algorithm>
#include <ctime>

#include <fmt/format.h>

#include "target/iscsi/connection.hpp"
#include "target/iscsi/server_state.hpp"
#include "target/scsi/lun.hpp"
#include "target/scsi/target_device.hpp"

namespace atsarray::webui::api {

std::string dump(const json& j) {
    return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string rfc3339(std::chrono::system_clock::time_point t) {
    const auto ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
    const std::time_t secs = static_cast<std::time_t>(ms / 1000);
    std::tm tm{};
    gmtime_r(&secs, &tm);
    return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", tm.tm_year + 1900,
                       tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms % 1000);
}

json latency_summary(const ats::Histogram& h) {
    return {{"count", h.count()},
            {"mean_us", h.mean_micros()},
            {"p50_us", h.percentile_micros(0.50)},
            {"p99_us", h.percentile_micros(0.99)},
            {"p999_us", h.percentile_micros(0.999)},
            {"max_us", h.max_micros()}};
}

namespace {

json lun_json(const ConsoleModel& m, std::string_view target, const scsi::Lun& lun) {
    const scsi::LunSettings& s = lun.settings();
    const uint64_t blocks = s.block_count;
    json j{{"id", s.id},
           {"block_size", s.block_size},
           {"block_count", blocks},
           {"size_bytes", blocks * s.block_size},
           {"store", lun.store().kind()},
           {"allocated_bytes", lun.store().allocated_bytes()},
           {"write_cache", lun.mode().write_cache_enabled},
           {"read_only", lun.write_protected()},
           {"commands_in_flight", lun.commands_in_flight()}};
    // An rbd LUN: its image, the cluster's health, OSD latency and the gateways (issue 15).
    if (m.rbd) {
        if (const auto view = m.rbd(target, s.id)) {
            j["rbd"] = rbd_lun(*view);
        }
    }
    return j;
}

// A histogram's non-empty buckets, [[upper_bound_us, count]...]: a reader takes two polls'
// difference for the percentiles of the interval between them.
json buckets_json(const ats::Histogram& h) {
    json buckets = json::array();
    for (int b = 0; b < ats::Histogram::bucket_count; ++b) {
        if (const uint64_t n = h.buckets()[static_cast<size_t>(b)]; n != 0) {
            buckets.push_back({ats::Histogram::lower_bound(b + 1), n});
        }
    }
    return buckets;
}

json ats_counters(const ats::AtsCounters& c) {
    return {{"successes", c.successes},
            {"miscompares", c.miscompares},
            {"injected_miscompares", c.injected_miscompares},
            {"late_retry_miscompares", c.late_retry_miscompares},
            {"errors", c.errors},
            {"latency_success", latency_summary(c.latency_success)},
            {"latency_failure", latency_summary(c.latency_failure)},
            {"lock_wait", latency_summary(c.lock_wait)}};
}

}  // namespace

std::string hex(const std::vector<uint8_t>& bytes) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    out.reserve(bytes.size() * 2);
    for (const uint8_t b : bytes) {
        out += digits[b >> 4];
        out += digits[b & 0x0f];
    }
    return out;
}

json overview(const ConsoleModel& m, const ats::Snapshot& snap) {
    size_t luns = 0;
    for (const auto& node : m.state.targets.nodes()) {
        luns += node->device->lun_ids().size();
    }
    ats::AtsCounters total;
    for (const auto& [key, c] : snap.ats_per_lun) {
        total.merge(c);
    }
    const auto now = std::chrono::system_clock::now();
    return {{"version", "0.1"},
            {"started", rfc3339(m.started)},
            {"uptime_s", std::chrono::duration_cast<std::chrono::seconds>(now - m.started).count()},
            {"targets", m.state.targets.nodes().size()},
            {"luns", luns},
            {"sessions", session_count(m)},
            {"ats",
             {{"successes", total.successes},
              {"miscompares", total.miscompares},
              {"injected_miscompares", total.injected_miscompares},
              {"errors", total.errors}}}};
}

json targets(const ConsoleModel& m) {
    json out = json::array();
    for (const auto& node : m.state.targets.nodes()) {
        json luns = json::array();
        // One snapshot: a LUN removed meanwhile (live configuration) is listed or not, whole.
        const auto set = node->device->luns();
        for (const auto& [id, l] : set->luns) {
            luns.push_back(lun_json(m, node->info.name, *l));
        }
        out.push_back({{"name", node->info.name},
                       {"alias", node->info.alias},
                       {"portal_group_tag", node->info.portal_group_tag},
                       {"luns", std::move(luns)}});
    }
    return out;
}

std::optional<json> lun(const ConsoleModel& m, std::string_view target, uint64_t id) {
    const auto node = m.state.targets.node(target);
    if (node == nullptr) {
        return std::nullopt;
    }
    const auto l = node->device->lun(id);
    if (!l) {
        return std::nullopt;
    }
    return lun_json(m, target, *l);
}

json portals(const ConsoleModel& m) {
    json out = json::array();
    const auto list = m.state.portals.snapshot();
    for (const iscsi::PortalInfo& portal : *list) {
        json p{{"address", portal.address}};
        if (portal.group) {
            p["group"] = *portal.group;  // its target port group (ALUA)
        }
        if (portal.remote) {
            p["remote"] = true;  // another gateway's: listed, not served here
        }
        out.push_back(std::move(p));
    }
    return out;
}

json sessions(const ConsoleModel& m) {
    json out = json::array();
    for (const auto& conn : m.state.sessions.snapshot()) {
        const iscsi::SessionInfo s = conn->session_info();
        if (s.target.empty()) {
            continue;  // discovery sessions are not I_T nexuses
        }
        out.push_back(
            {{"tsih", s.tsih},
             {"target", s.target},
             {"initiator_name", s.initiator_name},
             {"isid", fmt::format("{:#014x}", s.isid)},
             {"initiator_port", s.initiator_port},
             {"address", s.address},
             {"login_time", rfc3339(s.login_time)},
             {"header_digest", s.params.header_digest ? "CRC32C" : "None"},
             {"data_digest", s.params.data_digest ? "CRC32C" : "None"},
             {"commands_in_flight", s.commands_in_flight},
             {"portal", s.portal.address},
             {"group", s.portal.relative_target_port()},
             {"commands", s.commands},
             {"errors", s.errors},
             {"params",
              {{"max_recv_data_segment_length", s.params.initiator_max_recv_data_segment_length},
               {"target_max_recv_data_segment_length",
                s.params.target_max_recv_data_segment_length},
               {"max_burst_length", s.params.max_burst_length},
               {"first_burst_length", s.params.first_burst_length},
               {"immediate_data", s.params.immediate_data},
               {"initial_r2t", s.params.initial_r2t},
               {"max_outstanding_r2t", s.params.max_outstanding_r2t}}}});
    }
    return out;
}

size_t session_count(const ConsoleModel& m) {
    size_t n = 0;
    for (const auto& conn : m.state.sessions.snapshot()) {
        n += conn->target() != nullptr ? 1 : 0;
    }
    return n;
}

json ats(const ats::Snapshot& snap) {
    json luns = json::array();
    for (const auto& [key, c] : snap.ats_per_lun) {
        json j = ats_counters(c);
        j["target"] = key.first;
        j["lun"] = key.second;
        // Every ATS's latency, success or not (esxtop's per-device view takes its p99 from it).
        ats::Histogram all = c.latency_success;
        all.merge(c.latency_failure);
        j["latency_buckets"] = buckets_json(all);
        luns.push_back(std::move(j));
    }
    json initiators = json::array();
    for (const auto& [key, c] : snap.ats_per_initiator) {
        json j = ats_counters(c);
        j["target"] = std::get<0>(key);
        j["lun"] = std::get<1>(key);
        j["initiator_port"] = std::get<2>(key);
        const auto who = snap.initiators.find(std::get<2>(key));
        j["initiator_name"] = who != snap.initiators.end() ? who->second.initiator_name : "";
        j["address"] = who != snap.initiators.end() ? who->second.address : "";
        initiators.push_back(std::move(j));
    }
    json hot = json::array();
    for (const ats::HotBlock& h : snap.hot_blocks) {
        hot.push_back({{"target", h.target},
                       {"lun", h.lun},
                       {"lba", h.lba},
                       {"miscompares", h.miscompares},
                       {"successes", h.successes},
                       {"last_offset", h.last_offset},
                       {"last_late_retry", h.last_late_retry},
                       {"late_retries", h.late_retries},
                       {"last_expected", hex(h.last_expected)},
                       {"last_actual", hex(h.last_actual)},
                       {"last_initiator", h.last_initiator},
                       {"initiators", h.initiators},
                       {"last_miscompare", rfc3339(h.last_miscompare)}});
    }
    return {{"luns", std::move(luns)},
            {"initiators", std::move(initiators)},
            {"hot_blocks", std::move(hot)}};
}

json latency(const ats::Snapshot& snap) {
    json out = json::array();
    for (const auto& [port, io] : snap.io_per_initiator) {
        json ops = json::object();
        for (size_t op = 0; op < ats::op_count; ++op) {
            const ats::Histogram& h = io.latency[op];
            ops[std::string(ats::to_string(static_cast<ats::Op>(op)))] = {
                {"commands", io.commands[op]},
                {"errors", io.errors[op]},
                {"latency", latency_summary(h)},
                {"buckets", buckets_json(h)}};
        }
        const auto who = snap.initiators.find(port);
        out.push_back(
            {{"initiator_port", port},
             {"initiator_name", who != snap.initiators.end() ? who->second.initiator_name : ""},
             {"address", who != snap.initiators.end() ? who->second.address : ""},
             {"ops", std::move(ops)}});
    }
    return out;
}

json event(const ats::Event& e) {
    return {{"seq", e.seq},
            {"time", rfc3339(e.time)},
            {"kind", e.kind},
            {"message", e.message},
            {"target", e.target},
            {"lun", e.lun ? json(*e.lun) : json(nullptr)},
            {"initiator", e.initiator}};
}

json events(const ConsoleModel& m, uint64_t since, size_t limit) {
    json list = json::array();
    for (const ats::Event& e : m.events.since(since, limit)) {
        list.push_back(event(e));
    }
    return {{"last_seq", m.events.last_seq()}, {"events", std::move(list)}};
}

json fault_rule(const fault::RuleState& r) {
    const fault::RuleSpec& s = r.spec;
    return {{"id", r.id},
            {"name", s.name},
            {"action", fault::to_string(s.action)},
            {"enabled", s.enabled},
            {"target", s.target},
            {"lun", s.lun ? json(*s.lun) : json(nullptr)},
            {"initiator", s.initiator},
            {"lba_first", s.lba_first},
            {"lba_last", s.lba_last},
            {"command", fault::to_string(s.command)},
            {"probability", s.probability},
            {"every", s.every},
            {"max_hits", s.max_hits},
            {"active_seconds", s.active_seconds},
            {"stage", fault::to_string(s.stage)},
            {"delay_ms", s.delay_ms},
            {"delay_p99_ms", s.delay_p99_ms},
            {"stale_ms", s.stale_ms},
            {"status", fault::to_string(s.status)},
            {"sense_key", s.sense_key},
            {"asc", s.asc},
            {"ascq", s.ascq},
            {"group", s.group},
            {"state", fault::to_string(s.state)},
            {"state_b", fault::to_string(s.state_b)},
            {"period_ms", s.period_ms},
            {"transition_ms", s.transition_ms},
            {"created", rfc3339(r.created)},
            {"matched", r.matched},
            {"hits", r.hits}};
}

namespace {

// Reads an optional field of `j` into `out` with the type `T`; false (and `error`) when present
// with another type or out of [lo, hi].
template <typename T>
bool field(const json& j, const char* key, T& out, std::string& error, double lo = 0,
           double hi = 1e18) {
    const auto it = j.find(key);
    if (it == j.end() || it->is_null()) {
        return true;
    }
    if constexpr (std::is_same_v<T, std::string>) {
        if (!it->is_string()) {
            error = std::string(key) + ": must be a string";
            return false;
        }
        out = it->get<std::string>();
    } else if constexpr (std::is_same_v<T, bool>) {
        if (!it->is_boolean()) {
            error = std::string(key) + ": must be true or false";
            return false;
        }
        out = it->get<bool>();
    } else {
        if (!it->is_number() || it->get<double>() < lo || it->get<double>() > hi ||
            (std::is_integral_v<T> && !it->is_number_integer() && !it->is_number_unsigned())) {
            error = std::string(key) + ": must be a number in [" + fmt::format("{}", lo) + ", " +
                    fmt::format("{}", hi) + "]";
            return false;
        }
        out = it->get<T>();
    }
    return true;
}

}  // namespace

std::optional<fault::RuleSpec> fault_spec(const json& j, std::string& error) {
    if (!j.is_object()) {
        error = "a rule is a JSON object";
        return std::nullopt;
    }
    static const std::vector<std::string> known = {
        "name",      "action",       "target",       "lun",    "initiator", "lba_first",
        "lba_last",  "command",      "probability",  "every",  "max_hits",  "active_seconds",
        "stage",     "delay_ms",     "delay_p99_ms", "status", "sense_key", "asc",
        "ascq",      "enabled",      "stale_ms",     "group",  "state",     "state_b",
        "period_ms", "transition_ms"};
    for (const auto& [key, value] : j.items()) {
        if (std::find(known.begin(), known.end(), key) == known.end()) {
            error = key + ": unknown field";
            return std::nullopt;
        }
    }
    fault::RuleSpec s;
    std::string action;
    std::string command;
    std::string stage;
    std::string status;
    std::string state;
    std::string state_b;
    uint64_t lun = 0;
    const bool has_lun = j.contains("lun") && !j["lun"].is_null();
    if (!field(j, "name", s.name, error) || !field(j, "action", action, error) ||
        !field(j, "target", s.target, error) || !field(j, "lun", lun, error, 0, 16383) ||
        !field(j, "initiator", s.initiator, error) || !field(j, "lba_first", s.lba_first, error) ||
        !field(j, "lba_last", s.lba_last, error) || !field(j, "command", command, error) ||
        !field(j, "probability", s.probability, error, 0, 1) ||
        !field(j, "every", s.every, error, 1, 1e9) ||
        !field(j, "max_hits", s.max_hits, error, 0, 1e9) ||
        !field(j, "active_seconds", s.active_seconds, error, 0, 1e9) ||
        !field(j, "stage", stage, error) || !field(j, "delay_ms", s.delay_ms, error, 0, 600000) ||
        !field(j, "delay_p99_ms", s.delay_p99_ms, error, 0, 600000) ||
        !field(j, "stale_ms", s.stale_ms, error, 1, 600000) || !field(j, "status", status, error) ||
        !field(j, "sense_key", s.sense_key, error, 0, 15) ||
        !field(j, "asc", s.asc, error, 0, 255) || !field(j, "ascq", s.ascq, error, 0, 255) ||
        !field(j, "enabled", s.enabled, error) || !field(j, "group", s.group, error, 0, 65535) ||
        !field(j, "state", state, error) || !field(j, "state_b", state_b, error) ||
        !field(j, "period_ms", s.period_ms, error, 0, 600000) ||
        !field(j, "transition_ms", s.transition_ms, error, 0, 600000)) {
        return std::nullopt;
    }
    for (const auto& [key, text, out] :
         {std::tuple{"state", &state, &s.state}, std::tuple{"state_b", &state_b, &s.state_b}}) {
        if (text->empty()) {
            continue;
        }
        const auto parsed = fault::port_state_from(*text);
        if (!parsed) {
            error = std::string(key) +
                    ": must be active_optimized, active_non_optimized, standby or unavailable";
            return std::nullopt;
        }
        *out = *parsed;
    }
    if (has_lun) {
        s.lun = lun;
    }
    const auto a = fault::action_from(action);
    if (!a) {
        error = "action: must be one of " + fault::action_names();
        return std::nullopt;
    }
    s.action = *a;
    if (command.empty()) {
        command = fault::to_string(fault::default_command(s.action));
    }
    const auto c = fault::command_class_from(command);
    const auto st = fault::delay_stage_from(stage.empty() ? "before_execute" : stage);
    const auto k = fault::status_kind_from(status.empty() ? "busy" : status);
    if (!c || !st || !k) {
        error = !c    ? "command: must be ats, read, write or any"
                : !st ? "stage: must be before_execute or before_status"
                      : "status: must be busy, task_set_full or check_condition";
        return std::nullopt;
    }
    s.command = *c;
    s.stage = *st;
    s.status = *k;
    if (!j.contains("lba_last")) {
        s.lba_last = UINT64_MAX;
    }
    error = fault::validate(s);
    if (!error.empty()) {
        return std::nullopt;
    }
    return s;
}

}  // namespace atsarray::webui::api
