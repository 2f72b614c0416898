#include "webui/server/router.hpp"

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <openssl/crypto.h>
#include <spdlog/spdlog.h>

#include "target/iscsi/server_state.hpp"
#include "target/scsi/alua.hpp"
#include "target/scsi/target_device.hpp"

namespace atsarray::webui {

using nlohmann::json;

HttpResponse error_response(unsigned status, std::string message) {
    return {status, "application/json",
            api::dump(json{{"error", {{"status", status}, {"message", std::move(message)}}}})};
}

HttpResponse ok(const json& j, unsigned status) {
    return {status, "application/json", api::dump(j)};
}

namespace {

// A fault rule as JSON with `status`; 404 when it is gone, as a DELETE from another console may
// remove it between this request's change and its answer.
HttpResponse rule_answer(const fault::Engine& engine, uint64_t id, unsigned status = 200) {
    if (auto r = engine.rule(id)) {
        return ok(api::fault_rule(*r), status);
    }
    return error_response(404, "no fault rule " + std::to_string(id));
}

// Percent-decoding of one path segment (target names carry ':' which browsers may encode).
std::string decode_segment(std::string_view s) {
    std::string out;
    for (size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '%' && i + 2 < s.size()) {
            unsigned v = 0;
            const auto [end, ec] = std::from_chars(s.data() + i + 1, s.data() + i + 3, v, 16);
            if (ec == std::errc() && end == s.data() + i + 3) {
                out += static_cast<char>(v);
                i += 2;
                continue;
            }
        }
        out += s[i];
    }
    return out;
}

std::vector<std::string> split_path(std::string_view path) {
    std::vector<std::string> parts;
    while (!path.empty()) {
        const size_t slash = path.find('/');
        if (slash != 0) {
            parts.push_back(decode_segment(path.substr(0, slash)));
        }
        if (slash == std::string_view::npos) {
            break;
        }
        path.remove_prefix(slash + 1);
    }
    return parts;
}

std::string_view mime_type(std::string_view path) {
    const auto ends = [path](std::string_view ext) {
        return path.size() >= ext.size() && path.substr(path.size() - ext.size()) == ext;
    };
    if (ends(".html")) {
        return "text/html; charset=utf-8";
    }
    if (ends(".js") || ends(".mjs")) {
        return "text/javascript; charset=utf-8";
    }
    if (ends(".css")) {
        return "text/css; charset=utf-8";
    }
    if (ends(".svg")) {
        return "image/svg+xml";
    }
    if (ends(".png")) {
        return "image/png";
    }
    if (ends(".json")) {
        return "application/json";
    }
    if (ends(".ico")) {
        return "image/x-icon";
    }
    return "application/octet-stream";
}

}  // namespace

// The value of `key` in a query string "a=1&b=2"; nullopt when absent.
std::optional<std::string_view> query_value(std::string_view query, std::string_view key) {
    while (!query.empty()) {
        const size_t amp = query.find('&');
        const std::string_view pair = query.substr(0, amp);
        const size_t eq = pair.find('=');
        if (pair.substr(0, eq) == key) {
            return eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1);
        }
        if (amp == std::string_view::npos) {
            break;
        }
        query.remove_prefix(amp + 1);
    }
    return std::nullopt;
}

bool parse_u64(std::string_view s, uint64_t& out) {
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return ec == std::errc() && end == s.data() + s.size() && !s.empty();
}

Router::Router(ConsoleModel& model, AccessPolicy policy, std::string static_dir)
    : model_(model), policy_(std::move(policy)), static_dir_(std::move(static_dir)) {}

bool Router::authorized(std::string_view authorization) const {
    constexpr std::string_view scheme = "Bearer ";
    if (policy_.token.empty() || authorization.size() != scheme.size() + policy_.token.size() ||
        authorization.substr(0, scheme.size()) != scheme) {
        return false;
    }
    // Constant time: the comparison must not tell how much of a guess was right.
    return CRYPTO_memcmp(authorization.data() + scheme.size(), policy_.token.data(),
                         policy_.token.size()) == 0;
}

