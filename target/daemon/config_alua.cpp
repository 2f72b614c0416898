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
        {"explicit", "transition_time_ms", "implicit_transition_time_s", "non_optimized_delay_ms"});
    alua.explicit_alua = r.get_bool(table, path, "explicit", alua.explicit_alua);
    alua.transition_time_ms = static_cast<uint32_t>(
        r.get_uint(table, path, "transition_time_ms", 0, 600'000, alua.transition_time_ms));
    alua.implicit_transition_time_s = static_cast<uint32_t>(r.get_uint(
        table, path, "implicit_transition_time_s", 0, 255, alua.implicit_transition_time_s));
    alua.non_optimized_delay_ms = static_cast<uint32_t>(
        r.get_uint(table, path, "non_optimized_delay_ms", 0, 10'000, alua.non_optimized_delay_ms));
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
        r.check_keys(table, group.key, {"id", "name", "portals", "state", "preferred"});
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

        const std::string portals_key = join_path(group.key, "portals");
        const toml::node* node = table.get("portals");
        if (node == nullptr) {
            r.fail(portals_key,
                   "required key is missing: the \"address:port\" of at least one "
                   "[[portal]] (" +
                       known + ")");
        }
        const toml::array* list = node->as_array();
        if (list == nullptr) {
            r.fail(portals_key,
                   "expected an array of \"address:port\" strings, got " + type_name(node->type()));
        }
        if (list->empty()) {
            r.fail(portals_key, "a target port group needs at least one portal (" + known + ")");
        }
        for (size_t k = 0; k < list->size(); ++k) {
            const std::string key = index_path(portals_key, k);
            const auto* text = (*list)[k].as_string();
            if (text == nullptr) {
                r.fail(key,
                       "expected a string \"address:port\", got " + type_name((*list)[k].type()));
            }
            const auto canonical = canonical_portal(text->get());
            if (!canonical) {
                r.fail(key, "not \"address:port\" (e.g. \"0.0.0.0:3260\", \"[::]:3260\"): " +
                                in_quotes(text->get()));
            }
            const auto found = portal_index.find(*canonical);
            if (found == portal_index.end()) {
                r.fail(key,
                       in_quotes(text->get()) + " is not a [[portal]]; the portals are " + known);
            }
            if (const auto [it, inserted] = owner.emplace(found->second, group.key); !inserted) {
                r.fail(key, "portal " + *canonical + " is already in " + it->second +
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
