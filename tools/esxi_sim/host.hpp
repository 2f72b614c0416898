#pragma once
// One simulated ESXi host: its identity (initiator name, UUID with a made-up MAC), its session,
// its heartbeat and its locks, driven by one thread that does whichever is due next (heartbeat
// first), as a host's VMFS driver does with one device.

#include <atomic>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "tools/esxi_sim/heartbeat.hpp"
#include "tools/esxi_sim/ledger.hpp"
#include "tools/esxi_sim/lock_manager.hpp"
#include "tools/esxi_sim/options.hpp"

namespace atsarray::sim {

class Host {
  public:
    // `portals`: every path's portal (and its portal group tag when SendTargets named it).
    Host(const Options& options, const Geometry& geometry, const std::vector<PortalSpec>& portals,
         int number, uint64_t seed, Log& log, OwnershipLedger& ledger,
         const std::atomic<bool>& stopping);

    // The first login; false with `error` set.
    bool connect(std::string& error);
    // Runs until `stopping` (then releases its locks and heartbeat and logs out) or until its
    // simulated power loss (--crash-host).
    void run(Clock::time_point started);
    HostReport report() const;
    const Identity& identity() const { return id_; }

  private:
    void tick();
    void power_off();

    const Options& options_;
    const Geometry& geometry_;
    Identity id_;
    Log& log_;
    const std::atomic<bool>& stopping_;
    std::mt19937_64 rng_;
    HostStats stats_;
    IoChannel io_;
    HostEnv env_;
    Heartbeat heartbeat_;
    LockManager locks_;
    std::optional<Clock::time_point> crash_at_;
    bool running_ = false;  // the watchdogs start with run(), not with the logins before it
    std::atomic<bool> connected_{false};
    std::atomic<bool> crashed_{false};
    std::atomic<uint64_t> heartbeat_offset_{0};
    std::string error_;
};

}  // namespace atsarray::sim