HttpResponse Router::handle(const HttpRequest& request) const {
    // Whatever a request holds, it ends in an answer: an exception a handler did not expect (a
    // library's, on input nobody foresaw) is a 500 and one log line, never the daemon's end.
    try {
        return route(request);
    } catch (const std::exception& e) {
        spdlog::error("console: {} {}: internal error: {}", request.method,
                      request.target.substr(0, 200), e.what());
        return error_response(500, "internal error while answering this request");
    }
}

HttpResponse Router::route(const HttpRequest& request) const {
    std::string_view target = request.target;
    const size_t q = target.find('?');
    const std::string_view path = target.substr(0, q);
    const std::string_view query = q == std::string_view::npos ? "" : target.substr(q + 1);
    // Beyond loopback every answer with data needs the token; the page's own files hold none, so
    // the page can load and ask the user for it.
    const bool data = path == "/metrics" || path.substr(0, 5) == "/api/";
    if (data && !policy_.loopback_only && !authorized(request.authorization) &&
        path != "/api/v1/session-token") {
        return error_response(401, "this console needs its access token (Authorization: Bearer)");
    }
    if (path == "/metrics") {
        if (request.method != "GET") {
            return error_response(405, "method " + request.method + " not allowed on /metrics");
        }
        return {200, "text/plain; version=0.0.4; charset=utf-8",
                render_metrics(model_, model_.accounting.snapshot(50))};
    }
    if (path.substr(0, 8) == "/api/v1/" || path == "/api/v1") {
        return api(request, path, query);
    }
    if (path.substr(0, 5) == "/api/") {
        return error_response(404, "unknown API version or path " + std::string(path));
    }
    if (request.method != "GET" && request.method != "HEAD") {
        return error_response(405, "method " + request.method + " not allowed on static files");
    }
    return static_file(path);
}

HttpResponse Router::api(const HttpRequest& request, std::string_view path,
                         std::string_view query) const {
    const std::vector<std::string> parts =
        split_path(path.substr(std::min<size_t>(8, path.size())));
    const std::string& method = request.method;
    const bool get = method == "GET" || method == "HEAD";
    if (!get && !authorized(request.authorization)) {
        return error_response(401, method +
                                       " needs the console's access token "
                                       "(Authorization: Bearer)");
    }
    const auto not_allowed = [&] {
        return error_response(405, "method " + method + " not allowed on " + std::string(path));
    };
    if (parts.empty()) {
        return error_response(404, "no such API path: " + std::string(path));
    }
    const std::string& what = parts[0];
    if (auto answer = live_config(request, parts, query)) {
        return *answer;
    }
    if (auto answer = forensics(request, parts, query)) {
        return *answer;
    }
    if (auto answer = captures(request, parts, query)) {
        return *answer;
    }
    if (parts.size() == 1 && what == "session-token") {
        if (!get) {
            return not_allowed();
        }
        // Only for the page loaded from the console itself, and only on loopback: a page from
        // any other origin cannot read the answer (no CORS headers), and a rebinding DNS name
        // shows up in the Host header.
        const bool own = std::find(policy_.own_hosts.begin(), policy_.own_hosts.end(),
                                   request.host) != policy_.own_hosts.end();
        if (!policy_.loopback_only || !own) {
            return error_response(403,
                                  "the token is handed out only to the console's own page "
                                  "on a loopback address");
        }
        return ok({{"token", policy_.token}});
    }
    if (parts.size() == 1 && what == "overview") {
        return get ? ok(api::overview(model_, model_.accounting.snapshot(0))) : not_allowed();
    }
    if (parts.size() == 1 && what == "targets") {
        return get ? ok(api::targets(model_)) : not_allowed();
    }
    if (what == "targets" && parts.size() == 4 && parts[2] == "luns") {
        if (!get) {
            return not_allowed();
        }
        uint64_t id = 0;
        if (!parse_u64(parts[3], id)) {
            return error_response(400, "LUN must be a number, got \"" + parts[3] + "\"");
        }
        if (auto l = api::lun(model_, parts[1], id)) {
            return ok(*l);
        }
        return error_response(404, "unknown LUN " + parts[3] + " of target " + parts[1]);
    }
    if (what == "targets" && (parts.size() == 3 || parts.size() == 4) &&
        parts[2] == "port-groups") {
        return port_groups(request, parts);
    }
    if (parts.size() == 1 && what == "paths") {
        return get ? ok(api::paths(model_)) : not_allowed();
    }
    if (parts.size() == 1 && what == "portals") {
        return get ? ok(api::portals(model_)) : not_allowed();
    }
    if (parts.size() == 1 && what == "sessions") {
        return get ? ok(api::sessions(model_)) : not_allowed();
    }
    if (parts.size() == 1 && what == "ats") {
        return get ? ok(api::ats(model_.accounting.snapshot(50))) : not_allowed();
    }
    if (parts.size() == 1 && what == "latency") {
        return get ? ok(api::latency(model_.accounting.snapshot(0))) : not_allowed();
    }
    if (parts.size() == 1 && what == "events") {
        if (get) {
            uint64_t since = 0;
            uint64_t limit = 200;
            if (auto v = query_value(query, "since"); v && !parse_u64(*v, since)) {
                return error_response(400, "since must be a sequence number");
            }
            if (auto v = query_value(query, "limit");
                v && (!parse_u64(*v, limit) || limit == 0 || limit > 1000)) {
                return error_response(400, "limit must be 1..1000");
            }
            return ok(api::events(model_, since, limit));
        }
        if (method != "POST") {
            return not_allowed();
        }
        if (request.content_type.rfind("application/json", 0) != 0) {
            return error_response(415, "a lab note is JSON: Content-Type: application/json");
        }
        const json body = json::parse(request.body, nullptr, false);
        if (body.is_discarded()) {
            return error_response(400, "the body is not valid JSON");
        }
        if (!body.is_object() || !body.contains("message") || !body["message"].is_string()) {
            return error_response(400, "expected {\"message\": \"...\"}");
        }
        const std::string message = body["message"].get<std::string>();
        if (message.empty() || message.size() > 500) {
            return error_response(422, "message must be 1..500 characters");
        }
        return ok(api::event(model_.events.add("note", message)), 201);
    }
    if (what == "faults") {
        return faults(request, parts);
    }
    return error_response(404, "no such API path: " + std::string(path));
}

