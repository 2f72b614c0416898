#include "target/daemon/live_config.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/ip/address.hpp>
#include <filesystem>
#include <limits>
#include <sstream>

#include "target/daemon/config_writer.hpp"
#include "target/daemon/start_checks.hpp"
#include "target/iscsi/connection.hpp"
#include "target/iscsi/server_state.hpp"
#include "target/scsi/lun.hpp"
#include "target/scsi/target_device.hpp"

namespace atsarray::daemon {

using nlohmann::json;
using webui::ConfigAnswer;

namespace {

bool same_name(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) ==
                      std::tolower(static_cast<unsigned char>(y));
           });
}

// "1 GiB", "512 MiB", "4096 bytes": a size for the log and the console.
std::string size_text(uint64_t bytes) {
    static constexpr std::array<std::pair<unsigned, const char*>, 4> units = {
        {{40, "TiB"}, {30, "GiB"}, {20, "MiB"}, {10, "KiB"}}};
    for (const auto& [shift, name] : units) {
        if (bytes >= (1ULL << shift) && bytes % (1ULL << shift) == 0) {
            return std::to_string(bytes >> shift) + " " + name;
        }
    }
    return std::to_string(bytes) + " bytes";
}

// Where a LUN's data is, for the log: "file /x.img", "rocksdb data/rocksdb", "memory".
std::string medium_text(const LunConfig& lun) {
    switch (lun.backend) {
        case BackendKind::file:
            return "file " + lun.path;
        case BackendKind::rocksdb:
            return "rocksdb " + lun.data_dir + "/rocksdb";
        case BackendKind::rbd:
            return "rbd " + lun.rbd.pool + "/" + lun.rbd.image;
        case BackendKind::memory:
            break;
    }
    return "memory";
}

toml::array& lun_array(toml::table& root, size_t target) {
    return *(*root["target"].as_array())[target].as_table()->get("lun")->as_array();
}

std::string lun_key(size_t target, size_t lun) {
    return "target[" + std::to_string(target) + "].lun[" + std::to_string(lun) + "]";
}

size_t lun_position(const TargetConfig& target, uint64_t id) {
    const auto it = std::find_if(target.luns.begin(), target.luns.end(),
                                 [id](const LunConfig& l) { return l.id == id; });
    return it == target.luns.end() ? std::string::npos
                                   : static_cast<size_t>(it - target.luns.begin());
}

std::optional<iscsi::ChapSecret> to_secret(const std::optional<ChapCredentials>& c) {
    if (!c) {
        return std::nullopt;
    }
    return iscsi::ChapSecret{c->user, c->secret};
}

// "address:port" as [[target_port_group]] portals and the API name a portal ("[v6]:port").
std::string portal_name(const PortalConfig& p) {
    const bool v6 = p.address.find(':') != std::string::npos;
    return (v6 ? "[" + p.address + "]" : p.address) + ":" + std::to_string(p.port);
}

}  // namespace

bool json_to_toml(const json& value, const std::string& key, toml::table& out,
                  const std::string& name, std::string& error) {
    const std::string where = key.empty() ? name : key + "." + name;
    switch (value.type()) {
        case json::value_t::string:
            out.insert_or_assign(name, value.get<std::string>());
            return true;
        case json::value_t::boolean:
            out.insert_or_assign(name, value.get<bool>());
            return true;
        case json::value_t::number_integer:
            out.insert_or_assign(name, value.get<int64_t>());
            return true;
        case json::value_t::number_unsigned: {
            const uint64_t v = value.get<uint64_t>();
            if (v > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
                error = where + ": " + std::to_string(v) + " is too large";
                return false;
            }
            out.insert_or_assign(name, static_cast<int64_t>(v));
            return true;
        }
        case json::value_t::number_float:
            out.insert_or_assign(name, value.get<double>());
            return true;
        case json::value_t::object: {
            toml::table inner;
            for (const auto& [k, v] : value.items()) {
                if (!json_to_toml(v, where, inner, k, error)) {
                    return false;
                }
            }
            out.insert_or_assign(name, std::move(inner));
            return true;
        }
        case json::value_t::array: {
            toml::array list;
            for (size_t i = 0; i < value.size(); ++i) {
                toml::table one;  // the element, converted under a key of its own
                if (!json_to_toml(value[i], "", one, where + "[" + std::to_string(i) + "]",
                                  error)) {
                    return false;
                }
                list.push_back(std::move(one.begin()->second));
            }
            out.insert_or_assign(name, std::move(list));
            return true;
        }
        default:
            error = where + ": null is not a value (leave the key out)";
            return false;
    }
}

