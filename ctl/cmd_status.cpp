// status (GET /api/v1/overview) and sessions (GET /api/v1/sessions).
#include <ostream>

#include "ctl/commands.hpp"
#include "ctl/table.hpp"

namespace atsarray::ctl {

using nlohmann::json;

namespace {

int status(Context& c) {
    const json o = c.client.get("/api/v1/overview");
    if (c.json) {
        c.print_json(o);
        return 0;
    }
    const json& ats = o.value("ats", json::object());
    Table t({{"FIELD"}, {"VALUE"}});
    t.add_row({"console", c.client.url().text});
    t.add_row({"version", cell(o.value("version", json()))});
    t.add_row({"started", cell(o.value("started", json()))});
    t.add_row({"uptime_s", cell(o.value("uptime_s", json()))});
    t.add_row({"targets", cell(o.value("targets", json()))});
    t.add_row({"luns", cell(o.value("luns", json()))});
    t.add_row({"sessions", cell(o.value("sessions", json()))});
    t.add_row({"ats_successes", cell(ats.value("successes", json()))});
    t.add_row({"ats_miscompares", cell(ats.value("miscompares", json()))});
    t.add_row({"ats_injected_miscompares", cell(ats.value("injected_miscompares", json()))});
    t.add_row({"ats_errors", cell(ats.value("errors", json()))});
    t.print(c.out);
    return 0;
}

int sessions(Context& c) {
    const json list = c.client.get("/api/v1/sessions");
    if (c.json) {
        c.print_json(list);
        return 0;
    }
    Table t({{"TSIH", Table::Align::right},
             {"TARGET"},
             {"INITIATOR"},
             {"ISID"},
             {"ADDRESS"},
             {"PORTAL"},
             {"DIGESTS"},
             {"ACTV", Table::Align::right},
             {"COMMANDS", Table::Align::right},
             {"ERRORS", Table::Align::right},
             {"LOGIN"}});
    for (const json& s : list) {
        t.add_row(
            {cell(s.value("tsih", json())), cell(s.value("target", json())),
             cell(s.value("initiator_name", json())), cell(s.value("isid", json())),
             cell(s.value("address", json())), cell(s.value("portal", json())),
             cell(s.value("header_digest", json())) + "/" + cell(s.value("data_digest", json())),
             cell(s.value("commands_in_flight", json())), cell(s.value("commands", json())),
             cell(s.value("errors", json())), cell(s.value("login_time", json()))});
    }
    t.print(c.out);
    return 0;
}

}  // namespace

void add_status_commands(CLI::App& app, Registry& registry) {
    registry.on(app.add_subcommand("status", "the array at a glance (GET /api/v1/overview)"),
                status);
    registry.on(app.add_subcommand("sessions",
                                   "the iSCSI sessions logged in, with their commands in flight"),
                sessions);
}

}  // namespace atsarray::ctl
