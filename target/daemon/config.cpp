#include "target/daemon/config.hpp"

#include <algorithm>
#include <bit>
#include <boost/asio/ip/address.hpp>
#include <boost/system/error_code.hpp>
#include <cerrno>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <limits>
#include <map>
#include <sstream>
#include <string_view>
#include <system_error>
#include <utility>

#include <toml++/toml.h>

#include "backend/rocksdb_store.hpp"
#include "target/daemon/config_alua.hpp"
#include "target/daemon/config_lun.hpp"
#include "target/daemon/toml_reader.hpp"
#include "target/scsi/lun_limits.hpp"

namespace atsarray::daemon {

namespace {

using scsi::max_lun_id;
// RFC 7143 §13.12: MaxRecvDataSegmentLength, MaxBurstLength, FirstBurstLength are 512..2^24-1.
constexpr uint64_t min_data_length = 512;
constexpr uint64_t max_data_length = 16777215;
// RFC 7143 §9.2.1: CHAP secrets of at least 96 bits; 255 bytes is the longest most initiators take.
constexpr size_t min_chap_secret = 12;
constexpr size_t max_chap_secret = 255;

class Parser : public TomlReader {
  public:
    Parser(std::string origin, std::filesystem::path base_dir)
        : TomlReader(std::move(origin)), base_dir_(std::move(base_dir)), luns_(*this, base_dir_) {}

    DaemonConfig parse(const toml::table& root) {
        DaemonConfig config;
        config.source_path = origin();
        check_keys(root, "",
                   {"log_level", "io_threads", "io_poll_us", "worker_threads", "data_dir", "umask",
                    "rocksdb", "ats", "console", "fault", "portal", "target_port_group", "alua",
                    "iscsi", "target"});

        if (auto level = get_string(root, "", "log_level")) {
            config.log_level = get_choice(*level, "log_level", log_levels);
        }
        config.io_threads =
            static_cast<uint32_t>(get_uint(root, "", "io_threads", 0, 1024, config.io_threads));
        config.io_poll_us =
            static_cast<uint32_t>(get_uint(root, "", "io_poll_us", 0, 10000, config.io_poll_us));
        config.worker_threads = static_cast<uint32_t>(
            get_uint(root, "", "worker_threads", 1, 1024, config.worker_threads));
        const auto data_dir = get_string(root, "", "data_dir").value_or("data");
        if (data_dir.empty()) {
            fail("data_dir", "must not be empty");
        }
        config.data_dir = resolve(data_dir);
        if (auto mask = get_string(root, "", "umask")) {
            config.umask = parse_umask(*mask);
        }
        if (const auto* rocksdb = get_table(root, "", "rocksdb")) {
            parse_rocksdb(*rocksdb, config.rocksdb);
        }
        luns_.set_rocksdb(config.data_dir, config.rocksdb);  // every rocksdb LUN gets them

        if (const auto* ats = get_table(root, "", "ats")) {
            check_keys(*ats, "ats",
                       {"lock_stripes", "recorder", "recorder_blocks", "recorder_entries",
                        "recorder_image_mib", "recorder_persist"});
            config.ats.recorder = get_bool(*ats, "ats", "recorder", config.ats.recorder);
            config.ats.recorder_blocks = static_cast<uint32_t>(
                get_uint(*ats, "ats", "recorder_blocks", 1, 1u << 20, config.ats.recorder_blocks));
            config.ats.recorder_entries = static_cast<uint32_t>(
                get_uint(*ats, "ats", "recorder_entries", 2, 4096, config.ats.recorder_entries));
            config.ats.recorder_image_mib = static_cast<uint32_t>(get_uint(
                *ats, "ats", "recorder_image_mib", 1, 4096, config.ats.recorder_image_mib));
            config.ats.recorder_persist =
                get_bool(*ats, "ats", "recorder_persist", config.ats.recorder_persist);
            const uint64_t stripes =
                get_uint(*ats, "ats", "lock_stripes", 1, 1u << 20, config.ats.lock_stripes);
            if (!std::has_single_bit(stripes)) {
                fail("ats.lock_stripes", "must be a power of two, got " + std::to_string(stripes));
            }
            config.ats.lock_stripes = static_cast<uint32_t>(stripes);
        }

        if (const auto* console = get_table(root, "", "console")) {
            parse_console(*console, config.console);
        }
        if (const auto* fault = get_table(root, "", "fault")) {
            parse_fault(*fault, config.fault);
        }

        parse_portals(root, config);
        parse_target_port_groups(*this, root, config);
        groups_configured_ = !config.port_groups.empty();
        if (const auto* iscsi = get_table(root, "", "iscsi")) {
            parse_iscsi(*iscsi, config.iscsi);
        }
        parse_targets(root, config);
        check_remote_groups(config);
        return config;
    }

