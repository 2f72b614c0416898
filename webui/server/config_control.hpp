#pragma once
// The live configuration as the console's REST API sees it (issue 19, webui/API.md "Live
// configuration"): the daemon implements it (target/daemon/live_config) and hands it to the
// ConsoleModel; the routes (config_routes.cpp) only parse requests and shape answers. Every change
// is validated with the config file's own rules, applied whole or not at all, logged, and made a
// console event of kind "config". Called on the console's thread.

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

namespace atsarray::webui {

// The outcome of one request: `status` 2xx with `body` (null: the route answers the object it
// names, e.g. the LUN), or 4xx/5xx with `message`.
struct ConfigAnswer {
    unsigned status = 200;
    std::string message;
    nlohmann::json body;

    static ConfigAnswer fail(unsigned status, std::string message) {
        return {status, std::move(message), nullptr};
    }
    static ConfigAnswer ok(nlohmann::json body = nullptr, unsigned status = 200) {
        return {status, {}, std::move(body)};
    }
    bool failed() const { return status >= 400; }
};

class ConfigControl {
  public:
    virtual ~ConfigControl() = default;

    // The running configuration as TOML (what save() writes).
    virtual std::string running_config() = 0;
    // {"path", "bytes"}
    virtual ConfigAnswer save() = 0;

    // Success: body {"target": its name}; the route answers the target as GET /targets lists it.
    virtual ConfigAnswer add_target(const nlohmann::json& body) = 0;
    // {"target", "sessions_closed"}
    virtual ConfigAnswer remove_target(const std::string& target, bool force) = 0;

    // Success: body {"target", "lun"}; the route answers the LUN as GET .../luns/{id} does.
    virtual ConfigAnswer add_lun(const std::string& target, const nlohmann::json& body) = 0;
    virtual ConfigAnswer grow_lun(const std::string& target, uint64_t lun,
                                  const nlohmann::json& body) = 0;
    // {"target", "lun", "sessions"}
    virtual ConfigAnswer remove_lun(const std::string& target, uint64_t lun, bool force) = 0;

    // Acl = {"target", "allowed_initiators", "any_initiator"}
    virtual ConfigAnswer acl(const std::string& target) = 0;
    virtual ConfigAnswer add_initiator(const std::string& target, const nlohmann::json& body) = 0;
    virtual ConfigAnswer remove_initiator(const std::string& target, const std::string& initiator,
                                          bool force) = 0;

    // Chap = {"target", "chap_user", "mutual_chap_user", "require_mutual"}: never a secret.
    virtual ConfigAnswer chap(const std::string& target) = 0;
    virtual ConfigAnswer set_chap(const std::string& target, const nlohmann::json& body) = 0;

    // {"address": "a:p", "group"?}
    virtual ConfigAnswer add_portal(const nlohmann::json& body) = 0;
    // {"portal", "sessions_closed"}
    virtual ConfigAnswer remove_portal(const std::string& portal, bool force) = 0;
};

}  // namespace atsarray::webui
