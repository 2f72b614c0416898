#pragma once
// Firmware-bug injection (FreeBSD ctladm inject / SPDK bdev_error in shape, ATS failure modes in
// content): rules matched at named hook points of the command path, never inside handlers.
// A rule has a scope (target, LUN, initiator glob, LBA range, command class), a trigger
// (probability, every Nth, at most K hits, an active window) and one action. Everything is off
// until a rule exists; deleting a rule restores exact behaviour at once.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace atsarray::fault {

enum class CommandClass : uint8_t { ats, read, write, any };
enum class Action : uint8_t {
    false_miscompare,        // ATS answers MISCOMPARE although it matched; nothing written
    miscompare_after_write,  // ATS writes the new image, then answers MISCOMPARE
    delay,                   // latency before execution or before status
    drop_status,             // executes, never answers: the initiator times out and aborts
    status,                  // BUSY, TASK SET FULL or CHECK CONDITION with chosen sense
    drop_connection,         // closes the connection on the command (a path flap)
    stale_read,              // reads return a block's image from before its last write
    // Path faults (issue 14). The first four act on target port groups for as long as the rule
    // is enabled and active (active_seconds), not on single commands:
    alua_state,      // a group is put in `state` (through transitioning for transition_ms)
    alua_flap,       // a group alternates between `state` and `state_b` every period_ms
    path_down,       // a group's portals reset their connections and every new one (TCP RST)
    path_blackhole,  // a group's connections stay open and nothing is read or answered
    // A write that came in through `group` is never answered and lands delay_ms later, whatever
    // the initiator aborted meanwhile: the in-flight write of a controller that failed.
    stale_write_after_failover,
    // A gateway of an RBD array stalls as an OSD under recovery does (issue 15): every command
    // that arrives during a stall window (delay_ms long, one every period_ms from the rule's
    // creation) waits for the window's end, then executes even if the initiator aborted it
    // meanwhile (the operation was already in the cluster), and answers if it still may.
    gateway_stall,
};
// The ALUA states a path fault may put a group in (scsi::AluaState without transitioning, which
// is a rule's transition_ms instead).
enum class PortState : uint8_t { active_optimized, active_non_optimized, standby, unavailable };
enum class DelayStage : uint8_t { before_execute, before_status };
enum class StatusKind : uint8_t { busy, task_set_full, check_condition };

std::string_view to_string(CommandClass c);
std::string_view to_string(Action a);
std::string_view to_string(DelayStage s);
std::string_view to_string(StatusKind s);
std::optional<CommandClass> command_class_from(std::string_view s);
std::optional<Action> action_from(std::string_view s);
std::optional<DelayStage> delay_stage_from(std::string_view s);
std::optional<StatusKind> status_kind_from(std::string_view s);
std::string_view to_string(PortState s);
std::optional<PortState> port_state_from(std::string_view s);
// A rule that acts on target port groups over time (alua_state, alua_flap, path_down,
// path_blackhole), not on the commands it matches.
bool acts_on_paths(Action a);
// "false_miscompare, miscompare_after_write, ..." for error messages.
std::string action_names();
// The command class a rule of `action` gets when none is given: ats for the two ATS actions,
// read for stale_read, any for the rest.
CommandClass default_command(Action action);

struct RuleSpec {
    std::string name;
    Action action = Action::false_miscompare;
    // Scope: empty / nullopt = any.
    std::string target;
    std::optional<uint64_t> lun;
    std::string initiator;  // glob over the initiator name (fnmatch: *, ?, [...])
    uint64_t lba_first = 0;
    uint64_t lba_last = UINT64_MAX;
    CommandClass command = CommandClass::any;
    // Trigger.
    double probability = 1.0;     // 0 < p <= 1
    uint64_t every = 1;           // every Nth matching command
    uint64_t max_hits = 0;        // 0: unlimited
    uint64_t active_seconds = 0;  // 0: until deleted; else for this long after creation
    // Action parameters.
    DelayStage stage = DelayStage::before_execute;
    uint32_t delay_ms = 0;      // median delay
    uint32_t delay_p99_ms = 0;  // 0: fixed; else lognormal with this p99
    StatusKind status = StatusKind::busy;
    uint8_t sense_key = 0x0B;  // ABORTED COMMAND
    uint8_t asc = 0x00;
    uint8_t ascq = 0x00;
    // stale_read: how long after a write in the rule's range reads still see the image the
    // block had before it (a node cache that was not invalidated).
    uint32_t stale_ms = 5000;
    // Path faults: the target port group (0: every group; stale_write_after_failover: writes
    // through that group), the state(s) alua_state and alua_flap set, alua_flap's half period,
    // and alua_state's transitioning phase (0: none).
    uint16_t group = 0;
    PortState state = PortState::standby;
    PortState state_b = PortState::active_optimized;
    uint32_t period_ms = 2000;
    uint32_t transition_ms = 0;
    bool enabled = true;
};