  private:
    // A group served by another gateway shares its state through the records of an RBD image
    // (the gateways' common medium): every target needs an rbd LUN to hold them.
    void check_remote_groups(const DaemonConfig& config) const {
        const auto remote = std::find_if(config.port_groups.begin(), config.port_groups.end(),
                                         [](const PortGroupConfig& g) { return g.remote(); });
        if (remote == config.port_groups.end()) {
            return;
        }
        const auto local = std::count_if(config.port_groups.begin(), config.port_groups.end(),
                                         [](const PortGroupConfig& g) { return !g.remote(); });
        if (local != 1) {
            fail(join_path(remote->key, "remote_portals"),
                 "a gateway of a multi-gateway array is one target port group: give exactly one "
                 "group portals of this daemon (" +
                     std::to_string(local) + " have)");
        }
        for (const TargetConfig& target : config.targets) {
            const bool has_rbd =
                std::any_of(target.luns.begin(), target.luns.end(),
                            [](const LunConfig& l) { return l.backend == BackendKind::rbd; });
            if (!has_rbd) {
                fail(join_path(remote->key, "remote_portals"),
                     "target " + target.name +
                         " has no rbd LUN: another gateway's group shares its state through an "
                         "RBD image's records");
            }
        }
    }

    std::optional<ChapCredentials> get_chap(const toml::table& table, const std::string& path,
                                            std::string_view key) const {
        const auto* chap = get_table(table, path, key);
        if (chap == nullptr) {
            return std::nullopt;
        }
        const std::string chap_path = join_path(path, key);
        check_keys(*chap, chap_path, {"user", "secret"});
        ChapCredentials credentials;
        credentials.user = require_string(*chap, chap_path, "user");
        if (credentials.user.empty() || credentials.user.size() > 255 ||
            !is_printable_ascii(credentials.user)) {
            fail(join_path(chap_path, "user"), "must be 1 to 255 printable ASCII characters");
        }
        credentials.secret = require_string(*chap, chap_path, "secret");
        const size_t n = credentials.secret.size();
        if (n < min_chap_secret || n > max_chap_secret) {
            fail(join_path(chap_path, "secret"), "must be " + std::to_string(min_chap_secret) +
                                                     " to " + std::to_string(max_chap_secret) +
                                                     " bytes long (RFC 7143 §9.2.1), got " +
                                                     std::to_string(n));
        }
        return credentials;
    }

    void parse_portals(const toml::table& root, DaemonConfig& config) const {
        const auto tables = get_table_array(root, "portal");
        std::map<std::pair<std::string, uint16_t>, size_t> seen;
        for (size_t i = 0; i < tables.size(); ++i) {
            const auto& table = *tables[i];
            const std::string path = index_path("portal", i);
            check_keys(table, path, {"address", "port"});
            PortalConfig portal;
            if (auto address = get_string(table, path, "address")) {
                boost::system::error_code ec;
                const auto parsed = boost::asio::ip::make_address(*address, ec);
                if (ec) {
                    fail(join_path(path, "address"),
                         "not an IPv4 or IPv6 address: " + in_quotes(*address));
                }
                portal.address = parsed.to_string();
            }
            portal.port = static_cast<uint16_t>(get_uint(table, path, "port", 1, 65535, 3260));
            const auto [it, inserted] = seen.emplace(std::pair(portal.address, portal.port), i);
            if (!inserted) {
                fail(path, "duplicate of portal[" + std::to_string(it->second) + "] (" +
                               portal.address + " port " + std::to_string(portal.port) + ")");
            }
            config.portals.push_back(portal);
        }
        if (config.portals.empty()) {
            config.portals.push_back(PortalConfig{});  // 0.0.0.0:3260
        }
    }

