#pragma once
// What the console shows of the Ceph cluster behind an rbd LUN (issue 15): the cluster's health
// with its checks, the OSDs up and in, the fsid, and each OSD's latency, asked on the store's
// own librados handle (rados_mon_command and friends, JSON answers) by a thread of its own every
// `interval`, so that a reader (the console) only ever copies the last answer and never waits
// for the cluster.
//
// Queries of one refresh:
//   status      (monitor)  fsid, health status and the checks' summaries, OSDs up/in, whether a
//                          manager is available
//   osd dump    (monitor)  every OSD's up/in
//   osd perf    (manager)  per OSD commit/apply latency in ms, as `ceph osd perf` shows it; only
//                          when a manager is available (without one the monitor would hold the
//                          command until rados_mon_op_timeout); memstore OSDs report 0
//   perf dump   (each up OSD, at most max_perf_osds)  the OSD's op_w_latency + op_rw_latency
//                          (writes: the records' compare-and-set, heartbeats and COMPARE AND
//                          WRITE are read-modify-write ops) and op_r_latency counters; the latency
//                          shown is the mean over the operations since the previous refresh (sum
//                          and count deltas), null when there were none
// Each call is bounded by the handle's rados_mon_op_timeout / rados_osd_op_timeout (RbdStore
// sets both to the LUN's timeout_s): a cluster that does not answer gives the state
// "unreachable: ..." after that long, never a hung caller. stop() waits for the call in flight.

#include <rados/librados.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace atsarray::backend {

struct ClusterHealthCheck {
    std::string code;      // "OSD_DOWN"
    std::string severity;  // "HEALTH_WARN"
    std::string summary;   // "1 osds down"
};

struct OsdLatency {
    int64_t id = 0;
    bool up = false;
    bool in = false;
    // `osd perf` (needs a manager): the OSD's object store commit and apply latency.
    std::optional<double> commit_latency_ms;
    std::optional<double> apply_latency_ms;
    // `perf dump` of the OSD: mean client write (op_w and op_rw) and read op latency since the
    // previous refresh (nullopt: no such op meanwhile, or the OSD was not asked), and how many
    // ops that was.
    std::optional<double> write_latency_ms;
    std::optional<double> read_latency_ms;
    uint64_t writes = 0;
    uint64_t reads = 0;
    std::string error;  // why its perf dump failed; empty when it answered or was not asked
};

struct ClusterInfo {
    // False until the first refresh ended, and after a refresh whose `status` failed (`error`).
    bool reachable = false;
    std::string error;  // "unreachable: the monitors did not answer within 30 s", ...
    std::string fsid;
    std::string health;  // "HEALTH_OK", "HEALTH_WARN", "HEALTH_ERR"
    std::vector<ClusterHealthCheck> checks;
    uint32_t osds = 0;
    uint32_t osds_up = 0;
    uint32_t osds_in = 0;
    bool manager = false;  // a manager is available (`osd perf` answers)
    std::vector<OsdLatency> osd_latency;
    // Why `osd dump` or `osd perf` gave nothing though the cluster answered `status`.
    std::string latency_error;
    // When this answer was complete (epoch: no refresh has ended yet), and how long it took.
    std::chrono::steady_clock::time_point refreshed{};
    std::chrono::milliseconds took{0};
    uint64_t refreshes = 0;  // refreshes ended (answered or not)
};

// The JSON answers of the cluster, parsed (tests feed them text). Each returns false with
// `error` set when the text is not the answer expected.
bool parse_status(std::string_view json, ClusterInfo& out, std::string& error);
bool parse_osd_dump(std::string_view json, std::vector<OsdLatency>& osds, std::string& error);
// `osd perf`: {"osdstats": {"osd_perf_infos": [...]}} (16.2) or {"osd_perf_infos": [...]}.
bool parse_osd_perf(std::string_view json, std::vector<OsdLatency>& osds, std::string& error);

class RbdClusterInfo {
  public:
    // `cluster`: a connected handle that outlives this object (the RbdStore's).
    explicit RbdClusterInfo(rados_t cluster,
                            std::chrono::milliseconds interval = std::chrono::seconds(2));
    ~RbdClusterInfo();
    RbdClusterInfo(const RbdClusterInfo&) = delete;
    RbdClusterInfo& operator=(const RbdClusterInfo&) = delete;

    // Refreshes now, then every interval, on a thread of its own.
    void start();
    // Stops the thread (waits for the cluster call in flight, bounded by its timeout).
    void stop();
    // A copy of the last answer.
    ClusterInfo latest() const;
    // One refresh on the caller's thread (tests; start() must not be running): its answer, which
    // latest() then returns too.
    ClusterInfo refresh();

    std::chrono::milliseconds interval() const { return interval_; }

    // OSDs asked for their perf counters per refresh: one command each.
    static constexpr size_t max_perf_osds = 16;

  private:
    struct Counter {
        uint64_t count = 0;
        double sum_s = 0;
    };
    struct OsdCounters {
        Counter write;
        Counter read;
    };

    // rados_mon_command (or the manager's, or an OSD's with `osd` >= 0); 0 or -errno, `outs`
    // holding the cluster's own error text.
    int command(const std::string& json, std::string& out, std::string& outs, bool manager,
                int64_t osd) const;
    void perf_dump(OsdLatency& osd);
    void run();

    rados_t cluster_;
    std::chrono::milliseconds interval_;
    std::map<int64_t, OsdCounters> previous_;  // the refresh thread's own

    mutable std::mutex mutex_;
    std::condition_variable wake_;
    bool stopping_ = false;
    ClusterInfo latest_;
    std::thread thread_;
};

}  // namespace atsarray::backend
