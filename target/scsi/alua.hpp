#pragma once
// Asymmetric logical unit access (SPC-4 §5.16): target port groups, each with one ALUA state
// shared by every LUN of the target, the per-state rule of which commands pass on a port of the
// group (LIO target_core_alua.c's shape: one function per state), transitions through the
// transitioning state, and the parameter data of REPORT TARGET PORT GROUPS (§6.36) and SET
// TARGET PORT GROUPS (§6.39) built from the same state.
//
// Left for the next session (issue 14): the [[target_port_group]] config and its checks (a
// portal in two groups, a group without portals), the daemon giving every LUN of a target one
// shared TargetPortGroups and the iSCSI layer setting Nexus::relative_target_port from the
// portal a session logged in on (today it stays 1), SendTargets' portal group tags, a timer
// calling poll() so that a transition ends without a command to observe it, the
// active/non-optimized delay, the alua_state / alua_flap / path_down / path_blackhole /
// stale_write_after_failover fault actions and presets, esxi-sim's multipath hosts, and the
// console's Paths view. Standard INQUIRY for a LUN number that does not exist still reports
// TPGS 01b (the model belongs to the LUNs, not yet to the target device).

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "target/scsi/sense.hpp"

namespace atsarray::scsi {

// ASYMMETRIC ACCESS STATE (SPC-4 §6.36 Table 263). Offline (Eh) is a secondary state of one
// target port and LBA dependent (4h) needs REPORT REFERRALS: neither is modelled.
enum class AluaState : uint8_t {
    active_optimized = 0x0,
    active_non_optimized = 0x1,
    standby = 0x2,
    unavailable = 0x3,
    transitioning = 0xF,
};

// STATUS CODE (SPC-4 §6.36 Table 264): why the group's state last changed.
enum class AluaStatus : uint8_t {
    none = 0x00,
    altered_by_set_target_port_groups = 0x01,
    altered_by_implicit_behavior = 0x02,
};

// The supported-states bits of a target port group descriptor's byte 1 (SPC-4 §6.36 Table 262).
namespace alua_supported {
constexpr uint8_t transitioning = 0x80;         // T_SUP
constexpr uint8_t offline = 0x40;               // O_SUP
constexpr uint8_t lba_dependent = 0x10;         // LBD_SUP
constexpr uint8_t unavailable = 0x08;           // U_SUP
constexpr uint8_t standby = 0x04;               // S_SUP
constexpr uint8_t active_non_optimized = 0x02;  // AN_SUP
constexpr uint8_t active_optimized = 0x01;      // AO_SUP
// What a group of a dual-controller array supports: every state but offline and LBA dependent.
constexpr uint8_t all =
    transitioning | unavailable | standby | active_non_optimized | active_optimized;
}  // namespace alua_supported

// The supported-states bit of a state (0 for none).
uint8_t supported_bit(AluaState state);
std::string_view to_string(AluaState state);

struct TargetPortGroupConfig {
    uint16_t id = 1;   // TARGET PORT GROUP, 1..65535
    std::string name;  // for people (the console, events): "controller-a"
    // RELATIVE TARGET PORT IDENTIFIERs of the group's ports. Empty: every port of the target
    // (the single implicit group of a target configured without groups), and REPORT TARGET PORT
    // GROUPS then lists the port that asks.
    std::vector<uint16_t> relative_target_ports;
    AluaState state = AluaState::active_optimized;
    bool preferred = false;  // PREF (SPC-4 §6.36)
    uint8_t supported_states = alua_supported::all;
};

struct AluaConfig {
    std::vector<TargetPortGroupConfig> groups;
    // TPGS 11b (implicit and explicit, SET TARGET PORT GROUPS served) or 01b (implicit only,
    // SET TARGET PORT GROUPS is INVALID COMMAND OPERATION CODE as in LIO).
    bool explicit_supported = true;
    // How long a change made by SET TARGET PORT GROUPS stays transitioning; 0: at once.
    std::chrono::milliseconds explicit_transition_time{0};
    // IMPLICIT TRANSITION TIME of the extended RTPG header (seconds, rounded up, at most 255).
    std::chrono::milliseconds implicit_transition_time{0};
    // Commands that access the medium through an active/non-optimized port wait this long
    // first (the secondary controller's detour, SPC-4 §5.16.2.4.3 "may operate with lower
    // performance").
    std::chrono::milliseconds non_optimized_delay{0};
};

// Today's single-portal target: one group (1) holding every port, active/optimized and
// preferred, supporting only that state, implicit ALUA only (TPGS 01b).
AluaConfig single_group_config();

// One group as commands see it.
struct TargetPortGroupState {
    uint16_t id = 0;
    std::string name;
    std::vector<uint16_t> relative_target_ports;
    AluaState state = AluaState::active_optimized;
    AluaStatus status = AluaStatus::none;
    bool preferred = false;
    uint8_t supported_states = 0;
    // While transitioning: the state it ends in, when, and who asked (explicit changes give every
    // other I_T nexus the unit attention; implicit ones every nexus).
    std::optional<AluaState> pending;
    std::chrono::steady_clock::time_point pending_at{};
    std::optional<uint64_t> pending_by_nexus;
};

// An immutable view of every group: what one command reads (REPORT TARGET PORT GROUPS answers
// from one snapshot, so it is consistent across groups).
struct AluaSnapshot {
    std::vector<TargetPortGroupState> groups;
    bool explicit_supported = false;
    std::chrono::milliseconds implicit_transition_time{0};
    // The earliest end of a transition; nullopt when none is under way.
    std::optional<std::chrono::steady_clock::time_point> next_deadline;

