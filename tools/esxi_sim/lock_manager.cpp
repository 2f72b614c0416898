#include "tools/esxi_sim/lock_manager.hpp"

#include <algorithm>
#include <ctime>

#include "tools/esxi_sim/miscompare.hpp"

namespace atsarray::sim {
namespace {

unsigned long long u(uint64_t v) {
    return static_cast<unsigned long long>(v);
}

LockRecord released_record(const LockRecord& held) {
    LockRecord r = held;
    r.mode = static_cast<uint32_t>(LockMode::free);
    r.owner = Uuid{};
    r.hb_addr = 0;
    r.hb_gen = 0;
    r.mtime = static_cast<uint64_t>(std::time(nullptr));
    return r;
}

}  // namespace

LockManager::LockManager(HostEnv& env, Heartbeat& heartbeat, OwnershipLedger& ledger)
    : env_(env), heartbeat_(heartbeat), ledger_(ledger), next_attempt_(Clock::now()) {}

Clock::duration LockManager::think() {
    std::uniform_real_distribution<double> jitter(0.5, 1.5);
    return env_.seconds(env_.options.think_ms / 1000.0 * jitter(env_.rng));
}

// A live owner's stamp moves every heartbeat interval: look about that often (at most 1 s).
Clock::duration LockManager::check_interval() const {
    return env_.retry_interval();
}

Clock::time_point LockManager::next_due(Clock::time_point now) const {
    Clock::time_point due = now + check_interval();
    if (!pending_.empty()) {
        due = std::min(due, pending_retry_at_);
    }
    if (held_) {
        return std::min(due, held_->believed ? held_->release_at : now);
    }
    if (heartbeat_.lease_valid(now)) {
        due = std::min(due, next_attempt_);
        for (const auto& [index, at] : watch_) {
            due = std::min(due, at);
        }
    }
    return due;
}

void LockManager::run_due(Clock::time_point now) {
    if (!pending_.empty() && now >= pending_retry_at_) {
        Pending p = pending_.front();
        pending_.erase(pending_.begin());
        settle(std::move(p));
        return;
    }
    if (held_) {
        if (!held_->believed || now >= held_->release_at) {
            release();
        }
        return;
    }
    if (!heartbeat_.lease_valid(now)) {
        return;
    }
    for (const auto& [index, at] : watch_) {
        if (at <= now) {
            try_acquire(index, now);
            return;
        }
    }
    if (now >= next_attempt_) {
        next_attempt_ = now + think();
        std::uniform_int_distribution<int> pick(0, env_.geometry.locks - 1);
        try_acquire(pick(env_.rng), now);
    }
}

void LockManager::try_acquire(int index, Clock::time_point now) {
    const Geometry& g = env_.geometry;
    if (std::any_of(pending_.begin(), pending_.end(),
                    [index](const Pending& p) { return p.index == index; })) {
        return;  // its aborted ATS is settled first
    }
    const uint64_t lba = g.lock_lba_of(index);
    const IoResult r = env_.io.read(lba, 1, g.block_size);
    if (r.status != IoStatus::good) {
        if (watch_.count(index) != 0) {
            watch_[index] = now + check_interval();
        }
        return;
    }
    if (!is_lock_record(r.data.data(), g.offset_of(lba))) {
        env_.log.line(env_.id.name, "DLX", "block %llu on vol '%s' is not an on-disk lock", u(lba),
                      env_.volume());
        watch_.erase(index);
        return;
    }
    const LockRecord lock = decode_lock(r.data.data());
    if (lock.is_free()) {
        take(index, r.data, lock, Why::free);
        return;
    }
    if (lock.owner == env_.id.uuid && lock.hb_addr == heartbeat_.slot_addr() &&
        lock.hb_gen == heartbeat_.gen()) {
        take(index, r.data, lock, Why::own);
        return;
    }
    check_owner(index, r.data, lock, now);
}

void LockManager::check_owner(int index, const Sector& disk, const LockRecord& lock,
                              Clock::time_point now) {
    const Geometry& g = env_.geometry;
    const uint32_t node = node_id(lock.owner);
    const uint64_t hb_lba = lock.hb_addr / g.block_size;
    if (lock.hb_addr % g.block_size != 0 || hb_lba < g.heartbeat_lba ||
        hb_lba >= g.slot_lba(g.slots)) {
        env_.log.line(env_.id.name, "DLX",
                      "Lock %s on volume '%s' names a heartbeat outside the region; leaving it",
                      describe(lock).c_str(), env_.volume());
        watch_.erase(index);
        return;
    }
    const IoResult s = env_.io.read(hb_lba, 1, g.block_size);
    if (s.status != IoStatus::good) {
        watch_[index] = now + check_interval();
        return;
    }
    const HeartbeatSlot slot = decode_heartbeat(s.data.data());
    if (!slot.in_use() || slot.gen != lock.hb_gen || slot.owner != lock.owner) {
        env_.log.line(env_.id.name, "DLX",
                      "Lock %s on volume '%s' is stale: its owner's heartbeat is now %s",
                      describe(lock).c_str(), env_.volume(), describe(slot).c_str());
        take(index, disk, lock, Why::stale);
        return;
    }
    const bool watching = watch_.count(index) != 0;
    if (!watching) {
        env_.stats.update([](HostCounters& c) { ++c.lock_failures; });
        env_.log.line(env_.id.name, "DLX", "Lock %s is not free on volume '%s'",
                      describe(lock).c_str(), env_.volume());
        env_.log.line(env_.id.name, "DLX", "lock acquisition failed: node %u already owns the lock",
                      node);
    }
    // ESXi's liveness check: the owner is alive while its stamp moves.
    auto it = liveness_.find(lock.hb_addr);
    const bool known = it != liveness_.end() && it->second.gen == slot.gen;
    if (!known || it->second.stamp != slot.stamp_us) {
        liveness_[lock.hb_addr] = Seen{slot.gen, slot.stamp_us, now};
        if (known) {
            watch_.erase(index);  // the stamp moved: alive
        } else {
            env_.log.line(env_.id.name, "DLX", "Checking liveness of %s (node %u)",
                          describe(slot).c_str(), node);
            watch_[index] = now + check_interval();
        }
        return;
    }
    const double still = std::chrono::duration<double>(now - it->second.since).count();
    if (now - it->second.since < env_.lost_after()) {
        watch_[index] = now + check_interval();
        return;
    }
    env_.log.line(env_.id.name, "HBX",
                  "Checking liveness of %s on vol '%s': stamp unchanged for %.1f s; clearing the "
                  "dead host's heartbeat and replaying its journal <FB %u>",
                  describe(slot).c_str(), env_.volume(), still, slot.journal);
    liveness_.erase(it);
    const Sector cleared = encode(free_slot_image(slot), g.block_size);
    const IoResult c = env_.io.compare_and_write(hb_lba, s.data, cleared);
    if (c.status == IoStatus::miscompare) {
        count_miscompare(env_.stats, env_.io.read(hb_lba, 1, g.block_size), s.data, cleared);
    }
    if (c.status == IoStatus::good) {
        env_.stats.update([](HostCounters& h) { ++h.dead_heartbeats_cleared; });
        take(index, disk, lock, Why::dead_owner);
        return;
    }
    env_.log.line(env_.id.name, "HBX", "clearing the heartbeat at offset %llu on vol '%s': %s",
                  u(slot.addr), env_.volume(),
                  c.status == IoStatus::miscompare ? "it changed meanwhile; checking again"
                                                   : c.error.c_str());
    watch_[index] = now + (c.status == IoStatus::miscompare ? Clock::duration{} : check_interval());
}

void LockManager::take(int index, const Sector& disk, const LockRecord& lock, Why why) {
    const Geometry& g = env_.geometry;
    const uint64_t lba = g.lock_lba_of(index);
    LockRecord mine = lock;
    mine.hb_addr = heartbeat_.slot_addr();
    mine.hb_gen = heartbeat_.gen();
    mine.token = lock.token + 1;
    mine.mode = static_cast<uint32_t>(LockMode::exclusive);
    mine.owner = env_.id.uuid;
    mine.mtime = static_cast<uint64_t>(std::time(nullptr));
    mine.holders = 0;
    const Sector set = encode(mine, g.block_size);
    const IoResult r = env_.io.compare_and_write(lba, disk, set);
    if (r.status == IoStatus::good) {
        acquired(index, set, mine, why);
        return;
    }
    if (r.status != IoStatus::miscompare) {
        // Timed out (aborted) or the session failed: it may have landed; look before trusting.
        pending_.push_back(Pending{index, disk, set, true});
        pending_retry_at_ = Clock::now();
        return;
    }
    env_.stats.update([](HostCounters& c) { ++c.lock_miscompares; });
    const IoResult now = env_.io.read(lba, 1, g.block_size);
    count_miscompare(env_.stats, now, disk, set);
    if (now.status == IoStatus::good && now.data == set) {
        acquired(index, set, mine, why);
        return;
    }
    const LockRecord got = now.status == IoStatus::good ? decode_lock(now.data.data()) : lock;
    const bool unchanged = now.status == IoStatus::good && now.data == disk;
    env_.log.line(env_.id.name, "DLX",
                  "atomic test and set of disk block %llu returned false for equality "
                  "(expected=%u, got=%u)%s",
                  u(lba), node_id(lock.owner), node_id(got.owner),
                  unchanged ? ": the block equals the test image (a false miscompare)" : "");
    if (!got.is_free() && !unchanged) {
        env_.stats.update([](HostCounters& c) { ++c.lock_failures; });
        env_.log.line(env_.id.name, "DLX", "lock acquisition failed: node %u already owns the lock",
                      node_id(got.owner));
    }
    watch_.erase(index);
}

void LockManager::acquired(int index, const Sector& image, const LockRecord& record, Why why) {
    const auto now = Clock::now();
    watch_.erase(index);
    if (!heartbeat_.lease_valid(now)) {
        // The heartbeat went stale during the ATS: a lock this host cannot vouch for goes back.
        pending_.push_back(Pending{
            index, image, encode(released_record(record), env_.geometry.block_size), false});
        pending_retry_at_ = now;
        return;
    }
    ledger_.acquired(index, env_.id.number);
    std::uniform_real_distribution<double> jitter(0.5, 1.5);
    held_ = Held{index, image, record,
                 now + env_.seconds(env_.options.hold_ms / 1000.0 * jitter(env_.rng)), true};
    const bool broken = why == Why::stale || why == Why::dead_owner;
    env_.stats.update([&](HostCounters& c) {
        ++c.lock_acquisitions;
        c.stale_locks_broken += broken ? 1 : 0;
    });
    if (broken) {
        env_.log.line(env_.id.name, "DLX",
                      "Broke the stale lock at offset %llu on vol '%s' and took it %s",
                      u(record.addr), env_.volume(), describe(record).c_str());
    }
}

void LockManager::release() {
    const Held h = *held_;
    held_.reset();
    if (h.believed) {
        ledger_.released(h.index, env_.id.number);
    }
    settle(Pending{h.index, h.image, encode(released_record(h.record), env_.geometry.block_size),
                   false});
    next_attempt_ = Clock::now() + think();
}

void LockManager::settle(Pending p) {
    const Geometry& g = env_.geometry;
    const uint64_t lba = g.lock_lba_of(p.index);
    if (p.acquire) {
        const IoResult now = env_.io.read(lba, 1, g.block_size);
        if (now.status != IoStatus::good) {
            pending_.push_back(std::move(p));
            pending_retry_at_ = Clock::now() + check_interval();
        } else if (now.data == p.set) {
            env_.log.line(env_.id.name, "DLX",
                          "lock at offset %llu on vol '%s': the aborted ATS had landed; holding it",
                          u(g.offset_of(lba)), env_.volume());
            acquired(p.index, p.set, decode_lock(p.set.data()), Why::free);
        }
        return;
    }
    const IoResult r = env_.io.compare_and_write(lba, p.test, p.set);
    if (r.status == IoStatus::good) {
        env_.stats.update([](HostCounters& c) { ++c.lock_releases; });
        return;
    }
    if (r.status == IoStatus::miscompare) {
        const IoResult now = env_.io.read(lba, 1, g.block_size);
        count_miscompare(env_.stats, now, p.test, p.set);
        if (now.status != IoStatus::good) {
            pending_.push_back(std::move(p));
            pending_retry_at_ = Clock::now() + check_interval();
        } else if (now.data == p.set) {
            env_.stats.update([](HostCounters& c) { ++c.lock_releases; });  // a late retry
        } else if (now.data == p.test) {
            env_.log.line(env_.id.name, "DLX",
                          "releasing the lock at offset %llu on vol '%s': ATS miscompared although "
                          "the block equals the test image (a false miscompare); retrying",
                          u(g.offset_of(lba)), env_.volume());
            pending_.push_back(std::move(p));
            pending_retry_at_ = Clock::now();
        } else {
            const LockRecord got = decode_lock(now.data.data());
            env_.stats.update([](HostCounters& c) { ++c.locks_broken_while_held; });
            env_.log.line(env_.id.name, "DLX",
                          "lock at offset %llu on vol '%s' was broken by node %u while this host "
                          "held it: %s",
                          u(g.offset_of(lba)), env_.volume(), node_id(got.owner),
                          describe(got).c_str());
        }
        return;
    }
    pending_.push_back(std::move(p));
    pending_retry_at_ = Clock::now() + check_interval();
}

void LockManager::watchdog(Clock::time_point now) {
    if (held_ && held_->believed && !heartbeat_.lease_valid(now)) {
        held_->believed = false;
        ledger_.released(held_->index, env_.id.number);
        env_.log.line(env_.id.name, "DLX",
                      "this host's heartbeat is older than %.1f s: no longer trusting the lock at "
                      "offset %llu",
                      env_.options.lost_after, u(held_->record.addr));
    }
}

void LockManager::heartbeat_restarted() {
    if (held_ && held_->believed) {
        held_->believed = false;
        ledger_.released(held_->index, env_.id.number);
    }
}

void LockManager::release_all() {
    // Settling an aborted acquisition may find it landed: then that lock goes back too.
    for (int round = 0; round < 2; ++round) {
        if (held_) {
            release();
        }
        std::vector<Pending> left;
        left.swap(pending_);
        for (Pending& p : left) {
            settle(std::move(p));
        }
    }
    pending_.clear();
}

void LockManager::forget_all() {
    if (held_ && held_->believed) {
        ledger_.released(held_->index, env_.id.number);
    }
    held_.reset();
    pending_.clear();
}

}  // namespace atsarray::sim
