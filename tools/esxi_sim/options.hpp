#pragma once
// The simulator's settings (one per CLI option) and what one host's heartbeat and lock logic
// share: the regions on the LUN, the host's identity, its session, log and counters.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "tools/esxi_sim/io_channel.hpp"
#include "tools/esxi_sim/log.hpp"
#include "tools/esxi_sim/records.hpp"
#include "tools/esxi_sim/report.hpp"

namespace atsarray::sim {

struct Options {
    // Every path's portal (one session per host and portal); with `discover`, SendTargets on the
    // first one lists them instead.
    std::vector<std::string> portals = {"127.0.0.1:3260"};
    bool discover = false;
    std::string target = "iqn.2026-11.org.atsarray:lab";
    int lun = 0;
    int hosts = 4;
    int first_host = 1;  // hosts are numbered first_host.. (their MACs and initiator names)
    std::string initiator_prefix = "iqn.1998-01.com.vmware:esx-01";  // PREFIX-<n>
    std::string volume = "atsarray-lab";                             // the name logs use
    double duration = 60;                                            // seconds; 0: until stop()
    // ESXi's timings (VMFS-ATS.md), in seconds.
    double heartbeat_interval = 3;
    double io_timeout = 8;
    double lost_after = 16;
    // The regions: VMFS5 slots of one block each, on-disk locks of one block each.
    uint64_t heartbeat_lba = 2048;
    int slots = 64;
    uint64_t lock_lba = 4096;
    int locks = 16;
    int hold_ms = 2000;       // a lock is held hold_ms x [0.5, 1.5)
    int think_ms = 500;       // between lock attempts, think_ms x [0.5, 1.5)
    uint64_t seed = 0;        // 0: a random seed (reported)
    bool format = false;      // initialise both regions whatever they hold
    double report_every = 0;  // seconds between progress reports; 0: only at the end
    int crash_host = 0;       // host number that loses power (0: none) ...
    double crash_after = 0;   // ... this many seconds in, as soon as it holds a lock
    // Multipath (VMW_SATP_ALUA with VMW_PSP_MRU): how long before a group in transition (or no
    // usable path) is asked again with REPORT TARGET PORT GROUPS.
    int transition_retry_ms = 1000;
    // The device queue (DQLEN) and its adaptive depth (KB 1008113: QFullSampleSize 0 = off).
    int dqlen = 32;
    int qfull_sample_size = 32;
    int qfull_threshold = 8;
    // The VMs' I/O on the same device: commands kept outstanding (0: none), size, read share,
    // and the region (first block; 0 blocks: to the end of the LUN).
    int vm_io_qd = 0;
    uint32_t vm_io_size = 4096;
    int vm_io_read_pct = 70;
    uint64_t vm_io_lba = 8192;
    uint64_t vm_io_blocks = 0;
};

// Empty when the options are usable, else a sentence naming the option.
std::string validate(const Options& o);

struct Geometry {
    uint32_t block_size = 512;
    uint64_t blocks = 0;  // the LUN's size
    uint64_t heartbeat_lba = 0;
    int slots = 0;
    uint64_t lock_lba = 0;
    int locks = 0;

    uint64_t slot_lba(int i) const { return heartbeat_lba + static_cast<uint64_t>(i); }
    uint64_t lock_lba_of(int i) const { return lock_lba + static_cast<uint64_t>(i); }
    uint64_t offset_of(uint64_t lba) const { return lba * block_size; }
};

struct Identity {
    int number = 0;
    std::string name;       // esx-01-<n>, the log's host column
    std::string initiator;  // PREFIX-<n>
    Uuid uuid{};
    std::chrono::steady_clock::time_point boot{};  // stamps are microseconds since "boot"
};

// What the heartbeat and the lock manager of one host share.
struct HostEnv {
    const Options& options;
    const Geometry& geometry;
    const Identity& id;
    Log& log;
    HostStats& stats;
    IoChannel& io;
    std::mt19937_64& rng;
    const std::atomic<bool>& stopping;

    uint64_t uptime_us(Clock::time_point now) const {
        return static_cast<uint64_t>(
            std::chrono::duration_cast<std::chrono::microseconds>(now - id.boot).count());
    }
    Clock::duration seconds(double s) const {
        return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s));
    }
    Clock::duration heartbeat_interval() const { return seconds(options.heartbeat_interval); }
    Clock::duration lost_after() const { return seconds(options.lost_after); }
    // "then it retries about every second" (scaled down with short heartbeat intervals).
    Clock::duration retry_interval() const { return std::min(seconds(1.0), heartbeat_interval()); }
    const char* volume() const { return options.volume.c_str(); }
};

// The device of one host: its paths, queue and VM I/O (`seed` for the VM I/O's choices).
DeviceConfig device_config(const Options& o, const Geometry& g,
                           const std::vector<PortalSpec>& portals, uint64_t seed);

}  // namespace atsarray::sim