// /api/v1/faults[/{id}]: the fault injection rules (target/fault).
HttpResponse Router::faults(const HttpRequest& request,
                            const std::vector<std::string>& parts) const {
    const std::string& method = request.method;
    fault::Engine* engine = model_.faults;
    if (parts.size() == 1 && (method == "GET" || method == "HEAD")) {
        json rules = json::array();
        if (engine != nullptr) {
            for (const fault::RuleState& r : engine->rules()) {
                rules.push_back(api::fault_rule(r));
            }
        }
        return ok({{"enabled", engine != nullptr}, {"rules", std::move(rules)}});
    }
    if (parts.size() == 2 && parts[1] == "presets" && (method == "GET" || method == "HEAD")) {
        json list = json::array();
        for (const fault::Preset& p : fault::presets()) {
            list.push_back({{"name", p.name}, {"description", p.description}});
        }
        return ok(list);
    }
    if (parts.size() > 3 || (parts.size() == 3 && parts[1] != "presets")) {
        return error_response(404, "no such API path");
    }
    if (engine == nullptr) {
        return error_response(409,
                              "fault injection is off: set [fault] enabled = true in the "
                              "daemon's config and restart it");
    }
    const bool json_body = request.content_type.rfind("application/json", 0) == 0;
    if (parts.size() == 1) {
        if (method != "POST") {
            return error_response(405, "method " + method + " not allowed on /api/v1/faults");
        }
        if (!json_body) {
            return error_response(415, "a rule is JSON: Content-Type: application/json");
        }
        const json body = json::parse(request.body, nullptr, false);
        if (body.is_discarded()) {
            return error_response(400, "the body is not valid JSON");
        }
        std::string error;
        const auto spec = api::fault_spec(body, error);
        if (!spec) {
            return error_response(422, error);
        }
        const uint64_t id = engine->add(*spec, error);
        if (id == 0) {
            return error_response(422, error);
        }
        model_.events.add("fault", "rule " + std::to_string(id) + " \"" + spec->name + "\" (" +
                                       std::string(fault::to_string(spec->action)) + ") added");
        return rule_answer(*engine, id, 201);
    }
    if (parts.size() == 3) {
        // POST /api/v1/faults/presets/{name}: the scenario's rules, added at once.
        if (method != "POST") {
            return error_response(405, "method " + method + " not allowed on a preset");
        }
        const fault::Preset* preset = fault::find_preset(parts[2]);
        if (preset == nullptr) {
            return error_response(404, "no preset \"" + parts[2] + "\"");
        }
        json added = json::array();
        for (const fault::RuleSpec& spec : preset->rules) {
            std::string error;
            const uint64_t id = engine->add(spec, error);
            if (id == 0) {
                // The presets are built in: one the engine rejects is the daemon's own bug.
                return error_response(
                    500, "preset " + parts[2] + " holds a rule the engine rejects: " + error);
            }
            auto rule = engine->rule(id);
            if (!rule) {
                return error_response(404, "no fault rule " + std::to_string(id));
            }
            added.push_back(api::fault_rule(*rule));
        }
        model_.events.add("fault",
                          "preset " + parts[2] + " enabled: " + std::string(preset->description));
        return ok({{"preset", parts[2]}, {"rules", std::move(added)}}, 201);
    }
    uint64_t id = 0;
    if (!parse_u64(parts[1], id)) {
        return error_response(400, "a rule id is a number, got \"" + parts[1] + "\"");
    }
    if (method == "GET" || method == "HEAD") {
        if (auto r = engine->rule(id)) {
            return ok(api::fault_rule(*r));
        }
        return error_response(404, "no fault rule " + parts[1]);
    }
    if (method == "DELETE") {
        if (!engine->remove(id)) {
            return error_response(404, "no fault rule " + parts[1]);
        }
        model_.events.add("fault", "rule " + parts[1] + " deleted");
        return ok({{"deleted", id}});
    }
    if (method == "PATCH") {
        if (!json_body) {
            return error_response(415, "Content-Type: application/json");
        }
        const json body = json::parse(request.body, nullptr, false);
        if (body.is_discarded() || !body.is_object() || !body.contains("enabled") ||
            !body["enabled"].is_boolean() || body.size() != 1) {
            return error_response(422, "expected {\"enabled\": true|false}");
        }
        if (!engine->set_enabled(id, body["enabled"].get<bool>())) {
            return error_response(404, "no fault rule " + parts[1]);
        }
        model_.events.add(
            "fault", "rule " + parts[1] + (body["enabled"].get<bool>() ? " enabled" : " disabled"));
        return rule_answer(*engine, id);
    }
    return error_response(405, "method " + method + " not allowed on a fault rule");
}

