#pragma once
// The ESXi host simulator as a library (tools/esxi-sim and the integration tests): checks the
// LUN and its two regions (formatting zeroed ones by ATS), logs every host in, runs them for
// --duration and returns the report. Exit status: 0 when no host lost its heartbeat (and no
// lock was owned twice), 1 otherwise, 2 on a usage or connection error.

#include <atomic>
#include <functional>
#include <memory>
#include <vector>

#include "tools/esxi_sim/host.hpp"
#include "tools/esxi_sim/ledger.hpp"
#include "tools/esxi_sim/options.hpp"
#include "tools/esxi_sim/report.hpp"

namespace atsarray::sim {

class Simulator {
  public:
    using Progress = std::function<void(const Report&)>;

    // `progress` gets a snapshot every --report-every seconds (if set). `shared_ledger`: the
    // ledger of several simulators in one process whose hosts share a LUN (each its own
    // --first-host range, e.g. hosts on different gateways), so that a lock two of them believe
    // they hold is counted whichever simulator each runs in; nullptr: this simulator's own.
    Simulator(Options options, Log& log, Progress progress = {},
              OwnershipLedger* shared_ledger = nullptr);
    ~Simulator();

    Report run();
    // Ends the run early (safe from a signal handler: one lock-free atomic store).
    void stop() { stop_requested_.store(true); }

  private:
    bool prepare(Report& report);
    bool format_region(IoChannel& io, bool heartbeat, std::string& error);
    Report snapshot(Clock::time_point started) const;

    Options options_;
    Log& log_;
    Progress progress_;
    std::atomic<bool> stop_requested_{false};
    std::atomic<bool> stopping_{false};
    Geometry geometry_;
    std::vector<PortalSpec> portals_;  // every path (--portal, or SendTargets with --discover)
    OwnershipLedger own_ledger_;
    OwnershipLedger& ledger_;  // own_ledger_ or the shared one
    std::vector<std::unique_ptr<Host>> hosts_;
};

}  // namespace atsarray::sim