    // A path from the config, relative to the config's folder.
    std::string resolve(const std::string& path) const {
        std::filesystem::path p(path);
        if (p.is_relative() && !base_dir_.empty()) {
            p = base_dir_ / p;
        }
        return p.lexically_normal().string();
    }

    void parse_fault(const toml::table& table, FaultConfig& fault) const {
        check_keys(table, "fault", {"enabled", "presets", "rule"});
        fault.enabled = get_bool(table, "fault", "enabled", false);
        const auto rules = get_table_array(table, "rule");
        if (!rules.empty() && !fault.enabled) {
            fail("fault.rule", "fault injection is off: set [fault] enabled = true to use rules");
        }
        for (size_t i = 0; i < rules.size(); ++i) {
            fault.rules.push_back(
                parse_fault_rule(*rules[i], "fault.rule[" + std::to_string(i) + "]"));
        }
        if (const toml::node* node = table.get("presets")) {
            const toml::array* names = node->as_array();
            if (names == nullptr) {
                fail("fault.presets", "expected an array of preset names");
            }
            if (!fault.enabled && !names->empty()) {
                fail("fault.presets",
                     "fault injection is off: set [fault] enabled = true to use presets");
            }
            for (const toml::node& n : *names) {
                const auto name = n.value<std::string>();
                const fault::Preset* preset = name ? fault::find_preset(*name) : nullptr;
                if (preset == nullptr) {
                    std::string known;
                    for (const fault::Preset& p : fault::presets()) {
                        known += (known.empty() ? "" : ", ") + std::string(p.name);
                    }
                    fail("fault.presets", "unknown preset; known: " + known);
                }
                fault.rules.insert(fault.rules.end(), preset->rules.begin(), preset->rules.end());
            }
        }
    }

