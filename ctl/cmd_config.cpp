// config show|save (GET /api/v1/config, POST /api/v1/config/save) and portals list|add|rm
// (GET/POST /api/v1/portals, DELETE /api/v1/portals/{address:port}), issue 19's contract.
#include <ostream>

#include "ctl/commands.hpp"
#include "ctl/table.hpp"

namespace atsarray::ctl {

using nlohmann::json;

namespace {

struct Portal {
    std::string address;
    uint16_t port = 3260;
};

// "10.0.0.1:3260", "10.0.0.1" (port 3260, RFC 7143 §13.15's default), "[fe80::1]:3260".
Portal parse_portal(const std::string& text) {
    Portal p;
    std::string port;
    if (!text.empty() && text.front() == '[') {
        const size_t close = text.find(']');
        if (close == std::string::npos) {
            throw UsageError("portal: no ] after the IPv6 address in \"" + text + "\"");
        }
        p.address = text.substr(1, close - 1);
        if (close + 1 < text.size()) {
            if (text[close + 1] != ':') {
                throw UsageError("portal: expected :PORT after ] in \"" + text + "\"");
            }
            port = text.substr(close + 2);
        }
    } else if (text.find(':') != text.rfind(':')) {
        p.address = text;  // a bare IPv6 address
    } else {
        const size_t colon = text.find(':');
        p.address = text.substr(0, colon);
        if (colon != std::string::npos) {
            port = text.substr(colon + 1);
        }
    }
    if (!port.empty()) {
        if (port.find_first_not_of("0123456789") != std::string::npos || port.size() > 5 ||
            std::stoul(port) == 0 || std::stoul(port) > 65535) {
            throw UsageError("portal: the port must be 1..65535, got \"" + port + "\"");
        }
        p.port = static_cast<uint16_t>(std::stoul(port));
    }
    if (p.address.empty()) {
        throw UsageError("portal: no address in \"" + text + "\"");
    }
    return p;
}

// The portal as the API names it ("a:p", webui/API.md GET /portals).
std::string portal_name(const Portal& p) {
    const bool v6 = p.address.find(':') != std::string::npos;
    return (v6 ? "[" + p.address + "]" : p.address) + ":" + std::to_string(p.port);
}

void add_config(CLI::App& app, Registry& registry) {
    auto* config = app.add_subcommand("config", "the running configuration (token required)");
    config->require_subcommand(1);
    registry.on(config->add_subcommand("show", "print it as TOML (what save writes)"),
                [](Context& c) {
                    // Text, not JSON: --json changes nothing here.
                    c.out << c.client.get_text("/api/v1/config");
                    return 0;
                });
    registry.on(config->add_subcommand(
                    "save", "write it to the daemon's config file (the old one kept as .bak)"),
                [](Context& c) {
                    const json answer =
                        c.client.send("POST", "/api/v1/config/save", json::object());
                    if (c.json) {
                        c.print_json(answer);
                    } else {
                        c.out << "saved " << cell(answer.value("bytes", json())) << " bytes to "
                              << cell(answer.value("path", json())) << "\n";
                    }
                    return 0;
                });
}

void add_portals(CLI::App& app, Registry& registry) {
    auto* portals = app.add_subcommand("portals", "the addresses the array listens on for iSCSI");
    portals->require_subcommand(1);
    registry.on(
        portals->add_subcommand("list", "the portals and their target port groups"),
        [](Context& c) {
            const json list = c.client.get("/api/v1/portals");
            if (c.json) {
                c.print_json(list);
                return 0;
            }
            Table t({{"PORTAL"}, {"GROUP", Table::Align::right}});
            for (const json& p : list) {
                t.add_row({cell(p.value("address", json())), cell(p.value("group", json()))});
            }
            t.print(c.out);
            return 0;
        });

    struct Options {
        std::string portal;
        std::optional<uint32_t> group;
        bool force = false;
    };
    auto o = std::make_shared<Options>();
    auto* add = portals->add_subcommand("add", "listen on one more portal");
    add->add_option("PORTAL", o->portal, "ADDRESS[:PORT] (port 3260 by default)")->required();
    add->add_option("--group", o->group, "its target port group")->check(CLI::Range(1, 65535));
    registry.on(add, [o](Context& c) {
        const Portal p = parse_portal(o->portal);
        json body = {{"address", p.address}, {"port", p.port}};
        if (o->group) {
            body["group"] = *o->group;
        }
        const json answer = c.client.send("POST", "/api/v1/portals", body);
        if (c.json) {
            c.print_json(answer);
        } else {
            c.out << "portal " << cell(answer.value("address", json(portal_name(p)))) << " added\n";
        }
        return 0;
    });

    auto* rm = portals->add_subcommand("rm", "stop listening on a portal");
    rm->add_option("PORTAL", o->portal, "ADDRESS[:PORT] (port 3260 by default)")->required();
    rm->add_flag("--force", o->force, "close the sessions that use it");
    registry.on(rm, [o](Context& c) {
        const std::string name = portal_name(parse_portal(o->portal));
        const json answer = c.client.send(
            "DELETE", "/api/v1/portals/" + path_segment(name) + force_query(o->force));
        if (c.json) {
            c.print_json(answer);
        } else {
            c.out << "portal " << name << " removed ("
                  << cell(answer.value("sessions_closed", json(0))) << " sessions closed)\n";
        }
        return 0;
    });
}

}  // namespace

void add_config_commands(CLI::App& app, Registry& registry) {
    add_config(app, registry);
    add_portals(app, registry);
}

}  // namespace atsarray::ctl
