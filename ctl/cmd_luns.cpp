// luns [TARGET [ID]] (GET /api/v1/targets, /targets/{t}/luns/{id}) and luns add|grow|rm, the
// live configuration of issue 19 (prompts/issue19-api.md: a LUN body has the keys of a
// [[target.lun]] table of the config file).
#include <algorithm>
#include <ostream>

#include "ctl/commands.hpp"
#include "ctl/table.hpp"

namespace atsarray::ctl {

using nlohmann::json;

namespace {

std::string lun_path(const std::string& target, uint64_t id) {
    return "/api/v1/targets/" + path_segment(target) + "/luns/" + std::to_string(id);
}

// "1073741824" as a number, "16GiB" as the string the config file takes.
json size_value(const std::string& size) {
    if (!size.empty() && size.find_first_not_of("0123456789") == std::string::npos &&
        size.size() < 20) {
        return std::stoull(size);
    }
    return size;
}

Table lun_table() {
    return Table({{"TARGET"},
                  {"LUN", Table::Align::right},
                  {"SIZE", Table::Align::right},
                  {"BLOCK", Table::Align::right},
                  {"STORE"},
                  {"ALLOCATED", Table::Align::right},
                  {"WCE"},
                  {"RO"}});
}

void add_lun_row(Table& t, const std::string& target, const json& lun) {
    const auto size_of = [&](const char* key) {
        const json& v = lun.value(key, json());
        return v.is_number_unsigned() || v.is_number_integer() ? bytes(v.get<uint64_t>()) : cell(v);
    };
    t.add_row({target, cell(lun.value("id", json())), size_of("size_bytes"),
               cell(lun.value("block_size", json())), cell(lun.value("store", json())),
               size_of("allocated_bytes"), yes_no(lun.value("write_cache", json())),
               yes_no(lun.value("read_only", json()))});
}

struct ListOptions {
    std::string target;
    std::optional<uint64_t> id;
};

int list_luns(Context& c, const ListOptions& o) {
    if (o.id) {
        const json lun = c.client.get(lun_path(o.target, *o.id));
        if (c.json) {
            c.print_json(lun);
            return 0;
        }
        Table t = lun_table();
        add_lun_row(t, o.target, lun);
        t.print(c.out);
        return 0;
    }
    json targets = c.client.get("/api/v1/targets");
    if (!o.target.empty()) {
        json only = json::array();
        for (const json& target : targets) {
            if (target.value("name", "") == o.target) {
                only.push_back(target);
            }
        }
        if (only.empty()) {
            throw ApiError(404, "unknown target " + o.target);
        }
        targets = std::move(only);
    }
    if (c.json) {
        c.print_json(targets);
        return 0;
    }
    Table t = lun_table();
    for (const json& target : targets) {
        for (const json& lun : target.value("luns", json::array())) {
            add_lun_row(t, target.value("name", ""), lun);
        }
    }
    t.print(c.out);
    return 0;
}

struct AddOptions {
    std::string target;
    uint64_t id = 0;
    std::string backend;
    std::string size;
    std::string path;
    bool direct = false;
    uint32_t block_size = 0;
    std::string serial;
    std::string vendor;
    std::string product;
    bool no_write_cache = false;
    bool read_only = false;
    bool removable = false;
    std::optional<uint64_t> read_delay_us;
    std::optional<uint64_t> write_delay_us;
    std::string pool;
    std::string image;
    std::string ceph_conf;
    std::string client;
    std::string keyring;
    bool create = false;
    std::optional<uint64_t> timeout_s;

