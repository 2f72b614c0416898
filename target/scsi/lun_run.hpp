#pragma once
// Lun::Run, private to the LUN's implementation files (lun.cpp, lun_forensics.cpp).

#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <vector>

#include "target/scsi/fault_hooks.hpp"
#include "target/scsi/lun.hpp"

namespace atsarray::scsi {

using Clock = std::chrono::steady_clock;

// One command past its descriptor lookup: what it needs from its checks to its completion,
// shared by the lock grant, the worker job and the abort hook.
struct Lun::Run {
    Run(Command& c, Completion d) : cmd(c), done(std::move(d)) {}

    Command& cmd;
    Completion done;
    Clock::time_point started = Clock::now();
    const CommandDescriptor* descriptor = nullptr;
    std::optional<CommandContext> ctx;
    bool blocks = false;  // runs on the blocking-work hook
    bool async = false;   // a single-operation command on a store that completes_async()
    Clock::time_point lock_requested{};
    uint64_t lock_wait_us = 0;
    std::atomic<bool> aborted{false};
    // A fault's stale write (stale_write_after_failover): executes even once aborted, as the
    // in-flight write of a failed controller lands whatever the host did meanwhile.
    bool lands_late = false;
    ats::LockGuard locks;
    std::vector<uint8_t> miscompare_image;  // COMPARE AND WRITE: the medium's block
    std::shared_ptr<Lun> keep_alive;        // while a grant or a worker job is pending
    CommandFaults faults;                   // what the fault hooks do to it (FaultHooks)
    std::vector<uint64_t> inventory;        // REPORT LUNS's list, kept while a fault delays it
    std::weak_ptr<Run> self;
    std::atomic<uint32_t>* in_flight = nullptr;  // the LUN's count, until the status is sent
    uint64_t medium_order = 0;  // when it got its LBA locks (the flight recorder's order)
};

}  // namespace atsarray::scsi
