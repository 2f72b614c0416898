#include "target/daemon/live_config.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/ip/address.hpp>
#include <filesystem>
#include <limits>
#include <sstream>

#include "target/daemon/config_writer.hpp"
#include "target/daemon/live_config_support.hpp"
#include "target/daemon/start_checks.hpp"
#include "target/iscsi/connection.hpp"
#include "target/iscsi/server_state.hpp"
#include "target/scsi/lun.hpp"
#include "target/scsi/target_device.hpp"

namespace atsarray::daemon {

using nlohmann::json;
using webui::ConfigAnswer;

namespace live_detail {

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

}  // namespace live_detail

using live_detail::lun_array;
using live_detail::lun_key;
using live_detail::lun_position;
using live_detail::medium_text;
using live_detail::same_name;
using live_detail::size_text;

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

LiveConfig::FoundTarget LiveConfig::find_target(const std::string& target) const {
    const size_t ti = target_index(target);
    auto node = c_.state.targets.node(target);
    if (ti == std::string::npos || node == nullptr) {
        return {std::string::npos, nullptr};
    }
    return {ti, std::move(node)};
}

ConfigAnswer LiveConfig::unknown_target(const std::string& target) {
    return ConfigAnswer::fail(404, "unknown target " + target);
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
        const auto node = c_.state.targets.node(tc.name);
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

std::string LiveConfig::saved_text() const {
    if (!c_.faults) {
        return write_config(c_.config);
    }
    DaemonConfig now = c_.config;
    now.fault.rules.clear();
    for (const fault::RuleState& rule : c_.faults->rules()) {
        now.fault.rules.push_back(rule.spec);
    }
    return write_config(now);
}

std::string LiveConfig::running_config() {
    std::lock_guard lock(mutex_);
    return saved_text();
}

ConfigAnswer LiveConfig::save() {
    std::lock_guard lock(mutex_);
    const std::string text = saved_text();
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
    const auto [ti, node] = find_target(target);
    if (node == nullptr) {
        return unknown_target(target);
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
    const auto [ti, node] = find_target(target);
    if (node == nullptr) {
        return unknown_target(target);
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
    const auto [ti, node] = find_target(target);
    if (node == nullptr) {
        return unknown_target(target);
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
        c_.factory.forget(*removed);
    }
    c_.config.targets = std::move(candidate.targets);
    changed(name, "target " + name + " lun " + std::to_string(id) + " removed (" +
                      std::to_string(sessions) +
                      " session(s) logged in; data kept: " + medium_text(removed_config) + ")");
    return ConfigAnswer::ok({{"target", name}, {"lun", id}, {"sessions", sessions}});
}

}  // namespace atsarray::daemon
