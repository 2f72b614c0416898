// faults list|add|enable|disable|rm|preset [NAME]: the fault injection rules (README "Fault
// injection"; GET/POST /api/v1/faults, PATCH/DELETE /api/v1/faults/{id},
// GET /api/v1/faults/presets, POST /api/v1/faults/presets/{name}).
#include <map>
#include <ostream>

#include "ctl/commands.hpp"
#include "ctl/table.hpp"

namespace atsarray::ctl {

using nlohmann::json;

namespace {

// The rule's fields (webui/server/console_model.cpp fault_spec) as options: --lba-first for
// "lba_first". Strings go as strings, the others must be JSON numbers.
struct Field {
    const char* key;
    bool text;
    const char* help;
};
constexpr Field rule_fields[] = {
    {"name", true, "a name for the log and the console"},
    {"target", true, "scope: the target's IQN (default: any)"},
    {"lun", false, "scope: the LUN (default: any)"},
    {"initiator", true, "scope: an initiator name glob"},
    {"lba_first", false, "scope: the first LBA"},
    {"lba_last", false, "scope: the last LBA"},
    {"command", true, "scope: ats | read | write | any"},
    {"probability", false, "trigger: (0, 1]"},
    {"every", false, "trigger: every Nth match"},
    {"max_hits", false, "trigger: at most K hits (0: no limit)"},
    {"active_seconds", false, "trigger: for S seconds (0: always)"},
    {"stage", true, "delay: before_execute | before_status"},
    {"delay_ms", false, "delay: the median, ms"},
    {"delay_p99_ms", false, "delay: the p99 (lognormal), ms"},
    {"stale_ms", false, "stale_read: how long reads see the old image"},
    {"status", true, "status: busy | task_set_full | check_condition"},
    {"sense_key", false, "check_condition: the sense key"},
    {"asc", false, "check_condition: ASC"},
    {"ascq", false, "check_condition: ASCQ"},
    {"group", false, "path faults: the target port group (0: all)"},
    {"state", true, "alua_state/alua_flap: the ALUA state"},
    {"state_b", true, "alua_flap: the other state"},
    {"period_ms", false, "alua_flap, gateway_stall: the period"},
    {"transition_ms", false, "alua_state: time in transitioning"},
};

std::string option_name(const char* key) {
    std::string name = std::string("--") + key;
    for (char& ch : name) {
        if (ch == '_') {
            ch = '-';
        }
    }
    return name;
}

std::string scope(const json& r) {
    std::string s;
    const auto add = [&](const std::string& part) { s += (s.empty() ? "" : " ") + part; };
    if (!r.value("target", "").empty()) {
        add(r.value("target", ""));
    }
    if (r.contains("lun") && !r["lun"].is_null()) {
        add("lun " + cell(r["lun"]));
    }
    if (!r.value("initiator", "").empty()) {
        add("initiator " + r.value("initiator", ""));
    }
    const uint64_t first = r.value("lba_first", uint64_t{0});
    const uint64_t last = r.value("lba_last", uint64_t{0});
    if (first != 0 || (last != 0 && last != UINT64_MAX)) {
        add("lba " + std::to_string(first) + "-" + std::to_string(last));
    }
    return s.empty() ? "all" : s;
}

std::string trigger(const json& r) {
    std::string s;
    const auto add = [&](const std::string& part) { s += (s.empty() ? "" : " ") + part; };
    if (r.value("probability", 1.0) < 1.0) {
        add("p=" + cell(r["probability"]));
    }
    if (r.value("every", uint64_t{1}) > 1) {
        add("every " + cell(r["every"]));
    }
    if (r.value("max_hits", uint64_t{0}) > 0) {
        add("max " + cell(r["max_hits"]));
    }
    if (r.value("active_seconds", uint64_t{0}) > 0) {
        add("for " + cell(r["active_seconds"]) + " s");
    }
    return s.empty() ? "always" : s;
}

void print_rules(Context& c, const json& rules) {
    using A = Table::Align;
    Table t({{"ID", A::right},
             {"NAME"},
             {"ACTION"},
             {"ON"},
             {"COMMAND"},
             {"SCOPE"},
             {"TRIGGER"},
             {"MATCHED", A::right},
             {"HITS", A::right}});
    for (const json& r : rules) {
        t.add_row({cell(r.value("id", json())), cell(r.value("name", json())),
                   cell(r.value("action", json())), yes_no(r.value("enabled", json())),
                   cell(r.value("command", json())), scope(r), trigger(r),
                   cell(r.value("matched", json())), cell(r.value("hits", json()))});
    }
    t.print(c.out);
}

int list(Context& c) {
    const json answer = c.client.get("/api/v1/faults");
    if (c.json) {
        c.print_json(answer);
        return 0;
    }
    if (!answer.value("enabled", false)) {
        c.out << "fault injection is off: set [fault] enabled = true in the daemon's config and "
                 "restart it\n";
        return 0;
    }
    print_rules(c, answer.value("rules", json::array()));
    return 0;
}

struct AddOptions {
    std::string action;
    bool disabled = false;
    std::map<std::string, std::string> values;  // key -> as given

