#pragma once
// What a host's VMW_SATP_ALUA and VMW_PSP_MRU decide, apart from any I/O (so it is unit-tested
// with fakes): the REPORT TARGET PORT GROUPS and Device Identification VPD parameter data a path
// reads, what a command's answer means for its path, and which path carries the device's I/O.
//
// Path selection (VMware KB 334611, "VMW_PSP_MRU path ranking"): MRU goes through the path
// group states in the order Active, Active_UO (non-optimized), Standby; it stays on the path it
// used most recently while that path works, and moves to a path with a better state when one
// becomes available. Standby paths are not activated here (no SET TARGET PORT GROUPS from the
// host): with only standby paths the device has no usable path, as in All Paths Down.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace atsarray::sim {

// ASYMMETRIC ACCESS STATE (SPC-4 §6.36 Table 263); `unknown` until RTPG names the path's group.
enum class AluaState : uint8_t {
    active_optimized = 0x0,
    active_non_optimized = 0x1,
    standby = 0x2,
    unavailable = 0x3,
    transitioning = 0xF,
    unknown = 0xFE,
};

// esxcli's spelling of a TPG_state ("{TPG_id=1,TPG_state=AO}", VMware KB 310442).
const char* tpg_state_name(AluaState state);

struct PortGroup {
    uint16_t id = 0;
    AluaState state = AluaState::unknown;
    bool preferred = false;
    uint8_t status_code = 0;  // SPC-4 §6.36 Table 264
    std::vector<uint16_t> relative_target_ports;
};

// REPORT TARGET PORT GROUPS parameter data (SPC-4 §6.36 Tables 260-262), length or extended
// header; nullopt when it is shorter than its own lengths say.
std::optional<std::vector<PortGroup>> parse_report_target_port_groups(
    std::span<const uint8_t> data);

// The CDB of REPORT TARGET PORT GROUPS (MAINTENANCE IN A3h, service action 0Ah, §6.36 Table 259)
// with the extended header.
std::vector<uint8_t> report_target_port_groups_cdb(uint32_t allocation_length);

// What Device Identification VPD 0x83 (SPC-4 §7.8.6) tells about the path it came through.
struct PortIdentity {
    std::optional<uint16_t> relative_target_port;  // designator type 4
    std::optional<uint16_t> target_port_group;     // designator type 5
    std::string naa;                               // "naa.6001405..." (type 3), the device name
};
PortIdentity parse_device_identification(std::span<const uint8_t> data);

// What a command's answer means for the path it came back on (VMW_SATP_ALUA's sense handling,
// VMware KB 1003433: 06/2A/06 and 02/04/0B are failover conditions).
enum class Verdict {
    good,
    miscompare,
    state_changed,  // UNIT ATTENTION 2A/06 ASYMMETRIC ACCESS STATE CHANGED: re-read RTPG
    standby,        // NOT READY 04/0B
    unavailable,    // NOT READY 04/0C
    transitioning,  // NOT READY 04/0A: retried after a delay
    reissue,        // another UNIT ATTENTION: reissue on the same path
    queue_full,     // BUSY or TASK SET FULL: the adaptive queue depth counts it
    failed,         // anything else: the command's error, the path is fine
};
Verdict classify(int status, int sense_key, int asc, int ascq);
bool is_alua_failover(Verdict v);

// NMP's path states ("on", "dead"; esxcli storage core path list).
enum class PathState { on, dead };
const char* path_state_name(PathState state);

class PathSelector {
  public:
    explicit PathSelector(size_t paths) : paths_(paths) {}

    size_t size() const { return paths_.size(); }
    void set_state(size_t path, PathState state) { paths_.at(path).state = state; }
    PathState state(size_t path) const { return paths_.at(path).state; }
    // The target port group a path's port belongs to (VPD 0x83 type 5, or its TPGT).
    void set_group(size_t path, uint16_t group) { paths_.at(path).group = group; }
    std::optional<uint16_t> group(size_t path) const { return paths_.at(path).group; }

    // A fresh RTPG answer; true when some group's state differs from the last answer.
    bool update_groups(const std::vector<PortGroup>& groups);
    const std::vector<PortGroup>& groups() const { return groups_; }
    AluaState group_state(size_t path) const;
    // After a NOT READY on a path, before RTPG confirms it: its group is in `state`.
    void set_group_state_of(size_t path, AluaState state);

    std::optional<size_t> active() const { return active_; }
    // The path for the next command: the active one while it is usable (MRU), else the best
    // usable one (active/optimized before active/non-optimized, the preferred group first, then
    // the lowest path). `reevaluate` (after a state change) also leaves a usable active path for
    // one in a better state (KB 334611: MRU fails back to a path with a better state).
    // nullopt: no usable path; the active path is kept in memory for the log.
    std::optional<size_t> select(bool reevaluate);
    // After a command timed out on `from`: the best usable path other than it, else `from` if it
    // is still usable (NMP retries the command on the next path).
    std::optional<size_t> fail_over(size_t from);
    // No path is usable, but one that is on is in a group that is transitioning: retry later.
    bool only_transitioning() const;
    bool usable(size_t path) const;

  private:
    struct Path {
        PathState state = PathState::on;
        std::optional<uint16_t> group;
    };
    int rank(size_t path) const;  // 0 best; -1 unusable
    std::optional<size_t> best(std::optional<size_t> excluded) const;
    const PortGroup* group_of(size_t path) const;

    std::vector<Path> paths_;
    std::vector<PortGroup> groups_;
    std::optional<size_t> active_;
};

// One portal of a SendTargets answer ("127.0.0.1:3260,1" or "[::1]:3260,2"): the address a host
// logs in to and the portal group tag (0 when absent). A wildcard address (0.0.0.0, [::]) is
// replaced by `discovery_host`, the host the discovery session reached.
struct DiscoveredPortal {
    std::string portal;
    uint16_t tpgt = 0;
};
std::optional<DiscoveredPortal> parse_send_targets_portal(const std::string& text,
                                                          const std::string& discovery_host);

}  // namespace atsarray::sim