LiveConfig::LiveConfig(Context context) : c_(std::move(context)) {}

toml::table LiveConfig::running_table() const {
    return config_table(c_.config);
}

DaemonConfig LiveConfig::parse(const toml::table& root) const {
    std::ostringstream text;
    text << toml::toml_formatter(root);
    std::error_code ec;
    const auto base = std::filesystem::absolute(c_.config.source_path, ec).parent_path();
    DaemonConfig parsed = parse_config(text.str(), c_.config.source_path, base.string());
    return parsed;
}

std::string LiveConfig::message(const ConfigError& e, const std::string& key,
                                const std::string& as) const {
    std::string text = e.what();
    const std::string origin = c_.config.source_path + ": ";
    if (text.rfind(origin, 0) == 0) {
        text.erase(0, origin.size());
    }
    if (!key.empty() && text.rfind(key, 0) == 0 &&
        (text.size() == key.size() || text[key.size()] == '.' || text[key.size()] == ':' ||
         text[key.size()] == '[')) {
        const bool dot = as.empty() && text.size() > key.size() && text[key.size()] == '.';
        text.replace(0, key.size() + (dot ? 1 : 0), as);
    }
    return text;
}

void LiveConfig::changed(const std::string& target, const std::string& text) {
    spdlog::info("config: {}", text);
    if (c_.events) {
        c_.events->add("config", text, target);
    }
}

size_t LiveConfig::target_index(const std::string& name) const {
    for (size_t i = 0; i < c_.config.targets.size(); ++i) {
        if (same_name(c_.config.targets[i].name, name)) {
            return i;
        }
    }
    return std::string::npos;
}

void LiveConfig::reload() {
    std::lock_guard lock(mutex_);
    DaemonConfig fresh;
    try {
        fresh = load_config(c_.config.source_path);
    } catch (const ConfigError& e) {
        spdlog::error("reload: {} (the running configuration stays)", e.what());
        return;
    }
    for (const TargetConfig& tc : fresh.targets) {
        iscsi::TargetNode* node = c_.state.targets.node(tc.name);
        const size_t ti = target_index(tc.name);
        if (node == nullptr || ti == std::string::npos) {
            spdlog::warn("reload: target {} is new: it needs a restart", tc.name);
            continue;
        }
        for (const LunConfig& lc : tc.luns) {
            auto lun = node->device->lun(lc.id);
            const size_t li = lun_position(c_.config.targets[ti], lc.id);
            if (!lun || li == std::string::npos) {
                spdlog::warn("reload: target {} lun {} is new: it needs a restart", tc.name, lc.id);
                continue;
            }
            if (lc.backend == BackendKind::rbd && lc.size_bytes == 0) {
                continue;  // sized by its image, not by the config
            }
            const uint64_t blocks = lc.size_bytes / lun->settings().block_size;
            const uint64_t current = lun->settings().block_count;
            if (blocks == current) {
                continue;
            }
            if (blocks < current) {
                spdlog::error(
                    "reload: target {} lun {}: shrinking from {} to {} blocks would discard "
                    "data; refused",
                    tc.name, lc.id, current, blocks);
                continue;
            }
            if (const backend::Status st = lun->grow(blocks); !st.ok()) {
                spdlog::error("reload: target {} lun {}: cannot grow to {} blocks: {}", tc.name,
                              lc.id, blocks, backend::to_string(st));
                continue;
            }
            c_.config.targets[ti].luns[li].size_bytes = blocks * lun->settings().block_size;
            spdlog::info("reload: target {} lun {} grew from {} to {} blocks", tc.name, lc.id,
                         current, blocks);
        }
    }
}

std::string LiveConfig::running_config() {
    std::lock_guard lock(mutex_);
    return write_config(c_.config);
}

ConfigAnswer LiveConfig::save() {
    std::lock_guard lock(mutex_);
    const std::string text = write_config(c_.config);
    const std::string path = std::filesystem::absolute(c_.config.source_path).string();
    if (const std::string error = save_file_atomically(path, text); !error.empty()) {
        spdlog::error("config: save failed: {}", error);
        return ConfigAnswer::fail(500, "cannot save the configuration: " + error);
    }
    changed("", "running configuration saved to " + path + " (" + std::to_string(text.size()) +
                    " bytes; the previous file kept as " + path + ".bak)");
    return ConfigAnswer::ok({{"path", path}, {"bytes", text.size()}});
}