    fault::RuleSpec parse_fault_rule(const toml::table& t, const std::string& path) const {
        check_keys(
            t, path,
            {"name",      "action",       "target",       "lun",    "initiator", "lba_first",
             "lba_last",  "command",      "probability",  "every",  "max_hits",  "active_seconds",
             "stage",     "delay_ms",     "delay_p99_ms", "status", "sense_key", "asc",
             "ascq",      "enabled",      "stale_ms",     "group",  "state",     "state_b",
             "period_ms", "transition_ms"});
        fault::RuleSpec r;
        r.name = get_string(t, path, "name").value_or("");
        const auto action = get_string(t, path, "action");
        if (!action || !fault::action_from(*action)) {
            fail(join_path(path, "action"), "must be one of " + fault::action_names());
        }
        r.action = *fault::action_from(*action);
        r.target = get_string(t, path, "target").value_or("");
        r.lun = get_optional_uint(t, path, "lun", 0, max_lun_id);
        r.initiator = get_string(t, path, "initiator").value_or("");
        r.lba_first = get_uint(t, path, "lba_first", 0, std::numeric_limits<int64_t>::max(), 0);
        // Absent: to the end, as a rule made through the API or a preset (fault::validate()
        // refuses a path rule with any other lba_last).
        r.lba_last = t.contains("lba_last")
                         ? get_uint(t, path, "lba_last", 0, std::numeric_limits<int64_t>::max(), 0)
                         : UINT64_MAX;
        if (auto c = get_string(t, path, "command")) {
            if (!fault::command_class_from(*c)) {
                fail(join_path(path, "command"),
                     "must be " + alternatives(names_of(fault_command_classes)));
            }
            r.command = *fault::command_class_from(*c);
        } else {
            r.command = fault::default_command(r.action);
        }
        if (const toml::node* p = t.get("probability")) {
            const auto v = p->value<double>();
            if (!v) {
                fail(join_path(path, "probability"), "must be a number in (0, 1]");
            }
            r.probability = *v;
        }
        r.every = get_uint(t, path, "every", 1, 1'000'000'000, 1);
        r.max_hits = get_uint(t, path, "max_hits", 0, 1'000'000'000, 0);
        r.active_seconds = get_uint(t, path, "active_seconds", 0, 1'000'000'000, 0);
        if (auto s = get_string(t, path, "stage")) {
            if (!fault::delay_stage_from(*s)) {
                fail(join_path(path, "stage"),
                     "must be " + alternatives(names_of(fault_delay_stages)));
            }
            r.stage = *fault::delay_stage_from(*s);
        }
        r.delay_ms = static_cast<uint32_t>(get_uint(t, path, "delay_ms", 0, 600'000, 0));
        r.delay_p99_ms = static_cast<uint32_t>(get_uint(t, path, "delay_p99_ms", 0, 600'000, 0));
        r.stale_ms = static_cast<uint32_t>(get_uint(t, path, "stale_ms", 1, 600'000, r.stale_ms));
        if (auto s = get_string(t, path, "status")) {
            if (!fault::status_kind_from(*s)) {
                fail(join_path(path, "status"),
                     "must be " + alternatives(names_of(fault_status_kinds)));
            }
            r.status = *fault::status_kind_from(*s);
        }
        r.sense_key = static_cast<uint8_t>(get_uint(t, path, "sense_key", 0, 15, r.sense_key));
        r.asc = static_cast<uint8_t>(get_uint(t, path, "asc", 0, 255, 0));
        r.ascq = static_cast<uint8_t>(get_uint(t, path, "ascq", 0, 255, 0));
        r.enabled = get_bool(t, path, "enabled", true);
        r.group = static_cast<uint16_t>(get_uint(t, path, "group", 0, 65535, 0));
        for (const auto& [key, field] : {std::pair{"state", &r.state}, {"state_b", &r.state_b}}) {
            if (auto s = get_string(t, path, key)) {
                if (!fault::port_state_from(*s)) {
                    fail(join_path(path, key),
                         "must be " + alternatives(names_of(fault_port_states)));
                }
                *field = *fault::port_state_from(*s);
            }
        }
        r.period_ms =
            static_cast<uint32_t>(get_uint(t, path, "period_ms", 0, 600'000, r.period_ms));
        r.transition_ms = static_cast<uint32_t>(get_uint(t, path, "transition_ms", 0, 600'000, 0));
        if (const std::string error = fault::validate(r); !error.empty()) {
            fail(path, error);
        }
        return r;
    }

    void parse_console(const toml::table& table, ConsoleConfig& console) const {
        const std::string path = "console";
        check_keys(table, path,
                   {"enabled", "address", "port", "token", "static_dir", "keep_ended_sessions_s"});
        console.enabled = get_bool(table, path, "enabled", true);
        if (auto address = get_string(table, path, "address")) {
            boost::system::error_code ec;
            const auto parsed = boost::asio::ip::make_address(*address, ec);
            if (ec) {
                fail("console.address",
                     "must be an IPv4 or IPv6 address, got " + in_quotes(*address));
            }
            console.address = *address;
            if (!parsed.is_loopback() && table.get("token") == nullptr) {
                fail("console.token",
                     "required when console.address is not a loopback address (the console "
                     "would be open to the network)");
            }
        }
        console.port = static_cast<uint16_t>(get_uint(table, path, "port", 1, 65535, console.port));
        if (auto token = get_string(table, path, "token")) {
            if (token->size() < 16 || token->size() > 256) {
                fail("console.token", "must be 16..256 characters");
            }
            for (const char c : *token) {
                if (c <= 0x20 || c > 0x7e) {
                    fail("console.token", "must be printable ASCII without spaces");
                }
            }
            console.token = *token;
        }
        if (auto dir = get_string(table, path, "static_dir")) {
            console.static_dir = resolve(*dir);
        }
        console.keep_ended_sessions_s = static_cast<uint32_t>(get_uint(
            table, path, "keep_ended_sessions_s", 1, 86400, console.keep_ended_sessions_s));
    }

    void parse_rocksdb(const toml::table& table, RocksDbConfig& rocksdb) const {
        const std::string path = "rocksdb";
        check_keys(table, path, {"block_cache", "compression", "background_jobs", "chunk_size"});
        if (const toml::node* node = table.get("block_cache");
            node != nullptr && node->value<std::string>() == "auto") {
            rocksdb.block_cache_bytes = 0;  // backend::RocksDbOptions: sized to the machine
        } else if (node != nullptr) {
            rocksdb.block_cache_bytes = parse_size(*this, *node, "rocksdb.block_cache");
            if (rocksdb.block_cache_bytes < (1u << 20)) {
                fail("rocksdb.block_cache",
                     "must be at least 1MiB, got " + std::to_string(rocksdb.block_cache_bytes));
            }
        }
        if (auto compression = get_string(table, path, "compression")) {
            rocksdb.compression =
                get_choice(*compression, "rocksdb.compression", rocksdb_compressions);
        }
        rocksdb.background_jobs = static_cast<uint32_t>(
            get_uint(table, path, "background_jobs", 1, 64, rocksdb.background_jobs));
        if (const toml::node* node = table.get("chunk_size")) {
            const uint64_t bytes = parse_size(*this, *node, "rocksdb.chunk_size");
            if (!backend::valid_chunk_bytes(bytes)) {
                fail("rocksdb.chunk_size", "must be a power of two from " +
                                               std::to_string(backend::min_chunk_bytes) + " to " +
                                               std::to_string(backend::max_chunk_bytes >> 20) +
                                               "MiB, got " + std::to_string(bytes));
            }
            rocksdb.chunk_bytes = bytes;
        }
    }

    void parse_iscsi(const toml::table& table, IscsiConfig& iscsi) const {
        const std::string path = "iscsi";
        check_keys(
            table, path,
            {"max_recv_data_segment_length", "max_burst_length", "first_burst_length",
             "max_outstanding_r2t", "initial_r2t", "immediate_data", "queue_depth",
             "nop_in_interval", "nop_in_timeout", "login_timeout", "discovery_chap",
             "abort_answered_task", "connection_buffer", "buffer_budget", "immediate_commands",
             "send_timeout", "max_connections", "max_connections_per_initiator"});
        const auto u32 = [&](std::string_view key, uint64_t min, uint64_t max, uint32_t fallback) {
            return static_cast<uint32_t>(get_uint(table, path, key, min, max, fallback));
        };
        iscsi.max_recv_data_segment_length =
            u32("max_recv_data_segment_length", min_data_length, max_data_length,
                iscsi.max_recv_data_segment_length);
        iscsi.max_burst_length =
            u32("max_burst_length", min_data_length, max_data_length, iscsi.max_burst_length);
        iscsi.first_burst_length =
            u32("first_burst_length", min_data_length, max_data_length, iscsi.first_burst_length);
        if (iscsi.first_burst_length > iscsi.max_burst_length) {
            fail("iscsi.first_burst_length",
                 "must not exceed max_burst_length (" + std::to_string(iscsi.max_burst_length) +
                     "), got " + std::to_string(iscsi.first_burst_length) + " (RFC 7143 §13.14)");
        }
        iscsi.max_outstanding_r2t = u32("max_outstanding_r2t", 1, 65535, iscsi.max_outstanding_r2t);
        iscsi.initial_r2t = get_bool(table, path, "initial_r2t", iscsi.initial_r2t);
        iscsi.immediate_data = get_bool(table, path, "immediate_data", iscsi.immediate_data);
        iscsi.queue_depth = u32("queue_depth", 1, 1024, iscsi.queue_depth);
        iscsi.nop_in_interval_s = u32("nop_in_interval", 0, 3600, iscsi.nop_in_interval_s);
        iscsi.nop_in_timeout_s = u32("nop_in_timeout", 1, 3600, iscsi.nop_in_timeout_s);
        iscsi.login_timeout_s = u32("login_timeout", 1, 3600, iscsi.login_timeout_s);
        iscsi.discovery_chap = get_chap(table, path, "discovery_chap");
        if (const auto* node = table.get("connection_buffer"); node != nullptr) {
            iscsi.connection_buffer_bytes = parse_size(*this, *node, "iscsi.connection_buffer");
        }
        if (const auto* node = table.get("buffer_budget"); node != nullptr) {
            iscsi.buffer_budget_bytes = parse_size(*this, *node, "iscsi.buffer_budget");
        }
        if (iscsi.buffer_budget_bytes < iscsi.connection_buffer_bytes) {
            fail("iscsi.buffer_budget", "must be at least iscsi.connection_buffer (" +
                                            std::to_string(iscsi.connection_buffer_bytes) +
                                            " bytes), got " +
                                            std::to_string(iscsi.buffer_budget_bytes));
        }
        iscsi.max_immediate_commands =
            u32("immediate_commands", 1, 1024, iscsi.max_immediate_commands);
        iscsi.send_timeout_s = u32("send_timeout", 1, 3600, iscsi.send_timeout_s);
        iscsi.max_connections = u32("max_connections", 1, 65535, iscsi.max_connections);
        iscsi.max_connections_per_initiator =
            u32("max_connections_per_initiator", 1, 65535, iscsi.max_connections_per_initiator);
        if (const auto* node = table.get("abort_answered_task"); node != nullptr) {
            const auto value = node->value<std::string>();
            const auto answer = value ? abort_answered_task_from(*value) : std::nullopt;
            if (!answer) {
                fail("iscsi.abort_answered_task",
                     "must be " + in_quotes(to_string(AbortAnsweredTask::task_does_not_exist)) +
                         " (RFC 7143 §11.5.1) or " +
                         in_quotes(to_string(AbortAnsweredTask::function_complete)) +
                         " (what ESXi expects)");
            }
            iscsi.abort_answered_task = *answer;
        }
    }

    void parse_targets(const toml::table& root, DaemonConfig& config) {
        const auto tables = get_table_array(root, "target");
        if (tables.empty()) {
            fail("target", "at least one [[target]] is required");
        }
        for (size_t i = 0; i < tables.size(); ++i) {
            TargetConfig target = parse_target(*tables[i], index_path("target", i));
            config.targets.push_back(std::move(target));
        }
    }

    TargetConfig parse_target(const toml::table& table, const std::string& path) {
        check_keys(table, path,
                   {"name", "alias", "portal_group_tag", "allowed_initiators", "chap",
                    "mutual_chap", "require_mutual", "lun"});
        TargetConfig target;
        target.name = require_string(table, path, "name");
        if (auto problem = check_iscsi_name(target.name); !problem.empty()) {
            fail(join_path(path, "name"), problem);
        }
        // eui./naa. hex digits are case-insensitive; iqn. names are already lowercase.
        std::string folded = target.name;
        std::transform(folded.begin(), folded.end(), folded.begin(), [](char c) {
            return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
        });
        if (const auto [it, inserted] = target_names_.emplace(folded, path); !inserted) {
            fail(join_path(path, "name"), "duplicate target name " + in_quotes(target.name) +
                                              " (also " + it->second + ".name)");
        }
        if (auto alias = get_string(table, path, "alias")) {
            // TargetAlias (RFC 7143 §13.6) is free text up to 255 bytes.
            if (alias->size() > 255 || !is_printable_ascii(*alias)) {
                fail(join_path(path, "alias"), "must be at most 255 printable ASCII characters");
            }
            target.alias = *alias;
        }
        if (groups_configured_ && table.get("portal_group_tag") != nullptr) {
            fail(join_path(path, "portal_group_tag"),
                 "the target port groups set the portal group tags (each portal answers with its "
                 "group's id); remove it");
        }
        target.portal_group_tag =
            static_cast<uint16_t>(get_uint(table, path, "portal_group_tag", 0, 65535, 1));
        parse_initiators(table, path, target);

        target.chap = get_chap(table, path, "chap");
        target.mutual_chap = get_chap(table, path, "mutual_chap");
        if (target.mutual_chap && !target.chap) {
            fail(join_path(path, "mutual_chap"),
                 "requires [target.chap]: the initiator authenticates first, then the target");
        }
        if (target.mutual_chap && target.mutual_chap->secret == target.chap->secret) {
            fail(join_path(path, "mutual_chap.secret"),
                 "must differ from chap.secret (RFC 7143 §9.2.1: one secret per direction)");
        }
        target.require_mutual = get_bool(table, path, "require_mutual", false);
        if (target.require_mutual && !target.mutual_chap) {
            fail(join_path(path, "require_mutual"),
                 "requires [target.mutual_chap]: the target needs a secret to authenticate itself");
        }

        const std::string lun_key = join_path(path, "lun");
        const toml::node* luns = table.get("lun");
        if (luns == nullptr || (luns->is_array() && luns->as_array()->empty())) {
            fail(lun_key, "at least one [[target.lun]] is required");
        }
        if (!luns->is_array()) {
            fail(lun_key,
                 "expected an array of tables ([[target.lun]]), got " + type_name(luns->type()));
        }
        luns_.begin_target();
        const auto& array = *luns->as_array();
        for (size_t j = 0; j < array.size(); ++j) {
            const std::string lun_path = index_path(lun_key, j);
            if (!array[j].is_table()) {
                fail(lun_path, "expected a table, got " + type_name(array[j].type()));
            }
            LunConfig lun = luns_.parse(*array[j].as_table(), lun_path, target.name);
            target.luns.push_back(std::move(lun));
        }
        return target;
    }

    void parse_initiators(const toml::table& table, const std::string& path,
                          TargetConfig& target) const {
        const std::string key = join_path(path, "allowed_initiators");
        const auto* node = get_node(table, path, "allowed_initiators", toml::node_type::array,
                                    "an array of strings");
        if (node == nullptr) {
            return;
        }
        const auto& array = *node->as_array();
        for (size_t k = 0; k < array.size(); ++k) {
            const std::string item_path = index_path(key, k);
            if (!array[k].is_string()) {
                fail(item_path, "expected a string, got " + type_name(array[k].type()));
            }
            const std::string name = array[k].as_string()->get();
            if (auto problem = check_iscsi_name(name); !problem.empty()) {
                fail(item_path, problem);
            }
            const auto dup =
                std::find(target.allowed_initiators.begin(), target.allowed_initiators.end(), name);
            if (dup != target.allowed_initiators.end()) {
                fail(item_path, "duplicate initiator " + in_quotes(name) + " (also " +
                                    index_path(key, static_cast<size_t>(
                                                        dup - target.allowed_initiators.begin())) +
                                    ")");
            }
            target.allowed_initiators.push_back(name);
        }
    }

    // An octal umask, "0077" or "077". The owner's read and write bits must stay: the daemon
    // reopens what it creates (the identity, the reservations, RocksDB's files).
    uint32_t parse_umask(const std::string& text) const {
        const bool octal =
            !text.empty() && text.size() <= 4 &&
            std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '7'; });
        if (!octal) {
            fail("umask", "expected an octal mask like \"0077\", got " + in_quotes(text));
        }
        uint32_t mask = 0;
        for (const char c : text) {
            mask = mask * 8 + static_cast<uint32_t>(c - '0');
        }
        if (mask > 0777) {
            fail("umask", "must be at most 0777, got " + in_quotes(text));
        }
        if ((mask & 0600) != 0) {
            fail("umask", in_quotes(text) +
                              " takes the owner's read or write permission; the daemon could "
                              "not reopen its own files");
        }
        return mask;
    }

    std::filesystem::path base_dir_;
    LunParser luns_;
    bool groups_configured_ = false;                   // [[target_port_group]] present
    std::map<std::string, std::string> target_names_;  // case-folded name -> target's key
};

}  // namespace

DaemonConfig parse_config(const std::string& text, const std::string& origin,
                          const std::string& base_dir) {
    toml::table root;
    try {
        root = toml::parse(text, origin);
    } catch (const toml::parse_error& e) {
        const auto& where = e.source().begin;
        throw ConfigError(origin + ":" + std::to_string(where.line) + ":" +
                          std::to_string(where.column) + ": " + std::string(e.description()));
    }
    Parser parser(origin, std::filesystem::path(base_dir));
    return parser.parse(root);
}

DaemonConfig load_config(const std::string& path) {
    std::error_code ec;
    if (std::filesystem::is_directory(path, ec)) {
        throw ConfigError("cannot read " + path + ": is a directory");
    }
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        const int e = errno;
        throw ConfigError("cannot read " + path + ": " +
                          std::error_code(e, std::generic_category()).message());
    }
    std::ostringstream text;
    text << in.rdbuf();
    if (in.bad()) {
        throw ConfigError("cannot read " + path + ": read error");
    }
    // Absolute, so LUN paths stay right if the daemon later changes its working folder.
    const auto base = std::filesystem::absolute(path, ec).parent_path();
    return parse_config(text.str(), path, base.string());
}

}  // namespace atsarray::daemon
