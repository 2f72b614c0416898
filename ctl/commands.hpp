#pragma once
// The command groups of atsarrayctl. Each add_*() declares its subcommands on the App; the one
// the user chose leaves its action in the Registry, which main() runs after the whole command
// line parsed (so --url, --token and --json are known by then).

#include <functional>
#include <iosfwd>
#include <memory>
#include <string>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "ctl/client.hpp"

namespace atsarray::ctl {

struct Context {
    Client& client;
    bool json = false;  // print the API's JSON instead of tables
    std::ostream& out;

    // The API's answer as it is, for --json.
    void print_json(const nlohmann::json& value) const;
};

class Registry {
  public:
    using Action = std::function<int(Context&)>;
    // `sub`'s action; it returns the exit status.
    void on(CLI::App* sub, Action action) {
        // CLI11 runs a subcommand's callback before its parent's: the deepest one chosen wins
        // ("targets add" is not "targets").
        sub->callback([this, action = std::move(action)] {
            if (!chosen_) {
                chosen_ = action;
            }
        });
    }
    bool chosen() const { return static_cast<bool>(chosen_); }
    int run(Context& context) const { return chosen_(context); }

  private:
    Action chosen_;
};

void add_status_commands(CLI::App& app, Registry& registry);     // status, sessions
void add_target_commands(CLI::App& app, Registry& registry);     // targets, acl, chap
void add_lun_commands(CLI::App& app, Registry& registry);        // luns
void add_ats_commands(CLI::App& app, Registry& registry);        // ats
void add_event_commands(CLI::App& app, Registry& registry);      // events, notes
void add_fault_commands(CLI::App& app, Registry& registry);      // faults
void add_config_commands(CLI::App& app, Registry& registry);     // config, portals
void add_top_command(CLI::App& app, Registry& registry);         // top
void add_forensics_commands(CLI::App& app, Registry& registry);  // forensics
void add_capture_commands(CLI::App& app, Registry& registry);    // capture

// A LUN body (the keys of a [[target.lun]] table) from "id=0,backend=memory,size=1GiB", for
// `targets add --lun`; throws UsageError for an unknown key or a value of the wrong kind.
nlohmann::json lun_spec_body(const std::string& spec);

// "?force=true" when `force`, for the DELETEs that take it (issue19-api.md).
inline std::string force_query(bool force) {
    return force ? "?force=true" : "";
}

}  // namespace atsarray::ctl
