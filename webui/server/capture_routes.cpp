// The captures' REST routes (issue 16 "capture and replay", webui/API.md "Captures"): start a
// capture of a target's (or a LUN's, or an initiator's) commands, stop it, export it as a JSON
// trace or as pcapng, delete it.

#include <algorithm>
#include <string>
#include <variant>
#include <vector>

#include "formats/pcapng.hpp"
#include "formats/trace_json.hpp"
#include "target/forensics/capture.hpp"
#include "target/iscsi/server_state.hpp"
#include "target/scsi/target_device.hpp"
#include "webui/server/router.hpp"

namespace atsarray::webui {

using nlohmann::json;

namespace {

json info_json(const forensics::CaptureInfo& c) {
    const forensics::CaptureRequest& r = c.request;
    json j{{"id", c.id},
           {"target", r.target},
           {"lun", r.lun ? json(*r.lun) : json(nullptr)},
           {"initiator", r.initiator},
           {"max_commands", r.max_commands},
           {"max_mib", r.max_bytes >> 20},
           {"max_seconds", r.max_seconds.count()},
           {"running", c.running},
           {"stop_reason", c.stop_reason},
           {"started", api::rfc3339(c.started)},
           {"commands", c.commands},
           {"data_bytes", c.data_bytes},
           {"data_not_kept", c.data_not_kept},
           {"sessions", c.sessions}};
    j["ended"] = c.running ? json(nullptr) : json(api::rfc3339(c.ended));
    return j;
}

// A whole number field of the request, within [1, max]; the error names it.
std::optional<std::string> number_field(const json& body, const char* name, uint64_t max,
                                        uint64_t& out) {
    if (!body.contains(name)) {
        return std::nullopt;
    }
    const json& v = body[name];
    if (!v.is_number_unsigned() || v.get<uint64_t>() == 0 || v.get<uint64_t>() > max) {
        return std::string(name) + ": must be a whole number 1.." + std::to_string(max);
    }
    out = v.get<uint64_t>();
    return std::nullopt;
}

// POST /api/v1/captures: the request's fields, checked.
std::variant<forensics::CaptureRequest, HttpResponse> capture_request(const ConsoleModel& m,
                                                                      const HttpRequest& request) {
    const json body = json::parse(request.body, nullptr, false);
    if (body.is_discarded() || !body.is_object()) {
        return error_response(400, "the body must be a JSON object: {\"target\": IQN, ...}");
    }
    for (const auto& [key, value] : body.items()) {
        static const std::vector<std::string> known = {"target",       "lun",     "initiator",
                                                       "max_commands", "max_mib", "max_seconds"};
        if (std::find(known.begin(), known.end(), key) == known.end()) {
            return error_response(400, "unknown field \"" + key +
                                           "\" (target, lun, initiator, max_commands, max_mib, "
                                           "max_seconds)");
        }
    }
    forensics::CaptureRequest r;
    if (!body.contains("target") || !body["target"].is_string()) {
        return error_response(400, "target: required, the IQN of the target to capture");
    }
    r.target = body["target"].get<std::string>();
    const auto node = m.state.targets.node(r.target);
    if (node == nullptr) {
        return error_response(404, "unknown target " + r.target);
    }
    if (body.contains("lun") && !body["lun"].is_null()) {
        if (!body["lun"].is_number_unsigned()) {
            return error_response(400, "lun: must be a LUN number");
        }
        r.lun = body["lun"].get<uint64_t>();
        if (!node->device->lun(*r.lun)) {
            return error_response(
                404, "unknown LUN " + std::to_string(*r.lun) + " of target " + r.target);
        }
    }
    if (body.contains("initiator")) {
        if (!body["initiator"].is_string()) {
            return error_response(400, "initiator: must be an initiator name (IQN)");
        }
        r.initiator = body["initiator"].get<std::string>();
    }
    uint64_t mib = r.max_bytes >> 20;
    uint64_t seconds = static_cast<uint64_t>(r.max_seconds.count());
    for (auto bad :
         {number_field(body, "max_commands", forensics::capture_max_commands_limit, r.max_commands),
          number_field(body, "max_mib", forensics::capture_max_bytes_limit >> 20, mib),
          number_field(body, "max_seconds",
                       static_cast<uint64_t>(forensics::capture_max_seconds_limit.count()),
                       seconds)}) {
        if (bad) {
            return error_response(400, *bad);
        }
    }
    r.max_bytes = mib << 20;
    r.max_seconds = std::chrono::seconds(seconds);
    return r;
}

// ?from_us=&to_us=&initiator=&lun=
std::variant<forensics::TraceWindow, HttpResponse> window_of(std::string_view query) {
    forensics::TraceWindow w;
    for (const char* key : {"from_us", "to_us"}) {
        if (const auto v = query_value(query, key)) {
            uint64_t n = 0;
            if (!parse_u64(*v, n)) {
                return error_response(
                    400, std::string(key) + ": microseconds since the capture's start");
            }
            (std::string_view(key) == "from_us" ? w.from_us : w.to_us) = static_cast<int64_t>(n);
        }
    }
    if (const auto v = query_value(query, "lun")) {
        uint64_t n = 0;
        if (!parse_u64(*v, n)) {
            return error_response(400, "lun: must be a LUN number");
        }
        w.lun = n;
    }
    w.initiator = std::string(query_value(query, "initiator").value_or(""));
    return w;
}

HttpResponse export_trace(const forensics::Captures& captures, const std::string& id,
                          std::string_view query) {
    const std::string format(query_value(query, "format").value_or("json"));
    if (format != "json" && format != "pcapng") {
        return error_response(400, "format: json or pcapng, got \"" + format + "\"");
    }
    auto window = window_of(query);
    if (auto* bad = std::get_if<HttpResponse>(&window)) {
        return *bad;
    }
    const auto t = captures.trace(id, std::get<forensics::TraceWindow>(window));
    if (!t) {
        return error_response(404, "no capture " + id);
    }
    if (format == "pcapng") {
        return {200, "application/x-pcapng", trace::to_pcapng(*t)};
    }
    return {200, "application/json", trace::to_json(*t)};
}

}  // namespace

std::optional<HttpResponse> Router::captures(const HttpRequest& request,
                                             const std::vector<std::string>& parts,
                                             std::string_view query) const {
    if (parts.empty() || parts[0] != "captures") {
        return std::nullopt;
    }
    if (model_.captures == nullptr) {
        return error_response(501, "this daemon keeps no captures");
    }
    forensics::Captures& captures = *model_.captures;
    const std::string& method = request.method;
    const bool get = method == "GET" || method == "HEAD";
    const auto not_allowed = [&](const char* allowed) {
        return error_response(405, "method " + method + " not allowed here (" + allowed + ")");
    };
    if (parts.size() == 1) {
        if (get) {
            json list = json::array();
            for (const forensics::CaptureInfo& c : captures.list()) {
                list.push_back(info_json(c));
            }
            return ok({{"captures", std::move(list)}});
        }
        if (method != "POST") {
            return not_allowed("GET, POST");
        }
        auto r = capture_request(model_, request);
        if (auto* bad = std::get_if<HttpResponse>(&r)) {
            return *bad;
        }
        try {
            const std::string id =
                captures.start(std::move(std::get<forensics::CaptureRequest>(r)));
            return ok(info_json(*captures.info(id)), 201);
        } catch (const std::length_error& e) {
            return error_response(409, e.what());
        } catch (const std::invalid_argument& e) {
            return error_response(400, e.what());
        }
    }
    const std::string& id = parts[1];
    if (parts.size() == 2) {
        if (get) {
            const auto c = captures.info(id);
            return c ? ok(info_json(*c)) : error_response(404, "no capture " + id);
        }
        if (method != "DELETE") {
            return not_allowed("GET, DELETE");
        }
        return captures.remove(id) ? HttpResponse{204, "application/json", ""}
                                   : error_response(404, "no capture " + id);
    }
    if (parts.size() == 3 && parts[2] == "stop") {
        if (method != "POST") {
            return not_allowed("POST");
        }
        return captures.stop(id) ? ok(info_json(*captures.info(id)))
                                 : error_response(404, "no capture " + id);
    }
    if (parts.size() == 3 && parts[2] == "trace") {
        return get ? export_trace(captures, id, query) : not_allowed("GET");
    }
    return error_response(404, "expected /api/v1/captures[/{id}[/stop|/trace]]");
}

}  // namespace atsarray::webui
