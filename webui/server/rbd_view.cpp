#include "webui/server/rbd_view.hpp"

#include "webui/server/paths.hpp"

namespace atsarray::webui::api {

using nlohmann::json;

namespace {

json optional_number(const std::optional<double>& v) {
    return v ? json(*v) : json(nullptr);
}

json optional_integer(const std::optional<int64_t>& v) {
    return v ? json(*v) : json(nullptr);
}

json cluster_json(const RbdLunView& v) {
    json checks = json::array();
    for (const RbdHealthCheck& c : v.checks) {
        checks.push_back({{"code", c.code}, {"severity", c.severity}, {"summary", c.summary}});
    }
    // "pending" until the first refresh ended (the daemon has just started).
    const char* state = v.reachable ? "ok" : v.refreshed_ms_ago ? "unreachable" : "pending";
    return {{"state", state},
            {"error", v.reachable || !v.refreshed_ms_ago ? json(nullptr) : json(v.error)},
            {"health", v.reachable ? json(v.health) : json(nullptr)},
            {"checks", std::move(checks)},
            {"fsid", v.reachable ? json(v.fsid) : json(nullptr)},
            {"osds", {{"total", v.osds}, {"up", v.osds_up}, {"in", v.osds_in}}},
            {"manager", v.manager},
            {"refreshed_ms_ago", optional_integer(v.refreshed_ms_ago)},
            {"refresh_took_ms", v.refresh_took_ms},
            {"refresh_interval_ms", v.refresh_interval_ms}};
}

json heartbeat_json(const RbdBeatLatency& b) {
    return {{"rounds", b.rounds},
            {"failed_rounds", b.failed_rounds},
            {"samples", b.samples},
            {"failed_in_window", b.failed_in_window},
            {"last_ms", optional_number(b.last_ms)},
            {"last_failed", b.last_failed},
            {"p50_ms", b.samples > 0 ? json(b.p50_ms) : json(nullptr)},
            {"p99_ms", b.samples > 0 ? json(b.p99_ms) : json(nullptr)},
            {"max_ms", b.samples > 0 ? json(b.max_ms) : json(nullptr)},
            {"window_s", b.window_s}};
}

json latency_json(const RbdLunView& v) {
    json osds = json::array();
    for (const RbdOsd& o : v.osd_latency) {
        json j{{"id", o.id},
               {"up", o.up},
               {"in", o.in},
               {"commit_latency_ms", optional_number(o.commit_latency_ms)},
               {"apply_latency_ms", optional_number(o.apply_latency_ms)},
               {"write_latency_ms", optional_number(o.write_latency_ms)},
               {"read_latency_ms", optional_number(o.read_latency_ms)},
               {"writes", o.writes},
               {"reads", o.reads}};
        if (!o.error.empty()) {
            j["error"] = o.error;
        }
        osds.push_back(std::move(j));
    }
    return {{"osds", std::move(osds)},
            {"source", v.manager ? "osd perf + perf dump" : "perf dump"},
            {"error", v.latency_error.empty() ? json(nullptr) : json(v.latency_error)},
            {"heartbeat", v.heartbeat ? heartbeat_json(*v.heartbeat) : json(nullptr)}};
}

}  // namespace

json rbd_lun(const RbdLunView& v) {
    json gateways = json::array();
    for (const RbdGatewayRow& g : v.gateways) {
        gateways.push_back({{"group", g.group},
                            {"name", g.name},
                            {"portals", g.portals},
                            {"state", alua_state_name(g.state)},
                            {"shared_state", g.shared_state ? json(alua_state_name(*g.shared_state))
                                                            : json(nullptr)},
                            {"alive", g.alive},
                            {"last_beat_age_ms", optional_integer(g.last_beat_age_ms)},
                            {"this_gateway", g.self},
                            {"description", g.description}});
    }
    return {{"pool", v.pool},
            {"image", v.image},
            {"image_id", v.image_id},
            {"object_size", v.object_size},
            {"cluster", cluster_json(v)},
            {"osd_latency", latency_json(v)},
            {"gateways", std::move(gateways)}};
}

}  // namespace atsarray::webui::api