    // The group holding a port; nullptr when no group does.
    const TargetPortGroupState* group_of_port(uint16_t relative_target_port) const;
    const TargetPortGroupState* group(uint16_t id) const;
};

// REPORT TARGET PORT GROUPS parameter data (SPC-4 §6.36 Tables 260-262): length (or extended)
// header, one descriptor per group. `asking_port` fills only a group configured with every port
// (the single implicit group), so every port of a configured model gets the same bytes.
std::vector<uint8_t> report_target_port_groups_data(const AluaSnapshot& snapshot, bool extended,
                                                    uint16_t asking_port);

// The per-state rules (SPC-4 §5.16.2.4.4, §5.16.2.4.5, §5.16.2.5): GOOD when a command with this
// CDB may run on a port in `state`, else the NOT READY reason the clause names. Active states
// pass everything.
CommandResult alua_check_standby(std::span<const uint8_t> cdb);
CommandResult alua_check_unavailable(std::span<const uint8_t> cdb);
CommandResult alua_check_transitioning(std::span<const uint8_t> cdb);
CommandResult alua_check(AluaState state, std::span<const uint8_t> cdb);

// The target port groups of one SCSI target. Thread-safe: commands on every I/O thread read the
// state of their port (a shared_ptr copy under a small mutex); changes publish a new snapshot.
// A transition ends when a reader or poll() first sees its deadline pass (the clock is
// injectable, so tests wait for no real time).
class TargetPortGroups {
  public:
    using Clock = std::function<std::chrono::steady_clock::time_point()>;
    // Called after a state change ends, outside the state lock, with the I_T nexus that asked
    // for it (SET TARGET PORT GROUPS) or nullopt (implicit): the owner queues ASYMMETRIC ACCESS
    // STATE CHANGED (SPC-4 §5.16.2.6) for every other nexus.
    using Listener = std::function<void(std::optional<uint64_t> changed_by_nexus)>;

    // Throws std::invalid_argument (start-up only) for no group, a duplicate id or port, id 0, a
    // group configured in a state it does not support, or T_SUP/AO_SUP rules broken.
    explicit TargetPortGroups(AluaConfig config = single_group_config(), Clock clock = {});
    TargetPortGroups(const TargetPortGroups&) = delete;
    TargetPortGroups& operator=(const TargetPortGroups&) = delete;

    // TPGS of standard INQUIRY (SPC-4 §6.6.2): 11b with explicit ALUA, else 01b.
    uint8_t tpgs() const { return explicit_supported_ ? 0x3 : 0x1; }
    bool explicit_supported() const { return explicit_supported_; }
    std::chrono::milliseconds non_optimized_delay() const { return non_optimized_delay_; }

    // The current state of every group, transitions that are due ended first.
    std::shared_ptr<const AluaSnapshot> snapshot();
    // The state of the group holding a port; active/optimized for a port no group holds.
    AluaState state_of_port(uint16_t relative_target_port);
    // The group of a port (VPD 0x83 target port group designator); nullopt when none holds it.
    std::optional<uint16_t> group_of_port(uint16_t relative_target_port) const;

    // Puts a group in `target`, through transitioning for `transition` (0: at once), recording
    // `cause` as its STATUS CODE. False for an unknown group or a state it does not support.
    // A group already in `target` (and not transitioning) is left as it is (no unit attention,
    // STATUS CODE kept), as LIO does.
    bool change_state(uint16_t group, AluaState target, AluaStatus cause,
                      std::chrono::milliseconds transition,
                      std::optional<uint64_t> changed_by_nexus = std::nullopt);

    // SET TARGET PORT GROUPS (SPC-4 §6.39): `parameters` is the whole parameter list (4 reserved
    // bytes, then 4-byte descriptors). Every descriptor is checked before any is applied.
    CommandResult set_target_port_groups(std::span<const uint8_t> parameters, uint64_t nexus);

    // Ends the transitions that are due (a daemon timer; readers do it too).
    void poll();

    uint64_t subscribe(Listener listener);
    // After it returns, the listener is not running and is never called again.
    void unsubscribe(uint64_t token);

  private:
    using Changes = std::vector<std::optional<uint64_t>>;  // who asked, per ended change
    std::shared_ptr<const AluaSnapshot> current() const;
    void publish(std::shared_ptr<AluaSnapshot> next);
    // Starts (or, without a transitioning phase, ends) one change in `s`.
    void begin_change(TargetPortGroupState& g, AluaState target, AluaStatus cause,
                      std::chrono::milliseconds transition,
                      std::optional<uint64_t> changed_by_nexus, Changes& ended) const;
    void end_due_transitions();
    void notify(const Changes& ended);

    Clock clock_;
    bool explicit_supported_;
    std::chrono::milliseconds explicit_transition_time_;
    std::chrono::milliseconds non_optimized_delay_;

    mutable std::mutex mutex_;  // guards snapshot_ (the pointer, not what it points to)
    std::shared_ptr<const AluaSnapshot> snapshot_;
    std::mutex change_mutex_;  // one writer at a time (read, copy, publish)

    std::mutex listeners_mutex_;  // held while listeners run, so unsubscribe() waits for them
    std::vector<std::pair<uint64_t, Listener>> listeners_;
    uint64_t next_token_ = 1;
};

}  // namespace atsarray::scsi
