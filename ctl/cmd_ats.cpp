// ats [--lun TARGET/ID|ID] [--initiator GLOB]: the ATS (COMPARE AND WRITE, SBC-4 §5.3) counters
// per LUN, per initiator and per hot block since the daemon started (GET /api/v1/ats).
#include <fnmatch.h>

#include <ostream>

#include "ctl/commands.hpp"
#include "ctl/table.hpp"

namespace atsarray::ctl {

using nlohmann::json;

namespace {

struct Options {
    std::string lun;        // "TARGET/ID" or "ID"
    std::string initiator;  // a glob on the initiator name or port
};

struct LunFilter {
    std::string target;  // empty: any
    std::optional<uint64_t> id;

    bool matches(const json& entry) const {
        if (!target.empty() && entry.value("target", "") != target) {
            return false;
        }
        return !id || entry.value("lun", uint64_t{0}) == *id;
    }
};

// Parses --lun and makes sure the LUN exists: an unknown one is the API's 404, not an empty table.
LunFilter lun_filter(Context& c, const std::string& text) {
    LunFilter f;
    if (text.empty()) {
        return f;
    }
    const size_t slash = text.rfind('/');
    const std::string id = slash == std::string::npos ? text : text.substr(slash + 1);
    if (id.empty() || id.find_first_not_of("0123456789") != std::string::npos || id.size() > 5) {
        throw UsageError("--lun is TARGET/ID or ID, got \"" + text + "\"");
    }
    f.id = std::stoull(id);
    if (slash != std::string::npos) {
        f.target = text.substr(0, slash);
        c.client.get("/api/v1/targets/" + path_segment(f.target) + "/luns/" + id);
        return f;
    }
    for (const json& target : c.client.get("/api/v1/targets")) {
        for (const json& lun : target.value("luns", json::array())) {
            if (lun.value("id", uint64_t{0}) == *f.id) {
                return f;
            }
        }
    }
    throw ApiError(404, "no target has a LUN " + id);
}

bool initiator_matches(const std::string& glob, const json& entry) {
    if (glob.empty()) {
        return true;
    }
    for (const char* key : {"initiator_name", "initiator_port", "last_initiator"}) {
        const json& v = entry.value(key, json());
        if (v.is_string() && ::fnmatch(glob.c_str(), v.get<std::string>().c_str(), 0) == 0) {
            return true;
        }
    }
    if (const auto it = entry.find("initiators"); it != entry.end() && it->is_array()) {
        for (const json& name : *it) {
            if (name.is_string() &&
                ::fnmatch(glob.c_str(), name.get<std::string>().c_str(), 0) == 0) {
                return true;
            }
        }
    }
    return false;
}

std::string lat_ms(const json& entry, const char* lat, const char* field) {
    const json& l = entry.value(lat, json::object());
    if (l.value("count", uint64_t{0}) == 0) {
        return "-";
    }
    const json& v = l.value(field, json());
    return v.is_number() ? ms(v.get<double>()) : "-";
}

std::string ratio(const json& e) {
    const double bad = e.value("miscompares", 0.0) + e.value("injected_miscompares", 0.0);
    const double all = bad + e.value("successes", 0.0);
    return all > 0 ? percent(bad / all) : "-";
}

int ats(Context& c, const Options& o) {
    const LunFilter lun = lun_filter(c, o.lun);
    json answer = c.client.get("/api/v1/ats");
    // The API's objects as they are; with a filter, only the entries it keeps.
    for (const char* list : {"luns", "initiators", "hot_blocks"}) {
        json kept = json::array();
        for (const json& e : answer.value(list, json::array())) {
            const bool per_lun_list = std::string(list) == "luns";
            if (lun.matches(e) && (per_lun_list || initiator_matches(o.initiator, e))) {
                kept.push_back(e);
            }
        }
        answer[list] = std::move(kept);
    }
    if (c.json) {
        c.print_json(answer);
        return 0;
    }
    using A = Table::Align;
    Table luns({{"TARGET"},
                {"LUN", A::right},
                {"ATS", A::right},
                {"MISCOMPARES", A::right},
                {"INJECTED", A::right},
                {"ERRORS", A::right},
                {"MCR%", A::right},
                {"AAVG/suc", A::right},
                {"AAVG/f", A::right},
                {"P99/suc", A::right}});
    for (const json& e : answer["luns"]) {
        luns.add_row(
            {cell(e.value("target", json())), cell(e.value("lun", json())),
             cell(e.value("successes", json())), cell(e.value("miscompares", json())),
             cell(e.value("injected_miscompares", json())), cell(e.value("errors", json())),
             ratio(e), lat_ms(e, "latency_success", "mean_us"),
             lat_ms(e, "latency_failure", "mean_us"), lat_ms(e, "latency_success", "p99_us")});
    }
    c.out << "ATS per LUN since the start (latency in ms):\n";
    luns.print(c.out);

    Table initiators({{"INITIATOR"},
                      {"ADDRESS"},
                      {"TARGET"},
                      {"LUN", A::right},
                      {"ATS", A::right},
                      {"MISCOMPARES", A::right},
                      {"INJECTED", A::right},
                      {"ERRORS", A::right},
                      {"AAVG/suc", A::right},
                      {"AAVG/f", A::right}});
    for (const json& e : answer["initiators"]) {
        initiators.add_row(
            {cell(e.value("initiator_name", json())), cell(e.value("address", json())),
             cell(e.value("target", json())), cell(e.value("lun", json())),
             cell(e.value("successes", json())), cell(e.value("miscompares", json())),
             cell(e.value("injected_miscompares", json())), cell(e.value("errors", json())),
             lat_ms(e, "latency_success", "mean_us"), lat_ms(e, "latency_failure", "mean_us")});
    }
    c.out << "\nATS per initiator:\n";
    initiators.print(c.out);

    if (!answer["hot_blocks"].empty()) {
        Table hot({{"TARGET"},
                   {"LUN", A::right},
                   {"LBA", A::right},
                   {"MISCOMPARES", A::right},
                   {"ATS", A::right},
                   {"LAST_INITIATOR"},
                   {"LAST_MISCOMPARE"}});
        for (const json& e : answer["hot_blocks"]) {
            hot.add_row({cell(e.value("target", json())), cell(e.value("lun", json())),
                         cell(e.value("lba", json())), cell(e.value("miscompares", json())),
                         cell(e.value("successes", json())),
                         cell(e.value("last_initiator", json())),
                         cell(e.value("last_miscompare", json()))});
        }
        c.out << "\nHot blocks (miscompares):\n";
        hot.print(c.out);
    }
    return 0;
}

}  // namespace

void add_ats_commands(CLI::App& app, Registry& registry) {
    auto o = std::make_shared<Options>();
    auto* sub = app.add_subcommand(
        "ats", "ATS counters per LUN, per initiator and per hot block since the start");
    sub->add_option("--lun", o->lun, "only this LUN: TARGET/ID, or ID on any target");
    sub->add_option(
        "--initiator", o->initiator,
        "only initiators matching this glob (name or port), e.g. 'iqn.1998-01.com.vmware:*'");
    registry.on(sub, [o](Context& c) { return ats(c, *o); });
}

}  // namespace atsarray::ctl
