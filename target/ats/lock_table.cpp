#include "target/ats/lock_table.hpp"

#include <algorithm>
#include <bit>

namespace atsarray::ats {

struct LockTable::Waiter {
    std::vector<uint32_t> stripes;
    size_t next = 0;  // index of the first stripe not yet held
    Granted granted;
    bool contended = false;
    bool shared = false;
};

LockGuard::LockGuard(LockGuard&& other) noexcept
    : table_(other.table_),
      stripes_(std::move(other.stripes_)),
      waited_(other.waited_),
      shared_(other.shared_) {
    other.table_ = nullptr;
}

LockGuard& LockGuard::operator=(LockGuard&& other) noexcept {
    if (this != &other) {
        release();
        table_ = other.table_;
        stripes_ = std::move(other.stripes_);
        waited_ = other.waited_;
        shared_ = other.shared_;
        other.table_ = nullptr;
    }
    return *this;
}

LockGuard::~LockGuard() {
    release();
}

void LockGuard::release() {
    if (table_ != nullptr) {
        LockTable* table = table_;
        table_ = nullptr;
        table->release(stripes_, shared_);
        stripes_.clear();
    }
}

LockTable::LockTable(uint32_t stripes, uint32_t granularity_blocks)
    : stripes_(std::bit_ceil(std::max(stripes, 1U))),
      mask_(static_cast<uint32_t>(stripes_.size() - 1)),
      granularity_(std::max(granularity_blocks, 1U)) {}

LockTable::~LockTable() = default;

namespace {
// A 64-bit mix (splitmix64 finaliser): neighbouring blocks land on unrelated stripes, so a hot
// region (VMFS heartbeat slots sit side by side) spreads over the table.
uint64_t mix(uint64_t x) {
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}
}  // namespace

std::vector<uint32_t> LockTable::stripes_for(uint64_t lun_key, uint64_t lba,
                                             uint64_t blocks) const {
    std::vector<uint32_t> out;
    if (blocks == 0) {
        return out;
    }
    const uint64_t first = lba / granularity_;
    const uint64_t last = (lba + blocks - 1) / granularity_;
    if (last - first + 1 >= stripes_.size()) {
        // A range with as many keys as stripes covers (almost surely) all of them.
        out.resize(stripes_.size());
        for (uint32_t i = 0; i < out.size(); ++i) {
            out[i] = i;
        }
        return out;
    }
    out.reserve(last - first + 1);
    const uint64_t lun_salt = mix(lun_key + 0x9e3779b97f4a7c15ULL);
    for (uint64_t key = first; key <= last; ++key) {
        out.push_back(static_cast<uint32_t>(mix(key ^ lun_salt) & mask_));
    }
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
}

void LockTable::acquire(uint64_t lun_key, uint64_t lba, uint64_t blocks, Granted granted) {
    const LockRange range{lun_key, lba, blocks};
    acquire(std::span<const LockRange>(&range, 1), std::move(granted));
}

void LockTable::acquire(std::span<const LockRange> ranges, Granted granted) {
    std::vector<uint32_t> stripes;
    if (ranges.size() == 1) {
        stripes = stripes_for(ranges[0].lun_key, ranges[0].lba, ranges[0].blocks);
    } else if (!ranges.empty()) {
        // Mark, then collect in ascending order: linear in the table size however many ranges.
        std::vector<uint8_t> marked(stripes_.size(), 0);
        for (const LockRange& r : ranges) {
            for (uint32_t index : stripes_for(r.lun_key, r.lba, r.blocks)) {
                marked[index] = 1;
            }
        }
        for (uint32_t i = 0; i < marked.size(); ++i) {
            if (marked[i] != 0) {
                stripes.push_back(i);
            }
        }
    }
    acquire(std::move(stripes), false, std::move(granted));
}

void LockTable::acquire_shared(uint64_t lun_key, uint64_t lba, uint64_t blocks, Granted granted) {
    acquire(stripes_for(lun_key, lba, blocks), true, std::move(granted));
}

void LockTable::acquire(std::vector<uint32_t> stripes, bool shared, Granted granted) {
    auto* w = new Waiter{std::move(stripes), 0, std::move(granted), false, shared};
    if (advance(w)) {
        grant(w);
    }
}

bool LockTable::advance(Waiter* w) {
    while (w->next < w->stripes.size()) {
        Stripe& s = stripes_[w->stripes[w->next]];
        std::lock_guard lock(s.mutex);
        // A reader joins other readers unless a writer is queued (FIFO); a writer needs the
        // stripe free.
        const bool busy =
            w->shared ? s.exclusive || s.head < s.queue.size() : s.exclusive || s.shared != 0;
        if (busy) {
            // Queue behind the holder; whoever releases this stripe hands it to us and resumes
            // our ascent (release()).
            s.queue.push_back(w);
            if (!w->contended) {
                w->contended = true;
                std::lock_guard stats_lock(stats_mutex_);
                ++stats_.waiting;
            }
            return false;
        }
        if (w->shared) {
            ++s.shared;
        } else {
            s.exclusive = true;
        }
        ++w->next;
    }
    return true;
}

void LockTable::grant(Waiter* w) {
    {
        std::lock_guard stats_lock(stats_mutex_);
        ++stats_.acquisitions;
        if (w->contended) {
            ++stats_.contended;
            --stats_.waiting;
        }
    }
    held_.fetch_add(1, std::memory_order_relaxed);
    LockGuard guard;
    guard.table_ = this;
    guard.stripes_ = std::move(w->stripes);
    guard.waited_ = w->contended;
    guard.shared_ = w->shared;
    Granted granted = std::move(w->granted);
    delete w;
    granted(std::move(guard));
}

void LockTable::release(const std::vector<uint32_t>& stripes, bool shared) {
    // The last holder of a stripe hands it to the first waiter in its queue (and, when that is a
    // reader, to every reader queued right behind it), or frees it. A waiter that now holds its
    // stripe climbs on to its next ones; one that got them all is granted.
    held_.fetch_sub(1, std::memory_order_relaxed);  // no stats lock on the release path
    std::vector<Waiter*> resumed;
    for (uint32_t index : stripes) {
        Stripe& s = stripes_[index];
        std::lock_guard lock(s.mutex);
        if (shared) {
            if (--s.shared != 0) {
                continue;
            }
        } else {
            s.exclusive = false;
        }
        while (s.head < s.queue.size()) {
            Waiter* next = s.queue[s.head];
            if (!next->shared && s.shared != 0) {
                break;  // a writer behind the readers just resumed waits for them
            }
            ++s.head;
            if (next->shared) {
                ++s.shared;
            } else {
                s.exclusive = true;
            }
            ++next->next;  // it holds this stripe now
            resumed.push_back(next);
            if (!next->shared) {
                break;
            }
        }
        if (s.head == s.queue.size()) {
            s.queue.clear();
            s.head = 0;
        }
    }
    for (Waiter* w : resumed) {
        if (advance(w)) {
            grant(w);
        }
    }
}

LockTableStats LockTable::stats() const {
    std::lock_guard lock(stats_mutex_);
    LockTableStats s = stats_;
    s.held = held_.load(std::memory_order_relaxed);
    return s;
}

}  // namespace atsarray::ats
