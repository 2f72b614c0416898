#include "target/daemon/config_writer.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <limits>
#include <sstream>
#include <system_error>

namespace atsarray::daemon {

namespace {

int64_t as_int(uint64_t v) {
    return static_cast<int64_t>(v);
}

toml::table chap_table(const ChapCredentials& c) {
    return toml::table{{"user", c.user}, {"secret", c.secret}};
}

// As config_alua.cpp names a [[portal]] in a group's portals: "a:p", "[v6]:p".
std::string portal_name(const PortalConfig& p) {
    const bool v6 = p.address.find(':') != std::string::npos;
    return (v6 ? "[" + p.address + "]" : p.address) + ":" + std::to_string(p.port);
}

std::string umask_text(uint32_t mask) {
    std::string out;
    for (int shift = 9; shift >= 0; shift -= 3) {
        out += static_cast<char>('0' + ((mask >> shift) & 7));
    }
    return out;
}

// Only what differs from a rule's defaults (as [[fault.rule]] is read): the parser and
// fault::validate() then see exactly what the file they came from had.
toml::table fault_rule_table(const fault::RuleSpec& r) {
    const fault::RuleSpec d;
    toml::table t{{"name", r.name},
                  {"action", std::string(fault::to_string(r.action))},
                  {"command", std::string(fault::to_string(r.command))},
                  {"enabled", r.enabled}};
    if (!r.target.empty()) {
        t.insert("target", r.target);
    }
    if (r.lun) {
        t.insert("lun", as_int(*r.lun));
    }
    if (!r.initiator.empty()) {
        t.insert("initiator", r.initiator);
    }
    if (r.lba_first != 0) {
        t.insert("lba_first", as_int(r.lba_first));
    }
    // "To the end" is written as nothing: the parser's default (2^63-1) stands for it.
    if (r.lba_last < static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
        t.insert("lba_last", as_int(r.lba_last));
    }
    if (r.probability != d.probability) {
        t.insert("probability", r.probability);
    }
    const auto put = [&t](std::string_view key, uint64_t value, uint64_t fallback) {
        if (value != fallback) {
            t.insert(key, as_int(value));
        }
    };
    put("every", r.every, d.every);
    put("max_hits", r.max_hits, d.max_hits);
    put("active_seconds", r.active_seconds, d.active_seconds);
    if (r.stage != d.stage) {
        t.insert("stage", std::string(fault::to_string(r.stage)));
    }
    put("delay_ms", r.delay_ms, d.delay_ms);
    put("delay_p99_ms", r.delay_p99_ms, d.delay_p99_ms);
    put("stale_ms", r.stale_ms, d.stale_ms);
    if (r.status != d.status) {
        t.insert("status", std::string(fault::to_string(r.status)));
    }
    put("sense_key", r.sense_key, d.sense_key);
    put("asc", r.asc, d.asc);
    put("ascq", r.ascq, d.ascq);
    put("group", r.group, d.group);
    if (r.state != d.state) {
        t.insert("state", std::string(fault::to_string(r.state)));
    }
    if (r.state_b != d.state_b) {
        t.insert("state_b", std::string(fault::to_string(r.state_b)));
    }
    put("period_ms", r.period_ms, d.period_ms);
    put("transition_ms", r.transition_ms, d.transition_ms);
    return t;
}

std::string error_text(const std::string& what, const std::string& path, int error) {
    return what + " " + path + ": " + std::error_code(error, std::generic_category()).message();
}

}  // namespace

toml::table lun_table(const LunConfig& lun) {
    toml::table t{{"id", as_int(lun.id)},
                  {"backend", std::string(to_string(lun.backend))},
                  {"block_size", as_int(lun.block_size)},
                  {"vendor", lun.vendor},
                  {"product", lun.product},
                  {"write_cache", lun.write_cache},
                  {"read_only", lun.read_only},
                  {"removable", lun.removable},
                  {"read_delay_us", as_int(lun.read_delay_us)},
                  {"write_delay_us", as_int(lun.write_delay_us)}};
    // An rbd LUN without size takes its image's size; every other LUN has one.
    if (lun.size_bytes != 0) {
        t.insert("size", as_int(lun.size_bytes));
    }
    if (lun.serial_configured) {
        t.insert("serial", lun.serial);  // else derived again from the target and the id
    }
    if (lun.backend == BackendKind::file) {
        t.insert("path", lun.path);
        t.insert("direct", lun.direct);
    }
    if (lun.backend == BackendKind::rbd) {
        t.insert("pool", lun.rbd.pool);
        t.insert("image", lun.rbd.image);
        t.insert("ceph_conf", lun.rbd.ceph_conf);
        t.insert("client", lun.rbd.client);
        if (!lun.rbd.keyring.empty()) {
            t.insert("keyring", lun.rbd.keyring);
        }
        t.insert("create", lun.rbd.create);
        t.insert("timeout_s", as_int(lun.rbd.timeout_s));
    }
    return t;
}

toml::table target_table(const TargetConfig& target, bool groups) {
    toml::table t{{"name", target.name}, {"require_mutual", target.require_mutual}};
    if (!target.alias.empty()) {
        t.insert("alias", target.alias);
    }
    if (!groups) {
        t.insert("portal_group_tag", as_int(target.portal_group_tag));
    }
    if (!target.allowed_initiators.empty()) {
        toml::array initiators;
        for (const std::string& name : target.allowed_initiators) {
            initiators.push_back(name);
        }
        t.insert("allowed_initiators", std::move(initiators));
    }
    if (target.chap) {
        t.insert("chap", chap_table(*target.chap));
    }
    if (target.mutual_chap) {
        t.insert("mutual_chap", chap_table(*target.mutual_chap));
    }
    toml::array luns;
    for (const LunConfig& lun : target.luns) {
        luns.push_back(lun_table(lun));
    }
    t.insert("lun", std::move(luns));
    return t;
}

toml::table config_table(const DaemonConfig& c) {
    toml::table root{{"log_level", std::string(to_string(c.log_level))},
                     {"io_threads", as_int(c.io_threads)},
                     {"io_poll_us", as_int(c.io_poll_us)},
                     {"worker_threads", as_int(c.worker_threads)},
                     {"data_dir", c.data_dir},
                     {"umask", umask_text(c.umask)}};
    toml::table rocksdb{{"compression", std::string(to_string(c.rocksdb.compression))},
                        {"background_jobs", as_int(c.rocksdb.background_jobs)},
                        {"chunk_size", as_int(c.rocksdb.chunk_bytes)}};
    if (c.rocksdb.block_cache_bytes == 0) {
        rocksdb.insert("block_cache", "auto");
    } else {
        rocksdb.insert("block_cache", as_int(c.rocksdb.block_cache_bytes));
    }
    root.insert("rocksdb", std::move(rocksdb));
    root.insert("ats", toml::table{{"lock_stripes", as_int(c.ats.lock_stripes)},
                                   {"recorder", c.ats.recorder},
                                   {"recorder_blocks", as_int(c.ats.recorder_blocks)},
                                   {"recorder_entries", as_int(c.ats.recorder_entries)},
                                   {"recorder_image_mib", as_int(c.ats.recorder_image_mib)},
                                   {"recorder_persist", c.ats.recorder_persist}});
    if (c.console.enabled) {
        toml::table console{{"enabled", true},
                            {"address", c.console.address},
                            {"port", as_int(c.console.port)},
                            {"keep_ended_sessions_s", as_int(c.console.keep_ended_sessions_s)}};
        if (!c.console.token.empty()) {
            console.insert("token", c.console.token);
        }
        if (!c.console.static_dir.empty()) {
            console.insert("static_dir", c.console.static_dir);
        }
        root.insert("console", std::move(console));
    }
    if (c.fault.enabled) {
        toml::array rules;
        for (const fault::RuleSpec& r : c.fault.rules) {
            rules.push_back(fault_rule_table(r));
        }
        toml::table fault{{"enabled", true}};
        if (!rules.empty()) {
            fault.insert("rule", std::move(rules));
        }
        root.insert("fault", std::move(fault));
    }
    toml::array portals;
    for (const PortalConfig& p : c.portals) {
        portals.push_back(toml::table{{"address", p.address}, {"port", as_int(p.port)}});
    }
    root.insert("portal", std::move(portals));
    if (!c.port_groups.empty()) {
        toml::array groups;
        for (const PortGroupConfig& g : c.port_groups) {
            toml::table group{{"id", as_int(g.id)},
                              {"name", g.name},
                              {"state", std::string(name_in(alua_state_names, g.state))},
                              {"preferred", g.preferred}};
            toml::array names;
            if (g.remote()) {
                for (const std::string& address : g.remote_portals) {
                    names.push_back(address);
                }
                group.insert("remote_portals", std::move(names));
            } else {
                for (const size_t index : g.portals) {
                    names.push_back(portal_name(c.portals[index]));
                }
                group.insert("portals", std::move(names));
            }
            groups.push_back(std::move(group));
        }
        root.insert("target_port_group", std::move(groups));
        const AluaSettings& a = c.alua;
        root.insert(
            "alua",
            toml::table{{"explicit", a.explicit_alua},
                        {"transition_time_ms", as_int(a.transition_time_ms)},
                        {"implicit_transition_time_s", as_int(a.implicit_transition_time_s)},
                        {"non_optimized_delay_ms", as_int(a.non_optimized_delay_ms)},
                        {"gateway_heartbeat_ms", as_int(a.gateway_heartbeat_ms)},
                        {"gateway_dead_after_ms", as_int(a.gateway_dead_after_ms)},
                        {"failover", a.failover}});
    }
    const IscsiConfig& i = c.iscsi;
    toml::table iscsi{{"max_recv_data_segment_length", as_int(i.max_recv_data_segment_length)},
                      {"max_burst_length", as_int(i.max_burst_length)},
                      {"first_burst_length", as_int(i.first_burst_length)},
                      {"max_outstanding_r2t", as_int(i.max_outstanding_r2t)},
                      {"initial_r2t", i.initial_r2t},
                      {"immediate_data", i.immediate_data},
                      {"queue_depth", as_int(i.queue_depth)},
                      {"nop_in_interval", as_int(i.nop_in_interval_s)},
                      {"nop_in_timeout", as_int(i.nop_in_timeout_s)},
                      {"login_timeout", as_int(i.login_timeout_s)},
                      {"connection_buffer", as_int(i.connection_buffer_bytes)},
                      {"buffer_budget", as_int(i.buffer_budget_bytes)},
                      {"immediate_commands", as_int(i.max_immediate_commands)},
                      {"send_timeout", as_int(i.send_timeout_s)},
                      {"max_connections", as_int(i.max_connections)},
                      {"max_connections_per_initiator", as_int(i.max_connections_per_initiator)},
                      {"abort_answered_task", std::string(to_string(i.abort_answered_task))}};
    if (i.discovery_chap) {
        iscsi.insert("discovery_chap", chap_table(*i.discovery_chap));
    }
    root.insert("iscsi", std::move(iscsi));
    toml::array targets;
    for (const TargetConfig& t : c.targets) {
        targets.push_back(target_table(t, !c.port_groups.empty()));
    }
    root.insert("target", std::move(targets));
    return root;
}

std::string write_config(const DaemonConfig& config) {
    std::ostringstream out;
    out << "# atsarray configuration written by the daemon (the running configuration);\n"
        << "# every key is given, defaults included; see configs/default.toml for what each "
           "means.\n\n"
        << toml::toml_formatter(config_table(config)) << "\n";
    return out.str();
}

std::string save_file_atomically(const std::string& path, const std::string& text) {
    namespace fs = std::filesystem;
    const fs::path target = fs::absolute(path);
    const fs::path folder = target.parent_path();
    // Appended in steps: g++ 12 at -O3 warns (-Wrestrict, a false positive) on "." + string.
    std::string name = ".";
    name += target.filename().string();
    name += ".XXXXXX";
    std::string temp = (folder / name).string();
    const int fd = ::mkstemp(temp.data());
    if (fd < 0) {
        return error_text("cannot create a temporary file in", folder.string(), errno);
    }
    const auto fail = [&](const std::string& what, int error) {
        ::close(fd);
        ::unlink(temp.c_str());
        return error_text(what, temp, error);
    };
    // The same permissions as the file it replaces (it may hold CHAP secrets and the token).
    struct stat st {};
    const mode_t mode = ::stat(target.c_str(), &st) == 0 ? (st.st_mode & 07777) : 0600;
    if (::fchmod(fd, mode) != 0) {
        return fail("cannot set the mode of", errno);
    }
    for (size_t done = 0; done < text.size();) {
        const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return fail("cannot write", n < 0 ? errno : EIO);
        }
        done += static_cast<size_t>(n);
    }
    if (::fsync(fd) != 0) {
        return fail("cannot fsync", errno);
    }
    if (::close(fd) != 0) {
        const int error = errno;
        ::unlink(temp.c_str());
        return error_text("cannot close", temp, error);
    }
    // The previous file stays as <path>.bak (a hard link, so that `path` never goes missing).
    const std::string backup = target.string() + ".bak";
    if (fs::exists(target)) {
        ::unlink(backup.c_str());
        if (::link(target.c_str(), backup.c_str()) != 0) {
            const int error = errno;
            ::unlink(temp.c_str());
            return error_text("cannot keep the previous file as", backup, error);
        }
    }
    if (::rename(temp.c_str(), target.c_str()) != 0) {
        const int error = errno;
        ::unlink(temp.c_str());
        return error_text("cannot rename the new file to", target.string(), error);
    }
    // The rename is durable once the folder is (POSIX leaves it to the folder's fsync).
    const int dir = ::open(folder.c_str(), O_RDONLY | O_DIRECTORY);
    if (dir < 0 || ::fsync(dir) != 0) {
        const int error = errno;
        if (dir >= 0) {
            ::close(dir);
        }
        return error_text("written, but cannot fsync the folder", folder.string(), error);
    }
    ::close(dir);
    return {};
}

}  // namespace atsarray::daemon