ConfigAnswer LiveConfig::add_lun(const std::string& target, const json& body) {
    std::lock_guard lock(mutex_);
    const size_t ti = target_index(target);
    iscsi::TargetNode* node = c_.state.targets.node(target);
    if (ti == std::string::npos || node == nullptr) {
        return ConfigAnswer::fail(404, "unknown target " + target);
    }
    const std::string name = node->info.name;
    if (!body.is_object()) {
        return ConfigAnswer::fail(400, "a LUN is a JSON object with the keys of [[target.lun]]");
    }
    if (const auto id = body.find("id"); id != body.end() && id->is_number_integer() &&
                                         id->get<int64_t>() >= 0 &&
                                         node->device->has_lun(id->get<uint64_t>())) {
        return ConfigAnswer::fail(
            409, "target " + name + " already has LUN " + std::to_string(id->get<uint64_t>()));
    }
    toml::table wrapper;
    std::string error;
    if (!json_to_toml(body, "", wrapper, "lun", error)) {
        return ConfigAnswer::fail(400, error);
    }
    toml::table root = running_table();
    toml::array& luns = lun_array(root, ti);
    const std::string key = lun_key(ti, luns.size());
    luns.push_back(std::move(*wrapper.get("lun")->as_table()));
    DaemonConfig candidate;
    std::shared_ptr<scsi::Lun> lun;
    try {
        candidate = parse(root);
        check_start_paths(candidate);
        create_data_dir(candidate);
        LunConfig lc = candidate.targets[ti].luns.back();
        lc.key = "lun";  // a store that cannot be opened is named as the request names it
        lun = c_.factory.make(candidate.targets[ti], lc, node->device->shared_port_groups());
    } catch (const ConfigError& e) {
        return ConfigAnswer::fail(400, message(e, key, "lun"));
    }
    const LunConfig& lc = candidate.targets[ti].luns.back();
    if (!node->device->add_lun(lc.id, lun)) {
        return ConfigAnswer::fail(409,
                                  "target " + name + " already has LUN " + std::to_string(lc.id));
    }
    c_.luns.add(lun);
    lun->resume_sanitize();
    c_.config.targets = std::move(candidate.targets);
    changed(name, "target " + name + " lun " + std::to_string(lc.id) +
                      " added: " + medium_text(lc) + " " +
                      size_text(lun->settings().block_count * lun->settings().block_size));
    return ConfigAnswer::ok({{"target", name}, {"lun", lc.id}}, 201);
}

ConfigAnswer LiveConfig::grow_lun(const std::string& target, uint64_t id, const json& body) {
    std::lock_guard lock(mutex_);
    const size_t ti = target_index(target);
    iscsi::TargetNode* node = c_.state.targets.node(target);
    if (ti == std::string::npos || node == nullptr) {
        return ConfigAnswer::fail(404, "unknown target " + target);
    }
    const std::string name = node->info.name;
    const auto lun = node->device->lun(id);
    const size_t li = lun_position(c_.config.targets[ti], id);
    if (!lun || li == std::string::npos) {
        return ConfigAnswer::fail(404, "unknown LUN " + std::to_string(id) + " of target " + name);
    }
    if (!body.is_object() || body.size() != 1 || !body.contains("size")) {
        return ConfigAnswer::fail(400, "expected {\"size\": bytes or \"16GiB\"}");
    }
    toml::table root = running_table();
    toml::table& table = *lun_array(root, ti)[li].as_table();
    std::string error;
    if (!json_to_toml(body["size"], "lun", table, "size", error)) {
        return ConfigAnswer::fail(400, error);
    }
    const std::string key = lun_key(ti, li);
    DaemonConfig candidate;
    try {
        candidate = parse(root);
    } catch (const ConfigError& e) {
        return ConfigAnswer::fail(400, message(e, key, "lun"));
    }
    const uint32_t block_size = lun->settings().block_size;
    const uint64_t current = lun->settings().block_count;
    const uint64_t blocks = candidate.targets[ti].luns[li].size_bytes / block_size;
    if (blocks < current) {
        return ConfigAnswer::fail(409, "shrinking target " + name + " lun " + std::to_string(id) +
                                           " from " + std::to_string(current * block_size) +
                                           " to " + std::to_string(blocks * block_size) +
                                           " bytes would discard data; refused");
    }
    if (blocks == current) {
        return ConfigAnswer::ok({{"target", name}, {"lun", id}});
    }
    // Lun::grow: the store, the block count, then CAPACITY DATA HAS CHANGED (2A/09) for every
    // I_T nexus (SBC-4 §4.6, as a SIGHUP grow).
    if (const backend::Status st = lun->grow(blocks); !st.ok()) {
        return ConfigAnswer::fail(500, "target " + name + " lun " + std::to_string(id) +
                                           ": cannot grow to " + std::to_string(blocks) +
                                           " blocks: " + backend::to_string(st));
    }
    c_.config.targets[ti].luns[li].size_bytes = blocks * block_size;
    changed(name, "target " + name + " lun " + std::to_string(id) + " grown from " +
                      size_text(current * block_size) + " to " + size_text(blocks * block_size));
    return ConfigAnswer::ok({{"target", name}, {"lun", id}});
}

