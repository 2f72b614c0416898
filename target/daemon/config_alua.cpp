#include "target/daemon/config_alua.hpp"

#include <boost/asio/ip/address.hpp>
#include <boost/system/error_code.hpp>
#include <charconv>
#include <map>
#include <set>

namespace atsarray::daemon {

namespace {

// "address:port" of a [[portal]], the form [[target_port_group]] portals name it in ("[v6]:port"
// for IPv6).
std::string portal_name(const PortalConfig& p) {
    const bool v6 = p.address.find(':') != std::string::npos;
    return (v6 ? "[" + p.address + "]" : p.address) + ":" + std::to_string(p.port);
}

// "0.0.0.0:3260" or "[::1]:3260" in the canonical form portal_name() gives; nullopt when it is
// not an address and a port.
std::optional<std::string> canonical_portal(std::string_view text) {
    const size_t colon = text.rfind(':');
    if (colon == std::string_view::npos || colon == 0) {
        return std::nullopt;
    }
    std::string_view host = text.substr(0, colon);
    const std::string_view port_text = text.substr(colon + 1);
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
        host = host.substr(1, host.size() - 2);
    }
    unsigned port = 0;
    const auto [end, ec] =
        std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (ec != std::errc{} || end != port_text.data() + port_text.size() || port == 0 ||
        port > 65535) {
        return std::nullopt;
    }
    boost::system::error_code bad;
    const auto address = boost::asio::ip::make_address(std::string(host), bad);
    if (bad) {
        return std::nullopt;
    }
    return portal_name(PortalConfig{address.to_string(), static_cast<uint16_t>(port), {}});
}

void parse_settings(const TomlReader& r, const toml::table& table, AluaSettings& alua) {
    const std::string path = "alua";
    r.check_keys(
        table, path,
        {"explicit", "transition_time_ms", "implicit_transition_time_s", "non_optimized_delay_ms",
         "gateway_heartbeat_ms", "gateway_dead_after_ms", "failover"});
    alua.explicit_alua = r.get_bool(table, path, "explicit", alua.explicit_alua);
    alua.transition_time_ms = static_cast<uint32_t>(
        r.get_uint(table, path, "transition_time_ms", 0, 600'000, alua.transition_time_ms));
    alua.implicit_transition_time_s = static_cast<uint32_t>(r.get_uint(
        table, path, "implicit_transition_time_s", 0, 255, alua.implicit_transition_time_s));
    alua.non_optimized_delay_ms = static_cast<uint32_t>(
        r.get_uint(table, path, "non_optimized_delay_ms", 0, 10'000, alua.non_optimized_delay_ms));
    alua.gateway_heartbeat_ms = static_cast<uint32_t>(
        r.get_uint(table, path, "gateway_heartbeat_ms", 100, 60'000, alua.gateway_heartbeat_ms));
    alua.gateway_dead_after_ms = static_cast<uint32_t>(
        r.get_uint(table, path, "gateway_dead_after_ms", 300, 600'000, alua.gateway_dead_after_ms));
    if (alua.gateway_dead_after_ms < 2 * alua.gateway_heartbeat_ms) {
        r.fail(join_path(path, "gateway_dead_after_ms"),
               "must be at least twice gateway_heartbeat_ms (" +
                   std::to_string(alua.gateway_heartbeat_ms) +
                   "): one late heartbeat must not make a gateway dead");
    }
    alua.failover = r.get_bool(table, path, "failover", alua.failover);
}

// The canonical "address:port"s of a group's `key` (portals or remote_portals): a non-empty
// array of strings, each an address and a port.
std::vector<std::string> portal_list(const TomlReader& r, const toml::table& table,
                                     const std::string& group_key, std::string_view key,
                                     const std::string& known) {
    const std::string portals_key = join_path(group_key, key);
    const toml::node* node = table.get(key);
    if (node == nullptr) {
        r.fail(portals_key,
               "required key is missing: the \"address:port\" of at least one "
               "[[portal]] (" +
                   known + "), or remote_portals for another gateway's group");
    }
    const toml::array* list = node->as_array();
    if (list == nullptr) {
        r.fail(portals_key,
               "expected an array of \"address:port\" strings, got " + type_name(node->type()));
    }
    if (list->empty()) {
        r.fail(portals_key, "a target port group needs at least one portal (" + known + ")");
    }
    std::vector<std::string> out;
    for (size_t k = 0; k < list->size(); ++k) {
        const std::string item_key = index_path(portals_key, k);
        const auto* text = (*list)[k].as_string();
        if (text == nullptr) {
            r.fail(item_key,
                   "expected a string \"address:port\", got " + type_name((*list)[k].type()));
        }
        const auto canonical = canonical_portal(text->get());
        if (!canonical) {
            r.fail(item_key, "not \"address:port\" (e.g. \"0.0.0.0:3260\", \"[::]:3260\"): " +
                                 in_quotes(text->get()));
        }
        out.push_back(*canonical);
    }
    return out;
}

}  // namespace

void parse_target_port_groups(const TomlReader& r, const toml::table& root, DaemonConfig& config) {
    const auto tables = r.get_table_array(root, "target_port_group");
    const toml::table* alua = r.get_table(root, "", "alua");
    if (tables.empty()) {
        if (alua != nullptr) {
            r.fail("alua",
                   "needs [[target_port_group]] entries (without them every portal is "
                   "one implicit group, always active/optimized)");
        }
        return;
    }
    if (alua != nullptr) {
        parse_settings(r, *alua, config.alua);
    }

    std::map<std::string, size_t> portal_index;  // portal_name() -> index in config.portals
    std::string known;                           // for messages
    for (size_t i = 0; i < config.portals.size(); ++i) {
        const std::string name = portal_name(config.portals[i]);
        portal_index.emplace(name, i);
        known += (known.empty() ? "" : ", ") + name;
    }
    std::map<size_t, std::string> owner;  // portal index -> key of its group
    std::map<uint16_t, std::string> ids;
    std::set<std::string> names;
    for (size_t g = 0; g < tables.size(); ++g) {
        const toml::table& table = *tables[g];
        PortGroupConfig group;
        group.key = index_path("target_port_group", g);
        r.check_keys(table, group.key,
                     {"id", "name", "portals", "remote_portals", "state", "preferred"});
        const auto id = r.get_optional_uint(table, group.key, "id", 1, 65535);
        if (!id) {
            r.fail(join_path(group.key, "id"),
                   "required key is missing (1..65535: the target "
                   "port group and the portals' portal group tag)");
        }
        group.id = static_cast<uint16_t>(*id);
        if (const auto [it, inserted] = ids.emplace(group.id, group.key); !inserted) {
            r.fail(join_path(group.key, "id"),
                   "duplicate id " + std::to_string(group.id) + " (also " + it->second + ".id)");
        }
        group.name =
            r.get_string(table, group.key, "name").value_or("group-" + std::to_string(group.id));
        if (group.name.empty() || group.name.size() > 64 || !is_printable_ascii(group.name)) {
            r.fail(join_path(group.key, "name"), "must be 1 to 64 printable ASCII characters");
        }
        if (!names.insert(group.name).second) {
            r.fail(join_path(group.key, "name"), "duplicate name " + in_quotes(group.name));
        }
        if (auto state = r.get_string(table, group.key, "state")) {
            group.state = r.get_choice(*state, join_path(group.key, "state"), alua_state_names);
        }
        group.preferred = r.get_bool(table, group.key, "preferred", false);

        if (table.contains("remote_portals")) {
            if (table.contains("portals")) {
                r.fail(join_path(group.key, "remote_portals"),
                       "a group is this gateway's (portals) or another gateway's "
                       "(remote_portals), not both");
            }
            group.remote_portals = portal_list(r, table, group.key, "remote_portals", known);
            for (size_t k = 0; k < group.remote_portals.size(); ++k) {
                if (portal_index.contains(group.remote_portals[k])) {
                    r.fail(index_path(join_path(group.key, "remote_portals"), k),
                           group.remote_portals[k] +
                               " is a [[portal]] of this gateway: list it in portals");
                }
            }
            config.port_groups.push_back(std::move(group));
            continue;
        }
        const std::string portals_key = join_path(group.key, "portals");
        const std::vector<std::string> names_listed =
            portal_list(r, table, group.key, "portals", known);
        for (size_t k = 0; k < names_listed.size(); ++k) {
            const std::string key = index_path(portals_key, k);
            const auto found = portal_index.find(names_listed[k]);
            if (found == portal_index.end()) {
                r.fail(key, in_quotes(names_listed[k]) + " is not a [[portal]]; the portals are " +
                                known);
            }
            if (const auto [it, inserted] = owner.emplace(found->second, group.key); !inserted) {
                r.fail(key, "portal " + names_listed[k] + " is already in " + it->second +
                                " (a portal belongs to one target port group)");
            }
            group.portals.push_back(found->second);
            config.portals[found->second].group = group.id;
        }
        config.port_groups.push_back(std::move(group));
    }
    for (size_t i = 0; i < config.portals.size(); ++i) {
        if (!owner.contains(i)) {
            r.fail(index_path("portal", i), "portal " + portal_name(config.portals[i]) +
                                                " belongs to no [[target_port_group]]");
        }
    }
}

}  // namespace atsarray::daemon
