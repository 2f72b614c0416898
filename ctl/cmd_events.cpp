// events [-f] [--since N] [--limit N] (GET /api/v1/events, polled with since= to follow) and
// notes add TEXT (POST /api/v1/events: a lab note).
#include <chrono>
#include <ostream>
#include <thread>

#include "ctl/commands.hpp"
#include "ctl/table.hpp"

namespace atsarray::ctl {

using nlohmann::json;

namespace {

struct Options {
    bool follow = false;
    std::optional<uint64_t> since;
    uint64_t limit = 200;
};

std::string events_path(uint64_t since, uint64_t limit) {
    return "/api/v1/events?since=" + std::to_string(since) + "&limit=" + std::to_string(limit);
}

Table event_table() {
    return Table({{"SEQ", Table::Align::right},
                  {"TIME"},
                  {"KIND"},
                  {"TARGET"},
                  {"LUN", Table::Align::right},
                  {"INITIATOR"},
                  {"MESSAGE"}});
}

std::vector<std::string> event_row(const json& e) {
    return {cell(e.value("seq", json())),    cell(e.value("time", json())),
            cell(e.value("kind", json())),   cell(e.value("target", json())),
            cell(e.value("lun", json())),    cell(e.value("initiator", json())),
            cell(e.value("message", json()))};
}

// Followed events, one line each as they come (a table cannot align what is not there yet).
void print_followed(Context& c, const json& e) {
    if (c.json) {
        c.out << e.dump() << '\n';
    } else {
        c.out << cell(e.value("seq", json())) << "  " << cell(e.value("time", json())) << "  "
              << cell(e.value("kind", json()));
        for (const char* key : {"target", "lun", "initiator"}) {
            const json& v = e.value(key, json());
            if (!v.is_null() && !(v.is_string() && v.get<std::string>().empty())) {
                c.out << "  " << key << "=" << cell(v);
            }
        }
        c.out << "  " << cell(e.value("message", json())) << '\n';
    }
    c.out.flush();
}

int events(Context& c, const Options& o) {
    uint64_t since = 0;
    if (o.since) {
        since = *o.since;
    } else {
        // The last `limit` events, not the first ones the log still holds.
        const json head = c.client.get(events_path(0, 1));
        const uint64_t last = head.value("last_seq", uint64_t{0});
        since = last > o.limit ? last - o.limit : 0;
    }
    const json answer = c.client.get(events_path(since, o.limit));
    const json& list = answer.value("events", json::array());
    if (!o.follow) {
        if (c.json) {
            c.print_json(answer);
            return 0;
        }
        Table t = event_table();
        for (const json& e : list) {
            t.add_row(event_row(e));
        }
        t.print(c.out);
        return 0;
    }
    // -f: the answers' events one per line (JSON Lines with --json), then a poll every second
    // for what came after the last one shown; SIGINT ends it.
    for (const json& e : list) {
        print_followed(c, e);
        since = std::max(since, e.value("seq", since));
    }
    if (list.empty()) {
        since = std::max(since, answer.value("last_seq", since));
    }
    for (;;) {
        std::this_thread::sleep_for(std::chrono::seconds(1));
        const json next = c.client.get(events_path(since, 1000));
        for (const json& e : next.value("events", json::array())) {
            print_followed(c, e);
            since = std::max(since, e.value("seq", since));
        }
    }
}

}  // namespace

void add_event_commands(CLI::App& app, Registry& registry) {
    auto o = std::make_shared<Options>();
    auto* sub = app.add_subcommand(
        "events", "the console's event log (logins, miscompares, faults, notes, config changes)");
    sub->add_flag("-f,--follow", o->follow, "keep printing new events as they come (Ctrl-C ends)");
    sub->add_option("--since", o->since, "events after this sequence number (default: the last)");
    sub->add_option("--limit", o->limit, "at most this many events (1..1000)")
        ->check(CLI::Range(1, 1000));
    registry.on(sub, [o](Context& c) { return events(c, *o); });

    auto* notes = app.add_subcommand("notes", "lab notes in the event log");
    notes->require_subcommand(1);
    auto words = std::make_shared<std::vector<std::string>>();
    auto* add = notes->add_subcommand("add", "write a note (1..500 characters)");
    add->add_option("TEXT", *words, "the note (several words are joined by spaces)")->required();
    registry.on(add, [words](Context& c) {
        std::string text;
        for (const std::string& word : *words) {
            text += (text.empty() ? "" : " ") + word;
        }
        const json event = c.client.send("POST", "/api/v1/events", {{"message", text}});
        if (c.json) {
            c.print_json(event);
        } else {
            c.out << "note " << cell(event.value("seq", json())) << " added\n";
        }
        return 0;
    });
}

}  // namespace atsarray::ctl