// Checks a spec; an empty string when it is valid, else a sentence naming the field.
std::string validate(const RuleSpec& spec);

// The field scenarios by name (README "Fault injection"): the rules each one adds.
struct Preset {
    std::string_view name;
    std::string_view description;  // what an ESXi or Linux host shows
    std::vector<RuleSpec> rules;
};
const std::vector<Preset>& presets();
const Preset* find_preset(std::string_view name);

struct RuleState {
    uint64_t id = 0;
    RuleSpec spec;
    std::chrono::system_clock::time_point created{};
    uint64_t matched = 0;  // commands in scope
    uint64_t hits = 0;     // injections
};

// What one command is, for matching.
struct CommandView {
    std::string_view target;
    uint64_t lun = 0;
    std::string_view initiator;
    CommandClass command = CommandClass::any;  // ats, read or write; any for the rest
    uint64_t lba = 0;
    uint64_t blocks = 0;
    // A read some of whose blocks have a stale image kept (StaleImages::any): only such a read
    // matches a stale_read rule, so a hit is a read that returns old data.
    bool stale = false;
    // The target port group the command came in through (0: none known).
    uint16_t group = 0;
};

// A stale_read rule's reach over one write: the blocks of the write in the rule's range, and how
// long reads see their old images.
struct StaleWindow {
    uint64_t rule = 0;
    uint64_t lba = 0;
    uint64_t blocks = 0;
    std::chrono::milliseconds stale{0};
};

// What to do to one command: at most one injection.
struct Decision {
    uint64_t rule = 0;  // 0: nothing to inject
    std::string rule_name;
    Action action = Action::false_miscompare;
    DelayStage stage = DelayStage::before_execute;
    std::chrono::milliseconds delay{0};
    StatusKind status = StatusKind::busy;
    uint8_t sense_key = 0;
    uint8_t asc = 0;
    uint8_t ascq = 0;

    explicit operator bool() const { return rule != 0; }
};

class Engine {
  public:
    using Notify = std::function<void(const RuleState& rule, const CommandView& cmd)>;
    using Changed = std::function<void()>;

    Engine();

    // Called for every injection (the event log); set at start-up.
    void on_injection(Notify notify) { notify_ = std::move(notify); }
    // Called after a rule was added, removed, enabled or disabled (outside the engine's lock);
    // set at start-up. The path fault controller applies path rules then.
    void on_change(Changed changed) { changed_ = std::move(changed); }

    // The path rules (acts_on_paths) that are enabled and within their active window now.
    std::vector<RuleState> active_path_rules() const;

    // Adds a rule; returns its id, or 0 and `error` when the spec is invalid.
    uint64_t add(const RuleSpec& spec, std::string& error);
    bool remove(uint64_t id);
    bool set_enabled(uint64_t id, bool enabled);
    std::vector<RuleState> rules() const;
    std::optional<RuleState> rule(uint64_t id) const;

    // The first enabled rule that matches and triggers, counted; or an empty decision. Cheap
    // when there are no rules (one relaxed atomic load).
    Decision decide(const CommandView& cmd);

    // For a write: the enabled stale_read rules whose target, LUN and LBA range it meets (the
    // initiator and command class of such a rule select the readers, not the writers), so the
    // LUN keeps the blocks' old images. Empty and cheap when there is no stale_read rule.
    std::vector<StaleWindow> stale_windows(const CommandView& write) const;
    // Whether any rule that acts on commands exists (one relaxed atomic load): the LUN's hooks
    // do nothing else when none does. Path rules (acts_on_paths) never match a command, so a
    // long alua_state or path_down costs the command path nothing.
    bool has_rules() const { return count_.load(std::memory_order_relaxed) != 0; }
    // Whether any stale_read rule exists (one relaxed atomic load): reads look for stale
    // images only then.
    bool has_stale_rules() const { return stale_rules_.load(std::memory_order_relaxed) != 0; }

  private:
    void changed() const;
    size_t command_rules() const;  // rules_ that act on commands; under mutex_

    mutable std::mutex mutex_;
    std::vector<RuleState> rules_;
    std::atomic<size_t> count_{0};  // command_rules()
    std::atomic<size_t> stale_rules_{0};
    uint64_t next_id_ = 1;
    std::mt19937_64 random_;
    Notify notify_;
    Changed changed_;
};

}  // namespace atsarray::fault
