#pragma once
// A block store on a regular file (a LUN image). The image is thin: it is created sparse with
// ftruncate and the file system allocates blocks on first write. An exclusive flock keeps a
// second daemon (or a second LUN) from opening the same image.
//
// With `direct` the image is opened O_DIRECT (no page cache). Direct I/O needs the file offset,
// the length and the buffer aligned to what the file system reports (statx STATX_DIOALIGN,
// 4096 where the kernel cannot say). Aligned calls go straight to the file; anything else goes
// through an aligned bounce buffer, and an aligned block the call covers only in part is
// read, patched and written back (read-modify-write). The SCSI layer's LBA lock table only
// serialises writers of the same LUN block, so two writes of different 512-byte LBAs inside one
// 4096-byte aligned block would both patch it and one would undo the other: such partial
// blocks are patched under a small striped lock table keyed by the aligned block's index.
// Durability is unchanged: FUA uses RWF_DSYNC or fdatasync, flush() fdatasync, since O_DIRECT
// alone leaves data in the device's volatile cache.
//
// Writes on the I/O thread (write_nowait(), issue 17). A buffered 4 KiB pwrite into the page
// cache costs a few microseconds of CPU (measured on ext4: 1.5-4 us into small folios, 10-17 us
// into the large folios a sequential read such as `cat` leaves), the two thread hand-offs of a
// worker more, so the SCSI layer offers plain writes here first, under their LBA locks.
// write_nowait() either writes the whole range or answers would_block, and it never keeps the
// I/O thread waiting long:
// - would_block at once for O_DIRECT images (every write waits for the device), read-only images
//   (write() answers them) and fua (FUA or write cache off: RWF_DSYNC or fdatasync waits); and
//   for writes above inline_max_bytes: copying 128 KiB into the page cache costs the I/O thread
//   more than a hand-off, and on a worker it overlaps the next command's data (measured: 128 KiB
//   random writes at QD16 lost ~20% inline).
// - The first call tries pwritev2(RWF_NOWAIT) (kernel mode): where the file system supports it
//   for buffered writes (XFS; not ext4, nor tmpfs, as of Linux 6.18: EOPNOTSUPP) the kernel
//   itself answers EAGAIN instead of waiting (a lock held, a page to read, dirty throttling,
//   a timestamp to update), and that is would_block. The kernel may stop short after writing
//   part of the range (measured on XFS: the next folio needed a read). would_block must mean
//   nothing written (COMPARE AND WRITE retried on a worker compares again), so the rest is then
//   written with a plain pwrite on the calling thread, timed by the stall detector below; the
//   partial-page probe (a) avoids the usual cause.
// - Where the kernel refuses the flag (guarded mode, ext4), a plain pwrite runs inline, guarded:
//   (a) a page the write covers only in part is written inline only when the page cache holds
//       it (a 1-byte preadv2(RWF_NOWAIT) probe), since filling the rest of an uncached page
//       reads it from the disk (the probe starts that read for the worker's write). tmpfs has
//       no disk to read (its pages are memory); where nowait reads are refused, partial pages
//       always go to the worker;
//   (b) never while a worker-side flush, unmap, grow, extent query or write that may take long
//       (fua, O_DIRECT, a partial page to read from the disk) runs on this store (counted in an
//       atomic): they hold the inode lock or commit the journal, which an inline write would
//       wait for. A worker's write into cached pages holds the lock for microseconds and is not
//       counted: at a high queue depth one would always be in flight, and once one write went
//       to a worker every later one would follow it. A call starting between the check and the
//       pwrite can still make an inline write wait; (c) bounds that;
//   (c) a stall detector times every inline write (the steady clock, probes included): one that
//       took longer than inline_stall_threshold and slept (the thread's voluntary context
//       switches grew: journal, writeback throttling, inode lock, extent-tree reads; a thread
//       the scheduler preempted is no stall) turns inline writes off for inline_backoff,
//       doubled up to inline_backoff_cap while stalls come back within a period of the last
//       back-off's end, so a stalling file system costs each I/O thread at most about one stall
//       per period.
//   The detector runs in kernel mode too (memory reclaim can stall any call).
// A write done inline is the same pwrite a worker would do: what is stable, and when, does not
// change (only fua writes are stable on return; flush() covers every write acknowledged before
// it). inline_writes(), would_block_counts() and inline_stalls() count what happened.

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <mutex>
#include <span>
#include <string>

#include "backend/block_store.hpp"

