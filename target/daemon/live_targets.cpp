#include "target/daemon/live_config.hpp"

// Targets, their access (ACL, CHAP) and the portals, changed live (issue 19); LUNs, the running
// configuration and its save are in live_config.cpp.

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/ip/address.hpp>

#include "target/daemon/live_config_support.hpp"
#include "target/daemon/start_checks.hpp"
#include "target/iscsi/connection.hpp"
#include "target/iscsi/server_state.hpp"
#include "target/scsi/lun.hpp"
#include "target/scsi/target_device.hpp"

namespace atsarray::daemon {

using live_detail::same_name;
using nlohmann::json;
using webui::ConfigAnswer;

namespace live_detail {

std::optional<iscsi::ChapSecret> to_secret(const std::optional<ChapCredentials>& c) {
    if (!c) {
        return std::nullopt;
    }
    return iscsi::ChapSecret{c->user, c->secret};
}

iscsi::TargetInfo target_info(const TargetConfig& tc) {
    iscsi::TargetInfo info;
    info.name = tc.name;
    info.alias = tc.alias;
    info.portal_group_tag = tc.portal_group_tag;
    info.allowed_initiators = tc.allowed_initiators;
    info.chap = to_secret(tc.chap);
    info.mutual_chap = to_secret(tc.mutual_chap);
    info.require_mutual = tc.require_mutual;
    return info;
}

}  // namespace live_detail

using live_detail::target_info;

namespace {

// "address:port" as [[target_port_group]] portals and the API name a portal ("[v6]:port").
std::string portal_name(const PortalConfig& p) {
    const bool v6 = p.address.find(':') != std::string::npos;
    return (v6 ? "[" + p.address + "]" : p.address) + ":" + std::to_string(p.port);
}

}  // namespace

ConfigAnswer LiveConfig::acl(const std::string& target) {
    std::lock_guard lock(mutex_);
    const size_t ti = target_index(target);
    if (ti == std::string::npos) {
        return unknown_target(target);
    }
    const TargetConfig& t = c_.config.targets[ti];
    return ConfigAnswer::ok({{"target", t.name},
                             {"allowed_initiators", t.allowed_initiators},
                             {"any_initiator", t.allowed_initiators.empty()}});
}

ConfigAnswer LiveConfig::chap(const std::string& target) {
    std::lock_guard lock(mutex_);
    return chap_locked(target);
}

ConfigAnswer LiveConfig::chap_locked(const std::string& target) const {
    const size_t ti = target_index(target);
    if (ti == std::string::npos) {
        return unknown_target(target);
    }
    const TargetConfig& t = c_.config.targets[ti];
    return ConfigAnswer::ok(
        {{"target", t.name},
         {"chap_user", t.chap ? json(t.chap->user) : json(nullptr)},
         {"mutual_chap_user", t.mutual_chap ? json(t.mutual_chap->user) : json(nullptr)},
         {"require_mutual", t.require_mutual}});
}

ConfigAnswer LiveConfig::add_target(const json& body) {
    std::lock_guard lock(mutex_);
    if (!body.is_object()) {
        return ConfigAnswer::fail(400, "a target is a JSON object with the keys of [[target]]");
    }
    if (const auto name = body.find("name");
        name != body.end() && name->is_string() &&
        c_.state.targets.node(name->get<std::string>()) != nullptr) {
        return ConfigAnswer::fail(409, "target " + name->get<std::string>() + " exists already");
    }
    if (!make_port_groups) {
        return ConfigAnswer::fail(409,
                                  "targets of a multi-gateway array change with a restart of "
                                  "every gateway");
    }
    toml::table table;
    std::string error;
    for (const auto& [key, value] : body.items()) {
        // The body's "luns" are the file's [[target.lun]] tables.
        if (!json_to_toml(value, "target", table, key == "luns" ? "lun" : key, error)) {
            return ConfigAnswer::fail(400, error);
        }
    }
    toml::table root = running_table();
    toml::array& targets = *root["target"].as_array();
    const size_t ti = targets.size();
    targets.push_back(std::move(table));
    DaemonConfig candidate;
    try {
        candidate = parse(root);
        check_start_paths(candidate);
        create_data_dir(candidate);
    } catch (const ConfigError& e) {
        std::string text = message(e, "target[" + std::to_string(ti) + "]", "target");
        if (text.rfind("target.lun", 0) == 0) {
            text.replace(0, 10, "luns");  // in the request's words
        }
        return ConfigAnswer::fail(400, text);
    }
    const TargetConfig& tc = candidate.targets[ti];
    auto groups = make_port_groups(tc.name);
    auto device = std::make_shared<scsi::TargetDevice>(groups);
    std::vector<std::shared_ptr<scsi::Lun>> made;
    try {
        for (const LunConfig& lc : tc.luns) {
            made.push_back(c_.factory.make(tc, lc, groups));
            device->add_lun(lc.id, made.back(), false);
        }
    } catch (const ConfigError& e) {
        for (const auto& lun : made) {
            c_.factory.forget(*lun);
        }
        std::string text = message(e, "target[" + std::to_string(ti) + "]", "target");
        if (text.rfind("target.lun", 0) == 0) {
            text.replace(0, 10, "luns");
        }
        return ConfigAnswer::fail(400, text);
    }
    iscsi::TargetNode node;
    node.info = target_info(tc);
    node.device = device;
    c_.state.targets.add(std::move(node));
    for (const auto& lun : made) {
        c_.luns.add(lun);
        lun->resume_sanitize();
    }
    const std::string name = tc.name;
    const size_t lun_count = tc.luns.size();
    c_.config.targets = std::move(candidate.targets);
    changed(name, "target " + name + " added with " + std::to_string(lun_count) + " LUN(s)");
    return ConfigAnswer::ok({{"target", name}}, 201);
}

size_t LiveConfig::close_sessions(const std::string& target, const std::string& initiator,
                                  const std::string& reason) {
    size_t closed = 0;
    for (const auto& conn : c_.state.sessions.snapshot()) {
        const iscsi::SessionInfo s = conn->session_info();
        if (same_name(s.target, target) &&
            (initiator.empty() || same_name(s.initiator_name, initiator))) {
            conn->post_close(reason);
            ++closed;
        }
    }
    return closed;
}

ConfigAnswer LiveConfig::remove_target(const std::string& target, bool force) {
    std::lock_guard lock(mutex_);
    const auto [ti, node] = find_target(target);
    if (node == nullptr) {
        return unknown_target(target);
    }
    const std::string name = node->info.name;
    const size_t sessions = node->device->nexus_count();
    if (sessions > 0 && !force) {
        return ConfigAnswer::fail(409, "target " + name + " has " + std::to_string(sessions) +
                                           " session(s) logged in; ?force=true logs them out");
    }
    toml::table root = running_table();
    toml::array& targets = *root["target"].as_array();
    targets.erase(targets.begin() + static_cast<std::ptrdiff_t>(ti));
    DaemonConfig candidate;
    try {
        candidate = parse(root);
    } catch (const ConfigError& e) {
        return ConfigAnswer::fail(409, message(e, "", ""));
    }
    // No new login finds it; then its sessions end and its LUNs are retired (each flushed and
    // closed when its last command is done; the data stays).
    const auto removed = c_.state.targets.remove(name);
    const size_t closed = close_sessions(name, "", "target removed by the live configuration");
    for (const uint64_t id : removed->device->lun_ids()) {
        if (auto lun = removed->device->remove_lun(id)) {
            c_.luns.remove(lun.get());
            c_.factory.forget(*lun);
        }
    }
    c_.config.targets = std::move(candidate.targets);
    changed(name, "target " + name + " removed (" + std::to_string(closed) +
                      " session(s) logged out; the LUNs' data kept)");
    return ConfigAnswer::ok({{"target", name}, {"sessions_closed", closed}});
}

json LiveConfig::acl_json(const TargetConfig& t) const {
    return {{"target", t.name},
            {"allowed_initiators", t.allowed_initiators},
            {"any_initiator", t.allowed_initiators.empty()}};
}

// New logins read the target's ACL and CHAP from the catalog's snapshot (TargetCatalog::find).
void LiveConfig::publish_access(const TargetConfig& t) {
    c_.state.targets.set_access(t.name, target_info(t));
}

ConfigAnswer LiveConfig::add_initiator(const std::string& target, const json& body) {
    std::lock_guard lock(mutex_);
    const size_t ti = target_index(target);
    if (ti == std::string::npos) {
        return unknown_target(target);
    }
    if (!body.is_object() || body.size() != 1 || !body.contains("initiator") ||
        !body["initiator"].is_string()) {
        return ConfigAnswer::fail(400, "expected {\"initiator\": \"iqn...\"}");
    }
    const std::string initiator = body["initiator"].get<std::string>();
    const TargetConfig& current = c_.config.targets[ti];
    if (std::find(current.allowed_initiators.begin(), current.allowed_initiators.end(),
                  initiator) != current.allowed_initiators.end()) {
        return ConfigAnswer::fail(
            409, "initiator " + initiator + " is already allowed on target " + current.name);
    }
    toml::table root = running_table();
    toml::table& table = *(*root["target"].as_array())[ti].as_table();
    if (!table.contains("allowed_initiators")) {
        table.insert("allowed_initiators", toml::array{});
    }
    toml::array& list = *table["allowed_initiators"].as_array();
    const std::string key = "target[" + std::to_string(ti) + "].allowed_initiators[" +
                            std::to_string(list.size()) + "]";
    list.push_back(initiator);
    DaemonConfig candidate;
    try {
        candidate = parse(root);
    } catch (const ConfigError& e) {
        return ConfigAnswer::fail(400, message(e, key, "initiator"));
    }
    const TargetConfig& t = candidate.targets[ti];
    publish_access(t);
    json answer = acl_json(t);
    const std::string name = t.name;
    c_.config.targets = std::move(candidate.targets);
    changed(name, "target " + name + ": initiator " + initiator + " added to the ACL");
    return ConfigAnswer::ok(std::move(answer), 201);
}

ConfigAnswer LiveConfig::remove_initiator(const std::string& target, const std::string& initiator,
                                          bool force) {
    std::lock_guard lock(mutex_);
    const size_t ti = target_index(target);
    if (ti == std::string::npos) {
        return unknown_target(target);
    }
    const TargetConfig& current = c_.config.targets[ti];
    const auto it =
        std::find(current.allowed_initiators.begin(), current.allowed_initiators.end(), initiator);
    if (it == current.allowed_initiators.end()) {
        return ConfigAnswer::fail(
            404, "initiator " + initiator + " is not in the ACL of target " + current.name);
    }
    const auto position = it - current.allowed_initiators.begin();
    toml::table root = running_table();
    toml::table& table = *(*root["target"].as_array())[ti].as_table();
    toml::array& list = *table["allowed_initiators"].as_array();
    list.erase(list.begin() + position);
    if (list.empty()) {
        table.erase("allowed_initiators");  // an empty list: any initiator (the file's meaning)
    }
    DaemonConfig candidate;
    try {
        candidate = parse(root);
    } catch (const ConfigError& e) {
        return ConfigAnswer::fail(409, message(e, "", ""));
    }
    const TargetConfig& t = candidate.targets[ti];
    publish_access(t);
    const size_t closed =
        force ? close_sessions(t.name, initiator, "initiator removed from the target's ACL") : 0;
    json answer = acl_json(t);
    const std::string name = t.name;
    c_.config.targets = std::move(candidate.targets);
    changed(name,
            "target " + name + ": initiator " + initiator + " removed from the ACL" +
                (force ? " (" + std::to_string(closed) + " session(s) logged out)"
                       : std::string(" (its sessions stay)")) +
                (answer["any_initiator"].get<bool>() ? "; any initiator may log in now" : ""));
    return ConfigAnswer::ok(std::move(answer));
}

ConfigAnswer LiveConfig::set_chap(const std::string& target, const json& body) {
    std::lock_guard lock(mutex_);
    const size_t ti = target_index(target);
    if (ti == std::string::npos) {
        return unknown_target(target);
    }
    if (!body.is_object()) {
        return ConfigAnswer::fail(400, "expected {\"chap\", \"mutual_chap\", \"require_mutual\"}");
    }
    toml::table root = running_table();
    toml::table& table = *(*root["target"].as_array())[ti].as_table();
    for (const auto& [key, value] : body.items()) {
        if (key != "chap" && key != "mutual_chap" && key != "require_mutual") {
            return ConfigAnswer::fail(
                400, key + ": unknown key; allowed keys: chap, mutual_chap, require_mutual");
        }
        if (value.is_null() && key != "require_mutual") {
            table.erase(key);  // no credentials: that direction is not authenticated
            continue;
        }
        std::string error;
        if (!json_to_toml(value, "", table, key, error)) {
            return ConfigAnswer::fail(400, error);
        }
    }
    DaemonConfig candidate;
    try {
        candidate = parse(root);
    } catch (const ConfigError& e) {
        return ConfigAnswer::fail(400, message(e, "target[" + std::to_string(ti) + "]", ""));
    }
    const TargetConfig& t = candidate.targets[ti];
    publish_access(t);
    const std::string name = t.name;
    const std::string text =
        "target " + name + ": CHAP " + (t.chap ? "user " + t.chap->user : std::string("off")) +
        ", mutual CHAP " + (t.mutual_chap ? "user " + t.mutual_chap->user : std::string("off")) +
        (t.require_mutual ? ", mutual required" : "") + " (for new logins)";
    c_.config.targets = std::move(candidate.targets);
    changed(name, text);
    return chap_locked(name);
}

ConfigAnswer LiveConfig::add_portal(const json& body) {
    std::lock_guard lock(mutex_);
    if (!body.is_object() || !body.contains("address") || !body.contains("port")) {
        return ConfigAnswer::fail(400, "expected {\"address\", \"port\", \"group\"?}");
    }
    if (!listen) {
        return ConfigAnswer::fail(409, "this daemon cannot add portals while it runs");
    }
    toml::table portal;
    std::optional<int64_t> group;
    for (const auto& [key, value] : body.items()) {
        if (key == "group") {
            if (!value.is_number_integer() || value.get<int64_t>() < 1) {
                return ConfigAnswer::fail(400, "group: a target port group id, 1..65535");
            }
            group = value.get<int64_t>();
            continue;
        }
        std::string error;
        if (!json_to_toml(value, "portal", portal, key, error)) {
            return ConfigAnswer::fail(400, error);
        }
    }
    toml::table root = running_table();
    toml::array& portals = *root["portal"].as_array();
    const std::string key = "portal[" + std::to_string(portals.size()) + "]";
    portals.push_back(std::move(portal));
    if (group) {
        // With target port groups a portal is named in its group's portals, "address:port" (the
        // parser checks the address; one it cannot read fails there first).
        toml::array* groups = root["target_port_group"].as_array();
        toml::table* wanted = nullptr;
        for (size_t g = 0; groups != nullptr && g < groups->size(); ++g) {
            toml::table& t = *(*groups)[g].as_table();
            if (t["id"].value<int64_t>() == group) {
                wanted = &t;
            }
        }
        if (wanted == nullptr || !wanted->contains("portals")) {
            return ConfigAnswer::fail(
                400, "group: no target port group " + std::to_string(*group) +
                         " of this gateway (" +
                         (c_.config.port_groups.empty() ? "the configuration has none"
                                                        : "see GET /api/v1/paths") +
                         ")");
        }
        const std::string address =
            body["address"].is_string() ? body["address"].get<std::string>() : std::string();
        boost::system::error_code ec;
        const auto parsed = boost::asio::ip::make_address(address, ec);
        if (!ec) {
            const std::string canonical = parsed.to_string();
            const bool v6 = canonical.find(':') != std::string::npos;
            (*wanted)["portals"].as_array()->push_back(
                (v6 ? "[" + canonical + "]" : canonical) + ":" +
                std::to_string(body["port"].is_number_integer() ? body["port"].get<int64_t>() : 0));
        }
    }
    DaemonConfig candidate;
    try {
        candidate = parse(root);
    } catch (const ConfigError& e) {
        const std::string text = message(e, key, "portal");
        // "duplicate of portal[0]": it exists already.
        return ConfigAnswer::fail(text.find(": duplicate of ") != std::string::npos ? 409 : 400,
                                  text);
    }
    const PortalConfig& pc = candidate.portals.back();
    const std::string name = portal_name(pc);
    if (const std::string error = listen(pc); !error.empty()) {
        return ConfigAnswer::fail(400, "portal " + name + ": cannot listen: " + error);
    }
    json answer{{"address", name}};
    if (pc.group) {
        answer["group"] = *pc.group;
    }
    c_.config.portals = candidate.portals;
    c_.config.port_groups = candidate.port_groups;
    changed("", "portal " + name + " added" +
                    (pc.group ? " to target port group " + std::to_string(*pc.group) : ""));
    return ConfigAnswer::ok(std::move(answer), 201);
}

ConfigAnswer LiveConfig::remove_portal(const std::string& portal, bool force) {
    std::lock_guard lock(mutex_);
    if (!stop_listening || !portal_sessions) {
        return ConfigAnswer::fail(409, "this daemon cannot remove portals while it runs");
    }
    const auto it = std::find_if(c_.config.portals.begin(), c_.config.portals.end(),
                                 [&](const PortalConfig& p) { return portal_name(p) == portal; });
    if (it == c_.config.portals.end()) {
        return ConfigAnswer::fail(404, "unknown portal " + portal);
    }
    const auto pi = it - c_.config.portals.begin();
    const std::string name = portal_name(*it);
    const size_t sessions = portal_sessions(name);
    if (sessions > 0 && !force) {
        return ConfigAnswer::fail(409, "portal " + name + " has " + std::to_string(sessions) +
                                           " session(s); ?force=true closes them");
    }
    if (c_.config.portals.size() == 1) {
        return ConfigAnswer::fail(409, "portal " + name +
                                           " is the last one (without any the config file means "
                                           "0.0.0.0:3260)");
    }
    toml::table root = running_table();
    toml::array& portals = *root["portal"].as_array();
    portals.erase(portals.begin() + pi);
    if (auto* groups = root["target_port_group"].as_array()) {
        for (auto& g : *groups) {
            if (auto* list = g.as_table()->get_as<toml::array>("portals")) {
                for (auto entry = list->begin(); entry != list->end(); ++entry) {
                    if (entry->value<std::string>() == name) {
                        list->erase(entry);
                        break;
                    }
                }
            }
        }
    }
    DaemonConfig candidate;
    try {
        candidate = parse(root);
    } catch (const ConfigError& e) {
        // A group left without portals, for one.
        return ConfigAnswer::fail(409, message(e, "", ""));
    }
    const size_t closed = stop_listening(name, force);
    c_.config.portals = candidate.portals;
    c_.config.port_groups = candidate.port_groups;
    changed("", "portal " + name + " removed (" + std::to_string(closed) + " session(s) closed)");
    return ConfigAnswer::ok({{"portal", name}, {"sessions_closed", closed}});
}

}  // namespace atsarray::daemon
