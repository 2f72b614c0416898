#pragma once
// When a store may write on the I/O thread (issue 17), apart from how it writes there: the
// policy behind FileStore::write_nowait(), whose header (backend/file_store.hpp) describes the
// whole scheme. The store does the file's own steps (the RWF_NOWAIT pwrite, guard (a)'s
// partial-page probe) and asks this class the rest:
// - size: writes above inline_max_bytes always go to a worker. Copying 128 KiB into the page
//   cache costs the I/O thread more than a hand-off, and on a worker it overlaps the next
//   command's data (measured: 128 KiB random writes at QD16 lost ~20% inline).
// - guard (b): never while a worker-side flush, unmap, grow, extent query or write that may take
//   long (fua, O_DIRECT, a partial page to read from the disk) runs on the store: each holds a
//   BlockingCall while it runs. They hold the inode lock or commit the journal, which an inline
//   write would wait for. A worker's write into cached pages holds the lock for microseconds and
//   is not counted: at a high queue depth one would always be in flight, and once one write went
//   to a worker every later one would follow it. A call starting between the check and the
//   pwrite can still make an inline write wait; (c) bounds that.
// - guard (c): a stall detector times every inline write (the steady clock, probes included): one
//   that took longer than inline_stall_threshold and slept (the thread's voluntary context
//   switches grew: journal, writeback throttling, inode lock, extent-tree reads; a thread the
//   scheduler preempted is no stall) turns inline writes off for inline_backoff, doubled up to
//   inline_backoff_cap while stalls come back within a period of the last back-off's end, so a
//   stalling file system costs each I/O thread at most about one stall per period.
// - the counts: inline writes, would_block answers by reason, stalls, and the slow writes that
//   were not stalls.

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <limits>
#include <mutex>
#include <optional>
#include <string>

#include "backend/block_store.hpp"

namespace atsarray::backend {

// The options of the policy; FileStoreOptions carries them (tests set them there).
struct InlineWriteOptions {
    // Guard (c): an inline write slower than the threshold (and asleep in it) turns inline writes
    // off for the back-off, doubled while stalls repeat, up to the cap.
    std::chrono::nanoseconds inline_stall_threshold = std::chrono::milliseconds(1);
    std::chrono::nanoseconds inline_backoff = std::chrono::seconds(1);
    std::chrono::nanoseconds inline_backoff_cap = std::chrono::seconds(64);
    // Larger writes always go to a worker.
    uint64_t inline_max_bytes = 32 * 1024;
    // The clock inline writes are timed with; empty: std::chrono::steady_clock (tests step one).
    std::function<std::chrono::steady_clock::time_point()> clock;
    // The calling thread's voluntary context switches; empty: getrusage(RUSAGE_THREAD). A slow
    // write is a stall only when the thread slept in it: one the scheduler merely preempted (a
    // busy machine) would be as slow on a worker.
    std::function<uint64_t()> voluntary_switches;
};

class InlineWritePolicy {
  public:
    // `image` names the store in log lines.
    InlineWritePolicy(const InlineWriteOptions& options, std::string image);
    ~InlineWritePolicy();  // logs the counts when any write was offered
    InlineWritePolicy(const InlineWritePolicy&) = delete;
    InlineWritePolicy& operator=(const InlineWritePolicy&) = delete;

    // Why a write was answered would_block (the worker's write() did it): one per count of
    // WouldBlockCounts below, which says what each means.
    enum class Reason : uint8_t { waits, large, uncached_page, busy, backing_off, kernel };
    // Counts a would_block for `reason` and returns it.
    Status would_block(Reason reason);
    bool fits(uint64_t bytes) const { return bytes <= max_bytes_; }

    // A call that may hold the inode lock or commit the journal, counted while it runs: guard (b).
    class BlockingCall {
      public:
        explicit BlockingCall(InlineWritePolicy& policy) : in_flight_(policy.blocking_calls_) {
            in_flight_.fetch_add(1, std::memory_order_acq_rel);
        }
        ~BlockingCall() { in_flight_.fetch_sub(1, std::memory_order_acq_rel); }
        BlockingCall(const BlockingCall&) = delete;
        BlockingCall& operator=(const BlockingCall&) = delete;

      private:
        std::atomic<int>& in_flight_;
    };
    [[nodiscard]] BlockingCall blocking_call() { return BlockingCall(*this); }
    // Guard (b): a BlockingCall is held now.
    bool busy() const { return blocking_calls_.load(std::memory_order_acquire) > 0; }

    // Guard (c). An inline write starts with start_inline_write(), empty while inline writes are
    // off, and ends with note_inline_write() (the probes count as part of it).
    struct Mark {
        std::chrono::steady_clock::time_point time;
        uint64_t voluntary_switches = 0;
    };
    std::optional<Mark> start_inline_write();
    void note_inline_write(const Mark& start);

    void count_inline_write() { inline_writes_.fetch_add(1, std::memory_order_relaxed); }
    void count_kernel_short_finished() {
        kernel_short_finished_.fetch_add(1, std::memory_order_relaxed);
    }

    // Writes done on the caller's thread, writes answered would_block, and inline writes slower
    // than the stall threshold that slept.
    uint64_t inline_writes() const { return inline_writes_.load(std::memory_order_relaxed); }
    uint64_t would_block_total() const;
    uint64_t stalls() const { return stalls_.load(std::memory_order_relaxed); }
    // One count per would_block reason; and two things that are not would_block.
    struct WouldBlockCounts {
        uint64_t waits = 0;           // fua, O_DIRECT, read-only: the write waits by nature
        uint64_t large = 0;           // above inline_max_bytes
        uint64_t uncached_page = 0;   // guard (a)
        uint64_t busy = 0;            // guard (b)
        uint64_t backing_off = 0;     // guard (c)
        uint64_t kernel = 0;          // RWF_NOWAIT: EAGAIN, nothing written
        uint64_t slow_preempted = 0;  // not a would_block: a slow write that did not sleep
        // Not a would_block: RWF_NOWAIT stopped short and a plain pwrite wrote the rest.
        uint64_t kernel_short_finished = 0;
    };
    WouldBlockCounts would_block_counts() const;

  private:
    static constexpr size_t reasons = static_cast<size_t>(Reason::kernel) + 1;

    std::chrono::steady_clock::time_point now() const;  // the clock option or the steady clock
    uint64_t voluntary_switches() const;  // the option or getrusage(RUSAGE_THREAD).ru_nvcsw

    std::string image_;
    std::chrono::nanoseconds stall_threshold_;
    std::chrono::nanoseconds backoff_base_;
    std::chrono::nanoseconds backoff_cap_;
    uint64_t max_bytes_;
    std::function<std::chrono::steady_clock::time_point()> clock_;
    std::function<uint64_t()> voluntary_switches_;
    std::atomic<int> blocking_calls_{0};
    // Inline writes are off until this time (the clock's nanoseconds since its epoch).
    std::atomic<int64_t> paused_until_{std::numeric_limits<int64_t>::min()};
    std::mutex stall_mutex_;  // a stall's back-off update; taken after stalls only
    std::chrono::nanoseconds backoff_current_;  // under stall_mutex_
    bool stall_logged_ = false;                 // under stall_mutex_
    std::atomic<uint64_t> inline_writes_{0};
    std::atomic<uint64_t> stalls_{0};
    std::array<std::atomic<uint64_t>, reasons> would_block_{};
    std::atomic<uint64_t> slow_preempted_{0};
    std::atomic<uint64_t> kernel_short_finished_{0};
};

}  // namespace atsarray::backend