ConfigAnswer LiveConfig::remove_lun(const std::string& target, uint64_t id, bool force) {
    std::lock_guard lock(mutex_);
    const size_t ti = target_index(target);
    iscsi::TargetNode* node = c_.state.targets.node(target);
    if (ti == std::string::npos || node == nullptr) {
        return ConfigAnswer::fail(404, "unknown target " + target);
    }
    const std::string name = node->info.name;
    const size_t li = lun_position(c_.config.targets[ti], id);
    if (!node->device->has_lun(id) || li == std::string::npos) {
        return ConfigAnswer::fail(404, "unknown LUN " + std::to_string(id) + " of target " + name);
    }
    const size_t sessions = node->device->nexus_count();
    if (sessions > 0 && !force) {
        return ConfigAnswer::fail(
            409, "target " + name + " has " + std::to_string(sessions) +
                     " session(s) logged in; ?force=true removes LUN " + std::to_string(id) +
                     " from under them (their later commands to it get LOGICAL UNIT NOT "
                     "SUPPORTED)");
    }
    toml::table root = running_table();
    toml::array& luns = lun_array(root, ti);
    luns.erase(luns.begin() + static_cast<std::ptrdiff_t>(li));
    DaemonConfig candidate;
    try {
        candidate = parse(root);
    } catch (const ConfigError& e) {
        // The file's rules (a target keeps at least one LUN) make it a conflict, not a bad request.
        return ConfigAnswer::fail(409, message(e, "target[" + std::to_string(ti) + "]", "target"));
    }
    const LunConfig removed_config = c_.config.targets[ti].luns[li];
    const auto removed = node->device->remove_lun(id);
    if (removed) {
        c_.luns.remove(removed.get());
    }
    c_.config.targets = std::move(candidate.targets);
    changed(name, "target " + name + " lun " + std::to_string(id) + " removed (" +
                      std::to_string(sessions) +
                      " session(s) logged in; data kept: " + medium_text(removed_config) + ")");
    return ConfigAnswer::ok({{"target", name}, {"lun", id}, {"sessions", sessions}});
}

ConfigAnswer LiveConfig::acl(const std::string& target) {
    std::lock_guard lock(mutex_);
    const size_t ti = target_index(target);
    if (ti == std::string::npos) {
        return ConfigAnswer::fail(404, "unknown target " + target);
    }
    const TargetConfig& t = c_.config.targets[ti];
    return ConfigAnswer::ok({{"target", t.name},
                             {"allowed_initiators", t.allowed_initiators},
                             {"any_initiator", t.allowed_initiators.empty()}});
}

ConfigAnswer LiveConfig::chap(const std::string& target) {
    std::lock_guard lock(mutex_);
    return chap_locked(target);
}

ConfigAnswer LiveConfig::chap_locked(const std::string& target) const {
    const size_t ti = target_index(target);
    if (ti == std::string::npos) {
        return ConfigAnswer::fail(404, "unknown target " + target);
    }
    const TargetConfig& t = c_.config.targets[ti];
    return ConfigAnswer::ok(
        {{"target", t.name},
         {"chap_user", t.chap ? json(t.chap->user) : json(nullptr)},
         {"mutual_chap_user", t.mutual_chap ? json(t.mutual_chap->user) : json(nullptr)},
         {"require_mutual", t.require_mutual}});
}

