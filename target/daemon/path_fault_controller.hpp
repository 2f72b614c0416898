#pragma once
// Applies the path rules of the fault engine (alua_state, alua_flap, path_down, path_blackhole:
// fault::acts_on_paths) to the array: the ALUA states they set on the targets' port groups, and
// the portals' connections they reset or blackhole. Such a rule acts for as long as it is enabled
// and active; when it ends, each group it moved goes back to the state it had before (an implicit
// change, so every I_T nexus hears of it) and its paths work again.

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "target/fault/fault.hpp"
#include "target/scsi/alua.hpp"

namespace atsarray::ats {
class EventLog;
}
namespace atsarray::iscsi {
class Connection;
struct ServerState;
}  // namespace atsarray::iscsi

namespace atsarray::daemon {

class PathFaultController {
  public:
    using Connections = std::function<std::vector<std::shared_ptr<iscsi::Connection>>()>;

    PathFaultController(fault::Engine& engine, iscsi::ServerState& state, Connections connections,
                        std::shared_ptr<ats::EventLog> events);

    // Brings the array in line with the path rules in force now. Called on one thread (the
    // daemon's accept context): after every rule change and on the daemon's 100 ms timer, which
    // moves alua_flap through its phases and ends rules whose active_seconds ran out.
    void reconcile();

  private:
    // A group a rule holds: the state to go back to, and what the rule set last.
    struct Held {
        scsi::AluaState baseline = scsi::AluaState::active_optimized;
        scsi::AluaState applied = scsi::AluaState::active_optimized;
        std::string rule;
    };
    using GroupKey = std::pair<std::string, uint16_t>;  // target, group id

    void reconcile_alua(const std::vector<fault::RuleState>& rules);
    void reconcile_paths(const std::vector<fault::RuleState>& rules);
    void event(const std::string& message, const std::string& target = {}) const;

    fault::Engine& engine_;
    iscsi::ServerState& state_;
    Connections connections_;
    std::shared_ptr<ats::EventLog> events_;
    std::map<GroupKey, Held> held_;
    std::vector<std::string> paths_in_force_;  // one line per path fault, to see changes
};

}  // namespace atsarray::daemon