    json body() const {
        json b = {{"action", action}};
        for (const Field& f : rule_fields) {
            const auto it = values.find(f.key);
            if (it == values.end() || it->second.empty()) {
                continue;
            }
            if (f.text) {
                b[f.key] = it->second;
                continue;
            }
            const json number = json::parse(it->second, nullptr, false);
            if (number.is_discarded() || !number.is_number()) {
                throw UsageError(option_name(f.key) + " must be a number, got \"" + it->second +
                                 "\"");
            }
            b[f.key] = number;
        }
        if (disabled) {
            b["enabled"] = false;
        }
        return b;
    }
};

}  // namespace

void add_fault_commands(CLI::App& app, Registry& registry) {
    auto* faults = app.add_subcommand("faults", "fault injection rules (README: Fault injection)");
    faults->require_subcommand(1);

    registry.on(faults->add_subcommand("list", "the rules with their matched and hit counters"),
                list);

    auto a = std::make_shared<AddOptions>();
    auto* add = faults->add_subcommand("add", "add a rule (POST /api/v1/faults)");
    add->add_option("--action", a->action,
                    "false_miscompare | miscompare_after_write | delay | drop_status | status | "
                    "drop_connection | stale_read | alua_state | alua_flap | path_down | "
                    "path_blackhole | stale_write_after_failover | gateway_stall")
        ->required();
    for (const Field& f : rule_fields) {
        add->add_option(option_name(f.key), a->values[f.key], f.help);
    }
    add->add_flag("--disabled", a->disabled, "add it switched off");
    registry.on(add, [a](Context& c) {
        const json rule = c.client.send("POST", "/api/v1/faults", a->body());
        if (c.json) {
            c.print_json(rule);
        } else {
            c.out << "rule " << cell(rule.value("id", json())) << " added\n";
        }
        return 0;
    });

    auto id = std::make_shared<uint64_t>(0);
    for (const bool enable : {true, false}) {
        auto* sub = faults->add_subcommand(enable ? "enable" : "disable",
                                           enable ? "switch a rule on" : "switch a rule off");
        sub->add_option("ID", *id, "the rule's id")->required();
        registry.on(sub, [id, enable](Context& c) {
            const json rule = c.client.send("PATCH", "/api/v1/faults/" + std::to_string(*id),
                                            {{"enabled", enable}});
            if (c.json) {
                c.print_json(rule);
            } else {
                c.out << "rule " << *id << (enable ? " enabled\n" : " disabled\n");
            }
            return 0;
        });
    }

    auto* rm = faults->add_subcommand("rm", "delete a rule (exact behaviour again at once)");
    rm->add_option("ID", *id, "the rule's id")->required();
    registry.on(rm, [id](Context& c) {
        const json answer = c.client.send("DELETE", "/api/v1/faults/" + std::to_string(*id));
        if (c.json) {
            c.print_json(answer);
        } else {
            c.out << "rule " << *id << " deleted\n";
        }
        return 0;
    });

    auto name = std::make_shared<std::string>();
    auto* preset =
        faults->add_subcommand("preset", "add a preset's rules (without NAME: list the presets)");
    preset->add_option("NAME", *name, "the preset, e.g. lost-ats-ack");
    registry.on(preset, [name](Context& c) {
        if (name->empty()) {
            const json presets = c.client.get("/api/v1/faults/presets");
            if (c.json) {
                c.print_json(presets);
                return 0;
            }
            Table t({{"PRESET"}, {"DESCRIPTION"}});
            for (const json& p : presets) {
                t.add_row({cell(p.value("name", json())), cell(p.value("description", json()))});
            }
            t.print(c.out);
            return 0;
        }
        const json answer =
            c.client.send("POST", "/api/v1/faults/presets/" + path_segment(*name), json::object());
        if (c.json) {
            c.print_json(answer);
            return 0;
        }
        c.out << "preset " << *name << " added:\n";
        print_rules(c, answer.value("rules", json::array()));
        return 0;
    });
}

}  // namespace atsarray::ctl