ConfigAnswer LiveConfig::add_target(const json& body) {
    std::lock_guard lock(mutex_);
    if (!body.is_object()) {
        return ConfigAnswer::fail(400, "a target is a JSON object with the keys of [[target]]");
    }
    if (const auto name = body.find("name");
        name != body.end() && name->is_string() &&
        c_.state.targets.node(name->get<std::string>()) != nullptr) {
        return ConfigAnswer::fail(409, "target " + name->get<std::string>() + " exists already");
    }
    if (!make_port_groups) {
        return ConfigAnswer::fail(409,
                                  "targets of a multi-gateway array change with a restart of "
                                  "every gateway");
    }
    toml::table table;
    std::string error;
    for (const auto& [key, value] : body.items()) {
        // The body's "luns" are the file's [[target.lun]] tables.
        if (!json_to_toml(value, "target", table, key == "luns" ? "lun" : key, error)) {
            return ConfigAnswer::fail(400, error);
        }
    }
    toml::table root = running_table();
    toml::array& targets = *root["target"].as_array();
    const size_t ti = targets.size();
    targets.push_back(std::move(table));
    DaemonConfig candidate;
    try {
        candidate = parse(root);
        check_start_paths(candidate);
        create_data_dir(candidate);
    } catch (const ConfigError& e) {
        std::string text = message(e, "target[" + std::to_string(ti) + "]", "target");
        if (text.rfind("target.lun", 0) == 0) {
            text.replace(0, 10, "luns");  // in the request's words
        }
        return ConfigAnswer::fail(400, text);
    }
    const TargetConfig& tc = candidate.targets[ti];
    auto groups = make_port_groups(tc.name);
    auto device = std::make_shared<scsi::TargetDevice>(groups);
    std::vector<std::shared_ptr<scsi::Lun>> made;
    try {
        for (const LunConfig& lc : tc.luns) {
            made.push_back(c_.factory.make(tc, lc, groups));
            device->add_lun(lc.id, made.back(), false);
        }
    } catch (const ConfigError& e) {
        std::string text = message(e, "target[" + std::to_string(ti) + "]", "target");
        if (text.rfind("target.lun", 0) == 0) {
            text.replace(0, 10, "luns");
        }
        return ConfigAnswer::fail(400, text);
    }
    iscsi::TargetNode node;
    node.info.name = tc.name;
    node.info.alias = tc.alias;
    node.info.portal_group_tag = tc.portal_group_tag;
    node.info.allowed_initiators = tc.allowed_initiators;
    node.info.chap = to_secret(tc.chap);
    node.info.mutual_chap = to_secret(tc.mutual_chap);
    node.info.require_mutual = tc.require_mutual;
    node.device = device;
    c_.state.targets.add(std::move(node));
    for (const auto& lun : made) {
        c_.luns.add(lun);
        lun->resume_sanitize();
    }
    const std::string name = tc.name;
    const size_t lun_count = tc.luns.size();
    c_.config.targets = std::move(candidate.targets);
    changed(name, "target " + name + " added with " + std::to_string(lun_count) + " LUN(s)");
    return ConfigAnswer::ok({{"target", name}}, 201);
}

size_t LiveConfig::close_sessions(const std::string& target, const std::string& initiator,
                                  const std::string& reason) {
    size_t closed = 0;
    for (const auto& conn : c_.state.sessions.snapshot()) {
        const iscsi::SessionInfo s = conn->session_info();
        if (same_name(s.target, target) &&
            (initiator.empty() || same_name(s.initiator_name, initiator))) {
            conn->post_close(reason);
            ++closed;
        }
    }
    return closed;
}