namespace atsarray::backend {

struct FileStoreOptions {
    bool read_only = false;
    bool direct = false;  // O_DIRECT; refused (open fails) where the file system cannot do it
    // write_nowait()'s stall detector (see above): an inline write slower than the threshold
    // turns inline writes off for the back-off, doubled while stalls repeat, up to the cap.
    std::chrono::nanoseconds inline_stall_threshold = std::chrono::milliseconds(1);
    std::chrono::nanoseconds inline_backoff = std::chrono::seconds(1);
    std::chrono::nanoseconds inline_backoff_cap = std::chrono::seconds(64);
    // Larger writes always go to a worker (see above).
    uint64_t inline_max_bytes = 32 * 1024;
    // The clock inline writes are timed with; empty: std::chrono::steady_clock (tests step one).
    std::function<std::chrono::steady_clock::time_point()> clock;
    // The calling thread's voluntary context switches; empty: getrusage(RUSAGE_THREAD). A slow
    // write is a stall only when the thread slept in it: one the scheduler merely preempted (a
    // busy machine) would be as slow on a worker.
    std::function<uint64_t()> voluntary_switches;
};

class FileStore : public BlockStore {
  public:
    // Opens the image at `path`, creating it sparse at `size_bytes` when it does not exist (never
    // its folder; an image it created is removed again when open fails). An existing image smaller
    // than `size_bytes` is grown sparsely (unless read-only); a larger one is refused, as is an
    // image another process holds. On failure returns nullptr and sets `error_message` to a
    // sentence naming the path and the cause.
    static std::unique_ptr<FileStore> open(const std::string& path, uint64_t size_bytes,
                                           bool read_only, std::string& error_message);
    // Same with options. With `direct`, a file system that refuses O_DIRECT, or a size that is
    // not a multiple of the direct I/O alignment, is an error: never a silent buffered fallback.
    static std::unique_ptr<FileStore> open(const std::string& path, uint64_t size_bytes,
                                           const FileStoreOptions& options,
                                           std::string& error_message);

    ~FileStore() override;  // closes the file, which releases the flock
    FileStore(const FileStore&) = delete;
    FileStore& operator=(const FileStore&) = delete;

    uint64_t size_bytes() const override { return size_bytes_; }
    Status grow(uint64_t new_size) override;
    Status read(uint64_t offset, std::span<uint8_t> out) override;
    // preadv2(RWF_NOWAIT): what the page cache holds, without waiting for the disk. Not with
    // O_DIRECT (no page cache), nor once the kernel refused the flag.
    bool reads_without_waiting() const override {
        return !direct() && nowait_reads_.load(std::memory_order_relaxed);
    }
    Status read_nowait(uint64_t offset, std::span<uint8_t> out) override;
    Status write(uint64_t offset, std::span<const uint8_t> in, bool fua) override;
    // Buffered and writable images; write_nowait() decides per call (see above).
    bool writes_without_waiting() const override { return !direct() && !read_only_; }
    Status write_nowait(uint64_t offset, std::span<const uint8_t> in, bool fua) override;
    Status flush() override;
    // fallocate(PUNCH_HOLE | KEEP_SIZE); zeros written where the file system cannot punch.
    Status unmap(uint64_t offset, uint64_t length) override;
    // lseek(SEEK_DATA / SEEK_HOLE); everything mapped where the file system cannot tell.
    Status mapped_extent(uint64_t offset, uint64_t limit, bool& mapped, uint64_t& length) override;
    uint64_t allocation_unit() const override { return allocation_unit_; }
    // The image's allocated blocks (st_blocks).
    uint64_t allocated_bytes() const override;
    std::string kind() const override { return "file"; }

    const std::string& path() const { return path_; }
    bool read_only() const { return read_only_; }
    bool direct() const { return direct_align_ != 0; }
    // The file offset and length granularity of direct I/O; 0 when not direct.
    uint32_t direct_alignment() const { return direct_align_; }
    // True while FUA writes use pwritev2(RWF_DSYNC); false once the kernel or file system refused
    // it (the store then writes and calls fdatasync).
    bool native_fua() const { return native_fua_.load(std::memory_order_relaxed); }
    // Forces the pwrite + fdatasync FUA path (tests, file systems that misreport RWF_DSYNC).
    void disable_native_fua() { native_fua_.store(false, std::memory_order_relaxed); }

    // How write_nowait() writes: not tried yet, pwritev2(RWF_NOWAIT), or a guarded pwrite.
    enum class NowaitWrites : uint8_t { untried, kernel, guarded };
    NowaitWrites nowait_writes() const { return nowait_writes_.load(std::memory_order_relaxed); }
    // Writes write_nowait() did on the caller's thread, writes it answered would_block (the
    // worker's write() did them), and inline writes slower than the stall threshold.
    uint64_t inline_writes() const { return inline_writes_.load(std::memory_order_relaxed); }
    uint64_t nowait_would_block() const;
    uint64_t inline_stalls() const { return inline_stalls_.load(std::memory_order_relaxed); }
    // Why write_nowait() answered would_block, one count per reason; and two things that are
    // not would_block.
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

    // A call that may hold the inode lock or commit the journal, counted while it runs: guard (b)
    // above. flush(), unmap(), grow(), mapped_extent() and write() (fua, direct, an uncached
    // partial page) hold one; tests hold one to stand for a worker's call in flight.
    class BlockingCall {
      public:
        explicit BlockingCall(std::atomic<int>& in_flight) : in_flight_(in_flight) {
            in_flight_.fetch_add(1, std::memory_order_acq_rel);
        }
        ~BlockingCall() { in_flight_.fetch_sub(1, std::memory_order_acq_rel); }
        BlockingCall(const BlockingCall&) = delete;
        BlockingCall& operator=(const BlockingCall&) = delete;

