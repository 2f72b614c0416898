#pragma once
// The daemon's configuration as read from TOML (configs/*.toml). Parsing validates everything and
// throws ConfigError naming the file, the key and what is wrong; the daemon prints it and exits 2.

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "target/daemon/config_schema.hpp"
#include "target/fault/fault.hpp"

namespace atsarray::daemon {

struct ConfigError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

struct ChapCredentials {
    std::string user;
    std::string secret;
};

// [rocksdb]: the daemon's RocksDB database, shared by every LUN with backend "rocksdb".
struct RocksDbConfig {
    uint64_t block_cache_bytes = 0;  // block_cache; 0: "auto", sized to the machine
    RocksDbCompression compression = RocksDbCompression::none;
    uint32_t background_jobs = 2;  // flushes and compactions at once
    uint64_t chunk_bytes = 4096;   // chunk_size: backend::valid_chunk_bytes(); fixed per LUN
};

// An rbd LUN's image and how to reach its cluster (target.lun keys of backend "rbd").
struct RbdLunConfig {
    std::string pool;              // pool
    std::string image;             // image
    std::string ceph_conf;         // ceph_conf; default $CEPH_CONF, else /etc/ceph/ceph.conf
    std::string client = "admin";  // client: the cephx name without "client."
    std::string keyring;           // keyring; empty: ceph.conf's
    bool create = false;           // create: a thin image of `size` when it does not exist
    uint32_t timeout_s = 30;       // timeout_s: cluster connect and per-operation timeout
};

struct LunConfig {
    std::string key;  // where it is in the config, e.g. "target[0].lun[1]" (for messages)
    uint64_t id = 0;  // 0..scsi::max_lun_id
    BackendKind backend = BackendKind::file;
    std::string path;       // file backend: image path (relative to the config's folder)
    bool direct = false;    // file backend: open the image O_DIRECT
    std::string data_dir;   // rocksdb backend: the daemon's data_dir (resolved)
    RocksDbConfig rocksdb;  // rocksdb backend: the daemon's [rocksdb] options
    RbdLunConfig rbd;       // rbd backend
    // must be a multiple of block_size; rbd backend: 0 when not configured (the image's size)
    uint64_t size_bytes = 0;
    uint32_t block_size = 512;             // scsi::valid_block_size()
    std::string serial;                    // VPD 0x80; derived from target+lun when empty
    bool serial_configured = false;        // the config set `serial` (else it was derived)
    std::string vendor = "ATSARRAY";       // INQUIRY T10 VENDOR IDENTIFICATION, <= 8 ASCII
    std::string product = "VIRTUAL-DISK";  // <= 16 ASCII
    bool write_cache = true;               // caching mode page WCE
    bool read_only = false;
    bool removable = false;  // INQUIRY RMB, START STOP UNIT LOEJ ejects (not for ESXi datastores)
    // A slow medium (SPDK's bdev_delay): reads return, writes land this many µs late.
    uint32_t read_delay_us = 0;
    uint32_t write_delay_us = 0;
};

struct TargetConfig {
    std::string name;   // IQN
    std::string alias;  // TargetAlias, may be empty
    uint16_t portal_group_tag = 1;
    std::vector<std::string> allowed_initiators;  // empty: any initiator may log in
    std::optional<ChapCredentials> chap;          // initiator authenticates to the target
    std::optional<ChapCredentials> mutual_chap;   // target authenticates to the initiator
    // An initiator that does not ask the target to authenticate itself (no CHAP_I/CHAP_C) is
    // refused; needs mutual_chap.
    bool require_mutual = false;
    std::vector<LunConfig> luns;
};

struct PortalConfig {
    std::string address = "0.0.0.0";
    uint16_t port = 3260;
    // The target port group the portal belongs to ([[target_port_group]] portals); nullopt
    // without groups (every portal then serves the target's own portal_group_tag).
    std::optional<uint16_t> group;
};

// [[target_port_group]]: one controller of the array (SPC-4 §5.16). Each group is one iSCSI
// portal group (its portals answer with TargetPortalGroupTag = id) and one SCSI target port
// (relative target port identifier = id); every target is reachable through every group.
struct PortGroupConfig {
    std::string key;              // "target_port_group[0]", for messages
    uint16_t id = 1;              // 1..65535
    std::string name;             // "controller-a": the console and the log
    std::vector<size_t> portals;  // indexes into DaemonConfig::portals; empty for a remote group
    // remote_portals: the "address:port"s of another gateway of the same array (RBD LUNs), which
    // this daemon does not listen on but lists in SendTargets; the group's state is the one the
    // gateways share in the cluster.
    std::vector<std::string> remote_portals;
    AluaStateName state = AluaStateName::active_optimized;  // at start
    bool preferred = false;                                 // PREF in REPORT TARGET PORT GROUPS