ConfigAnswer LiveConfig::remove_target(const std::string& target, bool force) {
    std::lock_guard lock(mutex_);
    const size_t ti = target_index(target);
    iscsi::TargetNode* node = c_.state.targets.node(target);
    if (ti == std::string::npos || node == nullptr) {
        return ConfigAnswer::fail(404, "unknown target " + target);
    }
    const std::string name = node->info.name;
    const size_t sessions = node->device->nexus_count();
    if (sessions > 0 && !force) {
        return ConfigAnswer::fail(409, "target " + name + " has " + std::to_string(sessions) +
                                           " session(s) logged in; ?force=true logs them out");
    }
    toml::table root = running_table();
    toml::array& targets = *root["target"].as_array();
    targets.erase(targets.begin() + static_cast<std::ptrdiff_t>(ti));
    DaemonConfig candidate;
    try {
        candidate = parse(root);
    } catch (const ConfigError& e) {
        return ConfigAnswer::fail(409, message(e, "", ""));
    }
    // No new login finds it; then its sessions end and its LUNs are retired (each flushed and
    // closed when its last command is done; the data stays).
    const auto removed = c_.state.targets.remove(name);
    const size_t closed = close_sessions(name, "", "target removed by the live configuration");
    for (const uint64_t id : removed->device->lun_ids()) {
        if (auto lun = removed->device->remove_lun(id)) {
            c_.luns.remove(lun.get());
        }
    }
    c_.config.targets = std::move(candidate.targets);
    changed(name, "target " + name + " removed (" + std::to_string(closed) +
                      " session(s) logged out; the LUNs' data kept)");
    return ConfigAnswer::ok({{"target", name}, {"sessions_closed", closed}});
}

json LiveConfig::acl_json(const TargetConfig& t) const {
    return {{"target", t.name},
            {"allowed_initiators", t.allowed_initiators},
            {"any_initiator", t.allowed_initiators.empty()}};
}

// New logins read the target's ACL and CHAP from the catalog's snapshot (TargetCatalog::find).
void LiveConfig::publish_access(const TargetConfig& t) {
    iscsi::TargetInfo info;
    info.allowed_initiators = t.allowed_initiators;
    info.chap = to_secret(t.chap);
    info.mutual_chap = to_secret(t.mutual_chap);
    info.require_mutual = t.require_mutual;
    c_.state.targets.set_access(t.name, info);
}

ConfigAnswer LiveConfig::add_initiator(const std::string& target, const json& body) {
    std::lock_guard lock(mutex_);
    const size_t ti = target_index(target);
    if (ti == std::string::npos) {
        return ConfigAnswer::fail(404, "unknown target " + target);
    }
    if (!body.is_object() || body.size() != 1 || !body.contains("initiator") ||
        !body["initiator"].is_string()) {
        return ConfigAnswer::fail(400, "expected {\"initiator\": \"iqn...\"}");
    }
    const std::string initiator = body["initiator"].get<std::string>();
    const TargetConfig& current = c_.config.targets[ti];
    if (std::find(current.allowed_initiators.begin(), current.allowed_initiators.end(),
                  initiator) != current.allowed_initiators.end()) {
        return ConfigAnswer::fail(
            409, "initiator " + initiator + " is already allowed on target " + current.name);
    }
    toml::table root = running_table();
    toml::table& table = *(*root["target"].as_array())[ti].as_table();
    if (!table.contains("allowed_initiators")) {
        table.insert("allowed_initiators", toml::array{});
    }
    toml::array& list = *table["allowed_initiators"].as_array();
    const std::string key = "target[" + std::to_string(ti) + "].allowed_initiators[" +
                            std::to_string(list.size()) + "]";
    list.push_back(initiator);
    DaemonConfig candidate;
    try {
        candidate = parse(root);
    } catch (const ConfigError& e) {
        return ConfigAnswer::fail(400, message(e, key, "initiator"));
    }
    const TargetConfig& t = candidate.targets[ti];
    publish_access(t);
    json answer = acl_json(t);
    const std::string name = t.name;
    c_.config.targets = std::move(candidate.targets);
    changed(name, "target " + name + ": initiator " + initiator + " added to the ACL");
    return ConfigAnswer::ok(std::move(answer), 201);
}

