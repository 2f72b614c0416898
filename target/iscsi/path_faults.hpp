#pragma once
// The path faults in force (target/fault's path_down and path_blackhole, applied by the daemon's
// PathFaultController): which portals of which target port group reset or ignore which
// connections. Read by portals on accept and by connections at login; replaced as a whole.

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace atsarray::iscsi {

struct PathFault {
    enum class Kind : uint8_t {
        down,       // connections are reset (TCP RST) and new ones too
        blackhole,  // connections stay open; nothing is read or answered
    };
    Kind kind = Kind::down;
    uint16_t group = 0;     // target port group; 0: every group
    std::string target;     // empty: every target
    std::string initiator;  // glob over the initiator name (fnmatch); empty: every initiator
    std::string rule;       // "rule 3 \"controller-a-down\"", for the log
};

class PathFaults {
  public:
    void set(std::vector<PathFault> faults);
    // The fault of `kind` a session of `initiator` to `target` through a portal of `group` is
    // under; nullptr when none. An empty initiator (a login not yet named) meets only rules that
    // name no initiator, an empty target only rules that name no target.
    std::shared_ptr<const PathFault> find(PathFault::Kind kind, uint16_t group,
                                          std::string_view initiator,
                                          std::string_view target) const;
    bool empty() const;

  private:
    mutable std::mutex mu_;
    std::vector<std::shared_ptr<const PathFault>> faults_;
};

}  // namespace atsarray::iscsi