    bool remote() const { return !remote_portals.empty(); }
};

// [alua]: how the target port groups behave (only with [[target_port_group]]).
struct AluaSettings {
    // SET TARGET PORT GROUPS served (TPGS 11b); false: implicit ALUA only (TPGS 01b).
    bool explicit_alua = true;
    // How long a group changed by SET TARGET PORT GROUPS or the console stays transitioning.
    uint32_t transition_time_ms = 0;
    // IMPLICIT TRANSITION TIME reported by REPORT TARGET PORT GROUPS (seconds, 0..255).
    uint32_t implicit_transition_time_s = 0;
    // Commands that access the medium through a port of an active/non-optimized group wait
    // this long first (the slower path through a secondary controller).
    uint32_t non_optimized_delay_ms = 0;
    // Gateways of one array (groups with remote_portals): how often this gateway tells the
    // others it is alive, and after how long without a sign from one its group is unavailable.
    uint32_t gateway_heartbeat_ms = 1000;
    uint32_t gateway_dead_after_ms = 5000;
    // Active/passive with failover: when no live gateway's group is active/optimized, the live
    // preferred one (else the lowest id) takes that state over from the dead one.
    bool failover = true;
};

struct IscsiConfig {
    uint32_t max_recv_data_segment_length = 262144;  // what the target accepts per PDU
    uint32_t max_burst_length = 1048576;
    uint32_t first_burst_length = 262144;
    uint32_t max_outstanding_r2t = 8;
    bool initial_r2t = false;
    bool immediate_data = true;
    uint32_t queue_depth = 128;       // CmdSN window: MaxCmdSN = ExpCmdSN + queue_depth - 1
    uint32_t nop_in_interval_s = 30;  // target keepalive NOP-In; 0 disables
    uint32_t nop_in_timeout_s = 30;   // no answer to a NOP-In within this: drop the connection
    uint32_t login_timeout_s = 15;    // a login that does not finish in time is dropped
    // Memory for commands' data (read data to send, write data solicited, responses queued):
    // per connection and for the whole daemon. Past them commands wait and a peer that does not
    // read is read no more; one that reads nothing for send_timeout_s is disconnected.
    uint64_t connection_buffer_bytes = 64ULL << 20;
    uint64_t buffer_budget_bytes = 1ULL << 30;
    uint32_t max_immediate_commands = 16;  // immediate SCSI commands at once (RFC 7143 §3.2.2.1)
    uint32_t send_timeout_s = 30;
    // Connections at once per portal and per initiator address; past them a connection's login
    // is refused with Out of resources (RFC 7143 §11.13.5, 0x0302) and it is closed.
    uint32_t max_connections = 1024;
    uint32_t max_connections_per_initiator = 128;
    std::optional<ChapCredentials> discovery_chap;  // CHAP for discovery sessions
    AbortAnsweredTask abort_answered_task = AbortAnsweredTask::task_does_not_exist;
};

// [console]: the web console and its REST API (webui/server). Without the section there is no
// console.
struct ConsoleConfig {
    bool enabled = false;
    std::string address = "127.0.0.1";
    uint16_t port = 8080;
    // Bearer token for state-changing requests (and every request when bound beyond loopback);
    // required then. Empty on loopback: a random one per start, handed to the page.
    std::string token;
    std::string static_dir;  // the page's files; default: the source tree's webui/static
    // How long an ended session stays in the per-initiator tables, chart legends and the Paths
    // view before it leaves them.
    uint32_t keep_ended_sessions_s = 60;
};

// [fault]: firmware-bug injection (target/fault). Off unless enabled; rules may also come and go
// through the console's API while the daemon runs.
struct FaultConfig {
    bool enabled = false;
    std::vector<fault::RuleSpec> rules;  // [[fault.rule]]
};

// [ats]: the ATS engine.
struct AtsConfig {
    // Stripes of the LBA lock table shared by every LUN (a power of two): more stripes, fewer
    // unrelated blocks that wait for each other; each costs 64 bytes.
    uint32_t lock_stripes = 4096;
    // The flight recorder (target/forensics/flight_recorder.hpp): per block an ATS touched, the
    // history of the commands on it and each miscompare's cause. Bounded by blocks, entries per
    // block and the bytes of distinct images.
    bool recorder = true;
    uint32_t recorder_blocks = 4096;
    uint32_t recorder_entries = 64;
    uint32_t recorder_image_mib = 64;
    // Keep each file or rocksdb LUN's histories next to its data across restarts
    // (<data>.forensics, written when the LUN closes, read when it opens).
    bool recorder_persist = false;
};

struct DaemonConfig {
    std::string source_path;  // the config file, for messages
    LogLevel log_level = LogLevel::info;
    uint32_t io_threads = 0;  // iSCSI io_contexts; 0 = one per core
    // How long at most an I/O thread that ran out of work polls before it sleeps, in
    // microseconds; 0 = it sleeps at once (target/net/io_loop.hpp).
    uint32_t io_poll_us = 200;
    uint32_t worker_threads = 4;  // blocking backend calls
    // Where state that outlives the daemon lives: the RocksDB database (data_dir/rocksdb) and
    // its LUNs' persistent reservations. Resolved like LUN paths; default "data".
    std::string data_dir;
    // The process umask (main.cpp sets it before anything is created): files are created
    // 0666 & ~umask, folders 0777 & ~umask; the default 0077 gives 0600 and 0700, so LUN data,
    // identities, reservations and RocksDB's files are the daemon user's alone.
    uint32_t umask = 0077;
    RocksDbConfig rocksdb;
    AtsConfig ats;
    ConsoleConfig console;
    FaultConfig fault;
    std::vector<PortalConfig> portals;
    // Empty: one implicit group holding every portal (TPGS 01b, as before groups existed).
    std::vector<PortGroupConfig> port_groups;
    AluaSettings alua;
    IscsiConfig iscsi;
    std::vector<TargetConfig> targets;
};

// Reads and validates a config file. Relative LUN paths and data_dir are resolved against the
// config's folder.
DaemonConfig load_config(const std::string& path);
// Same from text already in memory (tests); `origin` names it in messages.
DaemonConfig parse_config(const std::string& text, const std::string& origin,
                          const std::string& base_dir);

}  // namespace atsarray::daemon
