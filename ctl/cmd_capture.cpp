// capture: captures of whole commands and their trace exports (issue 16, webui/API.md "Captures"):
//   capture start TARGET [--lun N] [--initiator IQN] [--max-commands N] [--max-mib N]
//                 [--max-seconds N]                       starts one, prints its id
//   capture list                                          every capture kept
//   capture stop ID | capture delete ID
//   capture export ID --out FILE [--format json|pcapng] [--initiator IQN] [--lun N]
//                  [--from-us N] [--to-us N]              the trace, for tools/atsarray_replay
//                                                         (JSON) or Wireshark (pcapng)

#include <fstream>
#include <ostream>

#include "ctl/commands.hpp"
#include "ctl/table.hpp"

namespace atsarray::ctl {

using nlohmann::json;

namespace {

struct Options {
    std::string target;
    std::optional<uint64_t> lun;
    std::string initiator;
    std::optional<uint64_t> max_commands, max_mib, max_seconds;
    std::string id;
    std::string out;
    std::string format = "json";
    std::optional<uint64_t> from_us, to_us;
};

int start(Context& c, const Options& o) {
    json body{{"target", o.target}};
    if (o.lun) {
        body["lun"] = *o.lun;
    }
    if (!o.initiator.empty()) {
        body["initiator"] = o.initiator;
    }
    for (const auto& [key, value] :
         {std::pair{"max_commands", o.max_commands}, std::pair{"max_mib", o.max_mib},
          std::pair{"max_seconds", o.max_seconds}}) {
        if (value) {
            body[key] = *value;
        }
    }
    const json answer = c.client.send("POST", "/api/v1/captures", body);
    if (c.json) {
        c.print_json(answer);
        return 0;
    }
    c.out << "capture " << answer.value("id", "") << " started on " << o.target
          << (o.lun ? " LUN " + std::to_string(*o.lun) : std::string()) << "; "
          << "it stops after " << cell(answer.value("max_commands", json())) << " commands or "
          << cell(answer.value("max_seconds", json())) << " s\n";
    return 0;
}

int list(Context& c) {
    const json answer = c.client.get("/api/v1/captures");
    if (c.json) {
        c.print_json(answer);
        return 0;
    }
    using A = Table::Align;
    Table t({{"ID"},
             {"TARGET"},
             {"LUN"},
             {"INITIATOR"},
             {"STATE"},
             {"COMMANDS", A::right},
             {"DATA", A::right},
             {"SESSIONS", A::right},
             {"STARTED"}});
    for (const json& e : answer.value("captures", json::array())) {
        const bool running = e.value("running", false);
        t.add_row({cell(e.value("id", json())), cell(e.value("target", json())),
                   e.value("lun", json()).is_null() ? "all" : cell(e["lun"]),
                   e.value("initiator", "").empty() ? "any" : e.value("initiator", ""),
                   running ? "running" : "stopped (" + e.value("stop_reason", "") + ")",
                   cell(e.value("commands", json())), bytes(e.value("data_bytes", uint64_t{0})),
                   cell(e.value("sessions", json())), cell(e.value("started", json()))});
    }
    if (t.empty()) {
        c.out << "no capture (start one: atsarrayctl capture start TARGET)\n";
        return 0;
    }
    t.print(c.out);
    return 0;
}

int stop_or_delete(Context& c, const Options& o, bool remove) {
    const std::string path = "/api/v1/captures/" + path_segment(o.id);
    const json answer =
        remove ? c.client.send("DELETE", path) : c.client.send("POST", path + "/stop");
    if (c.json) {
        c.print_json(answer);
        return 0;
    }
    c.out << "capture " << o.id
          << (remove ? " deleted"
                     : " stopped: " + cell(answer.value("commands", json())) + " commands")
          << "\n";
    return 0;
}

int export_trace(Context& c, const Options& o) {
    std::string query = "?format=" + path_segment(o.format);
    if (!o.initiator.empty()) {
        query += "&initiator=" + path_segment(o.initiator);
    }
    if (o.lun) {
        query += "&lun=" + std::to_string(*o.lun);
    }
    if (o.from_us) {
        query += "&from_us=" + std::to_string(*o.from_us);
    }
    if (o.to_us) {
        query += "&to_us=" + std::to_string(*o.to_us);
    }
    const std::string body =
        c.client.get_text("/api/v1/captures/" + path_segment(o.id) + "/trace" + query);
    std::ofstream out(o.out, std::ios::binary | std::ios::trunc);
    if (!out || !out.write(body.data(), static_cast<std::streamsize>(body.size())) ||
        !out.flush()) {
        throw UsageError("cannot write " + o.out);
    }
    c.out << "wrote " << bytes(body.size()) << " to " << o.out << " (" << o.format << ")\n";
    return 0;
}

}  // namespace

void add_capture_commands(CLI::App& app, Registry& registry) {
    auto o = std::make_shared<Options>();
    auto* sub = app.add_subcommand(
        "capture",
        "captures of whole commands, exported as a JSON trace (atsarray-replay) or "
        "as pcapng (Wireshark)");
    sub->require_subcommand(1);

    auto* s = sub->add_subcommand("start", "start capturing a target's commands");
    s->add_option("target", o->target, "the target's name")->required();
    s->add_option("--lun", o->lun, "only this LUN");
    s->add_option("--initiator", o->initiator, "only this initiator (IQN)");
    s->add_option("--max-commands", o->max_commands, "stop after this many commands (100000)");
    s->add_option("--max-mib", o->max_mib,
                  "keep at most this much data (64); then lengths and CRCs");
    s->add_option("--max-seconds", o->max_seconds, "stop after this long (600)");
    registry.on(s, [o](Context& c) { return start(c, *o); });

    auto* l = sub->add_subcommand("list", "every capture kept");
    registry.on(l, [](Context& c) { return list(c); });

    auto* st = sub->add_subcommand("stop", "stop a capture (it is kept for export)");
    st->add_option("id", o->id, "the capture's id")->required();
    registry.on(st, [o](Context& c) { return stop_or_delete(c, *o, false); });

    auto* d = sub->add_subcommand("delete", "delete a capture and what it kept");
    d->add_option("id", o->id, "the capture's id")->required();
    registry.on(d, [o](Context& c) { return stop_or_delete(c, *o, true); });

    auto* e = sub->add_subcommand("export", "write a capture's trace to a file");
    e->add_option("id", o->id, "the capture's id")->required();
    e->add_option("--out", o->out, "the file to write")->required();
    e->add_option("--format", o->format, "json (atsarray-replay) or pcapng (Wireshark)")
        ->check(CLI::IsMember({"json", "pcapng"}));
    e->add_option("--initiator", o->initiator, "only this initiator's commands");
    e->add_option("--lun", o->lun, "only this LUN's commands");
    e->add_option("--from-us", o->from_us, "only commands that arrived from here (us since start)");
    e->add_option("--to-us", o->to_us, "and up to here");
    registry.on(e, [o](Context& c) { return export_trace(c, *o); });
}

}  // namespace atsarray::ctl
