#pragma once
// The console's HTTP requests, answered without sockets (so tests can call it directly): the
// REST API under /api/v1/, /metrics, and the page's static files. Authorization: a bearer token
// for every state-changing request, and for every request when the console listens beyond
// loopback.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "webui/server/console_model.hpp"

namespace atsarray::webui {

struct HttpRequest {
    std::string method;  // GET, POST, ...
    std::string target;  // path and query
    std::string host;    // Host header
    std::string authorization;
    std::string content_type;
    std::string body;
};

struct HttpResponse {
    unsigned status = 200;
    std::string content_type = "application/json";
    std::string body;
};

struct AccessPolicy {
    std::string token;
    bool loopback_only = true;  // the console listens on a loopback address
    // Host header values that name the console itself ("127.0.0.1:8080", "localhost:8080").
    std::vector<std::string> own_hosts;
};

class Router {
  public:
    Router(ConsoleModel& model, AccessPolicy policy, std::string static_dir);

    HttpResponse handle(const HttpRequest& request) const;
    // True when a request with this Authorization value may use everything.
    bool authorized(std::string_view authorization) const;
    const AccessPolicy& policy() const { return policy_; }

  private:
    HttpResponse route(const HttpRequest& request) const;
    HttpResponse api(const HttpRequest& request, std::string_view path,
                     std::string_view query) const;
    HttpResponse faults(const HttpRequest& request, const std::vector<std::string>& parts) const;
    HttpResponse port_groups(const HttpRequest& request,
                             const std::vector<std::string>& parts) const;
    HttpResponse static_file(std::string_view path) const;
    // The live configuration (config_routes.cpp, issue 19): nullopt for a path it does not own.
    std::optional<HttpResponse> live_config(const HttpRequest& request,
                                            const std::vector<std::string>& parts,
                                            std::string_view query) const;
    // The flight recorder (forensics_routes.cpp, issue 16): nullopt for a path it does not own.
    std::optional<HttpResponse> forensics(const HttpRequest& request,
                                          const std::vector<std::string>& parts,
                                          std::string_view query) const;
    // Captures and their trace exports (capture_routes.cpp, issue 16): nullopt for a path they
    // do not own.
    std::optional<HttpResponse> captures(const HttpRequest& request,
                                         const std::vector<std::string>& parts,
                                         std::string_view query) const;

    ConsoleModel& model_;
    AccessPolicy policy_;
    std::string static_dir_;
};

// The value of `key` in a query string "a=1&b=2"; nullopt when absent.
std::optional<std::string_view> query_value(std::string_view query, std::string_view key);
// A whole decimal number.
bool parse_u64(std::string_view s, uint64_t& out);

// {"error": {"status": N, "message": "..."}}
HttpResponse error_response(unsigned status, std::string message);
// A JSON answer.
HttpResponse ok(const nlohmann::json& j, unsigned status = 200);

// /metrics: Prometheus text exposition format 0.0.4.
std::string render_metrics(const ConsoleModel& model, const ats::Snapshot& snap);

}  // namespace atsarray::webui
