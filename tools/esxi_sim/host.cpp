#include "tools/esxi_sim/host.hpp"

#include <algorithm>
#include <thread>

namespace atsarray::sim {
namespace {

Identity make_identity(const Options& o, int number, std::mt19937_64& rng) {
    Identity id;
    id.number = number;
    id.name = "esx-01-" + std::to_string(number);
    id.initiator = o.initiator_prefix + "-" + std::to_string(number);
    // Uptime: booted 1 to 30 days ago.
    std::uniform_int_distribution<int64_t> up_seconds(86400, 30 * 86400);
    const auto uptime = std::chrono::seconds(up_seconds(rng));
    id.boot = Clock::now() - uptime;
    const auto boot_wall = std::chrono::system_clock::now() - uptime;
    id.uuid = make_uuid(
        number,
        static_cast<uint32_t>(
            std::chrono::duration_cast<std::chrono::seconds>(boot_wall.time_since_epoch()).count()),
        rng());
    return id;
}

// The host's I/O tick runs the watchdogs while a command is outstanding.
constexpr auto idle_slice = std::chrono::milliseconds(20);

}  // namespace

Host::Host(const Options& options, const Geometry& geometry, int number, uint64_t seed, Log& log,
           OwnershipLedger& ledger, const std::atomic<bool>& stopping)
    : options_(options),
      geometry_(geometry),
      log_(log),
      stopping_(stopping),
      rng_(seed * 1000003u + static_cast<uint64_t>(number)),
      io_(SessionConfig{options.portal, options.target,
                        options.initiator_prefix + "-" + std::to_string(number), options.lun,
                        std::chrono::milliseconds(static_cast<int64_t>(options.io_timeout * 1000))},
          stats_, log, "esx-01-" + std::to_string(number), [this] { tick(); }),
      env_{options_, geometry_, id_, log_, stats_, io_, rng_, stopping_},
      heartbeat_(env_),
      locks_(env_, heartbeat_, ledger) {
    id_ = make_identity(options, number, rng_);
    heartbeat_.on_restart = [this] { locks_.heartbeat_restarted(); };
}

bool Host::connect(std::string& error) {
    if (!io_.connect(error)) {
        error_ = error;
        return false;
    }
    connected_ = true;
    return true;
}

void Host::tick() {
    const auto now = Clock::now();
    heartbeat_.watchdog(now);
    locks_.watchdog(now);
}

void Host::power_off() {
    log_.line(id_.name, "sim",
              "simulated power loss: the session drops without logout; heartbeat %s and its "
              "locks stay on disk",
              heartbeat_.active() ? "slot" : "(none)");
    locks_.forget_all();
    io_.drop();
    crashed_ = true;
}

void Host::run(Clock::time_point started) {
    if (options_.crash_host == id_.number) {
        crash_at_ = started + env_.seconds(options_.crash_after);
    }
    heartbeat_.start(Clock::now());
    while (!stopping_.load()) {
        tick();
        const auto now = Clock::now();
        // Power off holding a lock (what the liveness check is for), or at the latest after
        // --lost-after more.
        if (crash_at_ && now >= *crash_at_ &&
            (locks_.holds_lock() || now >= *crash_at_ + env_.lost_after())) {
            power_off();
            return;
        }
        if (now >= heartbeat_.next_due()) {
            heartbeat_.run_due();
            if (heartbeat_.active()) {
                heartbeat_offset_ = heartbeat_.slot_addr();
            }
            continue;
        }
        const auto lock_due = locks_.next_due(now);
        if (now >= lock_due) {
            locks_.run_due(now);
            continue;
        }
        std::this_thread::sleep_until(
            std::min({heartbeat_.next_due(), lock_due, now + idle_slice}));
    }
    locks_.release_all();
    heartbeat_.release();
    io_.logout();
    heartbeat_.finish(Clock::now());
}

HostReport Host::report() const {
    HostReport r;
    r.number = id_.number;
    r.initiator = id_.initiator;
    r.uuid = uuid_string(id_.uuid);
    r.heartbeat_offset = heartbeat_offset_.load();
    r.connected = connected_.load();
    r.crashed = crashed_.load();
    r.error = connected_.load() ? std::string() : error_;
    r.counters = stats_.counters();
    r.ats_latency = stats_.latency();
    return r;
}

}  // namespace atsarray::sim
