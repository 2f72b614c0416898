#pragma once
// What each simulated host counts, collected while it runs (HostStats, safe to read from the
// reporting thread) and printed at the end or every N seconds as a table or as JSON.

#include <cstdint>
#include <cstdio>
#include <mutex>
#include <string>
#include <vector>

namespace atsarray::sim {

struct HostCounters {
    // Every ATS this host issued (heartbeats and locks).
    uint64_t ats_successes = 0;
    uint64_t ats_miscompares = 0;
    uint64_t ats_timeouts = 0;       // timed out, aborted (ABORT TASK) and reissued
    uint64_t aborts_unanswered = 0;  // ABORT TASK without an answer: the session was dropped
    uint64_t reconnects = 0;
    uint64_t io_errors = 0;  // other failures (connection, unexpected status)
    // Every ATS miscompare, as the host reads it after reading the block again
    // (tools/esxi_sim/miscompare.hpp): the classes the array's console counts.
    uint64_t miscompares_genuine = 0;     // another host wrote the block
    uint64_t miscompares_late_retry = 0;  // the block holds this ATS's own set image
    uint64_t miscompares_no_cause = 0;    // the block holds the test image (a false miscompare)
    // Heartbeat.
    uint64_t heartbeats = 0;  // successful heartbeat writes (acquire, refresh, resumed)
    uint64_t hb_miscompares = 0;
    uint64_t hb_late_retries = 0;  // miscompare where the disk held this host's own set image
    uint64_t hb_restarts = 0;      // the slot was cleared by another host: heartbeat retaken
    uint64_t lost_events = 0;      // "Lost access to volume"
    double lost_seconds = 0;
    double longest_hb_gap_seconds = 0;
    // Locks.
    uint64_t lock_acquisitions = 0;
    uint64_t lock_failures = 0;  // held by a live host
    uint64_t lock_miscompares = 0;
    uint64_t stale_locks_broken = 0;
    uint64_t dead_heartbeats_cleared = 0;
    uint64_t lock_releases = 0;
    uint64_t locks_broken_while_held = 0;
    // Paths (VMW_SATP_ALUA, VMW_PSP_MRU).
    uint64_t failovers = 0;                  // the active path changed
    uint64_t paths_dead = 0;                 // a path went from on to dead
    uint64_t paths_restored = 0;             // a dead path logged in again
    uint64_t alua_changes = 0;               // RTPG answered with a group in a new state
    uint64_t ats_retried_on_other_path = 0;  // an ATS whose connection failed, sent again
    // The device queue (DQLEN) and the VM I/O load.
    uint64_t queue_full_answers = 0;  // BUSY or TASK SET FULL
    uint64_t dqlen_halvings = 0;
    uint64_t dqlen_raises = 0;
    uint64_t vm_ios = 0;
    uint64_t vm_errors = 0;
    uint64_t vm_timeouts = 0;  // aborted after --io-timeout
};

struct LatencySummary {
    uint64_t count = 0;
    double p50_us = 0;
    double p99_us = 0;
    double max_us = 0;
};

struct PathReport {
    std::string name;    // vmhba64:C0:T0:L0
    std::string portal;  // 127.0.0.1:3260
    uint16_t group = 0;  // target port group (0: unknown)
    std::string state;   // NMP: on, dead
    std::string alua;    // its group's state: AO, ANO, STBY, UNAV, TRANS, UNKNOWN
    bool active = false;
};

// The host's view of its device: its paths and its queue depth.
struct DeviceReport {
    std::string device;  // naa.<VPD 0x83 NAA designator>
    std::vector<PathReport> paths;
    int dqlen = 0;
    int dqlen_max = 0;
    int dqlen_min = 0;
};

struct HostReport {
    int number = 0;
    std::string initiator;
    std::string uuid;
    uint64_t heartbeat_offset = 0;  // the slot it heartbeats in (last one taken; 0: none)
    bool connected = false;
    bool crashed = false;  // a simulated power loss (--crash-host)
    std::string error;
    HostCounters counters;
    LatencySummary ats_latency;  // the array's service time of every ATS answered
    LatencySummary ats_queue;    // the time an ATS waited in the host's device queue
    LatencySummary vm_service;
    LatencySummary vm_queue;
    DeviceReport device;
};

struct Report {
    int exit_status = 2;  // 0: no host lost its heartbeat, 1: one did (or a check failed), 2: setup
    double seconds = 0;
    uint64_t seed = 0;
    uint64_t ownership_conflicts = 0;  // two hosts believed they held one lock at once
    std::string error;                 // why the run could not start
    std::vector<HostReport> hosts;
};

// One host's counters and ATS latencies; written by the host thread, read by the reporter.
class HostStats {
  public:
    template <typename Fn>
    void update(Fn&& fn) {
        std::lock_guard lock(mutex_);
        fn(counters_);
    }
    void add_latency(uint64_t us);
    // The time a host command waited for a DQLEN slot (only ATS are kept).
    void add_queue_time(bool ats, uint64_t us);
    // One VM command answered GOOD: its queueing and service time.
    void add_vm(uint64_t queue_us, uint64_t service_us);
    void set_device(DeviceReport device);
    HostCounters counters() const;
    LatencySummary latency() const;
    LatencySummary ats_queue() const;
    LatencySummary vm_service() const;
    LatencySummary vm_queue() const;
    DeviceReport device() const;

  private:
    mutable std::mutex mutex_;
    HostCounters counters_;
    std::vector<uint32_t> latencies_us_;
    std::vector<uint32_t> ats_queue_us_;
    std::vector<uint32_t> vm_service_us_;
    std::vector<uint32_t> vm_queue_us_;
    DeviceReport device_;
};

void print_text(const Report& report, std::FILE* out);
void print_json(const Report& report, std::FILE* out);

}  // namespace atsarray::sim