// /api/v1/targets/{target}/port-groups[/{id}]: a target's ALUA target port groups (SPC-4 §5.16),
// and PATCH of one group's state.
HttpResponse Router::port_groups(const HttpRequest& request,
                                 const std::vector<std::string>& parts) const {
    const std::string& method = request.method;
    const bool get = method == "GET" || method == "HEAD";
    const auto node = model_.state.targets.node(parts[1]);
    if (node == nullptr) {
        return error_response(404, "unknown target " + parts[1]);
    }
    if (parts.size() == 3) {
        if (!get) {
            return error_response(405, "method " + method + " not allowed on port-groups");
        }
        return ok(api::port_groups(model_, *node));
    }
    scsi::TargetPortGroups& groups = node->device->port_groups();
    uint64_t id = 0;
    if (!parse_u64(parts[3], id) || id == 0 || id > 65535) {
        return error_response(400,
                              "a target port group is a number 1..65535, got \"" + parts[3] + "\"");
    }
    const auto group_id = static_cast<uint16_t>(id);
    auto before = groups.snapshot();
    const scsi::TargetPortGroupState* group = before->group(group_id);
    if (group == nullptr) {
        return error_response(404,
                              "unknown target port group " + parts[3] + " of target " + parts[1]);
    }
    if (get) {
        return ok(api::port_group(model_, *before, *group));
    }
    if (method != "PATCH") {
        return error_response(405, "method " + method + " not allowed on a target port group");
    }
    if (request.content_type.rfind("application/json", 0) != 0) {
        return error_response(415, "a state change is JSON: Content-Type: application/json");
    }
    const json body = json::parse(request.body, nullptr, false);
    if (body.is_discarded()) {
        return error_response(400, "the body is not valid JSON");
    }
    constexpr const char* expected =
        "expected {\"state\": \"active_optimized\"|\"active_non_optimized\"|\"standby\"|"
        "\"unavailable\", \"transition_ms\": 0..600000 (optional)}";
    if (!body.is_object() || !body.contains("state") || !body["state"].is_string()) {
        return error_response(400, expected);
    }
    for (const auto& [key, value] : body.items()) {
        if (key != "state" && key != "transition_ms") {
            return error_response(400, "unknown field \"" + key + "\": " + expected);
        }
    }
    const std::string state_name = body["state"].get<std::string>();
    const auto state = api::settable_alua_state(state_name);
    if (!state) {
        return error_response(
            400, "state \"" + state_name + "\" is not one a group can be put in: " + expected);
    }
    uint64_t transition_ms = 0;
    if (body.contains("transition_ms")) {
        const json& t = body["transition_ms"];
        if (!t.is_number_unsigned() || t.get<uint64_t>() > 600000) {
            return error_response(400,
                                  "transition_ms must be a whole number of milliseconds, "
                                  "0..600000");
        }
        transition_ms = t.get<uint64_t>();
    }
    if ((scsi::supported_bit(*state) & group->supported_states) == 0) {
        return error_response(400, "target port group " + parts[3] + " does not support " +
                                       state_name +
                                       " (REPORT TARGET PORT GROUPS lists what it "
                                       "supports)");
    }
    // Not SET TARGET PORT GROUPS: a change the array makes itself, so the STATUS CODE is
    // "altered by implicit behavior" (SPC-4 §6.36 Table 264, 02h) and every I_T nexus gets the
    // unit attention ASYMMETRIC ACCESS STATE CHANGED (§5.16.2.6).
    const std::string from(api::alua_state_name(group->state));
    if (!groups.change_state(group_id, *state, scsi::AluaStatus::altered_by_implicit_behavior,
                             std::chrono::milliseconds(transition_ms))) {
        return error_response(400, "target port group " + parts[3] + " refused " + state_name);
    }
    if (group->state == *state && !group->pending) {
        return ok(api::port_group(model_, *before, *group));  // already there: nothing happened
    }
    const std::string label = group->name.empty() ? "" : " (" + group->name + ")";
    model_.events.add(
        "alua",
        "console: target port group " + parts[3] + label + " " + from + " -> " + state_name +
            (transition_ms > 0
                 ? " through transitioning for " + std::to_string(transition_ms) + " ms"
                 : std::string()),
        parts[1]);
    api::observe_paths(model_);
    const auto after = groups.snapshot();
    return ok(api::port_group(model_, *after, *after->group(group_id)));
}

HttpResponse Router::static_file(std::string_view path) const {
    std::string relative(path == "/" ? "/index.html" : path);
    // No way out of the static folder: no "..", no backslashes, no NUL. And an absolute path: a
    // request-target such as "?x" or "*" (RFC 9112 §3.2) leaves no path at all.
    if (relative.empty() || relative[0] != '/' || relative.find("..") != std::string::npos ||
        relative.find('\\') != std::string::npos || relative.find('\0') != std::string::npos) {
        return error_response(400, "bad path");
    }
    const std::filesystem::path file = std::filesystem::path(static_dir_) / relative.substr(1);
    std::ifstream in(file, std::ios::binary);
    if (static_dir_.empty() || !in || std::filesystem::is_directory(file)) {
        return error_response(404, "no such page: " + relative);
    }
    std::ostringstream body;
    body << in.rdbuf();
    return {200, std::string(mime_type(relative)), body.str()};
}

}  // namespace atsarray::webui
