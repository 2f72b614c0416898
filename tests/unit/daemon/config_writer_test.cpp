// The running configuration written back (issue 19, `config save`): load_config() of what
// write_config() wrote is the same configuration, for every shipped config and for one with every
// key set; the file is replaced atomically with the previous one kept as <path>.bak.

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "target/daemon/config.hpp"
#include "target/daemon/config_writer.hpp"

namespace atsarray::daemon {
namespace {

const std::filesystem::path configs_dir = std::filesystem::path(ATSARRAY_SOURCE_DIR) / "configs";

// The text written, read back and written again: every key is written (defaults included), so
// equal texts mean equal configurations, field by field.
void expect_round_trip(const DaemonConfig& config) {
    const std::string first = write_config(config);
    DaemonConfig again;
    try {
        again = parse_config(first, config.source_path, "/");
    } catch (const ConfigError& e) {
        FAIL() << e.what() << "\n" << first;
    }
    EXPECT_EQ(write_config(again), first);
    ASSERT_EQ(again.targets.size(), config.targets.size());
    for (size_t t = 0; t < config.targets.size(); ++t) {
        ASSERT_EQ(again.targets[t].luns.size(), config.targets[t].luns.size());
        for (size_t l = 0; l < config.targets[t].luns.size(); ++l) {
            // Derived serials are not written and come out the same.
            EXPECT_EQ(again.targets[t].luns[l].serial, config.targets[t].luns[l].serial);
            EXPECT_EQ(again.targets[t].luns[l].size_bytes, config.targets[t].luns[l].size_bytes);
            EXPECT_EQ(again.targets[t].luns[l].path, config.targets[t].luns[l].path);
        }
    }
}

TEST(ConfigWriterTest, EveryShippedConfigRoundTrips) {
    size_t files = 0;
    for (const auto& entry : std::filesystem::directory_iterator(configs_dir)) {
        if (entry.path().extension() != ".toml") {
            continue;
        }
        SCOPED_TRACE(entry.path().string());
        expect_round_trip(load_config(entry.path().string()));
        ++files;
    }
    EXPECT_GE(files, 3u);
}

TEST(ConfigWriterTest, EveryKeySetRoundTrips) {
    const std::string text = R"(
log_level = "debug"
io_threads = 3
worker_threads = 7
data_dir = "/var/lib/atsarray"
umask = "0027"
[rocksdb]
block_cache = "64MiB"
compression = "zstd"
background_jobs = 3
chunk_size = "64KiB"
[ats]
lock_stripes = 1024
[console]
address = "0.0.0.0"
port = 8443
token = "0123456789abcdef-token"
static_dir = "/srv/console"
keep_ended_sessions_s = 30
[fault]
enabled = true
presets = ["lost-ats-ack"]
[[fault.rule]]
name = "slow"
action = "delay"
target = "iqn.2026-11.org.atsarray:a"
lun = 1
initiator = "iqn.1998-01.com.vmware:*"
lba_first = 10
lba_last = 20
command = "write"
probability = 0.5
every = 3
max_hits = 9
active_seconds = 60
stage = "before_status"
delay_ms = 5
delay_p99_ms = 50
enabled = false
[[portal]]
address = "127.0.0.1"
port = 3260
[[portal]]
address = "::1"
port = 3261
[[target_port_group]]
id = 1
name = "controller-a"
portals = ["127.0.0.1:3260"]
state = "active_optimized"
preferred = true
[[target_port_group]]
id = 2
name = "controller-b"
portals = ["[::1]:3261"]
state = "standby"
[alua]
explicit = false
transition_time_ms = 100
implicit_transition_time_s = 5
non_optimized_delay_ms = 2
gateway_heartbeat_ms = 500
gateway_dead_after_ms = 2000
failover = false
[iscsi]
max_recv_data_segment_length = 65536
max_burst_length = 524288
first_burst_length = 65536
max_outstanding_r2t = 4
initial_r2t = true
immediate_data = false
queue_depth = 64
nop_in_interval = 10
nop_in_timeout = 20
login_timeout = 5
connection_buffer = "32MiB"
buffer_budget = "512MiB"
immediate_commands = 8
send_timeout = 15
max_connections = 100
max_connections_per_initiator = 10
abort_answered_task = "function_complete"
[iscsi.discovery_chap]
user = "disc"
secret = "discovery-secret-1"
[[target]]
name = "iqn.2026-11.org.atsarray:a"
alias = "lab A"
allowed_initiators = ["iqn.1998-01.com.vmware:esx1", "iqn.1998-01.com.vmware:esx2"]
require_mutual = true
[target.chap]
user = "esx"
secret = "initiator-secret-1"
[target.mutual_chap]
user = "array"
secret = "target-secret-22"
[[target.lun]]
id = 0
backend = "file"
path = "images/a.img"
direct = true
size = "1GiB"
block_size = 4096
serial = "SER-A0"
vendor = "ACME"
product = "DISK"
write_cache = false
read_only = true
removable = true
read_delay_us = 10
write_delay_us = 20
[[target.lun]]
id = 1
backend = "rocksdb"
size = "2GiB"
[[target.lun]]
id = 2
backend = "rbd"
pool = "rbd"
image = "lun2"
ceph_conf = "ceph.conf"
client = "atsarray"
keyring = "keyring"
create = true
timeout_s = 9
size = "4GiB"
[[target.lun]]
id = 3
backend = "memory"
size = 1048576
)";
    const DaemonConfig config = parse_config(text, "/etc/atsarray/all.toml", "/etc/atsarray");
    ASSERT_TRUE(config.fault.rules.size() >= 2);
    expect_round_trip(config);
    const std::string written = write_config(config);
    // Secrets are part of the running configuration (GET /api/v1/config needs the token).
    EXPECT_NE(written.find("initiator-secret-1"), std::string::npos);
    EXPECT_NE(written.find("discovery-secret-1"), std::string::npos);
    EXPECT_NE(written.find("0123456789abcdef-token"), std::string::npos);
    EXPECT_NE(written.find("/etc/atsarray/images/a.img"), std::string::npos);
}

std::string read(const std::filesystem::path& p) {
    std::ifstream in(p);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

TEST(ConfigWriterTest, SaveIsAtomicAndKeepsTheBackup) {
    const auto dir =
        std::filesystem::temp_directory_path() / ("atsarray-writer-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    const auto file = dir / "atsarray.toml";
    std::ofstream(file) << "# the operator's file\n";
    std::filesystem::permissions(
        file, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
    EXPECT_EQ(save_file_atomically(file.string(), "new = 1\n"), "");
    EXPECT_EQ(read(file), "new = 1\n");
    EXPECT_EQ(read(file.string() + ".bak"), "# the operator's file\n");
    EXPECT_EQ(std::filesystem::status(file).permissions(),
              std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
    EXPECT_EQ(save_file_atomically(file.string(), "newer = 2\n"), "");
    EXPECT_EQ(read(file.string() + ".bak"), "new = 1\n");
    size_t entries = 0;  // no temporary file left behind
    for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir)) {
        ++entries;
    }
    EXPECT_EQ(entries, 2u);
    // A folder that is not there: an answer, and nothing written.
    EXPECT_NE(save_file_atomically((dir / "missing" / "x.toml").string(), "x"), "");
    std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace atsarray::daemon
