// The live configuration's REST routes (issue 19, webui/API.md "Live configuration"): targets,
// LUNs, ACLs, CHAP and portals changed while sessions run, and the running configuration read and
// saved. The daemon does the work behind ConfigControl; here requests are checked (token, content
// type, JSON) and answers shaped.

#include <string>
#include <vector>

#include "webui/server/router.hpp"

namespace atsarray::webui {

using nlohmann::json;

namespace {

HttpResponse answer(const ConfigAnswer& a) {
    if (a.failed()) {
        return error_response(a.status, a.message);
    }
    return {a.status, "application/json", api::dump(a.body)};
}

bool force_of(std::string_view query) {
    const auto v = query_value(query, "force");
    return v && (*v == "true" || *v == "1");
}

// The target as an element of GET /api/v1/targets.
std::optional<json> target_json(const ConsoleModel& m, const std::string& name) {
    for (const json& t : api::targets(m)) {
        if (t.value("name", "") == name) {
            return t;
        }
    }
    return std::nullopt;
}

}  // namespace

std::optional<HttpResponse> Router::live_config(const HttpRequest& request,
                                                const std::vector<std::string>& parts,
                                                std::string_view query) const {
    const std::string& method = request.method;
    const bool get = method == "GET" || method == "HEAD";
    const std::string& what = parts[0];
    const size_t n = parts.size();
    // Which requests are the live configuration's; the rest stay with Router::api.
    const bool config_path = what == "config" && (n == 1 || (n == 2 && parts[1] == "save"));
    const bool targets_path =
        what == "targets" &&
        ((n == 1 && !get) || (n == 2) || (n == 3 && parts[2] == "luns" && !get) ||
         (n == 4 && parts[2] == "luns" && !get) || ((n == 3 || n == 4) && parts[2] == "acl") ||
         (n == 3 && parts[2] == "chap"));
    const bool portals_path = what == "portals" && ((n == 1 && !get) || n == 2);
    if (!config_path && !targets_path && !portals_path) {
        return std::nullopt;
    }
    const auto not_allowed = [&] {
        return error_response(
            405, "method " + method + " not allowed on /api/v1/" + what + (n > 1 ? "/..." : ""));
    };
    // Changes need the token (as every change of Router::api); GET /api/v1/config too, even on
    // loopback: it holds secrets (CHAP, the console token).
    if ((!get || config_path) && !authorized(request.authorization)) {
        return error_response(401, method + " " + what +
                                       " needs the console's access token (Authorization: "
                                       "Bearer)");
    }
    ConfigControl* control = model_.config;
    if (control == nullptr) {
        return error_response(501, "this daemon has no live configuration");
    }
    // Every change but save (which may come without a body) and DELETE takes a JSON body.
    json body = json::object();
    const bool takes_body = method == "POST" || method == "PUT" || method == "PATCH";
    if (takes_body && !(config_path && request.body.empty())) {
        if (request.content_type.rfind("application/json", 0) != 0) {
            return error_response(415,
                                  "a configuration change is JSON: Content-Type: "
                                  "application/json");
        }
        body = json::parse(request.body, nullptr, false);
        if (body.is_discarded() || !body.is_object()) {
            return error_response(400, "the body is not a JSON object");
        }
    }

    if (config_path) {
        if (n == 1) {
            if (!get) {
                return not_allowed();
            }
            return HttpResponse{200, "text/plain; charset=utf-8", control->running_config()};
        }
        if (method != "POST") {
            return not_allowed();
        }
        if (!body.empty()) {
            return error_response(400, "config/save takes no body (or {})");
        }
        return answer(control->save());
    }

    if (portals_path) {
        if (n == 1) {
            return answer(control->add_portal(body));  // POST (GET stays with Router::api)
        }
        if (method != "DELETE") {
            return not_allowed();
        }
        return answer(control->remove_portal(parts[1], force_of(query)));
    }

    // /targets...
    if (n == 1) {
        if (method != "POST") {
            return not_allowed();
        }
        ConfigAnswer a = control->add_target(body);
        if (a.failed()) {
            return answer(a);
        }
        const std::string name = a.body.value("target", "");
        return HttpResponse{201, "application/json",
                            api::dump(target_json(model_, name).value_or(a.body))};
    }
    const std::string& target = parts[1];
    if (n == 2) {
        if (get) {
            if (auto t = target_json(model_, target)) {
                return HttpResponse{200, "application/json", api::dump(*t)};
            }
            return error_response(404, "unknown target " + target);
        }
        if (method != "DELETE") {
            return not_allowed();
        }
        return answer(control->remove_target(target, force_of(query)));
    }
    if (parts[2] == "luns") {
        if (n == 3) {
            if (method != "POST") {
                return not_allowed();
            }
            ConfigAnswer a = control->add_lun(target, body);
            if (a.failed()) {
                return answer(a);
            }
            const auto l =
                api::lun(model_, a.body.value("target", target), a.body.value("lun", 0ULL));
            return HttpResponse{201, "application/json", api::dump(l.value_or(a.body))};
        }
        uint64_t id = 0;
        if (!parse_u64(parts[3], id)) {
            return error_response(400, "LUN must be a number, got \"" + parts[3] + "\"");
        }
        if (method == "PATCH") {
            ConfigAnswer a = control->grow_lun(target, id, body);
            if (a.failed()) {
                return answer(a);
            }
            const auto l = api::lun(model_, a.body.value("target", target), id);
            return HttpResponse{200, "application/json", api::dump(l.value_or(a.body))};
        }
        if (method == "DELETE") {
            return answer(control->remove_lun(target, id, force_of(query)));
        }
        return not_allowed();
    }
    if (parts[2] == "acl") {
        if (n == 3) {
            if (get) {
                return answer(control->acl(target));
            }
            if (method != "POST") {
                return not_allowed();
            }
            return answer(control->add_initiator(target, body));
        }
        if (method != "DELETE") {
            return not_allowed();
        }
        return answer(control->remove_initiator(target, parts[3], force_of(query)));
    }
    // /targets/{target}/chap
    if (get) {
        return answer(control->chap(target));
    }
    if (method != "PUT") {
        return not_allowed();
    }
    return answer(control->set_chap(target, body));
}

}  // namespace atsarray::webui
