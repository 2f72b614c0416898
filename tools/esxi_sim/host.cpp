#include "tools/esxi_sim/host.hpp"

#include <algorithm>

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

std::chrono::milliseconds ms(double seconds) {
    return std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000));
}

}  // namespace

DeviceConfig device_config(const Options& o, const Geometry& g,
                           const std::vector<PortalSpec>& portals, uint64_t seed) {
    DeviceConfig d;
    d.portals = portals;
    d.dqlen = o.dqlen;
    d.qfull_sample_size = o.qfull_sample_size;
    d.qfull_threshold = o.qfull_threshold;
    d.transition_retry = std::chrono::milliseconds(o.transition_retry_ms);
    // A dead path is logged in again about every second (less with short heartbeats).
    d.path_retry = std::min(ms(1.0), ms(o.heartbeat_interval));
    d.vm_io.queue_depth = o.vm_io_qd;
    d.vm_io.bytes = o.vm_io_size;
    d.vm_io.read_percent = o.vm_io_read_pct;
    d.vm_io.first_lba = o.vm_io_lba;
    d.vm_io.blocks = o.vm_io_blocks != 0      ? o.vm_io_blocks
                     : g.blocks > o.vm_io_lba ? g.blocks - o.vm_io_lba
                                              : 0;
    d.seed = seed;
    return d;
}

Host::Host(const Options& options, const Geometry& geometry, const std::vector<PortalSpec>& portals,
           int number, uint64_t seed, Log& log, OwnershipLedger& ledger,
           const std::atomic<bool>& stopping)
    : options_(options),
      geometry_(geometry),
      log_(log),
      stopping_(stopping),
      rng_(seed * 1000003u + static_cast<uint64_t>(number)),
      io_(SessionConfig{portals.empty() ? std::string() : portals.front().portal, options.target,
                        options.initiator_prefix + "-" + std::to_string(number), options.lun,
                        ms(options.io_timeout)},
          device_config(options, geometry, portals, seed * 7919u + static_cast<uint64_t>(number)),
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
    if (!running_) {
        return;
    }
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
    running_ = true;
    io_.start_vm_io(geometry_.block_size);
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
        io_.idle_until(std::min({heartbeat_.next_due(), lock_due, now + idle_slice}));
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
    r.ats_queue = stats_.ats_queue();
    r.vm_service = stats_.vm_service();
    r.vm_queue = stats_.vm_queue();
    r.device = stats_.device();
    return r;
}

}  // namespace atsarray::sim