ConfigAnswer LiveConfig::remove_initiator(const std::string& target, const std::string& initiator,
                                          bool force) {
    std::lock_guard lock(mutex_);
    const size_t ti = target_index(target);
    if (ti == std::string::npos) {
        return ConfigAnswer::fail(404, "unknown target " + target);
    }
    const TargetConfig& current = c_.config.targets[ti];
    const auto it =
        std::find(current.allowed_initiators.begin(), current.allowed_initiators.end(), initiator);
    if (it == current.allowed_initiators.end()) {
        return ConfigAnswer::fail(
            404, "initiator " + initiator + " is not in the ACL of target " + current.name);
    }
    const auto position = it - current.allowed_initiators.begin();
    toml::table root = running_table();
    toml::table& table = *(*root["target"].as_array())[ti].as_table();
    toml::array& list = *table["allowed_initiators"].as_array();
    list.erase(list.begin() + position);
    if (list.empty()) {
        table.erase("allowed_initiators");  // an empty list: any initiator (the file's meaning)
    }
    DaemonConfig candidate;
    try {
        candidate = parse(root);
    } catch (const ConfigError& e) {
        return ConfigAnswer::fail(409, message(e, "", ""));
    }
    const TargetConfig& t = candidate.targets[ti];
    publish_access(t);
    const size_t closed =
        force ? close_sessions(t.name, initiator, "initiator removed from the target's ACL") : 0;
    json answer = acl_json(t);
    const std::string name = t.name;
    c_.config.targets = std::move(candidate.targets);
    changed(name,
            "target " + name + ": initiator " + initiator + " removed from the ACL" +
                (force ? " (" + std::to_string(closed) + " session(s) logged out)"
                       : std::string(" (its sessions stay)")) +
                (answer["any_initiator"].get<bool>() ? "; any initiator may log in now" : ""));
    return ConfigAnswer::ok(std::move(answer));
}

ConfigAnswer LiveConfig::set_chap(const std::string& target, const json& body) {
    std::lock_guard lock(mutex_);
    const size_t ti = target_index(target);
    if (ti == std::string::npos) {
        return ConfigAnswer::fail(404, "unknown target " + target);
    }
    if (!body.is_object()) {
        return ConfigAnswer::fail(400, "expected {\"chap\", \"mutual_chap\", \"require_mutual\"}");
    }
    toml::table root = running_table();
    toml::table& table = *(*root["target"].as_array())[ti].as_table();
    for (const auto& [key, value] : body.items()) {
        if (key != "chap" && key != "mutual_chap" && key != "require_mutual") {
            return ConfigAnswer::fail(
                400, key + ": unknown key; allowed keys: chap, mutual_chap, require_mutual");
        }
        if (value.is_null() && key != "require_mutual") {
            table.erase(key);  // no credentials: that direction is not authenticated
            continue;
        }
        std::string error;
        if (!json_to_toml(value, "", table, key, error)) {
            return ConfigAnswer::fail(400, error);
        }
    }
    DaemonConfig candidate;
    try {
        candidate = parse(root);
    } catch (const ConfigError& e) {
        return ConfigAnswer::fail(400, message(e, "target[" + std::to_string(ti) + "]", ""));
    }
    const TargetConfig& t = candidate.targets[ti];
    publish_access(t);
    const std::string name = t.name;
    const std::string text =
        "target " + name + ": CHAP " + (t.chap ? "user " + t.chap->user : std::string("off")) +
        ", mutual CHAP " + (t.mutual_chap ? "user " + t.mutual_chap->user : std::string("off")) +
        (t.require_mutual ? ", mutual required" : "") + " (for new logins)";
    c_.config.targets = std::move(candidate.targets);
    changed(name, text);
    return chap_locked(name);
}

