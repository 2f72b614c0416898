#include "target/scsi/alua.hpp"

#include <algorithm>
#include <set>
#include <stdexcept>
#include <string>

#include "target/scsi/cdb.hpp"

namespace atsarray::scsi {
namespace {

using SteadyClock = std::chrono::steady_clock;

// Operation codes the per-state rules name (SPC-4 §5.16.2.4.4, §5.16.2.4.5, §5.16.2.5), whether
// or not atsarray's command table has them: a command it lacks gets INVALID COMMAND OPERATION
// CODE before the state is looked at.
enum Opcode : uint8_t {
    request_sense = 0x03,
    inquiry = 0x12,
    mode_select_6 = 0x15,
    mode_sense_6 = 0x1A,
    receive_diagnostic_results = 0x1C,
    send_diagnostic = 0x1D,
    write_buffer = 0x3B,
    read_buffer = 0x3C,
    log_select = 0x4C,
    log_sense = 0x4D,
    mode_select_10 = 0x55,
    mode_sense_10 = 0x5A,
    persistent_reserve_in = 0x5E,
    persistent_reserve_out = 0x5F,
    report_luns = 0xA0,
    maintenance_in = 0xA3,
    maintenance_out = 0xA4,
};
constexpr uint8_t service_action_target_port_groups = 0x0A;  // RTPG (A3h) and STPG (A4h)
// READ/WRITE BUFFER MODE (SPC-4 §6.17.1, §6.49.1): the echo buffer modes.
constexpr uint8_t buffer_mode_echo = 0x0A;
constexpr uint8_t buffer_mode_echo_descriptor = 0x0B;

uint8_t service_action(std::span<const uint8_t> cdb) {
    return cdb.size() >= 2 ? cdb_service_action(cdb) : 0xFF;
}

bool is_report_target_port_groups(std::span<const uint8_t> cdb) {
    return cdb[0] == maintenance_in && service_action(cdb) == service_action_target_port_groups;
}

bool is_set_target_port_groups(std::span<const uint8_t> cdb) {
    return cdb[0] == maintenance_out && service_action(cdb) == service_action_target_port_groups;
}

// The echo buffer modes of READ BUFFER and WRITE BUFFER: every inaccessible state allows them.
bool is_echo_buffer(std::span<const uint8_t> cdb) {
    const uint8_t mode = cdb.size() >= 2 ? (cdb[1] & 0x1F) : 0xFF;
    if (cdb[0] == read_buffer) {
        return mode == buffer_mode_echo || mode == buffer_mode_echo_descriptor;
    }
    return cdb[0] == write_buffer && mode == buffer_mode_echo;
}

// INQUIRY, REPORT LUNS, REPORT TARGET PORT GROUPS, REQUEST SENSE and the echo buffer: what
// every state allows, even transitioning.
bool allowed_in_every_state(std::span<const uint8_t> cdb) {
    switch (cdb[0]) {
        case inquiry:
        case report_luns:
        case request_sense:
            return true;
        default:
            return is_report_target_port_groups(cdb) || is_echo_buffer(cdb);
    }
}

uint8_t transition_seconds(std::chrono::milliseconds t) {
    const auto seconds = (t.count() + 999) / 1000;
    return static_cast<uint8_t>(std::clamp<int64_t>(seconds, 0, 255));
}

void validate(const AluaConfig& config) {
    if (config.groups.empty()) {
        throw std::invalid_argument("target port groups: none configured");
    }
    std::set<uint16_t> ids;
    std::set<uint16_t> ports;
    for (const auto& g : config.groups) {
        const std::string name = "target port group " + std::to_string(g.id);
        if (g.id == 0) {
            throw std::invalid_argument("target port groups: id 0 is not allowed");
        }
        if (!ids.insert(g.id).second) {
            throw std::invalid_argument(name + ": configured twice");
        }
        if (g.relative_target_ports.empty() && config.groups.size() != 1) {
            throw std::invalid_argument(name + ": has no target port");
        }
        for (uint16_t port : g.relative_target_ports) {
            if (port == 0) {
                throw std::invalid_argument(name + ": relative target port 0 is reserved");
            }
            if (!ports.insert(port).second) {
                throw std::invalid_argument(name + ": relative target port " +
                                            std::to_string(port) + " is in two groups");
            }
        }
        if (g.state == AluaState::transitioning ||
            (supported_bit(g.state) & g.supported_states) == 0) {
            throw std::invalid_argument(name + ": initial state " +
                                        std::string(to_string(g.state)) +
                                        " is not one it supports");
        }
    }
}

}  // namespace

uint8_t supported_bit(AluaState state) {
    switch (state) {
        case AluaState::active_optimized:
            return alua_supported::active_optimized;
        case AluaState::active_non_optimized:
            return alua_supported::active_non_optimized;
        case AluaState::standby:
            return alua_supported::standby;
        case AluaState::unavailable:
            return alua_supported::unavailable;
        case AluaState::transitioning:
            return alua_supported::transitioning;
    }
    return 0;
}

std::string_view to_string(AluaState state) {
    switch (state) {
        case AluaState::active_optimized:
            return "active/optimized";
        case AluaState::active_non_optimized:
            return "active/non-optimized";
        case AluaState::standby:
            return "standby";
        case AluaState::unavailable:
            return "unavailable";
        case AluaState::transitioning:
            return "transitioning";
    }
    return "unknown";
}

AluaConfig single_group_config() {
    AluaConfig c;
    TargetPortGroupConfig g;
    g.id = 1;
    g.state = AluaState::active_optimized;
    g.preferred = true;
    g.supported_states = alua_supported::active_optimized;
    c.groups.push_back(g);
    c.explicit_supported = false;
    return c;
}

const TargetPortGroupState* AluaSnapshot::group_of_port(uint16_t relative_target_port) const {
    for (const auto& g : groups) {
        if (g.relative_target_ports.empty() ||
            std::find(g.relative_target_ports.begin(), g.relative_target_ports.end(),
                      relative_target_port) != g.relative_target_ports.end()) {
            return &g;
        }
    }
    return nullptr;
}

const TargetPortGroupState* AluaSnapshot::group(uint16_t id) const {
    for (const auto& g : groups) {
        if (g.id == id) {
            return &g;
        }
    }
    return nullptr;
}

std::vector<uint8_t> report_target_port_groups_data(const AluaSnapshot& snapshot, bool extended,
                                                    uint16_t asking_port) {
    // SPC-4 §6.36.2 Table 260 (length only) / §6.36.3 Table 261 (extended header).
    std::vector<uint8_t> d(extended ? 8 : 4, 0);
    if (extended) {
        d[4] = 0x10;  // FORMAT TYPE 001b
        d[5] = transition_seconds(snapshot.implicit_transition_time);
    }
    for (const auto& g : snapshot.groups) {
        // Target port group descriptor, SPC-4 §6.36.2 Table 262.
        const std::span<const uint16_t> ports =
            g.relative_target_ports.empty() ? std::span<const uint16_t>(&asking_port, 1)
                                            : std::span<const uint16_t>(g.relative_target_ports);
        const size_t at = d.size();
        d.resize(at + 8 + 4 * ports.size(), 0);
        d[at] = static_cast<uint8_t>((g.preferred ? 0x80 : 0x00) | static_cast<uint8_t>(g.state));
        d[at + 1] = g.supported_states;
        put_be16(d, at + 2, g.id);
        d[at + 5] = static_cast<uint8_t>(g.status);
        d[at + 7] = static_cast<uint8_t>(ports.size());
        for (size_t i = 0; i < ports.size(); ++i) {
            // Target port descriptor, SPC-4 §6.36.2 Table 265: bytes 0-1 obsolete.
            put_be16(d, at + 8 + 4 * i + 2, ports[i]);
        }
    }
    put_be32(d, 0, static_cast<uint32_t>(d.size() - 4));  // RETURN DATA LENGTH
    return d;
}

// SPC-4 §5.16.2.4.4 (standby): INQUIRY, LOG SELECT, LOG SENSE, MODE SELECT, MODE SENSE, REPORT
// LUNS, RECEIVE DIAGNOSTIC RESULTS, SEND DIAGNOSTIC, REPORT TARGET PORT GROUPS, SET TARGET PORT
// GROUPS, REQUEST SENSE, PERSISTENT RESERVE IN/OUT and the echo buffer modes of READ/WRITE
// BUFFER; everything else (TEST UNIT READY too: ESXi tells a standby path by its 04/0B) is NOT
// READY, LOGICAL UNIT NOT ACCESSIBLE, TARGET PORT IN STANDBY STATE.
CommandResult alua_check_standby(std::span<const uint8_t> cdb) {
    if (cdb.empty()) {
        return CommandResult::fail(SenseReason::alua_standby);
    }
    switch (cdb[0]) {
        case log_select:
        case log_sense:
        case mode_select_6:
        case mode_select_10:
        case mode_sense_6:
        case mode_sense_10:
        case receive_diagnostic_results:
        case send_diagnostic:
        case persistent_reserve_in:
        case persistent_reserve_out:
            return CommandResult::good();
        default:
            break;
    }
    if (allowed_in_every_state(cdb) || is_set_target_port_groups(cdb)) {
        return CommandResult::good();
    }
    return CommandResult::fail(SenseReason::alua_standby);
}

// SPC-4 §5.16.2.4.5 (unavailable): INQUIRY, REPORT LUNS, REPORT and SET TARGET PORT GROUPS,
// REQUEST SENSE and the echo buffer; else NOT READY, LOGICAL UNIT NOT ACCESSIBLE, TARGET PORT
// IN UNAVAILABLE STATE.
CommandResult alua_check_unavailable(std::span<const uint8_t> cdb) {
    if (!cdb.empty() && (allowed_in_every_state(cdb) || is_set_target_port_groups(cdb))) {
        return CommandResult::good();
    }
    return CommandResult::fail(SenseReason::alua_unavailable);
}

// SPC-4 §5.16.2.5 (transitioning): INQUIRY, REPORT LUNS, REPORT TARGET PORT GROUPS, REQUEST
// SENSE and the echo buffer; else NOT READY, LOGICAL UNIT NOT ACCESSIBLE, ASYMMETRIC ACCESS
// STATE TRANSITION.
CommandResult alua_check_transitioning(std::span<const uint8_t> cdb) {
    if (!cdb.empty() && allowed_in_every_state(cdb)) {
        return CommandResult::good();
    }
    return CommandResult::fail(SenseReason::alua_transitioning);
}

CommandResult alua_check(AluaState state, std::span<const uint8_t> cdb) {
    switch (state) {
        case AluaState::active_optimized:
        case AluaState::active_non_optimized:
            // SPC-4 §5.16.2.4.2/3: both active states serve every command.
            return CommandResult::good();
        case AluaState::standby:
            return alua_check_standby(cdb);
        case AluaState::unavailable:
            return alua_check_unavailable(cdb);
        case AluaState::transitioning:
            return alua_check_transitioning(cdb);
    }
    return CommandResult::good();
}

TargetPortGroups::TargetPortGroups(AluaConfig config, Clock clock)
    : clock_(clock ? std::move(clock) : Clock([] { return SteadyClock::now(); })),
      explicit_supported_(config.explicit_supported),
      explicit_transition_time_(config.explicit_transition_time),
      non_optimized_delay_(config.non_optimized_delay) {
    validate(config);
    auto s = std::make_shared<AluaSnapshot>();
    s->explicit_supported = config.explicit_supported;
    s->implicit_transition_time = config.implicit_transition_time;
    for (const auto& g : config.groups) {
        TargetPortGroupState state;
        state.id = g.id;
        state.name = g.name;
        state.relative_target_ports = g.relative_target_ports;
        state.state = g.state;
        state.preferred = g.preferred;
        state.supported_states = g.supported_states;
        s->groups.push_back(std::move(state));
    }
    snapshot_ = std::move(s);
}

std::shared_ptr<const AluaSnapshot> TargetPortGroups::current() const {
    std::lock_guard lock(mutex_);
    return snapshot_;
}

void TargetPortGroups::publish(std::shared_ptr<AluaSnapshot> next) {
    next->next_deadline.reset();
    for (const auto& g : next->groups) {
        if (g.pending && (!next->next_deadline || g.pending_at < *next->next_deadline)) {
            next->next_deadline = g.pending_at;
        }
    }
    std::lock_guard lock(mutex_);
    snapshot_ = std::move(next);
}

std::shared_ptr<const AluaSnapshot> TargetPortGroups::snapshot() {
    end_due_transitions();
    return current();
}

AluaState TargetPortGroups::state_of_port(uint16_t relative_target_port) {
    auto s = current();
    if (s->next_deadline && clock_() >= *s->next_deadline) {
        end_due_transitions();
        s = current();
    }
    const TargetPortGroupState* g = s->group_of_port(relative_target_port);
    return g != nullptr ? g->state : AluaState::active_optimized;
}

std::optional<uint16_t> TargetPortGroups::group_of_port(uint16_t relative_target_port) const {
    const auto s = current();
    const TargetPortGroupState* g = s->group_of_port(relative_target_port);
    return g != nullptr ? std::optional<uint16_t>(g->id) : std::nullopt;
}

void TargetPortGroups::begin_change(TargetPortGroupState& g, AluaState target, AluaStatus cause,
                                    std::chrono::milliseconds transition,
                                    std::optional<uint64_t> changed_by_nexus,
                                    Changes& ended) const {
    if (g.state == target && !g.pending) {
        return;
    }
    g.status = cause;
    // A group that does not report T_SUP never shows transitioning (SPC-4 §6.36).
    if (transition.count() > 0 && (g.supported_states & alua_supported::transitioning) != 0) {
        g.state = AluaState::transitioning;
        g.pending = target;
        g.pending_at = clock_() + transition;
        g.pending_by_nexus = changed_by_nexus;
        return;
    }
    g.state = target;
    g.pending.reset();
    g.pending_by_nexus.reset();
    ended.push_back(changed_by_nexus);
}

bool TargetPortGroups::change_state(uint16_t group, AluaState target, AluaStatus cause,
                                    std::chrono::milliseconds transition,
                                    std::optional<uint64_t> changed_by_nexus) {
    Changes ended;
    {
        std::lock_guard change(change_mutex_);
        auto next = std::make_shared<AluaSnapshot>(*current());
        auto it = std::find_if(next->groups.begin(), next->groups.end(),
                               [group](const auto& g) { return g.id == group; });
        if (it == next->groups.end() || target == AluaState::transitioning ||
            (supported_bit(target) & it->supported_states) == 0) {
            return false;
        }
        begin_change(*it, target, cause, transition, changed_by_nexus, ended);
        publish(std::move(next));
    }
    notify(ended);
    return true;
}

CommandResult TargetPortGroups::set_target_port_groups(std::span<const uint8_t> parameters,
                                                       uint64_t nexus) {
    if (!explicit_supported_) {
        // TPGS 01b: SET TARGET PORT GROUPS is not supported (SPC-4 §6.39), as in LIO.
        return CommandResult::fail(SenseReason::invalid_opcode);
    }
    // SPC-4 §6.39: a PARAMETER LIST LENGTH of zero transfers nothing and is not an error.
    if (parameters.empty()) {
        return CommandResult::good();
    }
    // Four reserved bytes, then whole 4-byte set target port group descriptors (Table 302);
    // a list ending inside one has the wrong length.
    constexpr size_t header = 4;
    constexpr size_t descriptor = 4;
    if (parameters.size() < header || (parameters.size() - header) % descriptor != 0) {
        return CommandResult::fail(SenseReason::parameter_list_length_error);
    }
    Changes ended;
    {
        std::lock_guard change(change_mutex_);
        auto next = std::make_shared<AluaSnapshot>(*current());
        // Every descriptor is checked before any is applied: a refused list changes nothing.
        std::vector<std::pair<TargetPortGroupState*, AluaState>> wanted;
        for (size_t at = header; at < parameters.size(); at += descriptor) {
            const uint8_t code = parameters[at] & 0x0F;
            const uint16_t id = get_be16(parameters, at + 2);
            auto it = std::find_if(next->groups.begin(), next->groups.end(),
                                   [id](const auto& g) { return g.id == id; });
            if (it == next->groups.end()) {
                return CommandResult::invalid_parameter_field(static_cast<uint16_t>(at + 2), 7);
            }
            // Only primary states may be set; transitioning is the device server's own (SPC-4
            // §5.16.2.5), and a state the group does not report as supported is refused.
            const bool primary = code <= static_cast<uint8_t>(AluaState::unavailable);
            const auto target = static_cast<AluaState>(code);
            if (!primary || (supported_bit(target) & it->supported_states) == 0) {
                return CommandResult::invalid_parameter_field(static_cast<uint16_t>(at), 3);
            }
            wanted.emplace_back(&*it, target);
        }
        for (auto& [g, target] : wanted) {
            begin_change(*g, target, AluaStatus::altered_by_set_target_port_groups,
                         explicit_transition_time_, nexus, ended);
        }
        publish(std::move(next));
    }
    notify(ended);
    return CommandResult::good();
}

void TargetPortGroups::poll() {
    end_due_transitions();
}

void TargetPortGroups::end_due_transitions() {
    const auto peek = current();
    if (!peek->next_deadline) {
        return;
    }
    const auto now = clock_();
    if (now < *peek->next_deadline) {
        return;
    }
    Changes ended;
    {
        std::lock_guard change(change_mutex_);
        auto next = std::make_shared<AluaSnapshot>(*current());
        bool any = false;
        for (auto& g : next->groups) {
            if (g.pending && g.pending_at <= now) {
                g.state = *g.pending;
                g.pending.reset();
                ended.push_back(g.pending_by_nexus);
                g.pending_by_nexus.reset();
                any = true;
            }
        }
        if (!any) {
            return;  // another reader ended them first
        }
        publish(std::move(next));
    }
    notify(ended);
}

void TargetPortGroups::notify(const Changes& ended) {
    if (ended.empty()) {
        return;
    }
    std::lock_guard lock(listeners_mutex_);
    for (const auto& by : ended) {
        for (const auto& [token, listener] : listeners_) {
            listener(by);
        }
    }
}

uint64_t TargetPortGroups::subscribe(Listener listener) {
    std::lock_guard lock(listeners_mutex_);
    const uint64_t token = next_token_++;
    listeners_.emplace_back(token, std::move(listener));
    return token;
}

void TargetPortGroups::unsubscribe(uint64_t token) {
    std::lock_guard lock(listeners_mutex_);
    std::erase_if(listeners_, [token](const auto& l) { return l.first == token; });
}

}  // namespace atsarray::scsi
