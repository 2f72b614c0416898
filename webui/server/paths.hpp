#pragma once
// The console's Paths view (issue 14): each target's target port groups (SPC-4 §5.16) and, per
// initiator, its sessions grouped by the group of the portal each one logged in on, with the
// group's ALUA state, the session's commands and errors, and the last failover. The tracker
// remembers what the console saw a moment ago, so it can tell when an initiator's I/O moved to
// another group, and keeps an ended session listed for a while (then drops it) instead of
// either losing it at once or accumulating it forever.

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "target/scsi/alua.hpp"

namespace atsarray::iscsi {
struct ServerState;
struct TargetNode;
}  // namespace atsarray::iscsi

namespace atsarray::webui {

struct ConsoleModel;

// One session as the tracker sees it.
struct PathSession {
    std::string key;  // unique per session: target, TSIH and login time
    std::string target;
    std::string initiator_name;
    std::string initiator_port;
    std::string isid;     // "0x400000123456"
    std::string address;  // the initiator's ip:port
    std::string portal;   // the portal it logged in on
    uint16_t group = 0;   // the target port group holding that portal
    uint16_t tsih = 0;
    std::chrono::system_clock::time_point login_time{};
    uint64_t commands = 0;
    uint64_t errors = 0;
    uint32_t commands_in_flight = 0;
    // Set by the tracker once the session is no longer in the session table.
    std::optional<std::chrono::system_clock::time_point> ended;
    std::chrono::steady_clock::time_point ended_steady{};
};

// One target port group's state as the tracker sees it.
struct PathGroup {
    std::string target;
    uint16_t id = 0;
    scsi::AluaState state = scsi::AluaState::active_optimized;
    std::optional<scsi::AluaState> pending;
};

struct Failover {
    std::chrono::system_clock::time_point time{};
    // "io_moved": the initiator's commands to `target` now come through `group` instead of
    // `from_group`; "state_changed": `group`, which holds a session of the initiator, changed
    // state (to `state`).
    std::string reason;
    std::string target;
    std::optional<uint16_t> from_group;
    uint16_t group = 0;
    std::optional<scsi::AluaState> state;
};

class PathTracker {
  public:
    using SteadyTime = std::chrono::steady_clock::time_point;
    using SystemTime = std::chrono::system_clock::time_point;

    struct Initiator {
        // Per target: the group that carried most of the initiator's commands when it last sent
        // any.
        std::map<std::string, uint16_t> io_group;
        std::optional<Failover> last_failover;
    };

    // `live`: the sessions in the session table now; `groups`: every group of every target now.
    // A session that is gone is marked ended and kept for `keep_ended`, then forgotten, and an
    // initiator with no session left with it.
    void observe(const std::vector<PathSession>& live, const std::vector<PathGroup>& groups,
                 std::chrono::seconds keep_ended, SteadyTime now, SystemTime wall);

    const std::map<std::string, PathSession>& sessions() const { return sessions_; }
    const std::map<std::string, Initiator>& initiators() const { return initiators_; }

  private:
    std::map<std::string, PathSession> sessions_;  // by key
    std::map<std::string, Initiator> initiators_;  // by initiator name
    std::map<std::pair<std::string, uint16_t>, PathGroup> groups_;
};

namespace api {

using nlohmann::json;

// The API's names (webui/API.md): "active_optimized", ..., and back; nullopt for another text or
// for "transitioning", which only the array itself enters (SPC-4 §5.16.2.5).
std::string_view alua_state_name(scsi::AluaState state);
std::optional<scsi::AluaState> settable_alua_state(std::string_view name);

// One group of a target: {"id", "name", "state", "status", "status_code", "pending_state",
// "transition_ends", "preferred", "supported_states", "relative_target_ports", "portals"}.
json port_group(const ConsoleModel& m, const scsi::AluaSnapshot& snapshot,
                const scsi::TargetPortGroupState& g);
// GET /api/v1/targets/{target}/port-groups.
json port_groups(const ConsoleModel& m, const iscsi::TargetNode& node);
// Brings the model's PathTracker up to date (the console's thread, about once a second).
void observe_paths(const ConsoleModel& m);
// GET /api/v1/paths (observes first).
json paths(const ConsoleModel& m);

}  // namespace api
}  // namespace atsarray::webui
