#pragma once
// The daemon: builds block stores, logical units, targets and portals from the configuration,
// runs one io_context per core, and shuts down cleanly on SIGINT/SIGTERM (sessions asked to log
// out, data flushed).

#include <cstdint>
#include <memory>
#include <string>

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
    // The console's port (0 without a console) and access token (tests).
    uint16_t console_port() const;
    std::string console_token() const;

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace atsarray::daemon
