#pragma once
// One host's VMFS heartbeat (VMFS-ATS.md): take a free slot by ATS, refresh its stamp by ATS
// every --heartbeat-interval, reissue an ATS that timed out (after its abort), declare "Lost
// access to volume" after --lost-after without a successful heartbeat, and on a miscompare
// re-read the slot: the host's own late retry -> resume; cleared by another host -> take a slot
// again.

#include <functional>
#include <vector>

#include "tools/esxi_sim/options.hpp"

namespace atsarray::sim {

class Heartbeat {
  public:
    explicit Heartbeat(HostEnv& env) : env_(env) {}

    // Starts the clocks (the first heartbeat is due at once).
    void start(Clock::time_point now);
    bool active() const { return active_; }
    uint64_t slot_addr() const { return active_ ? slot_.addr : 0; }
    uint64_t gen() const { return slot_.gen; }
    Clock::time_point next_due() const { return due_; }
    // The host trusts its locks while its last heartbeat that landed was sent less than
    // --lost-after ago: another host breaks them only after watching that stamp for as long.
    bool lease_valid(Clock::time_point now) const {
        return active_ && now < landed_issued_ + env_.lost_after();
    }

    // Acquires or refreshes, whichever is due.
    void run_due();
    // Runs while I/O is outstanding too: the lost-access watchdog.
    void watchdog(Clock::time_point now);
    // Clean end: frees the slot. Then `finish` closes the gap accounting.
    void release();
    void finish(Clock::time_point now);

    // Called when another host cleared this host's slot: its locks are stale.
    std::function<void()> on_restart;

  private:
    void acquire();
    void refresh();
    // ATS on the slot, reissued after every timeout until answered (or the host stops).
    IoResult write_slot(uint64_t lba, const Sector& test, const Sector& set);
    void handle_miscompare(uint64_t lba, const Sector& set, const IoResult& r);
    void succeeded(Clock::time_point issued);
    void restart(const char* why);
    HeartbeatSlot image(uint64_t addr, uint64_t gen, Clock::time_point now) const;

    HostEnv& env_;
    bool active_ = false;
    HeartbeatSlot slot_;  // what this host last wrote (when active)
    Sector last_set_;     // its encoding: the next refresh's test image
    // Set images sent whose fate is unknown (timed out, session lost): one may land late.
    std::vector<Sector> unconfirmed_;
    Clock::time_point unconfirmed_since_{};
    Clock::time_point due_{};
    Clock::time_point last_success_{};
    Clock::time_point landed_issued_{};
    bool lost_ = false;
    Clock::time_point lost_at_{};
};

// The image a slot takes when it is freed (released, or cleared by another host): gen + 1.
HeartbeatSlot free_slot_image(const HeartbeatSlot& slot);

}  // namespace atsarray::sim
