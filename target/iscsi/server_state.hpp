#pragma once
// What every connection of the daemon shares (the Beast "shared_state" shape): the targets, the
// session table, and the negotiation limits. Read-only after start-up except the session table,
// which has its own lock.

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "target/iscsi/chap.hpp"
#include "target/iscsi/connection_limits.hpp"
#include "target/iscsi/login_negotiation.hpp"
#include "target/iscsi/params.hpp"
#include "target/iscsi/path_faults.hpp"
#include "target/iscsi/portal_info.hpp"

namespace atsarray::scsi {
class TargetDevice;
}
namespace atsarray::ats {
class EventLog;
}

namespace atsarray::iscsi {

class Connection;

struct TargetNode {
    // name, alias and portal_group_tag never change once the node is in a catalog; the ACL and
    // CHAP credentials here are the ones it was added with: logins read the current ones through
    // TargetCatalog::find() / access().
    TargetInfo info;
    std::shared_ptr<scsi::TargetDevice> device;
};

// The targets, changed while the daemon runs (issue 19: the live configuration) and read by every
// connection: a mutex around the list; what a reader keeps beyond the call it holds shared (a
// session its TargetNode, a login its ACL/CHAP snapshot), so a removed target or a replaced
// snapshot is freed when its last holder lets go.
class TargetCatalog : public TargetDirectory {
  public:
    void add(TargetNode node);
    // Takes a target out of the catalog (no new login or SendTargets sees it); nullptr when
    // there is none.
    std::shared_ptr<TargetNode> remove(std::string_view name);
    // The target's ACL and CHAP credentials as of now: an immutable snapshot a login may keep.
    std::shared_ptr<const TargetInfo> find(std::string_view name) const override;
    std::shared_ptr<const TargetInfo> access(const TargetNode& node) const;
    // New logins see `info`'s allowed_initiators, chap, mutual_chap and require_mutual (its name,
    // alias and tag are the node's). False when there is no such target.
    bool set_access(std::string_view name, const TargetInfo& info);
    std::shared_ptr<TargetNode> node(std::string_view name) const;
    std::vector<std::shared_ptr<TargetNode>> nodes() const;

  private:
    struct Entry {
        std::shared_ptr<TargetNode> node;
        std::shared_ptr<const TargetInfo> access;
    };
    const Entry* entry_locked(std::string_view name) const;

    mutable std::mutex mu_;
    std::vector<Entry> entries_;
};

// Live sessions. With MaxConnections=1 a session has exactly one connection, which owns the
// session state; the table maps the session identity (RFC 7143 §4.4.1: the I_T nexus of
// initiator name and ISID with target name and portal group tag) and the TSIH to it. The same
// ISID through two portal groups is two sessions (two paths), not a reinstatement.
class SessionTable {
  public:
    uint16_t allocate_tsih();
    // Adds a session; returns the connection of an existing session with the same identity, which
    // the caller must close (session reinstatement, RFC 7143 §6.3.5).
    std::shared_ptr<Connection> add(const std::string& initiator_name, uint64_t isid,
                                    const std::string& target_name, uint16_t portal_group_tag,
                                    uint16_t tsih, const std::shared_ptr<Connection>& conn);
    void remove(uint16_t tsih, const Connection* conn);
    std::shared_ptr<Connection> find(uint16_t tsih) const;
    std::vector<std::shared_ptr<Connection>> snapshot() const;
    size_t size() const;

  private:
    struct Entry {
        std::string initiator_name;
        uint64_t isid;
        std::string target_name;
        uint16_t portal_group_tag;
        uint16_t tsih;
        std::weak_ptr<Connection> conn;
    };
    mutable std::mutex mu_;
    std::vector<Entry> entries_;
    uint16_t next_tsih_ = 1;
};

// Bytes that all connections' commands hold together (read data reserved and not yet written,
// write data solicited, responses queued), against one limit: past it, no connection admits a
// command that would add more until some are answered.
class BufferBudget {
  public:
    void set_limit(uint64_t bytes) { limit_ = bytes; }
    uint64_t limit() const { return limit_; }
    uint64_t used() const { return used_.load(std::memory_order_relaxed); }
    void add(uint64_t bytes) { used_.fetch_add(bytes, std::memory_order_relaxed); }
    void sub(uint64_t bytes) { used_.fetch_sub(bytes, std::memory_order_relaxed); }

  private:
    std::atomic<uint64_t> used_{0};
    uint64_t limit_ = 1ULL << 30;
};

// The portals SendTargets lists, changed while the daemon runs (issue 19: portals added and
// removed live): readers take an immutable snapshot.
class PortalList {
  public:
    PortalList() = default;
    PortalList(std::vector<PortalInfo> portals) { assign(std::move(portals)); }  // NOLINT
    PortalList& operator=(std::vector<PortalInfo> portals) {
        assign(std::move(portals));
        return *this;
    }
    std::shared_ptr<const std::vector<PortalInfo>> snapshot() const {
        std::lock_guard lock(mu_);
        return list_;
    }
    void add(PortalInfo portal);
    // False when no portal has that "address:port".
    bool remove(std::string_view address);

  private:
    void assign(std::vector<PortalInfo> portals);
    mutable std::mutex mu_;
    std::shared_ptr<const std::vector<PortalInfo>> list_ =
        std::make_shared<const std::vector<PortalInfo>>();
};

struct ConnectionSettings {
    TargetLimits limits;
    uint32_t queue_depth = 128;
    uint32_t nop_in_interval_s = 30;
    uint32_t nop_in_timeout_s = 30;
    uint32_t login_timeout_s = 15;
    std::optional<ChapSecret> discovery_chap;
    bool abort_answered_task_function_complete = false;
    // The largest Data-Out one command may bring (twice a LUN's MAXIMUM TRANSFER LENGTH).
    uint32_t max_data_out_length = 16U << 20;
    // Bytes one connection's commands may hold (see BufferBudget); one command is admitted
    // whatever its size when the connection holds nothing else. Responses not yet written past
    // this stop the connection reading (back-pressure).
    uint64_t connection_buffer_bytes = 64ULL << 20;
    // Immediate SCSI commands (I bit) are outside the CmdSN window (RFC 7143 §3.2.2.1): at most
    // this many at once, more are rejected ("too many immediate commands", §11.17.1).
    uint32_t max_immediate_commands = 16;
    // A connection with responses to write that makes no progress for this long is closed.
    uint32_t send_timeout_s = 30;
};

struct ServerState {
    TargetCatalog targets;
    SessionTable sessions;
    ConnectionSettings settings;
    BufferBudget buffers;
    // Connection objects alive (sessions, discovery, logins in progress, and closed ones whose
    // last handler has not yet run): back to the number of open sockets when the daemon is idle.
    std::atomic<uint64_t> live_connections{0};
    // path_down and path_blackhole faults in force (the daemon's PathFaultController).
    PathFaults path_faults;
    // Connections per portal and per initiator address ([iscsi] max_connections*).
    ConnectionLimits connection_limits;
    // accept(2) failures of every portal (descriptors or memory ran out), for /metrics.
    std::atomic<uint64_t> failed_accepts{0};
    // Every portal, for SendTargets (a portal on a wildcard address is named by the address the
    // connection arrived on instead), other gateways' portals (remote) after this daemon's own.
    PortalList portals;
    // Logins, logouts, aborts and resets for the console; nullptr: not recorded.
    std::shared_ptr<ats::EventLog> events;
};

}  // namespace atsarray::iscsi
