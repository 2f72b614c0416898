#pragma once
// The daemon: builds block stores, logical units, targets and portals from the configuration,
// runs one io_context per core, and shuts down cleanly on SIGINT/SIGTERM (sessions asked to log
// out, data flushed).

#include <memory>

#include "target/ats/accounting.hpp"
#include "target/daemon/config.hpp"

namespace atsarray::daemon {

class Daemon {
  public:
    explicit Daemon(const DaemonConfig& config);  // throws ConfigError on unusable resources
    ~Daemon();
    Daemon(const Daemon&) = delete;
    Daemon& operator=(const Daemon&) = delete;

    // Runs until SIGINT/SIGTERM or stop(); returns the process exit status.
    int run();
    // Starts the same clean shutdown as SIGTERM; from any thread, once run() is running.
    void stop();

    // ATS and I/O accounting of every LUN (snapshots for the console, tests).
    const ats::Registry& accounting() const;

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace atsarray::daemon
