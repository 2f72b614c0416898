// forensics: the ATS flight recorder (issue 16, webui/API.md "ATS forensics"):
//   forensics [--cause C] [--limit N]        the miscompares with their causes and culprits
//   forensics block TARGET LUN LBA           one block's history, oldest first
//   forensics join FILE [--host H] ...       a host log joined with the array's events

#include <fstream>
#include <iterator>
#include <ostream>
#include <sstream>

#include "ctl/commands.hpp"
#include "ctl/table.hpp"

namespace atsarray::ctl {

using nlohmann::json;

namespace {

struct Options {
    std::string cause;
    uint64_t limit = 100;
    std::string target;
    uint64_t lun = 0;
    uint64_t lba = 0;
    std::string file;
    std::string host;
    std::optional<uint64_t> volume_base;
    std::optional<int64_t> skew_ms;
    std::optional<int64_t> window_ms;
};

std::string who(const json& entry) {
    const json& o = entry.value("origin", json::object());
    return o.value("initiator_name", "") + " (" + o.value("address", "") + ", port " +
           std::to_string(o.value("relative_target_port", 0)) + ")";
}

int miscompares(Context& c, const Options& o) {
    json answer = c.client.get("/api/v1/forensics?limit=" + std::to_string(o.limit));
    if (!o.cause.empty()) {
        json kept = json::array();
        for (const json& m : answer.value("miscompares", json::array())) {
            if (m.value("cause", "") == o.cause) {
                kept.push_back(m);
            }
        }
        answer["miscompares"] = std::move(kept);
    }
    if (c.json) {
        c.print_json(answer);
        return 0;
    }
    const json& s = answer.value("stats", json::object());
    c.out << "recorder: " << cell(s.value("blocks", json())) << " blocks, "
          << cell(s.value("entries", json())) << " entries, "
          << bytes(s.value("image_bytes", uint64_t{0})) << " of images; "
          << cell(s.value("notes", json())) << " notes, " << cell(s.value("dropped_notes", json()))
          << " dropped, " << cell(s.value("evicted_blocks", json())) << " blocks evicted\n\n";
    using A = Table::Align;
    Table t({{"ANSWERED"}, {"LUN"}, {"LBA", A::right}, {"INITIATOR"}, {"CAUSE"}, {"CULPRIT"}});
    for (const json& m : answer.value("miscompares", json::array())) {
        const json& culprit = m.value("culprit", json());
        t.add_row({cell(m.value("answered", json())),
                   m.value("target", "") + "/" + std::to_string(m.value("lun", 0)),
                   cell(m.value("block", json())), who(m), cell(m.value("cause", json())),
                   culprit.is_object() ? who(culprit) + " " + cell(culprit.value("command", json()))
                                       : "-"});
    }
    if (t.empty()) {
        c.out << "no miscompare in the recorder's histories"
              << (o.cause.empty() ? "" : " with cause " + o.cause) << "\n";
        return 0;
    }
    t.print(c.out);
    c.out << "\n";
    for (const json& m : answer.value("miscompares", json::array())) {
        c.out << "lba " << cell(m.value("block", json())) << ": "
              << m.value("explanation", std::string()) << "\n";
    }
    return 0;
}

int block(Context& c, const Options& o) {
    const json answer = c.client.get("/api/v1/forensics/blocks/" + path_segment(o.target) + "/" +
                                     std::to_string(o.lun) + "/" + std::to_string(o.lba));
    if (c.json) {
        c.print_json(answer);
        return 0;
    }
    using A = Table::Align;
    Table t({{"SEQ", A::right},
             {"ANSWERED"},
             {"COMMAND"},
             {"INITIATOR"},
             {"ITT"},
             {"OUTCOME"},
             {"SEEN"},
             {"CAUSE"}});
    for (const json& e : answer.value("entries", json::array())) {
        std::ostringstream itt;
        itt << "0x" << std::hex << e.value("itt", uint64_t{0});
        t.add_row({cell(e.value("seq", json())), cell(e.value("answered", json())),
                   cell(e.value("command", json())), who(e), itt.str(),
                   cell(e.value("outcome", json())), yes_no(e.value("status_seen", json())),
                   e.contains("cause") ? cell(e["cause"]) : ""});
    }
    if (answer.value("truncated", false)) {
        c.out << "(older entries were dropped: [ats] recorder_entries)\n";
    }
    t.print(c.out);
    return 0;
}

int join(Context& c, const Options& o) {
    std::ifstream in(o.file, std::ios::binary);
    if (!in) {
        throw UsageError("cannot read " + o.file);
    }
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::string query = "?";
    const auto add = [&](const std::string& key, const std::string& value) {
        query += (query.size() > 1 ? "&" : "") + key + "=" + path_segment(value);
    };
    if (!o.host.empty()) {
        add("host", o.host);
    }
    if (o.volume_base) {
        add("volume_base", std::to_string(*o.volume_base));
    }
    if (o.skew_ms) {
        add("skew_ms", std::to_string(*o.skew_ms));
    }
    if (o.window_ms) {
        add("window_ms", std::to_string(*o.window_ms));
    }
    const json answer =
        c.client.post_text("/api/v1/forensics/host-log" + (query.size() > 1 ? query : ""), text);
    if (c.json) {
        c.print_json(answer);
        return 0;
    }
    const json& counts = answer.value("counts", json::object());
    const json& parse = answer.value("parse", json::object());
    c.out << "host lines: " << cell(parse.value("lines", json())) << " read, "
          << cell(parse.value("unknown_lines", json())) << " not understood\n"
          << "clock skew: " << answer.value("skew_note", std::string()) << "\n"
          << "host events: " << cell(counts.value("host_events", json())) << ", "
          << cell(counts.value("host_matched", json())) << " matched, "
          << cell(counts.value("host_unmatched", json())) << " with no array counterpart\n"
          << "array miscompares no host line shows: "
          << cell(counts.value("array_unlogged_miscompares", json())) << "\n\n";
    Table t({{"TIME"}, {"SIDE"}, {"STATE"}, {"WHAT"}});
    for (const json& e : answer.value("timeline", json::array())) {
        const std::string state = e.value("state", "");
        if (state == "context") {
            continue;  // array events nothing on the host's side claims
        }
        const json& ev = e.value("event", json::object());
        std::string what = ev.value("kind", "");
        if (const std::string text_of = ev.value("text", ev.value("message", std::string()));
            !text_of.empty()) {
            what += ": " + text_of.substr(0, 100);
        }
        t.add_row({cell(e.value("time", json())), cell(e.value("side", json())), state, what});
        if (e.contains("explanation")) {
            t.add_row({"", "", "", "  -> " + e["explanation"].get<std::string>()});
        }
    }
    t.print(c.out);
    return 0;
}

}  // namespace

void add_forensics_commands(CLI::App& app, Registry& registry) {
    auto o = std::make_shared<Options>();
    auto* sub = app.add_subcommand(
        "forensics",
        "the ATS flight recorder: miscompares with their causes, block histories, "
        "host logs joined with the array's events");
    sub->add_option("--cause", o->cause,
                    "only this cause: contention, late_retry, stale_read, failover, injected, "
                    "unknown");
    sub->add_option("--limit", o->limit, "at most this many miscompares (1..1000)")
        ->check(CLI::Range(1, 1000));
    registry.on(sub, [o](Context& c) { return miscompares(c, *o); });

    auto* b = sub->add_subcommand("block", "one block's history, oldest first");
    b->add_option("target", o->target, "the target's name")->required();
    b->add_option("lun", o->lun, "the LUN")->required();
    b->add_option("lba", o->lba, "the block")->required();
    registry.on(b, [o](Context& c) { return block(c, *o); });

    auto* j = sub->add_subcommand(
        "join",
        "upload a vmkernel.log / vobd.log excerpt or an esxi-sim log and join it with the "
        "array's events");
    j->add_option("file", o->file, "the log file")->required();
    j->add_option("--host", o->host, "the host's name, for logs whose lines carry none");
    j->add_option("--volume-base", o->volume_base,
                  "the disk byte of the volume's offset 0 (VMFS5: partition start + 0x1100000)");
    j->add_option("--skew-ms", o->skew_ms, "the host clock minus the array's (default: estimated)");
    j->add_option("--window-ms", o->window_ms, "how far apart a pair's times may be (2000)");
    registry.on(j, [o](Context& c) { return join(c, *o); });
}

}  // namespace atsarray::ctl