      private:
        std::atomic<int>& in_flight_;
    };
    [[nodiscard]] BlockingCall blocking_call() { return BlockingCall(blocking_calls_); }

  private:
    // A power of two: a write's head and tail blocks map to at most two stripes.
    static constexpr size_t edge_stripes = 64;

    FileStore(int fd, std::string path, uint64_t size_bytes, bool read_only);

    bool in_range(uint64_t offset, size_t length) const;
    // Whether a call can go to the O_DIRECT file as it is (always true when not direct).
    bool direct_ready(uint64_t offset, const void* buffer, size_t length) const;
    Status read_all(uint64_t offset, std::span<uint8_t> out);
    Status read_bounced(uint64_t offset, std::span<uint8_t> out);
    // write() after its checks: the data, stable before returning when `fua`.
    Status write_through(uint64_t offset, std::span<const uint8_t> in, bool fua);
    Status write_bounced(uint64_t offset, std::span<const uint8_t> in, bool fua);
    Status punch(uint64_t offset, uint64_t length, bool& unsupported);
    // Locks the stripes of the aligned blocks holding `offset` and `end` when those blocks are
    // only partly covered by [offset, end) (read-modify-write or a partial punch).
    std::array<std::unique_lock<std::mutex>, 2> lock_partial_edges(uint64_t offset, uint64_t end);
    Status write_all(uint64_t offset, std::span<const uint8_t> in);
    Status write_all_dsync(uint64_t offset, std::span<const uint8_t> in, bool& unsupported);
    // write_nowait()'s steps: guard (a); one pwritev2(RWF_NOWAIT), `unsupported` when the kernel
    // refuses the flag; guard (c) at the end of an inline write that began at `start`.
    bool partial_pages_cached(uint64_t offset, uint64_t end);
    Status write_kernel_nowait(uint64_t offset, std::span<const uint8_t> in, bool& unsupported);
    struct Mark {
        std::chrono::steady_clock::time_point time;
        uint64_t voluntary_switches = 0;
    };
    void note_inline_write(const Mark& start);
    std::chrono::steady_clock::time_point now() const;  // the clock option or the steady clock
    uint64_t voluntary_switches() const;  // the option or getrusage(RUSAGE_THREAD).ru_nvcsw

    int fd_;
    std::string path_;
    std::atomic<uint64_t> size_bytes_;  // grows at run time (grow())
    std::atomic<bool> nowait_reads_{true};
    bool read_only_;
    std::atomic<bool> native_fua_{true};
    std::atomic<bool> can_punch_{true};
    uint64_t allocation_unit_ = 0;   // st_blksize of the image
    uint32_t direct_align_ = 0;      // O_DIRECT offset/length alignment; 0 = buffered I/O
    uint32_t direct_mem_align_ = 0;  // O_DIRECT buffer address alignment
    std::array<std::mutex, edge_stripes> edge_locks_;

    uint64_t page_bytes_ = 4096;    // the page cache's unit: guard (a)
    bool pages_in_memory_ = false;  // tmpfs: no page is ever read from a disk, guard (a) is moot
    std::atomic<NowaitWrites> nowait_writes_{NowaitWrites::untried};
    std::atomic<int> blocking_calls_{0};
    std::chrono::nanoseconds stall_threshold_{std::chrono::milliseconds(1)};
    std::chrono::nanoseconds backoff_base_{std::chrono::seconds(1)};
    std::chrono::nanoseconds backoff_cap_{std::chrono::seconds(64)};
    uint64_t inline_max_bytes_ = 32 * 1024;
    std::function<std::chrono::steady_clock::time_point()> clock_;
    std::function<uint64_t()> voluntary_switches_;
    // Inline writes are off until this time (the clock's nanoseconds since its epoch).
    std::atomic<int64_t> inline_paused_until_{std::numeric_limits<int64_t>::min()};
    std::mutex stall_mutex_;  // a stall's back-off update; taken after stalls only
    std::chrono::nanoseconds backoff_current_;  // under stall_mutex_
    bool stall_logged_ = false;                 // under stall_mutex_
    std::atomic<uint64_t> inline_writes_{0};
    std::atomic<uint64_t> inline_stalls_{0};
    std::atomic<uint64_t> blocked_waits_{0};
    std::atomic<uint64_t> blocked_large_{0};
    std::atomic<uint64_t> blocked_uncached_{0};
    std::atomic<uint64_t> blocked_busy_{0};
    std::atomic<uint64_t> blocked_backing_off_{0};
    std::atomic<uint64_t> blocked_kernel_{0};
    std::atomic<uint64_t> slow_preempted_{0};
    std::atomic<uint64_t> kernel_short_finished_{0};
};

}  // namespace atsarray::backend
