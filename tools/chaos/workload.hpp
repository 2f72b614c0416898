#pragma once
// The chaos workload (issue 12): writers and ATS workers whose sessions end, cycle after cycle,
// in a cut — a TCP reset with commands in flight, a peer that stops reading, a peer that never
// sends the Data-Out an R2T asked for — or in a clean logout; each next session reinstates the
// last (same initiator name and ISID) with a first CmdSN just below 2^32, so every session's
// CmdSN wraps. What it proves afterwards:
//   - no acknowledged write lost: every block holds a version at least as new as the last one
//     the target acknowledged (WRITE with FUA), and a version that was sent (never torn, never
//     a stale write that landed after a newer one was acknowledged);
//   - no acknowledged ATS lost: the shared counter moved by at least the COMPARE AND WRITEs that
//     returned GOOD and at most those plus the ones cut in flight;
//   - a stalled connection is closed by the target when its session is reinstated;
//   - nothing leaks: with the console's /metrics, sessions, connections, held buffer bytes and
//     locked LBA ranges return to 0 when the workers are gone; with the daemon's pid, its RSS
//     grows by no more than a bound between the first quarter of the cycles and the end.

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "tools/chaos/session.hpp"

namespace atsarray::chaos {

struct ChaosOptions {
    Endpoint portal;
    std::string target;
    uint16_t lun = 0;
    uint32_t cycles = 200;  // sessions ended, over all workers
    uint32_t writers = 4;
    uint32_t ats_workers = 2;
    uint64_t seed = 1;
    uint64_t first_lba = 0;  // the workload's blocks start here
    uint32_t blocks_per_writer = 8;
    uint32_t first_cmd_sn = 0xfffffffc;  // every session's CmdSN wraps within 4-8 commands
    std::chrono::milliseconds command_timeout{15000};
    std::optional<uint16_t> console_port;  // /metrics on portal.host; none: no leak gauges
    pid_t pid = 0;                         // the daemon's; 0: no RSS check
    uint64_t max_rss_growth = 64ULL << 20;
    bool expect_idle = true;  // nobody else uses the daemon: gauges must reach 0
};

struct ChaosReport {
    uint32_t cycles = 0;
    uint32_t resets = 0;
    uint32_t stalls_unread = 0;
    uint32_t stalls_mid_data = 0;
    uint32_t logouts = 0;
    uint64_t acked_writes = 0;
    uint64_t acked_ats = 0;
    uint64_t doubtful_ats = 0;  // cut in flight: may or may not have written
    uint64_t ats_miscompares = 0;
    uint64_t unit_attentions = 0;
    uint64_t cmd_sn_wraps = 0;
    uint64_t blocks_checked = 0;
    std::optional<uint64_t> rss_baseline;
    std::optional<uint64_t> rss_end;
    std::string idle_gauges;  // what /metrics said at the end
    std::vector<std::string> violations;
};

ChaosReport run_chaos(const ChaosOptions& options);

// The report as the command prints it, ending in PASS or FAIL.
std::string describe(const ChaosReport& report);

}  // namespace atsarray::chaos
