#pragma once
// The live configuration (issue 19): targets, LUNs, ACLs, CHAP credentials and portals changed
// through the console's API while sessions run, the running configuration kept up to date with
// every change, and written back (`config save`). Every change is the config file's: the running
// configuration is written as TOML (config_writer), the change made to that TOML, and the whole
// parsed again by the config's own parser, so a request is validated exactly as the file would be
// and answered with the file's messages. Only then is it applied; a refused change changes
// nothing. Changes are serialized by one mutex (the console has one thread; SIGHUP comes on
// another).

#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include <toml++/toml.h>

#include "target/ats/event_log.hpp"
#include "target/daemon/config.hpp"
#include "target/daemon/lun_factory.hpp"
#include "webui/server/config_control.hpp"

namespace atsarray::iscsi {
struct ServerState;
struct TargetNode;
}  // namespace atsarray::iscsi
namespace atsarray::scsi {
class TargetPortGroups;
}

namespace atsarray::daemon {

class LiveConfig final : public webui::ConfigControl {
  public:
    struct Context {
        DaemonConfig& config;  // the running configuration; after start-up changed only here
        iscsi::ServerState& state;
        const LunFactory& factory;
        LunList& luns;
        std::shared_ptr<ats::EventLog> events;
        // The fault rules as they are now (added, enabled, removed through the API); nullptr
        // without [fault]. `config save` writes these, not the ones the daemon started with.
        std::shared_ptr<fault::Engine> faults;
    };

    explicit LiveConfig(Context context);

    // SIGHUP: the config file read again; a LUN whose size grew there is grown (CAPACITY DATA HAS
    // CHANGED for every I_T nexus, SBC-4); anything else that changed is only logged.
    void reload();

    std::string running_config() override;
    webui::ConfigAnswer save() override;
    webui::ConfigAnswer add_target(const nlohmann::json& body) override;
    webui::ConfigAnswer remove_target(const std::string& target, bool force) override;
    webui::ConfigAnswer add_lun(const std::string& target, const nlohmann::json& body) override;
    webui::ConfigAnswer grow_lun(const std::string& target, uint64_t lun,
                                 const nlohmann::json& body) override;
    webui::ConfigAnswer remove_lun(const std::string& target, uint64_t lun, bool force) override;
    webui::ConfigAnswer acl(const std::string& target) override;
    webui::ConfigAnswer add_initiator(const std::string& target,
                                      const nlohmann::json& body) override;
    webui::ConfigAnswer remove_initiator(const std::string& target, const std::string& initiator,
                                         bool force) override;
    webui::ConfigAnswer chap(const std::string& target) override;
    webui::ConfigAnswer set_chap(const std::string& target, const nlohmann::json& body) override;
    webui::ConfigAnswer add_portal(const nlohmann::json& body) override;
    webui::ConfigAnswer remove_portal(const std::string& portal, bool force) override;

    // A new target's ALUA target port groups (the daemon's [[target_port_group]] model, watched
    // for the log); unset: targets cannot be added (a multi-gateway array).
    std::function<std::shared_ptr<scsi::TargetPortGroups>(const std::string& target)>
        make_port_groups;
    // Portals are the daemon's (its accept loop and I/O contexts): it listens on a new one, or
    // stops one and closes its connections (force), and answers what failed ("" when it worked).
    std::function<std::string(const PortalConfig&)> listen;
    std::function<size_t(const std::string& address, bool close_sessions)> stop_listening;
    // Sessions on a portal ("address:port") now.
    std::function<size_t(const std::string& address)> portal_sessions;

  private:
    // The running configuration as TOML, for a change to be made to.
    toml::table running_table() const;
    // What `config save` writes: the running configuration with the fault rules of now.
    std::string saved_text() const;
    // `root` parsed as the config file would be; throws ConfigError.
    DaemonConfig parse(const toml::table& root) const;
    // A ConfigError's message for an API answer: without the file's name, and the key of the
    // changed object in the request's words ("target[0].lun[2].size" -> "lun.size").
    std::string message(const ConfigError& e, const std::string& key, const std::string& as) const;
    // Logged and a console event of kind "config".
    void changed(const std::string& target, const std::string& text);
    // Index of the target in config.targets (case-insensitive name); npos when unknown.
    size_t target_index(const std::string& name) const;
    // The target's index in config.targets and its node; {npos, nullptr} when either is missing.
    struct FoundTarget {
        size_t index;
        std::shared_ptr<iscsi::TargetNode> node;
    };
    FoundTarget find_target(const std::string& target) const;
    static webui::ConfigAnswer unknown_target(const std::string& target);
    webui::ConfigAnswer chap_locked(const std::string& target) const;
    nlohmann::json acl_json(const TargetConfig& target) const;
    // The target's ACL and CHAP credentials for logins from now on.
    void publish_access(const TargetConfig& target);
    // Closes the sessions to `target` (of `initiator` only, when given); how many.
    size_t close_sessions(const std::string& target, const std::string& initiator,
                          const std::string& reason);

    Context c_;
    std::mutex mutex_;
};

// A JSON value as the TOML value a config file would hold; false and `error` naming `key` when it
// has none (null, a number beyond 64 bits).
bool json_to_toml(const nlohmann::json& value, const std::string& key, toml::table& out,
                  const std::string& name, std::string& error);

}  // namespace atsarray::daemon
