#include "target/daemon/path_fault_controller.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <chrono>

#include "target/ats/event_log.hpp"
#include "target/iscsi/connection.hpp"
#include "target/iscsi/server_state.hpp"
#include "target/scsi/target_device.hpp"

namespace atsarray::daemon {

namespace {

scsi::AluaState to_alua(fault::PortState s) {
    switch (s) {
        case fault::PortState::active_optimized:
            return scsi::AluaState::active_optimized;
        case fault::PortState::active_non_optimized:
            return scsi::AluaState::active_non_optimized;
        case fault::PortState::standby:
            return scsi::AluaState::standby;
        case fault::PortState::unavailable:
            return scsi::AluaState::unavailable;
    }
    return scsi::AluaState::standby;
}

std::string rule_name(const fault::RuleState& r) {
    return fmt::format("rule {} \"{}\"", r.id, r.spec.name);
}

// What a group is in once any transition under way ends.
scsi::AluaState settled(const scsi::TargetPortGroupState& g) {
    return g.pending.value_or(g.state);
}

}  // namespace

PathFaultController::PathFaultController(fault::Engine& engine, iscsi::ServerState& state,
                                         Connections connections,
                                         std::shared_ptr<ats::EventLog> events)
    : engine_(engine),
      state_(state),
      connections_(std::move(connections)),
      events_(std::move(events)) {}

void PathFaultController::reconcile() {
    const std::vector<fault::RuleState> rules = engine_.active_path_rules();
    reconcile_alua(rules);
    reconcile_paths(rules);
}

void PathFaultController::reconcile_alua(const std::vector<fault::RuleState>& rules) {
    struct Wanted {
        scsi::AluaState state;
        std::chrono::milliseconds transition;
        std::string rule;
    };
    std::map<GroupKey, Wanted> wanted;
    const auto now = std::chrono::system_clock::now();
    for (const fault::RuleState& r : rules) {
        const fault::RuleSpec& s = r.spec;
        if (s.action != fault::Action::alua_state && s.action != fault::Action::alua_flap) {
            continue;
        }
        fault::PortState state = s.state;
        if (s.action == fault::Action::alua_flap) {
            // The phase since the rule began: state, state_b, state, ... every period_ms.
            const auto elapsed =
                std::chrono::duration_cast<std::chrono::milliseconds>(now - r.created).count();
            if ((elapsed / s.period_ms) % 2 == 1) {
                state = s.state_b;
            }
        }
        for (const auto& node : state_.targets.nodes()) {
            if (!s.target.empty() && s.target != node->info.name) {
                continue;
            }
            for (const auto& g : node->device->port_groups().snapshot()->groups) {
                if (s.group == 0 || s.group == g.id) {
                    // The first rule that names a group wins, as for commands.
                    wanted.try_emplace(
                        {node->info.name, g.id},
                        Wanted{to_alua(state), std::chrono::milliseconds(s.transition_ms),
                               rule_name(r)});
                }
            }
        }
    }

    for (const auto& [key, w] : wanted) {
        const auto node = state_.targets.node(key.first);
        scsi::TargetPortGroups& groups = node->device->port_groups();
        auto [it, fresh] = held_.try_emplace(key);
        Held& h = it->second;
        if (fresh) {
            const auto snapshot = groups.snapshot();
            const scsi::TargetPortGroupState* g = snapshot->group(key.second);
            h.baseline = g != nullptr ? settled(*g) : scsi::AluaState::active_optimized;
        } else if (h.applied == w.state && h.rule == w.rule) {
            continue;
        }
        h.applied = w.state;
        h.rule = w.rule;
        if (!groups.change_state(key.second, w.state,
                                 scsi::AluaStatus::altered_by_implicit_behavior, w.transition)) {
            event(fmt::format("fault {}: group {} cannot be put in {} (not a state it supports)",
                              w.rule, key.second, scsi::to_string(w.state)),
                  key.first);
            continue;
        }
        event(fmt::format("fault {}: group {} {} {}", w.rule, key.second,
                          w.transition.count() > 0
                              ? fmt::format("transitioning for {} ms, then", w.transition.count())
                              : std::string("now"),
                          scsi::to_string(w.state)),
              key.first);
    }
    for (auto it = held_.begin(); it != held_.end();) {
        if (wanted.contains(it->first)) {
            ++it;
            continue;
        }
        const auto& [target, group] = it->first;
        if (const auto node = state_.targets.node(target)) {
            node->device->port_groups().change_state(group, it->second.baseline,
                                                     scsi::AluaStatus::altered_by_implicit_behavior,
                                                     std::chrono::milliseconds(0));
            event(fmt::format("fault {} ended: group {} back to {}", it->second.rule, group,
                              scsi::to_string(it->second.baseline)),
                  target);
        }
        it = held_.erase(it);
    }
}

void PathFaultController::reconcile_paths(const std::vector<fault::RuleState>& rules) {
    std::vector<iscsi::PathFault> faults;
    std::vector<std::string> lines;
    for (const fault::RuleState& r : rules) {
        const fault::RuleSpec& s = r.spec;
        if (s.action != fault::Action::path_down && s.action != fault::Action::path_blackhole) {
            continue;
        }
        iscsi::PathFault f;
        f.kind = s.action == fault::Action::path_down ? iscsi::PathFault::Kind::down
                                                      : iscsi::PathFault::Kind::blackhole;
        f.group = s.group;
        f.target = s.target;
        f.initiator = s.initiator;
        f.rule = rule_name(r);
        lines.push_back(fmt::format("{} {}", fault::to_string(s.action), f.rule));
        faults.push_back(std::move(f));
    }
    if (lines == paths_in_force_) {
        return;
    }
    for (const std::string& line : lines) {
        if (std::find(paths_in_force_.begin(), paths_in_force_.end(), line) ==
            paths_in_force_.end()) {
            event("fault " + line + " in force");
        }
    }
    for (const std::string& line : paths_in_force_) {
        if (std::find(lines.begin(), lines.end(), line) == lines.end()) {
            event("fault " + line + " ended");
        }
    }
    paths_in_force_ = std::move(lines);
    state_.path_faults.set(std::move(faults));
    for (const auto& conn : connections_()) {
        conn->post_apply_path_faults();
    }
}

void PathFaultController::event(const std::string& message, const std::string& target) const {
    spdlog::warn("{}", message);
    if (events_) {
        events_->add("fault", message, target);
    }
}

}  // namespace atsarray::daemon