ConfigAnswer LiveConfig::add_portal(const json& body) {
    std::lock_guard lock(mutex_);
    if (!body.is_object() || !body.contains("address") || !body.contains("port")) {
        return ConfigAnswer::fail(400, "expected {\"address\", \"port\", \"group\"?}");
    }
    if (!listen) {
        return ConfigAnswer::fail(409, "this daemon cannot add portals while it runs");
    }
    toml::table portal;
    std::optional<int64_t> group;
    for (const auto& [key, value] : body.items()) {
        if (key == "group") {
            if (!value.is_number_integer() || value.get<int64_t>() < 1) {
                return ConfigAnswer::fail(400, "group: a target port group id, 1..65535");
            }
            group = value.get<int64_t>();
            continue;
        }
        std::string error;
        if (!json_to_toml(value, "portal", portal, key, error)) {
            return ConfigAnswer::fail(400, error);
        }
    }
    toml::table root = running_table();
    toml::array& portals = *root["portal"].as_array();
    const std::string key = "portal[" + std::to_string(portals.size()) + "]";
    portals.push_back(std::move(portal));
    if (group) {
        // With target port groups a portal is named in its group's portals, "address:port" (the
        // parser checks the address; one it cannot read fails there first).
        toml::array* groups = root["target_port_group"].as_array();
        toml::table* wanted = nullptr;
        for (size_t g = 0; groups != nullptr && g < groups->size(); ++g) {
            toml::table& t = *(*groups)[g].as_table();
            if (t["id"].value<int64_t>() == group) {
                wanted = &t;
            }
        }
        if (wanted == nullptr || !wanted->contains("portals")) {
            return ConfigAnswer::fail(
                400, "group: no target port group " + std::to_string(*group) +
                         " of this gateway (" +
                         (c_.config.port_groups.empty() ? "the configuration has none"
                                                        : "see GET /api/v1/paths") +
                         ")");
        }
        const std::string address =
            body["address"].is_string() ? body["address"].get<std::string>() : std::string();
        boost::system::error_code ec;
        const auto parsed = boost::asio::ip::make_address(address, ec);
        if (!ec) {
            const std::string canonical = parsed.to_string();
            const bool v6 = canonical.find(':') != std::string::npos;
            (*wanted)["portals"].as_array()->push_back(
                (v6 ? "[" + canonical + "]" : canonical) + ":" +
                std::to_string(body["port"].is_number_integer() ? body["port"].get<int64_t>() : 0));
        }
    }
    DaemonConfig candidate;
    try {
        candidate = parse(root);
    } catch (const ConfigError& e) {
        const std::string text = message(e, key, "portal");
        // "duplicate of portal[0]": it exists already.
        return ConfigAnswer::fail(text.find(": duplicate of ") != std::string::npos ? 409 : 400,
                                  text);
    }
    const PortalConfig& pc = candidate.portals.back();
    const std::string name = portal_name(pc);
    if (const std::string error = listen(pc); !error.empty()) {
        return ConfigAnswer::fail(400, "portal " + name + ": cannot listen: " + error);
    }
    json answer{{"address", name}};
    if (pc.group) {
        answer["group"] = *pc.group;
    }
    c_.config.portals = candidate.portals;
    c_.config.port_groups = candidate.port_groups;
    changed("", "portal " + name + " added" +
                    (pc.group ? " to target port group " + std::to_string(*pc.group) : ""));
    return ConfigAnswer::ok(std::move(answer), 201);
}

ConfigAnswer LiveConfig::remove_portal(const std::string& portal, bool force) {
    std::lock_guard lock(mutex_);
    if (!stop_listening || !portal_sessions) {
        return ConfigAnswer::fail(409, "this daemon cannot remove portals while it runs");
    }
    const auto it = std::find_if(c_.config.portals.begin(), c_.config.portals.end(),
                                 [&](const PortalConfig& p) { return portal_name(p) == portal; });
    if (it == c_.config.portals.end()) {
        return ConfigAnswer::fail(404, "unknown portal " + portal);
    }
    const auto pi = it - c_.config.portals.begin();
    const std::string name = portal_name(*it);
    const size_t sessions = portal_sessions(name);
    if (sessions > 0 && !force) {
        return ConfigAnswer::fail(409, "portal " + name + " has " + std::to_string(sessions) +
                                           " session(s); ?force=true closes them");
    }
    if (c_.config.portals.size() == 1) {
        return ConfigAnswer::fail(409, "portal " + name +
                                           " is the last one (without any the config file means "
                                           "0.0.0.0:3260)");
    }
    toml::table root = running_table();
    toml::array& portals = *root["portal"].as_array();
    portals.erase(portals.begin() + pi);
    if (auto* groups = root["target_port_group"].as_array()) {
        for (auto& g : *groups) {
            if (auto* list = g.as_table()->get_as<toml::array>("portals")) {
                for (auto entry = list->begin(); entry != list->end(); ++entry) {
                    if (entry->value<std::string>() == name) {
                        list->erase(entry);
                        break;
                    }
                }
            }
        }
    }
    DaemonConfig candidate;
    try {
        candidate = parse(root);
    } catch (const ConfigError& e) {
        // A group left without portals, for one.
        return ConfigAnswer::fail(409, message(e, "", ""));
    }
    const size_t closed = stop_listening(name, force);
    c_.config.portals = candidate.portals;
    c_.config.port_groups = candidate.port_groups;
    changed("", "portal " + name + " removed (" + std::to_string(closed) + " session(s) closed)");
    return ConfigAnswer::ok({{"portal", name}, {"sessions_closed", closed}});
}

}  // namespace atsarray::daemon
