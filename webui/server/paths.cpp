#include "webui/server/paths.hpp"

#include <algorithm>
#include <set>

#include <fmt/format.h>

#include "target/iscsi/connection.hpp"
#include "target/iscsi/server_state.hpp"
#include "target/scsi/target_device.hpp"
#include "webui/server/console_model.hpp"

namespace atsarray::webui {

void PathTracker::observe(const std::vector<PathSession>& live,
                          const std::vector<PathGroup>& groups, std::chrono::seconds keep_ended,
                          SteadyTime now, SystemTime wall) {
    // The groups whose state changed since the last look (a transition's start and its end are
    // two changes).
    std::vector<const PathGroup*> changed;
    for (const PathGroup& g : groups) {
        const auto key = std::make_pair(g.target, g.id);
        const auto it = groups_.find(key);
        if (it != groups_.end() &&
            (it->second.state != g.state || it->second.pending != g.pending)) {
            changed.push_back(&g);
        }
        groups_[key] = g;
    }

    // Commands served (GOOD) since the last look, per initiator, target and group: a command a
    // standby path refuses is no I/O through it. A session first seen now counts every command
    // it sent (the tracker starts with the console, before any session).
    const auto served = [](const PathSession& s) {
        return s.commands - std::min(s.errors, s.commands);
    };
    std::map<std::string, std::map<std::string, std::map<uint16_t, uint64_t>>> io;
    std::set<std::string> seen;
    for (const PathSession& s : live) {
        seen.insert(s.key);
        const auto it = sessions_.find(s.key);
        uint64_t before = 0;
        if (it != sessions_.end()) {
            before = std::min(served(it->second), served(s));
        }
        if (served(s) > before) {
            io[s.initiator_name][s.target][s.group] += served(s) - before;
        }
        sessions_[s.key] = s;
    }
    for (auto it = sessions_.begin(); it != sessions_.end();) {
        PathSession& s = it->second;
        if (!seen.contains(it->first) && !s.ended) {
            s.ended = wall;
            s.ended_steady = now;
            s.commands_in_flight = 0;
        }
        if (s.ended && now - s.ended_steady >= keep_ended) {
            it = sessions_.erase(it);
        } else {
            ++it;
        }
    }

    // An initiator's I/O moved: the group that carried most of its commands to a target is not
    // the one that carried them before.
    for (const auto& [name, per_target] : io) {
        Initiator& who = initiators_[name];
        for (const auto& [target, per_group] : per_target) {
            const auto busiest =
                std::max_element(per_group.begin(), per_group.end(),
                                 [](const auto& a, const auto& b) { return a.second < b.second; });
            const auto was = who.io_group.find(target);
            if (was != who.io_group.end() && was->second != busiest->first) {
                who.last_failover =
                    Failover{wall, "io_moved", target, was->second, busiest->first, std::nullopt};
            }
            who.io_group[target] = busiest->first;
        }
    }
    // A group holding a live session of an initiator changed state.
    for (const PathGroup* g : changed) {
        for (const PathSession& s : live) {
            if (s.target == g->target && s.group == g->id) {
                initiators_[s.initiator_name].last_failover =
                    Failover{wall, "state_changed", g->target, std::nullopt, g->id, g->state};
            }
        }
    }

    // An initiator is listed while it has a session (live or ended a moment ago).
    std::set<std::string> present;
    for (const auto& [key, s] : sessions_) {
        present.insert(s.initiator_name);
        initiators_.try_emplace(s.initiator_name);
    }
    std::erase_if(initiators_, [&](const auto& e) { return !present.contains(e.first); });
}

namespace api {

std::string_view alua_state_name(scsi::AluaState state) {
    switch (state) {
        case scsi::AluaState::active_optimized:
            return "active_optimized";
        case scsi::AluaState::active_non_optimized:
            return "active_non_optimized";
        case scsi::AluaState::standby:
            return "standby";
        case scsi::AluaState::unavailable:
            return "unavailable";
        case scsi::AluaState::transitioning:
            return "transitioning";
    }
    return "unknown";
}

std::optional<scsi::AluaState> settable_alua_state(std::string_view name) {
    for (const auto s : {scsi::AluaState::active_optimized, scsi::AluaState::active_non_optimized,
                         scsi::AluaState::standby, scsi::AluaState::unavailable}) {
        if (name == alua_state_name(s)) {
            return s;
        }
    }
    return std::nullopt;
}

namespace {

// STATUS CODE (SPC-4 §6.36 Table 264) as the API names it.
std::string_view status_name(scsi::AluaStatus status) {
    switch (status) {
        case scsi::AluaStatus::none:
            return "none";
        case scsi::AluaStatus::altered_by_set_target_port_groups:
            return "altered_by_set_target_port_groups";
        case scsi::AluaStatus::altered_by_implicit_behavior:
            return "altered_by_implicit_behavior";
    }
    return "unknown";
}

json time_or_null(const std::optional<std::chrono::system_clock::time_point>& t) {
    return t ? json(rfc3339(*t)) : json(nullptr);
}

json failover_json(const std::optional<Failover>& f) {
    if (!f) {
        return nullptr;
    }
    return {{"time", rfc3339(f->time)},
            {"reason", f->reason},
            {"target", f->target},
            {"from_group", f->from_group ? json(*f->from_group) : json(nullptr)},
            {"group", f->group},
            {"state", f->state ? json(alua_state_name(*f->state)) : json(nullptr)}};
}

// The sessions of the session table, as the tracker reads them, and every target's groups.
void look(const ConsoleModel& m, std::vector<PathSession>& live, std::vector<PathGroup>& groups) {
    std::map<std::string, std::shared_ptr<const scsi::AluaSnapshot>> snapshots;
    for (const auto& node : m.state.targets.nodes()) {
        auto snap = node->device->port_groups().snapshot();
        for (const scsi::TargetPortGroupState& g : snap->groups) {
            groups.push_back({node->info.name, g.id, g.state, g.pending});
        }
        snapshots[node->info.name] = std::move(snap);
    }
    for (const auto& conn : m.state.sessions.snapshot()) {
        const iscsi::SessionInfo s = conn->session_info();
        if (s.target.empty()) {
            continue;  // discovery sessions use no path of a target
        }
        PathSession p;
        p.key = fmt::format("{}|{}|{}", s.target, s.tsih, s.login_time.time_since_epoch().count());
        p.target = s.target;
        p.initiator_name = s.initiator_name;
        p.initiator_port = s.initiator_port;
        p.isid = fmt::format("{:#014x}", s.isid);
        p.address = s.address;
        p.portal = s.portal.address;
        const auto snap = snapshots.find(s.target);
        const scsi::TargetPortGroupState* g =
            snap != snapshots.end() ? snap->second->group_of_port(s.portal.relative_target_port())
                                    : nullptr;
        p.group = g != nullptr ? g->id : s.portal.relative_target_port();
        p.tsih = s.tsih;
        p.login_time = s.login_time;
        p.commands = s.commands;
        p.errors = s.errors;
        p.commands_in_flight = s.commands_in_flight;
        live.push_back(std::move(p));
    }
}

json session_json(const PathSession& s) {
    return {{"tsih", s.tsih},
            {"isid", s.isid},
            {"initiator_port", s.initiator_port},
            {"address", s.address},
            {"portal", s.portal},
            {"login_time", rfc3339(s.login_time)},
            {"commands", s.commands},
            {"errors", s.errors},
            {"commands_in_flight", s.commands_in_flight},
            {"ended", time_or_null(s.ended)}};
}

}  // namespace

json port_group(const ConsoleModel& m, const scsi::AluaSnapshot& snapshot,
                const scsi::TargetPortGroupState& g) {
    json states = json::array();
    for (const auto s :
         {scsi::AluaState::active_optimized, scsi::AluaState::active_non_optimized,
          scsi::AluaState::standby, scsi::AluaState::unavailable, scsi::AluaState::transitioning}) {
        if ((g.supported_states & scsi::supported_bit(s)) != 0) {
            states.push_back(alua_state_name(s));
        }
    }
    // A group configured without ports (the single implicit one) holds every portal.
    json portals = json::array();
    const auto listening = m.state.portals.snapshot();
    for (const iscsi::PortalInfo& p : *listening) {
        if (snapshot.group_of_port(p.relative_target_port()) == &g) {
            portals.push_back(p.address);
        }
    }
    json transition_ends = nullptr;
    if (g.pending) {
        const auto left = g.pending_at - std::chrono::steady_clock::now();
        transition_ends = rfc3339(std::chrono::system_clock::now() +
                                  std::chrono::duration_cast<std::chrono::system_clock::duration>(
                                      std::max(left, std::chrono::steady_clock::duration::zero())));
    }
    return {{"id", g.id},
            {"name", g.name},
            {"state", alua_state_name(g.state)},
            {"status", status_name(g.status)},
            {"status_code", static_cast<unsigned>(g.status)},
            {"pending_state", g.pending ? json(alua_state_name(*g.pending)) : json(nullptr)},
            {"transition_ends", std::move(transition_ends)},
            {"preferred", g.preferred},
            {"supported_states", std::move(states)},
            {"relative_target_ports", g.relative_target_ports},
            {"portals", std::move(portals)}};
}

json port_groups(const ConsoleModel& m, const iscsi::TargetNode& node) {
    scsi::TargetPortGroups& model = node.device->port_groups();
    const auto snap = model.snapshot();
    json groups = json::array();
    for (const scsi::TargetPortGroupState& g : snap->groups) {
        groups.push_back(port_group(m, *snap, g));
    }
    return {{"target", node.info.name},
            {"explicit_alua", model.explicit_supported()},
            {"groups", std::move(groups)}};
}

void observe_paths(const ConsoleModel& m) {
    std::vector<PathSession> live;
    std::vector<PathGroup> groups;
    look(m, live, groups);
    m.paths.observe(live, groups, m.keep_ended_sessions, std::chrono::steady_clock::now(),
                    std::chrono::system_clock::now());
}

json paths(const ConsoleModel& m) {
    observe_paths(m);
    json targets = json::array();
    std::map<std::string, json> groups_of;  // target -> its port-groups answer
    for (const auto& node : m.state.targets.nodes()) {
        json t = port_groups(m, *node);
        groups_of[node->info.name] = t["groups"];
        targets.push_back(std::move(t));
    }
    json initiators = json::array();
    for (const auto& [name, who] : m.paths.initiators()) {
        // Every group of every target the initiator has (or just had) a session with, each with
        // its sessions: a group with none shows a path the host lost or never logged in on.
        std::map<std::string, std::map<uint16_t, json>> by_group;
        for (const auto& [key, s] : m.paths.sessions()) {
            if (s.initiator_name != name) {
                continue;
            }
            auto& per_group = by_group[s.target];
            if (per_group.empty()) {
                if (const auto g = groups_of.find(s.target); g != groups_of.end()) {
                    for (const json& group : g->second) {
                        per_group[group["id"].get<uint16_t>()] = json::array();
                    }
                }
            }
            per_group[s.group].push_back(session_json(s));
        }
        json list = json::array();
        for (auto& [target, per_group] : by_group) {
            const auto g = groups_of.find(target);
            for (auto& [id, sessions] : per_group) {
                json entry = {{"target", target},
                              {"group", id},
                              {"name", ""},
                              {"state", nullptr},
                              {"pending_state", nullptr}};
                if (g != groups_of.end()) {
                    for (const json& group : g->second) {
                        if (group["id"] == id) {
                            entry["name"] = group["name"];
                            entry["state"] = group["state"];
                            entry["pending_state"] = group["pending_state"];
                        }
                    }
                }
                const auto io = who.io_group.find(target);
                entry["carries_io"] = io != who.io_group.end() && io->second == id;
                entry["sessions"] = std::move(sessions);
                list.push_back(std::move(entry));
            }
        }
        initiators.push_back({{"initiator_name", name},
                              {"last_failover", failover_json(who.last_failover)},
                              {"paths", std::move(list)}});
    }
    return {{"keep_ended_s", m.keep_ended_sessions.count()},
            {"targets", std::move(targets)},
            {"initiators", std::move(initiators)}};
}

}  // namespace api
}  // namespace atsarray::webui
