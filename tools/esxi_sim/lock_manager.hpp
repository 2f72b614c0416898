#pragma once
// One host's on-disk locks (VMFS-ATS.md, "On-disk lock"): it picks a lock at random, takes it by
// ATS when free (test = the free image, set = mine), holds it, and releases it by ATS. A held
// lock whose owner's heartbeat is free or has another gen is stale and broken at once; else
// the owner's stamp is watched ("Checking liveness of ..."), and when it has not moved for
// --lost-after the dead host's slot is cleared by ATS and the lock taken.

#include <map>
#include <optional>
#include <vector>

#include "tools/esxi_sim/heartbeat.hpp"
#include "tools/esxi_sim/ledger.hpp"
#include "tools/esxi_sim/options.hpp"

namespace atsarray::sim {

class LockManager {
  public:
    LockManager(HostEnv& env, Heartbeat& heartbeat, OwnershipLedger& ledger);

    Clock::time_point next_due(Clock::time_point now) const;
    void run_due(Clock::time_point now);
    // Runs while I/O is outstanding too: a lock is trusted only while the heartbeat lease is.
    void watchdog(Clock::time_point now);
    // The heartbeat was restarted: whatever this host held is stale.
    void heartbeat_restarted();
    bool holds_lock() const { return held_.has_value() && held_->believed; }
    // Clean end: releases what is held or pending.
    void release_all();
    // Power loss: the host believes nothing any more; the disk keeps what it had.
    void forget_all();

  private:
    struct Held {
        int index = 0;
        Sector image;  // what this host wrote: the release's test image
        LockRecord record;
        Clock::time_point release_at{};
        bool believed = true;
    };
    // An ATS whose outcome is unknown (timed out and aborted, or the session failed).
    struct Pending {
        int index = 0;
        Sector test;
        Sector set;
        bool acquire = false;  // else a release
    };
    struct Seen {
        uint64_t gen = 0;
        uint64_t stamp = 0;
        Clock::time_point since{};
    };
    enum class Why { free, stale, dead_owner, own };

    void try_acquire(int index, Clock::time_point now);
    void check_owner(int index, const Sector& disk, const LockRecord& lock, Clock::time_point now);
    void take(int index, const Sector& disk, const LockRecord& lock, Why why);
    void acquired(int index, const Sector& image, const LockRecord& record, Why why);
    void release();
    void settle(Pending p);
    Clock::duration think();
    Clock::duration check_interval() const;

    HostEnv& env_;
    Heartbeat& heartbeat_;
    OwnershipLedger& ledger_;
    std::optional<Held> held_;
    std::vector<Pending> pending_;
    Clock::time_point pending_retry_at_{};
    std::map<int, Clock::time_point> watch_;  // locks under a liveness check: next look
    std::map<uint64_t, Seen> liveness_;       // heartbeat addr -> stamp and since when
    Clock::time_point next_attempt_{};
};

}  // namespace atsarray::sim
