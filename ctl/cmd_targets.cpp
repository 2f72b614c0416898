// targets [add|rm], acl list|add|rm, chap show|set|clear: GET /api/v1/targets and the live
// configuration of issue 19 (prompts/issue19-api.md: POST/DELETE /targets, /acl, /chap).
#include <iostream>
#include <ostream>

#include "ctl/commands.hpp"
#include "ctl/table.hpp"

namespace atsarray::ctl {

using nlohmann::json;

namespace {

std::string target_path(const std::string& target) {
    return "/api/v1/targets/" + path_segment(target);
}

// A CHAP secret given as "-" is read from the first line of standard input, so that it stays
// out of the shell's history and of ps.
std::string secret_value(const std::string& given) {
    if (given != "-") {
        return given;
    }
    std::string line;
    std::getline(std::cin, line);
    if (!line.empty() && line.back() == '\r') {
        line.pop_back();
    }
    return line;
}

int list_targets(Context& c) {
    const json list = c.client.get("/api/v1/targets");
    if (c.json) {
        c.print_json(list);
        return 0;
    }
    Table t({{"NAME"}, {"ALIAS"}, {"TPGT", Table::Align::right}, {"LUNS", Table::Align::right}});
    for (const json& target : list) {
        std::string luns;
        for (const json& lun : target.value("luns", json::array())) {
            luns += (luns.empty() ? "" : ",") + cell(lun.value("id", json()));
        }
        t.add_row({cell(target.value("name", json())), cell(target.value("alias", json())),
                   cell(target.value("portal_group_tag", json())), luns.empty() ? "-" : luns});
    }
    t.print(c.out);
    return 0;
}

struct Credentials {
    std::string user;
    std::string secret;
    json body() const {
        return user.empty() ? json(nullptr)
                            : json{{"user", user}, {"secret", secret_value(secret)}};
    }
};

// --chap-user/--chap-secret style options, each needing the other.
void add_credentials(CLI::App* sub, Credentials& c, const std::string& prefix,
                     const std::string& what) {
    auto* user = sub->add_option("--" + prefix + "user", c.user, what + " user name");
    auto* secret = sub->add_option("--" + prefix + "secret", c.secret,
                                   what + " secret (\"-\": read it from standard input)");
    user->needs(secret);
    secret->needs(user);
}

void print_acl(Context& c, const json& acl) {
    if (c.json) {
        c.print_json(acl);
        return;
    }
    if (acl.value("any_initiator", false)) {
        c.out << "target " << cell(acl.value("target", json()))
              << ": any initiator may log in (the list is empty)\n";
        return;
    }
    Table t({{"INITIATOR"}});
    for (const json& iqn : acl.value("allowed_initiators", json::array())) {
        t.add_row({cell(iqn)});
    }
    t.print(c.out);
}

void print_chap(Context& c, const json& chap) {
    if (c.json) {
        c.print_json(chap);
        return;
    }
    Table t({{"FIELD"}, {"VALUE"}});
    t.add_row({"target", cell(chap.value("target", json()))});
    t.add_row({"chap_user", cell(chap.value("chap_user", json()))});
    t.add_row({"mutual_chap_user", cell(chap.value("mutual_chap_user", json()))});
    t.add_row({"require_mutual", cell(chap.value("require_mutual", json()))});
    t.print(c.out);
}

void add_targets(CLI::App& app, Registry& registry) {
    auto* targets =
        app.add_subcommand("targets", "the targets and their LUNs; add or remove a target");
    targets->require_subcommand(0, 1);
    registry.on(targets, list_targets);

    struct Add {
        std::string name;
        std::string alias;
        std::vector<std::string> allowed;
        std::vector<std::string> luns;
        Credentials chap;
        Credentials mutual;
        bool require_mutual = false;
    };
    auto add = std::make_shared<Add>();
    auto* add_cmd = targets->add_subcommand("add", "add a target (POST /api/v1/targets)");
    add_cmd->add_option("NAME", add->name, "the target's IQN")->required();
    add_cmd->add_option("--alias", add->alias, "TargetAlias");
    add_cmd->add_option("--allow", add->allowed,
                        "an initiator allowed to log in (repeat it; none: any initiator)");
    add_cmd
        ->add_option("--lun", add->luns,
                     "a LUN as the keys of a [[target.lun]]: id=0,backend=memory,size=1GiB "
                     "(repeat it; a target has at least one)")
        ->required();
    add_credentials(add_cmd, add->chap, "chap-", "one-way CHAP");
    add_credentials(add_cmd, add->mutual, "mutual-", "mutual CHAP (the target's own)");
    add_cmd->add_flag("--require-mutual", add->require_mutual,
                      "refuse logins that do not ask for mutual CHAP");
    registry.on(add_cmd, [add](Context& c) {
        json body = {{"name", add->name}};
        if (!add->alias.empty()) {
            body["alias"] = add->alias;
        }
        if (!add->allowed.empty()) {
            body["allowed_initiators"] = add->allowed;
        }
        body["luns"] = json::array();
        for (const std::string& spec : add->luns) {
            body["luns"].push_back(lun_spec_body(spec));
        }
        if (!add->chap.user.empty()) {
            body["chap"] = add->chap.body();
        }
        if (!add->mutual.user.empty()) {
            body["mutual_chap"] = add->mutual.body();
        }
        if (add->require_mutual) {
            body["require_mutual"] = true;
        }
        const json answer = c.client.send("POST", "/api/v1/targets", body);
        if (c.json) {
            c.print_json(answer);
        } else {
            c.out << "target " << cell(answer.value("name", json(add->name))) << " added\n";
        }
        return 0;
    });

    struct Remove {
        std::string name;
        bool force = false;
    };
    auto rm = std::make_shared<Remove>();
    auto* rm_cmd = targets->add_subcommand("rm", "remove a target (DELETE /api/v1/targets/NAME)");
    rm_cmd->add_option("NAME", rm->name, "the target's IQN")->required();
    rm_cmd->add_flag("--force", rm->force, "log out the sessions logged in to it");
    registry.on(rm_cmd, [rm](Context& c) {
        const json answer = c.client.send("DELETE", target_path(rm->name) + force_query(rm->force));
        if (c.json) {
            c.print_json(answer);
        } else {
            c.out << "target " << rm->name << " removed ("
                  << cell(answer.value("sessions_closed", json(0))) << " sessions closed)\n";
        }
        return 0;
    });
}

void add_acl(CLI::App& app, Registry& registry) {
    auto* acl = app.add_subcommand("acl", "the initiators a target lets log in");
    acl->require_subcommand(1);
    struct Options {
        std::string target;
        std::string initiator;
        bool force = false;
    };
    auto o = std::make_shared<Options>();

    auto* list = acl->add_subcommand("list", "the target's ACL");
    list->add_option("TARGET", o->target, "the target's IQN")->required();
    registry.on(list, [o](Context& c) {
        print_acl(c, c.client.get(target_path(o->target) + "/acl"));
        return 0;
    });

    auto* add = acl->add_subcommand("add", "allow an initiator");
    add->add_option("TARGET", o->target, "the target's IQN")->required();
    add->add_option("INITIATOR", o->initiator, "the initiator's IQN")->required();
    registry.on(add, [o](Context& c) {
        print_acl(c, c.client.send("POST", target_path(o->target) + "/acl",
                                   {{"initiator", o->initiator}}));
        return 0;
    });

    auto* rm = acl->add_subcommand("rm", "remove an initiator (its sessions stay unless --force)");
    rm->add_option("TARGET", o->target, "the target's IQN")->required();
    rm->add_option("INITIATOR", o->initiator, "the initiator's IQN")->required();
    rm->add_flag("--force", o->force, "log out the initiator's sessions too");
    registry.on(rm, [o](Context& c) {
        print_acl(c,
                  c.client.send("DELETE", target_path(o->target) + "/acl/" +
                                              path_segment(o->initiator) + force_query(o->force)));
        return 0;
    });
}

void add_chap(CLI::App& app, Registry& registry) {
    auto* chap =
        app.add_subcommand("chap", "a target's CHAP credentials (secrets are never shown)");
    chap->require_subcommand(1);
    struct Options {
        std::string target;
        Credentials chap;
        Credentials mutual;
        bool require_mutual = false;
    };
    auto o = std::make_shared<Options>();

    auto* show = chap->add_subcommand("show", "the CHAP user names and require_mutual");
    show->add_option("TARGET", o->target, "the target's IQN")->required();
    registry.on(show, [o](Context& c) {
        print_chap(c, c.client.get(target_path(o->target) + "/chap"));
        return 0;
    });

    auto* set = chap->add_subcommand(
        "set", "replace the target's CHAP settings (for new logins; what is not given is cleared)");
    set->add_option("TARGET", o->target, "the target's IQN")->required();
    set->add_option("--user", o->chap.user, "one-way CHAP user name")->required();
    set->add_option("--secret", o->chap.secret,
                    "one-way CHAP secret (\"-\": read it from standard input)")
        ->required();
    add_credentials(set, o->mutual, "mutual-", "mutual CHAP (the target's own)");
    set->add_flag("--require-mutual", o->require_mutual,
                  "refuse logins that do not ask for mutual CHAP");
    registry.on(set, [o](Context& c) {
        const json body = {{"chap", o->chap.body()},
                           {"mutual_chap", o->mutual.body()},
                           {"require_mutual", o->require_mutual}};
        print_chap(c, c.client.send("PUT", target_path(o->target) + "/chap", body));
        return 0;
    });

    auto* clear = chap->add_subcommand("clear", "no CHAP for new logins");
    clear->add_option("TARGET", o->target, "the target's IQN")->required();
    registry.on(clear, [o](Context& c) {
        const json body = {{"chap", nullptr}, {"mutual_chap", nullptr}, {"require_mutual", false}};
        print_chap(c, c.client.send("PUT", target_path(o->target) + "/chap", body));
        return 0;
    });
}

}  // namespace

void add_target_commands(CLI::App& app, Registry& registry) {
    add_targets(app, registry);
    add_acl(app, registry);
    add_chap(app, registry);
}

}  // namespace atsarray::ctl
