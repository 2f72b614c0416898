#include "tools/esxi_sim/heartbeat.hpp"

#include <algorithm>
#include <string>

#include "tools/esxi_sim/miscompare.hpp"

namespace atsarray::sim {
namespace {

double seconds_between(Clock::time_point a, Clock::time_point b) {
    return std::chrono::duration<double>(b - a).count();
}

unsigned long long u(uint64_t v) {
    return static_cast<unsigned long long>(v);
}

// VMFS-ATS.md, "Reading a miscompare": which heartbeat field the first differing byte is in.
const char* heartbeat_field(int64_t offset) {
    if (offset < 0) {
        return "unknown";
    }
    if (offset < 0x04) {
        return "state";
    }
    if (offset < 0x0c) {
        return "addr";
    }
    if (offset < 0x14) {
        return "gen";
    }
    if (offset < 0x1c) {
        return "stamp";
    }
    if (offset < 0x2c) {
        return "owner";
    }
    return "journal/version";
}

}  // namespace

HeartbeatSlot free_slot_image(const HeartbeatSlot& slot) {
    HeartbeatSlot f;
    f.state = heartbeat_free;
    f.addr = slot.addr;
    f.gen = slot.gen + 1;
    return f;
}

HeartbeatSlot Heartbeat::image(uint64_t addr, uint64_t gen, Clock::time_point now) const {
    HeartbeatSlot s;
    s.state = heartbeat_in_use;
    s.addr = addr;
    s.gen = gen;
    s.stamp_us = env_.uptime_us(now);
    s.owner = env_.id.uuid;
    s.journal = 4096 + 8 * static_cast<uint32_t>(env_.id.number);
    s.driver_major = vmfs_driver_major;
    s.driver_minor = vmfs_driver_minor;
    return s;
}

void Heartbeat::start(Clock::time_point now) {
    due_ = now;
    last_success_ = now;
    landed_issued_ = now;
}

void Heartbeat::run_due() {
    if (active_) {
        refresh();
    } else {
        acquire();
    }
}

void Heartbeat::watchdog(Clock::time_point now) {
    if (!lost_ && !env_.stopping.load() && now - last_success_ > env_.lost_after()) {
        lost_ = true;
        lost_at_ = now;
        env_.stats.update([](HostCounters& c) { ++c.lost_events; });
        env_.log.line(env_.id.name, "vobd",
                      "Lost access to volume %s due to connectivity issues (no heartbeat for "
                      "%.1f s). Recovery attempt is in progress and outcome will be reported "
                      "shortly.",
                      env_.volume(), seconds_between(last_success_, now));
    }
}

void Heartbeat::succeeded(Clock::time_point issued) {
    const auto now = Clock::now();
    const double gap = seconds_between(last_success_, now);
    const bool was_lost = lost_;
    const double lost_for = lost_ ? seconds_between(lost_at_, now) : 0;
    env_.stats.update([&](HostCounters& c) {
        ++c.heartbeats;
        c.longest_hb_gap_seconds = std::max(c.longest_hb_gap_seconds, gap);
        c.lost_seconds += lost_for;
    });
    if (was_lost) {
        env_.log.line(env_.id.name, "vobd",
                      "Successfully restored access to volume %s following connectivity issues "
                      "(lost for %.1f s).",
                      env_.volume(), lost_for);
    }
    lost_ = false;
    last_success_ = now;
    landed_issued_ = issued;
    unconfirmed_.clear();
}

void Heartbeat::finish(Clock::time_point now) {
    const double gap = seconds_between(last_success_, now);
    const double lost_for = lost_ ? seconds_between(lost_at_, now) : 0;
    env_.stats.update([&](HostCounters& c) {
        c.longest_hb_gap_seconds = std::max(c.longest_hb_gap_seconds, gap);
        c.lost_seconds += lost_for;
    });
    lost_ = false;
}

IoResult Heartbeat::write_slot(uint64_t lba, const Sector& test, const Sector& set) {
    Clock::time_point first_issued{};
    std::string timed_out_on;  // the path an attempt timed out on: it may have landed there
    for (;;) {
        IoResult r = env_.io.compare_and_write(lba, test, set);
        if (first_issued == Clock::time_point{}) {
            first_issued = r.issued;
        }
        if (r.status != IoStatus::timeout) {
            // A reissue may find the first attempt landed: the lease counts from the first.
            r.issued = first_issued;
            if (r.lost_on.empty()) {
                r.lost_on = timed_out_on;
            }
            return r;
        }
        timed_out_on = r.path;
        if (unconfirmed_.empty()) {
            unconfirmed_since_ = first_issued;
        }
        if (std::find(unconfirmed_.begin(), unconfirmed_.end(), set) == unconfirmed_.end()) {
            unconfirmed_.push_back(set);
        }
        env_.log.line(env_.id.name, "HBX",
                      "HB at offset %llu on vol '%s': ATS timed out after %.1f s on path %s; "
                      "aborted, reissuing",
                      u(env_.geometry.offset_of(lba)), env_.volume(), env_.options.io_timeout,
                      r.path.c_str());
        if (env_.stopping.load()) {
            r.issued = first_issued;
            return r;
        }
    }
}

void Heartbeat::acquire() {
    const Geometry& g = env_.geometry;
    const auto now = Clock::now();
    IoResult region = env_.io.read(g.heartbeat_lba, static_cast<uint32_t>(g.slots), g.block_size);
    if (region.status != IoStatus::good) {
        env_.log.line(env_.id.name, "HBX", "cannot read the heartbeat region of vol '%s': %s",
                      env_.volume(), region.error.c_str());
        due_ = now + env_.retry_interval();
        return;
    }
    // A slot this host's UUID still holds (an earlier boot) first, else the first free one.
    int pick = -1;
    for (int pass = 0; pass < 2 && pick < 0; ++pass) {
        for (int i = 0; i < g.slots && pick < 0; ++i) {
            const uint8_t* p = region.data.data() + static_cast<size_t>(i) * g.block_size;
            if (!is_heartbeat_slot(p, g.offset_of(g.slot_lba(i)))) {
                continue;
            }
            const HeartbeatSlot s = decode_heartbeat(p);
            if (pass == 0 ? (s.in_use() && s.owner == env_.id.uuid) : !s.in_use()) {
                pick = i;
            }
        }
    }
    if (pick < 0) {
        env_.log.line(env_.id.name, "HBX", "No free heartbeat slot on vol '%s' (%d slots)",
                      env_.volume(), g.slots);
        due_ = now + env_.retry_interval();
        return;
    }
    const uint64_t lba = g.slot_lba(pick);
    const uint8_t* p = region.data.data() + static_cast<size_t>(pick) * g.block_size;
    const Sector test(p, p + g.block_size);
    const HeartbeatSlot old = decode_heartbeat(p);
    const HeartbeatSlot mine = image(old.addr, old.gen + 1, Clock::now());
    const Sector set = encode(mine, g.block_size);
    const IoResult r = write_slot(lba, test, set);
    const bool landed_late = r.status == IoStatus::miscompare &&
                             count_miscompare(env_.stats, env_.io.read(lba, 1, g.block_size), test,
                                              set) == MiscompareClass::late_retry;
    if (r.status == IoStatus::good || landed_late) {
        active_ = true;
        slot_ = mine;
        last_set_ = set;
        succeeded(r.issued);
        env_.log.line(env_.id.name, "HBX", "%s heartbeat on vol '%s' %s",
                      old.in_use() ? "Reclaimed this host's" : "Acquired", env_.volume(),
                      describe(mine).c_str());
        due_ = r.issued + env_.heartbeat_interval();
        return;
    }
    if (r.status == IoStatus::miscompare) {
        env_.stats.update([](HostCounters& c) { ++c.hb_miscompares; });
        env_.log.line(env_.id.name, "HBX",
                      "ATS Miscompare detected while acquiring the HB slot at offset %llu on vol "
                      "'%s': another host took it; trying another slot",
                      u(old.addr), env_.volume());
        due_ = Clock::now();
        return;
    }
    env_.log.line(env_.id.name, "HBX", "heartbeat acquisition on vol '%s' failed: %s",
                  env_.volume(), r.error.c_str());
    due_ = Clock::now() + env_.retry_interval();
}

void Heartbeat::refresh() {
    const auto started = Clock::now();
    HeartbeatSlot next = slot_;
    next.stamp_us = env_.uptime_us(started);
    const Sector set = encode(next, env_.geometry.block_size);
    const uint64_t lba = slot_.addr / env_.geometry.block_size;
    const IoResult r = write_slot(lba, last_set_, set);
    if (r.status == IoStatus::good) {
        slot_ = next;
        last_set_ = set;
        succeeded(r.issued);
        due_ = started + env_.heartbeat_interval();
        return;
    }
    if (r.status == IoStatus::miscompare) {
        handle_miscompare(lba, set, r);
        return;
    }
    // An error (a lost session): the write may still have landed; retry about every second.
    if (unconfirmed_.empty()) {
        unconfirmed_since_ = r.issued;
    }
    unconfirmed_.push_back(set);
    env_.log.line(env_.id.name, "HBX", "HB at offset %llu on vol '%s': %s; retrying", u(slot_.addr),
                  env_.volume(), r.error.c_str());
    due_ = Clock::now() + env_.retry_interval();
}

void Heartbeat::handle_miscompare(uint64_t lba, const Sector& set, const IoResult& r) {
    env_.stats.update([](HostCounters& c) { ++c.hb_miscompares; });
    env_.log.line(env_.id.name, "HBX",
                  "ATS Miscompare detected between test and set HB images at offset %llu on vol "
                  "'%s' (first differing byte %lld: %s).",
                  u(slot_.addr), env_.volume(), static_cast<long long>(r.miscompare_at),
                  heartbeat_field(r.miscompare_at));
    const IoResult now = env_.io.read(lba, 1, env_.geometry.block_size);
    count_miscompare(env_.stats, now, last_set_, set);
    if (now.status != IoStatus::good) {
        if (unconfirmed_.empty()) {
            unconfirmed_since_ = r.issued;
        }
        unconfirmed_.push_back(set);
        due_ = Clock::now() + env_.retry_interval();
        return;
    }
    const Sector& disk = now.data;
    const bool own_late_write = disk == set || std::find(unconfirmed_.begin(), unconfirmed_.end(),
                                                         disk) != unconfirmed_.end();
    if (own_late_write) {
        // KB 2113956: an ATS that was aborted or timed out had landed; its reissue then compares
        // against an image the disk no longer holds.
        env_.stats.update([](HostCounters& c) { ++c.hb_late_retries; });
        const std::string where = r.lost_on.empty() ? std::string()
                                                    : "; its status was lost on path " + r.lost_on +
                                                          ", retried on path " + r.path;
        env_.log.line(env_.id.name, "HBX",
                      "HB at offset %llu on vol '%s': the disk holds this host's own last 'set' "
                      "image (a retried ATS that had already landed%s); resuming heartbeat",
                      u(slot_.addr), env_.volume(), where.c_str());
        const Clock::time_point issued = unconfirmed_.empty() ? r.issued : unconfirmed_since_;
        slot_ = decode_heartbeat(disk.data());
        last_set_ = disk;
        succeeded(std::min(issued, r.issued));
        due_ = Clock::now() + env_.heartbeat_interval();
        return;
    }
    if (disk == last_set_) {
        env_.log.line(env_.id.name, "HBX",
                      "HB at offset %llu on vol '%s' is unchanged on disk: the miscompare had no "
                      "cause; reissuing",
                      u(slot_.addr), env_.volume());
        due_ = Clock::now() + env_.retry_interval() / 10;
        return;
    }
    const HeartbeatSlot found = decode_heartbeat(disk.data());
    env_.log.line(env_.id.name, "HBX",
                  "HB at offset %llu on vol '%s' was changed by another host: %s", u(slot_.addr),
                  env_.volume(), describe(found).c_str());
    restart(found.in_use() ? "taken" : "cleared");
}

void Heartbeat::restart(const char* why) {
    env_.stats.update([](HostCounters& c) { ++c.hb_restarts; });
    env_.log.line(env_.id.name, "HBX",
                  "this host's heartbeat on vol '%s' was %s by another host (gen %llu); "
                  "restarting heartbeat, its locks are stale",
                  env_.volume(), why, u(slot_.gen));
    active_ = false;
    unconfirmed_.clear();
    if (on_restart) {
        on_restart();
    }
    due_ = Clock::now();
}

void Heartbeat::release() {
    if (!active_) {
        return;
    }
    const Sector set = encode(free_slot_image(slot_), env_.geometry.block_size);
    const uint64_t lba = slot_.addr / env_.geometry.block_size;
    const IoResult r = env_.io.compare_and_write(lba, last_set_, set);
    if (r.status == IoStatus::miscompare) {
        count_miscompare(env_.stats, env_.io.read(lba, 1, env_.geometry.block_size), last_set_,
                         set);
    }
    env_.log.line(env_.id.name, "HBX", "%s heartbeat at offset %llu on vol '%s'",
                  r.status == IoStatus::good ? "Released" : "Could not release", u(slot_.addr),
                  env_.volume());
    active_ = false;
}

}  // namespace atsarray::sim
