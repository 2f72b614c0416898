#include "tools/esxi_sim/simulator.hpp"

#include <algorithm>
#include <random>
#include <thread>

#include "tools/esxi_sim/paths.hpp"
#include "tools/libiscsi_handles.hpp"

namespace atsarray::sim {
namespace {

unsigned long long u(uint64_t v) {
    return static_cast<unsigned long long>(v);
}

uint64_t load_be(const uint8_t* p, int n) {
    uint64_t v = 0;
    for (int i = 0; i < n; ++i) {
        v = v << 8 | p[i];
    }
    return v;
}

bool overlap(uint64_t a, uint64_t a_count, uint64_t b, uint64_t b_count) {
    return a < b + b_count && b < a + a_count;
}

// SendTargets (RFC 7143 §13.8 "SendTargets") on the first portal: every portal of the target,
// with its portal group tag, as ESXi's dynamic discovery finds the paths.
bool discover_portals(const Options& o, std::vector<PortalSpec>& out, std::string& error) {
    const std::string& first = o.portals.front();
    initiator::Context ctx = initiator::create_context(o.initiator_prefix + "-discovery");
    if (!ctx) {
        error = "cannot create an iSCSI context";
        return false;
    }
    iscsi_set_session_type(ctx.get(), ISCSI_SESSION_DISCOVERY);
    iscsi_set_timeout(ctx.get(), std::max(1, static_cast<int>(o.io_timeout + 0.999)));
    if (iscsi_connect_sync(ctx.get(), first.c_str()) != 0 || iscsi_login_sync(ctx.get()) != 0) {
        error = "discovery at " + first + ": " + iscsi_get_error(ctx.get());
        return false;
    }
    iscsi_discovery_address* list = iscsi_discovery_sync(ctx.get());
    if (list == nullptr) {
        error = "SendTargets at " + first + ": " + iscsi_get_error(ctx.get());
        return false;
    }
    const size_t colon = first.rfind(':');
    const std::string host = colon == std::string::npos ? first : first.substr(0, colon);
    for (iscsi_discovery_address* a = list; a != nullptr; a = a->next) {
        if (a->target_name == nullptr || o.target != a->target_name) {
            continue;
        }
        for (iscsi_target_portal* p = a->portals; p != nullptr; p = p->next) {
            const auto d = parse_send_targets_portal(p->portal == nullptr ? "" : p->portal, host);
            if (d && std::none_of(out.begin(), out.end(),
                                  [&d](const PortalSpec& s) { return s.portal == d->portal; })) {
                out.push_back(PortalSpec{d->portal, d->tpgt});
            }
        }
    }
    iscsi_free_discovery_data(ctx.get(), list);
    iscsi_logout_sync(ctx.get());
    if (out.empty()) {
        error = "SendTargets at " + first + " does not list " + o.target;
        return false;
    }
    return true;
}

}  // namespace

std::string validate(const Options& o) {
    if (o.hosts < 1 || o.hosts > 256) {
        return "--hosts must be 1..256";
    }
    if (o.first_host < 1 || o.first_host + o.hosts - 1 > 65535) {
        return "--first-host: host numbers must stay within 1..65535";
    }
    if (o.slots < o.hosts || o.slots > 2048) {
        return "--slots must be at least --hosts and at most 2048 (VMFS5)";
    }
    if (o.locks < 1 || o.locks > 65536) {
        return "--locks must be 1..65536";
    }
    if (o.heartbeat_interval <= 0 || o.io_timeout <= 0 || o.lost_after <= 0) {
        return "--heartbeat-interval, --io-timeout and --lost-after must be positive";
    }
    if (o.lost_after <= o.heartbeat_interval) {
        return "--lost-after must be longer than --heartbeat-interval";
    }
    if (o.duration < 0 || o.report_every < 0 || o.crash_after < 0) {
        return "--duration, --report-every and --crash-after must not be negative";
    }
    if (o.hold_ms < 0 || o.think_ms < 1) {
        return "--hold-ms must not be negative and --think-ms must be at least 1";
    }
    const uint64_t hb_end = o.heartbeat_lba + static_cast<uint64_t>(o.slots);
    const uint64_t lock_end = o.lock_lba + static_cast<uint64_t>(o.locks);
    if (o.heartbeat_lba < lock_end && o.lock_lba < hb_end) {
        return "--heartbeat-lba/--slots and --lock-lba/--locks overlap";
    }
    if (o.portals.empty()) {
        return "--portal: at least one portal";
    }
    if (o.dqlen < 1 || o.dqlen > 1024) {
        return "--dqlen must be 1..1024";
    }
    // KB 1008113: QFullSampleSize 0..64, QFullThreshold 1..16 and at most QFullSampleSize.
    if (o.qfull_sample_size < 0 || o.qfull_sample_size > 64 || o.qfull_threshold < 1 ||
        o.qfull_threshold > 16 ||
        (o.qfull_sample_size > 0 && o.qfull_threshold > o.qfull_sample_size)) {
        return "--qfull-sample-size must be 0..64 and --qfull-threshold 1..16 (and at most the "
               "sample size)";
    }
    if (o.transition_retry_ms < 1) {
        return "--transition-retry-ms must be at least 1";
    }
    if (o.vm_io_qd < 0 || o.vm_io_qd > 1024 || o.vm_io_read_pct < 0 || o.vm_io_read_pct > 100 ||
        o.vm_io_size == 0 || o.vm_io_size % 512 != 0 || o.vm_io_size > 1024 * 1024) {
        return "--vm-io-qd must be 0..1024, --vm-io-read-pct 0..100 and --vm-io-size a multiple "
               "of 512 up to 1 MiB";
    }
    if (o.vm_io_qd > 0 && o.vm_io_blocks != 0 &&
        (overlap(o.vm_io_lba, o.vm_io_blocks, o.heartbeat_lba, static_cast<uint64_t>(o.slots)) ||
         overlap(o.vm_io_lba, o.vm_io_blocks, o.lock_lba, static_cast<uint64_t>(o.locks)))) {
        return "--vm-io-lba/--vm-io-blocks overlap the heartbeat or lock region";
    }
    if (o.crash_host != 0 &&
        (o.crash_host < o.first_host || o.crash_host >= o.first_host + o.hosts)) {
        return "--crash-host must be one of the simulated host numbers";
    }
    return {};
}

Simulator::Simulator(Options options, Log& log, Progress progress, OwnershipLedger* shared_ledger)
    : options_(std::move(options)),
      log_(log),
      progress_(std::move(progress)),
      own_ledger_(log),
      ledger_(shared_ledger != nullptr ? *shared_ledger : own_ledger_) {}

Simulator::~Simulator() = default;

// A zeroed region is formatted by whoever wins an ATS on its first block (that one block, then
// a WRITE of the rest); a simulator that loses waits for the winner. A region with a few zeroed
// blocks gets them formatted one ATS each; --format rewrites everything with one WRITE.
bool Simulator::format_region(IoChannel& io, bool heartbeat, std::string& error) {
    const uint64_t first = heartbeat ? geometry_.heartbeat_lba : geometry_.lock_lba;
    const int count = heartbeat ? geometry_.slots : geometry_.locks;
    const uint32_t bs = geometry_.block_size;
    const char* what = heartbeat ? "heartbeat slots" : "on-disk locks";
    auto image = [&](int i) {
        const uint64_t addr = geometry_.offset_of(first + static_cast<uint64_t>(i));
        HeartbeatSlot slot;
        slot.addr = addr;
        LockRecord lock;
        lock.addr = addr;
        return heartbeat ? encode(slot, bs) : encode(lock, bs);
    };
    auto valid = [&](const Sector& region, int i) {
        const uint8_t* p = region.data() + static_cast<size_t>(i) * bs;
        const uint64_t addr = geometry_.offset_of(first + static_cast<uint64_t>(i));
        return heartbeat ? is_heartbeat_slot(p, addr) : is_lock_record(p, addr);
    };
    auto read_region = [&](Sector& out) {
        const IoResult r = io.read(first, static_cast<uint32_t>(count), bs);
        if (r.status != IoStatus::good) {
            error = "cannot read LBA " + std::to_string(first) + ": " + r.error;
            return false;
        }
        out = r.data;
        return true;
    };
    auto all_valid = [&](const Sector& region) {
        for (int i = 0; i < count; ++i) {
            if (!valid(region, i)) {
                return false;
            }
        }
        return true;
    };
    auto write_from = [&](int from) {
        Sector data;
        for (int i = from; i < count; ++i) {
            const Sector one = image(i);
            data.insert(data.end(), one.begin(), one.end());
        }
        return data.empty() ||
               io.write(first + static_cast<uint64_t>(from), data, bs).status == IoStatus::good;
    };

    Sector region;
    if (!read_region(region)) {
        return false;
    }
    int formatted = 0;
    if (options_.format) {
        if (!write_from(0)) {
            error = std::string("cannot format the ") + what;
            return false;
        }
        formatted = count;
    } else if (all_zero(region.data(), region.size())) {
        const Sector zero(bs, 0);
        const IoResult claim = io.compare_and_write(first, zero, image(0));
        if (claim.status == IoStatus::good) {
            if (!write_from(1)) {
                error = std::string("cannot format the ") + what;
                return false;
            }
            formatted = count;
        }
    } else {
        for (int i = 0; i < count; ++i) {
            const uint8_t* p = region.data() + static_cast<size_t>(i) * bs;
            if (valid(region, i)) {
                continue;
            }
            if (!all_zero(p, bs)) {
                error = "LBA " + std::to_string(first + static_cast<uint64_t>(i)) +
                        " holds neither " + (heartbeat ? "a heartbeat slot" : "an on-disk lock") +
                        " nor zeros: pass --format to initialise the regions (destroys what is "
                        "there)";
                return false;
            }
            const IoResult r =
                io.compare_and_write(first + static_cast<uint64_t>(i), Sector(p, p + bs), image(i));
            formatted += r.status == IoStatus::good ? 1 : 0;
        }
    }
    // Whoever formatted (this simulator, or another one started at the same time) must be done.
    for (int waited = 0;; ++waited) {
        if (!read_region(region)) {
            return false;
        }
        if (all_valid(region)) {
            break;
        }
        if (waited == 300) {
            error = std::string("the ") + what + " at LBA " + std::to_string(first) +
                    " were not formatted (is another simulator formatting them?)";
            return false;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    if (formatted > 0) {
        log_.line("sim", heartbeat ? "HBX" : "DLX", "formatted %d %s at LBA %llu on vol '%s'",
                  formatted, what, u(first), options_.volume.c_str());
    }
    return true;
}

bool Simulator::prepare(Report& report) {
    std::string error;
    portals_.clear();
    if (options_.discover) {
        if (!discover_portals(options_, portals_, error)) {
            report.error = error;
            return false;
        }
    } else {
        for (const std::string& p : options_.portals) {
            portals_.push_back(PortalSpec{p, 0});
        }
    }
    HostStats scratch;
    DeviceConfig setup;
    setup.portals = {portals_.front()};
    IoChannel io(SessionConfig{portals_.front().portal, options_.target,
                               options_.initiator_prefix + "-setup", options_.lun,
                               // Formatting is no heartbeat: it may take its time.
                               std::chrono::milliseconds(static_cast<int64_t>(
                                   std::max(options_.io_timeout, 30.0) * 1000))},
                 setup, scratch, log_, "sim", {});
    if (!io.connect(error)) {
        report.error =
            "cannot log in to " + options_.target + " at " + portals_.front().portal + ": " + error;
        return false;
    }
    const IoResult cap = io.read_capacity();
    if (cap.status != IoStatus::good || cap.data.size() < 12) {
        report.error =
            "READ CAPACITY(16) of LUN " + std::to_string(options_.lun) + " failed: " + cap.error;
        return false;
    }
    const uint64_t blocks = load_be(cap.data.data(), 8) + 1;
    geometry_.block_size = static_cast<uint32_t>(load_be(cap.data.data() + 8, 4));
    geometry_.blocks = blocks;
    geometry_.heartbeat_lba = options_.heartbeat_lba;
    geometry_.slots = options_.slots;
    geometry_.lock_lba = options_.lock_lba;
    geometry_.locks = options_.locks;
    if (options_.heartbeat_lba + static_cast<uint64_t>(options_.slots) > blocks ||
        options_.lock_lba + static_cast<uint64_t>(options_.locks) > blocks) {
        report.error = "the regions do not fit on the LUN (" + std::to_string(blocks) + " blocks)";
        return false;
    }
    const DeviceConfig vm = device_config(options_, geometry_, portals_, 0);
    if (options_.vm_io_qd > 0 &&
        (vm.vm_io.blocks * geometry_.block_size < options_.vm_io_size ||
         options_.vm_io_lba + vm.vm_io.blocks > blocks ||
         overlap(options_.vm_io_lba, vm.vm_io.blocks, options_.heartbeat_lba,
                 static_cast<uint64_t>(options_.slots)) ||
         overlap(options_.vm_io_lba, vm.vm_io.blocks, options_.lock_lba,
                 static_cast<uint64_t>(options_.locks)))) {
        report.error = "the VM I/O region (--vm-io-lba, --vm-io-blocks) must fit on the LUN (" +
                       std::to_string(blocks) +
                       " blocks) apart from the heartbeat and lock regions";
        return false;
    }
    if (!format_region(io, true, error) || !format_region(io, false, error)) {
        report.error = error;
        return false;
    }
    io.logout();
    return true;
}

Report Simulator::snapshot(Clock::time_point started) const {
    Report r;
    r.seconds = std::chrono::duration<double>(Clock::now() - started).count();
    r.seed = options_.seed;
    r.ownership_conflicts = ledger_.conflicts();
    bool lost = false;
    for (const auto& h : hosts_) {
        r.hosts.push_back(h->report());
        lost = lost || r.hosts.back().counters.lost_events > 0;
    }
    r.exit_status = lost || r.ownership_conflicts > 0 ? 1 : 0;
    return r;
}

Report Simulator::run() {
    Report report;
    if (options_.seed == 0) {
        options_.seed =
            (static_cast<uint64_t>(std::random_device{}()) << 32 | std::random_device{}()) | 1;
    }
    report.seed = options_.seed;
    report.error = validate(options_);
    if (!report.error.empty() || !prepare(report)) {
        report.exit_status = 2;
        return report;
    }
    for (int i = 0; i < options_.hosts; ++i) {
        hosts_.push_back(std::make_unique<Host>(options_, geometry_, portals_,
                                                options_.first_host + i, options_.seed, log_,
                                                ledger_, stopping_));
        std::string error;
        if (!hosts_.back()->connect(error)) {
            report = snapshot(Clock::now());
            report.error = hosts_.back()->identity().initiator + " cannot log in: " + error;
            report.exit_status = 2;
            return report;
        }
    }
    const auto started = Clock::now();
    std::vector<std::thread> threads;
    for (auto& h : hosts_) {
        threads.emplace_back([&h, started] { h->run(started); });
    }
    const auto every = std::chrono::duration_cast<Clock::duration>(
        std::chrono::duration<double>(options_.report_every));
    const auto end = started + std::chrono::duration_cast<Clock::duration>(
                                   std::chrono::duration<double>(options_.duration));
    auto next_report = started + every;
    while (!stop_requested_.load() && (options_.duration == 0 || Clock::now() < end)) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        const auto now = Clock::now();
        if (progress_ && options_.report_every > 0 && now >= next_report &&
            (options_.duration == 0 || now < end)) {
            progress_(snapshot(started));
            next_report += every;
        }
    }
    stopping_ = true;
    for (auto& t : threads) {
        t.join();
    }
    return snapshot(started);
}

}  // namespace atsarray::sim