    // The [[target.lun]] keys given, and only those: the daemon applies the config file's
    // defaults and rules to the rest.
    json body() const {
        json b = {{"id", id}, {"backend", backend}};
        const auto text = [&](const char* key, const std::string& value) {
            if (!value.empty()) {
                b[key] = value;
            }
        };
        const auto flag = [&](const char* key, bool value) {
            if (value) {
                b[key] = true;
            }
        };
        const auto number = [&](const char* key, const std::optional<uint64_t>& value) {
            if (value) {
                b[key] = *value;
            }
        };
        if (!size.empty()) {
            b["size"] = size_value(size);
        }
        text("path", path);
        flag("direct", direct);
        if (block_size != 0) {
            b["block_size"] = block_size;
        }
        text("serial", serial);
        text("vendor", vendor);
        text("product", product);
        if (no_write_cache) {
            b["write_cache"] = false;
        }
        flag("read_only", read_only);
        flag("removable", removable);
        number("read_delay_us", read_delay_us);
        number("write_delay_us", write_delay_us);
        text("pool", pool);
        text("image", image);
        text("ceph_conf", ceph_conf);
        text("client", client);
        text("keyring", keyring);
        flag("create", create);
        number("timeout_s", timeout_s);
        return b;
    }
};

void print_lun_change(Context& c, const std::string& target, const json& lun,
                      const std::string& what) {
    if (c.json) {
        c.print_json(lun);
        return;
    }
    c.out << "target " << target << " lun " << cell(lun.value("id", json())) << " " << what << ": "
          << bytes(lun.value("size_bytes", uint64_t{0})) << ", " << cell(lun.value("store", json()))
          << "\n";
}

}  // namespace

json lun_spec_body(const std::string& spec) {
    static const std::vector<std::string> text_keys = {"backend", "path",   "serial", "vendor",
                                                       "product", "pool",   "image",  "ceph_conf",
                                                       "client",  "keyring"};
    static const std::vector<std::string> flag_keys = {"direct", "write_cache", "read_only",
                                                       "removable", "create"};
    static const std::vector<std::string> number_keys = {"id", "block_size", "read_delay_us",
                                                         "write_delay_us", "timeout_s"};
    const auto is_one_of = [](const std::vector<std::string>& keys, const std::string& key) {
        return std::find(keys.begin(), keys.end(), key) != keys.end();
    };
    json body = json::object();
    size_t at = 0;
    while (at <= spec.size()) {
        const size_t comma = std::min(spec.find(',', at), spec.size());
        const std::string pair = spec.substr(at, comma - at);
        at = comma + 1;
        if (pair.empty()) {
            continue;
        }
        const size_t eq = pair.find('=');
        if (eq == std::string::npos || eq == 0) {
            throw UsageError("--lun: expected KEY=VALUE, got \"" + pair + "\"");
        }
        const std::string key = pair.substr(0, eq);
        const std::string value = pair.substr(eq + 1);
        const bool digits = !value.empty() && value.size() < 20 &&
                            value.find_first_not_of("0123456789") == std::string::npos;
        if (key == "size") {
            body[key] = size_value(value);
        } else if (is_one_of(text_keys, key)) {
            body[key] = value;
        } else if (is_one_of(flag_keys, key)) {
            if (value != "true" && value != "false") {
                throw UsageError("--lun: " + key + " is true or false, got \"" + value + "\"");
            }
            body[key] = value == "true";
        } else if (is_one_of(number_keys, key)) {
            if (!digits) {
                throw UsageError("--lun: " + key + " is a number, got \"" + value + "\"");
            }
            body[key] = std::stoull(value);
        } else {
            throw UsageError("--lun: unknown key " + key +
                             " (the keys of a [[target.lun]] table: id, backend, size, path, "
                             "direct, block_size, serial, vendor, product, write_cache, "
                             "read_only, removable, read_delay_us, write_delay_us, pool, image, "
                             "ceph_conf, client, keyring, create, timeout_s)");
        }
    }
    return body;
}

void add_lun_commands(CLI::App& app, Registry& registry) {
    auto list = std::make_shared<ListOptions>();
    auto* luns = app.add_subcommand(
        "luns", "the LUNs (of one target, or one LUN); add, grow or remove a LUN");
    luns->require_subcommand(0, 1);
    luns->add_option("TARGET", list->target, "only this target's LUNs");
    luns->add_option("ID", list->id, "only this LUN (GET /api/v1/targets/TARGET/luns/ID)");
    registry.on(luns, [list](Context& c) { return list_luns(c, *list); });

    auto a = std::make_shared<AddOptions>();
    auto* add = luns->add_subcommand(
        "add", "add a LUN (POST /api/v1/targets/TARGET/luns; the keys of a [[target.lun]])");
    add->add_option("TARGET", a->target, "the target's IQN")->required();
    add->add_option("ID", a->id, "the LUN number")->required()->check(CLI::Range(0, 16383));
    add->add_option("--backend", a->backend, "file | rocksdb | memory | rbd")
        ->required()
        ->check(CLI::IsMember({"file", "rocksdb", "memory", "rbd"}));
    add->add_option("--size", a->size, "bytes, or 1GiB, 512MiB...");
    add->add_option("--path", a->path, "file: the image (relative: to the config's folder)");
    add->add_flag("--direct", a->direct, "file: O_DIRECT");
    add->add_option("--block-size", a->block_size, "512 | 4096");
    add->add_option("--serial", a->serial, "unit serial number (<= 20 characters)");
    add->add_option("--vendor", a->vendor, "INQUIRY vendor (<= 8 characters)");
    add->add_option("--product", a->product, "INQUIRY product (<= 16 characters)");
    add->add_flag("--no-write-cache", a->no_write_cache, "WCE off (write_cache = false)");
    add->add_flag("--read-only", a->read_only, "read_only = true");
    add->add_flag("--removable", a->removable, "removable = true (keep it off for ESXi)");
    add->add_option("--read-delay-us", a->read_delay_us, "reads return this late");
    add->add_option("--write-delay-us", a->write_delay_us, "writes land this late");
    add->add_option("--pool", a->pool, "rbd: the pool");
    add->add_option("--image", a->image, "rbd: the image");
    add->add_option("--ceph-conf", a->ceph_conf, "rbd: ceph.conf");
    add->add_option("--client", a->client, "rbd: the client name");
    add->add_option("--keyring", a->keyring, "rbd: the keyring");
    add->add_flag("--create", a->create, "rbd: create the image when it does not exist");
    add->add_option("--timeout-s", a->timeout_s, "rbd: cluster timeout in seconds");
    registry.on(add, [a](Context& c) {
        const json lun = c.client.send(
            "POST", "/api/v1/targets/" + path_segment(a->target) + "/luns", a->body());
        print_lun_change(c, a->target, lun, "added");
        return 0;
    });

    struct GrowOptions {
        std::string target;
        uint64_t id = 0;
        std::string size;
    };
    auto g = std::make_shared<GrowOptions>();
    auto* grow = luns->add_subcommand(
        "grow", "grow a LUN (PATCH; initiators get CAPACITY DATA HAS CHANGED; never shrinks)");
    grow->add_option("TARGET", g->target, "the target's IQN")->required();
    grow->add_option("ID", g->id, "the LUN number")->required();
    grow->add_option("SIZE", g->size, "the new size: bytes, or 16GiB...")->required();
    registry.on(grow, [g](Context& c) {
        const json lun =
            c.client.send("PATCH", lun_path(g->target, g->id), {{"size", size_value(g->size)}});
        print_lun_change(c, g->target, lun, "grown");
        return 0;
    });

    struct RemoveOptions {
        std::string target;
        uint64_t id = 0;
        bool force = false;
    };
    auto r = std::make_shared<RemoveOptions>();
    auto* rm = luns->add_subcommand(
        "rm", "remove a LUN (its data is kept; --force while sessions are logged in)");
    rm->add_option("TARGET", r->target, "the target's IQN")->required();
    rm->add_option("ID", r->id, "the LUN number")->required();
    rm->add_flag("--force", r->force, "remove it although sessions are logged in to the target");
    registry.on(rm, [r](Context& c) {
        const json answer =
            c.client.send("DELETE", lun_path(r->target, r->id) + force_query(r->force));
        if (c.json) {
            c.print_json(answer);
        } else {
            c.out << "target " << r->target << " lun " << r->id << " removed ("
                  << cell(answer.value("sessions", json(0)))
                  << " sessions were logged in; the data is kept)\n";
        }
        return 0;
    });
}

}  // namespace atsarray::ctl
