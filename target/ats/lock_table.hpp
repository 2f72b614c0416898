#pragma once
// The striped LBA lock table (RocksDB's Striped<CacheAligned<Mutex>> shape): a block (LUN, LBA)
// maps to one of N cache-aligned stripes; a command that writes or read-modify-writes a range
// takes every covering stripe in ascending order, so two commands touching a common block never
// overlap and two commands on unrelated blocks rarely wait for each other. Waiting is a FIFO
// queue per stripe, not a blocked thread: acquire() returns at once and calls `granted` when the
// last stripe is held (possibly on the thread of the command that released it). Ascending order
// makes deadlock impossible, FIFO order makes starvation impossible.
//
// A plain READ takes its stripes shared (acquire_shared): readers of a block run together, but
// never while a writer of it runs, so a READ returns each block whole, old or new, never half of
// a write in progress (SBC-4 §4.29.1: without atomic writes, a READ overlapping a write may see
// old and new logical blocks mixed, never a mixed block). A reader that finds a writer holding or
// waiting for a stripe queues behind it (FIFO: a stream of readers never starves a writer).

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <vector>

namespace atsarray::ats {

class LockTable;

// The stripes one command holds. Released exactly once: by release() or by the destructor.
class LockGuard {
  public:
    LockGuard() = default;
    LockGuard(LockGuard&& other) noexcept;
    LockGuard& operator=(LockGuard&& other) noexcept;
    LockGuard(const LockGuard&) = delete;
    LockGuard& operator=(const LockGuard&) = delete;
    ~LockGuard();

    void release();
    bool held() const { return table_ != nullptr; }
    size_t stripe_count() const { return stripes_.size(); }
    // True when the range queued behind another holder (it was granted on a releasing thread).
    bool waited() const { return waited_; }
    bool shared() const { return shared_; }

  private:
    friend class LockTable;
    LockTable* table_ = nullptr;
    std::vector<uint32_t> stripes_;
    bool waited_ = false;
    bool shared_ = false;
};

// Blocks [lba, lba + blocks) of one LUN (`lun_key` is unique per LUN in the process).
struct LockRange {
    uint64_t lun_key = 0;
    uint64_t lba = 0;
    uint64_t blocks = 0;
};

struct LockTableStats {
    uint64_t acquisitions = 0;  // ranges granted
    uint64_t contended = 0;     // ranges that had to queue for at least one stripe
    uint64_t waiting = 0;       // ranges queued right now
    uint64_t held = 0;          // ranges granted and not yet released (0 when the LUN is idle)
};

class LockTable {
  public:
    using Granted = std::function<void(LockGuard)>;

    // `stripes` is rounded up to a power of two; `granularity_blocks` consecutive blocks share a
    // stripe key (1: every block is its own key).
    explicit LockTable(uint32_t stripes = 4096, uint32_t granularity_blocks = 1);
    ~LockTable();
    LockTable(const LockTable&) = delete;
    LockTable& operator=(const LockTable&) = delete;

    // Locks blocks [lba, lba + blocks) of LUN `lun_key` (a number unique per LUN in the process).
    // A zero-length range locks nothing and is granted at once. `granted` runs exactly once.
    void acquire(uint64_t lun_key, uint64_t lba, uint64_t blocks, Granted granted);
    // Locks several ranges, possibly of several LUNs, as one: the union of their stripes is
    // taken in ascending order (UNMAP's descriptors, EXTENDED COPY's destinations).
    void acquire(std::span<const LockRange> ranges, Granted granted);
    // Locks blocks [lba, lba + blocks) shared with other shared holders (readers), exclusive of
    // every acquire() holder (writers); FIFO with both.
    void acquire_shared(uint64_t lun_key, uint64_t lba, uint64_t blocks, Granted granted);

    // The sorted, distinct stripes covering a range (for tests and the benchmark).
    std::vector<uint32_t> stripes_for(uint64_t lun_key, uint64_t lba, uint64_t blocks) const;

    uint32_t stripe_count() const { return static_cast<uint32_t>(stripes_.size()); }
    LockTableStats stats() const;

  private:
    friend class LockGuard;
    struct Waiter;
    struct alignas(64) Stripe {
        std::mutex mutex;
        bool exclusive = false;      // a writer holds it
        uint32_t shared = 0;         // readers holding it
        std::vector<Waiter*> queue;  // FIFO: front is queue[head]; empty while nobody holds it
        size_t head = 0;
    };

    void acquire(std::vector<uint32_t> stripes, bool shared, Granted granted);
    // Takes stripes of `w` from w->next on; returns true when all are held, false when it queued.
    bool advance(Waiter* w);
    void release(const std::vector<uint32_t>& stripes, bool shared);
    void grant(Waiter* w);

    std::vector<Stripe> stripes_;
    uint32_t mask_;
    uint32_t granularity_;
    mutable std::mutex stats_mutex_;
    LockTableStats stats_;           // all but `held`
    std::atomic<uint64_t> held_{0};  // ranges granted, not yet released
};

}  // namespace atsarray::ats
