#pragma once
// One simulated host's storage device as ESXi's NMP presents it to VMFS: one session per path
// (every portal of every target port group), VMW_SATP_ALUA with VMW_PSP_MRU choosing the path
// (tools/esxi_sim/paths.hpp), and the device queue (DQLEN, adaptive; device_queue.hpp) that the
// host's heartbeat and lock ATS share with an optional VM I/O load.
//
// VMFS's calls (read, write, compare_and_write) block the host's thread while the device runs
// every path's I/O: a command waits in the host queue for a free DQLEN slot, goes out on the
// active path, and is given --io-timeout. Then, as ESXi:
// - a timed-out command is aborted (ABORT TASK; the session dropped when that is not answered
//   either), the path is probed (TEST UNIT READY) and the device moves to the next path; the
//   caller sees a timeout and reissues it there;
// - a command whose connection was lost is retried on the next path at once (NMP's failover);
//   the result names the path its status was lost on, since that attempt may have landed;
// - UNIT ATTENTION 2A/06 and NOT READY 04/0A/0B/0C re-read REPORT TARGET PORT GROUPS and pick
//   the path again; a transitioning group is asked again after --transition-retry-ms;
// - a dead path logs in again in the background; MRU does not move back to it by itself.
// Every path state change is logged in vmkernel's words (VMware KB 321364, KB 432676).

#include <chrono>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "tools/esxi_sim/device_queue.hpp"
#include "tools/esxi_sim/log.hpp"
#include "tools/esxi_sim/path_session.hpp"
#include "tools/esxi_sim/paths.hpp"
#include "tools/esxi_sim/records.hpp"
#include "tools/esxi_sim/report.hpp"

namespace atsarray::sim {

enum class IoStatus { good, miscompare, timeout, error };

struct IoResult {
    IoStatus status = IoStatus::error;
    Sector data;                 // the data-in (READ: the blocks read)
    int64_t miscompare_at = -1;  // MISCOMPARE: sense INFORMATION, the first differing byte
    Clock::time_point issued{};  // when the command was sent
    std::string error;
    std::string path;     // the path that answered (or was tried last)
    std::string lost_on;  // a path an earlier attempt's status was lost on (it may have landed)
};

struct PortalSpec {
    std::string portal;
    uint16_t tpgt = 0;  // from SendTargets (0: unknown)
};

struct VmIoConfig {
    int queue_depth = 0;  // commands the VMs keep outstanding; 0: no VM I/O
    uint32_t bytes = 4096;
    int read_percent = 70;
    uint64_t first_lba = 0;
    uint64_t blocks = 0;  // the region the VMs use
};

struct DeviceConfig {
    std::vector<PortalSpec> portals;
    int dqlen = 32;
    int qfull_sample_size = 32;
    int qfull_threshold = 8;
    std::chrono::milliseconds transition_retry{1000};
    std::chrono::milliseconds path_retry{1000};  // between logins on a dead path
    VmIoConfig vm_io;
    uint64_t seed = 1;
};

class IoChannel {
  public:
    // `tick` runs every few tens of milliseconds while the host waits (its heartbeat watchdog);
    // it must not issue I/O.
    IoChannel(SessionConfig config, DeviceConfig device, HostStats& stats, Log& log,
              std::string host_name, std::function<void()> tick);
    ~IoChannel();
    IoChannel(const IoChannel&) = delete;
    IoChannel& operator=(const IoChannel&) = delete;

    // Logs in on every path, identifies them (VPD 0x83), reads RTPG and picks the active path;
    // false with `error` when no path logged in.
    bool connect(std::string& error);
    IoResult read(uint64_t lba, uint32_t blocks, uint32_t block_size);
    // WRITE(16) of whole blocks (formatting the regions).
    IoResult write(uint64_t lba, const Sector& data, uint32_t block_size);
    // READ CAPACITY(16) parameter data.
    IoResult read_capacity();
    IoResult compare_and_write(uint64_t lba, const Sector& test, const Sector& set);
    // Runs the device (VM I/O, path logins, state changes) until `until`.
    void idle_until(Clock::time_point until);
    // Starts the VM I/O load (DeviceConfig::vm_io) with the LUN's block size.
    void start_vm_io(uint32_t block_size);
    // Power loss: every socket closes, no logout, nothing more is sent.
    void drop();
    // Clean end: logout on every path.
    void logout();

  private:
    using Issue = std::function<scsi_task*(iscsi_context*, iscsi_command_cb, void*)>;
    enum class Kind { host, vm, internal };
    struct Command;

    static void on_done(iscsi_context* ctx, int status, void* command_data, void* private_data);
    IoResult execute(const Issue& issue, bool is_ats);
    // Top level only (never inside pump()): re-reads RTPG when a change asked for it, or while
    // no path is usable, every --transition-retry-ms.
    void maintain();
    // One round of the event loop: admit queued commands, poll every path until `until` (at
    // most a slice), service them, handle finished VM and internal commands, log dead paths in.
    void pump(Clock::time_point until);
    void admit();
    bool issue(Command& c, size_t path);
    void finish(Command& c, int status);
    void handle_vm_done(Command& c);
    void queue_vm_command();
    void evaluate_paths();
    void path_ready(size_t path, const PortIdentity& id);
    void login_failed(size_t path, const std::string& error);
    // Runs one command outside the device queue on `path` (VPD, RTPG, TUR), pumping until done
    // or `timeout`; nullptr when it could not be sent or did not finish.
    std::unique_ptr<Command> run_internal(size_t path, const Issue& issue,
                                          std::chrono::milliseconds timeout);
    // Re-reads RTPG (on `prefer` if it is on) and picks the path again.
    void refresh_alua(std::optional<size_t> prefer);
    // Picks the path after a change; logs the change of active path.
    void choose(bool reevaluate, std::optional<size_t> not_this = std::nullopt);
    void path_dead(size_t path, const char* why);
    // A timed-out command: ABORT TASK, then the path's state is checked.
    void abort(Command& c);
    void log_failed(const Command& c, int host_status, const char* action);
    void publish_paths();
    std::string tpg_config() const;
    Clock::duration retry_interval() const;

    SessionConfig config_;
    DeviceConfig device_;
    HostStats& stats_;
    Log& log_;
    std::string host_name_;
    std::function<void()> tick_;
    std::vector<std::unique_ptr<PathSession>> paths_;
    PathSelector selector_;
    AdaptiveQueueDepth queue_;
    std::vector<Clock::time_point> next_login_;
    std::vector<int> login_failures_;
    std::list<Command*> waiting_;  // the host queue, FIFO
    int outstanding_ = 0;          // host and VM commands at the array
    std::list<std::unique_ptr<Command>> vm_commands_;
    std::list<std::unique_ptr<Command>> internal_;  // identification of paths that logged in
    bool vm_running_ = false;
    uint32_t block_size_ = 512;
    std::vector<uint8_t> vm_buffer_;
    std::mt19937_64 rng_;
    std::optional<size_t> current_;  // the path in use (PSP_MRU's most recently used)
    bool refresh_pending_ = false;
    std::string device_name_ = "naa.unknown";
    Clock::time_point next_refresh_{};
    bool claimed_ = false;  // the first claim is done: later path changes are logged
    bool no_path_logged_ = false;
};

}  // namespace atsarray::sim
