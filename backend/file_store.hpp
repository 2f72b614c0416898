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
// into the large folios a sequential read such as `cat` leaves; the store keeps its own folios
// small: backend/page_cache_pieces.hpp), the two thread hand-offs of a
// worker more, so the SCSI layer offers plain writes here first, under their LBA locks.
// write_nowait() either writes the whole range or answers would_block, and it never keeps the
// I/O thread waiting long:
// - would_block at once for O_DIRECT images (every write waits for the device), read-only images
//   (write() answers them) and fua (FUA or write cache off: RWF_DSYNC or fdatasync waits); and
//   for writes above inline_max_bytes (why: backend/inline_writes.hpp).
// - The first call tries pwritev2(RWF_NOWAIT) (kernel mode): where the file system supports it
//   for buffered writes (XFS; not ext4, nor tmpfs, as of Linux 6.18: EOPNOTSUPP) the kernel
//   itself answers EAGAIN instead of waiting (a lock held, a page to read, dirty throttling,
//   a timestamp to update), and that is would_block. The kernel may stop short after writing
//   part of the range (measured on XFS: the next folio needed a read). would_block must mean
//   nothing written (COMPARE AND WRITE retried on a worker compares again), so the rest is then
//   written with a plain pwrite on the calling thread, timed by the stall detector (c); the
//   partial-page probe (a) avoids the usual cause.
// - Where the kernel refuses the flag (guarded mode, ext4), a plain pwrite runs inline, guarded:
//   (a) a page the write covers only in part is written inline only when the page cache holds
//       it (a 1-byte preadv2(RWF_NOWAIT) probe), since filling the rest of an uncached page
//       reads it from the disk (the probe starts that read for the worker's write). tmpfs has
//       no disk to read (its pages are memory); where nowait reads are refused, partial pages
//       always go to the worker;
//   (b) never while a worker-side call that may hold the inode lock or commit the journal runs
//       on this store: flush(), unmap(), grow(), mapped_extent(), and write() when fua, O_DIRECT
//       or an uncached partial page, each hold a BlockingCall;
//   (c) a stall detector: an inline write that slept longer than inline_stall_threshold turns
//       inline writes off for a back-off.
//   The detector runs in kernel mode too (memory reclaim can stall any call).
// The size limit, (b) and (c), with their reasons, and the counts are InlineWritePolicy's
// (backend/inline_writes.hpp); the file's own steps, kernel mode and (a), are here.
// A write done inline is the same pwrite a worker would do: what is stable, and when, does not
// change (only fua writes are stable on return; flush() covers every write acknowledged before
// it). inline_writes(), would_block_counts() and inline_stalls() count what happened.

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>

#include "backend/block_store.hpp"
#include "backend/inline_writes.hpp"
#include "backend/page_cache_pieces.hpp"

namespace atsarray::backend {

// The inline write options (inline_stall_threshold, inline_backoff, inline_backoff_cap,
// inline_max_bytes, clock, voluntary_switches) are InlineWriteOptions' fields, set here.
struct FileStoreOptions : InlineWriteOptions {
    bool read_only = false;
    bool direct = false;  // O_DIRECT; refused (open fails) where the file system cannot do it
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
    uint64_t inline_writes() const { return inline_policy_.inline_writes(); }
    uint64_t nowait_would_block() const { return inline_policy_.would_block_total(); }
    uint64_t inline_stalls() const { return inline_policy_.stalls(); }
    // Why write_nowait() answered would_block, one count per reason; and two things that are
    // not would_block.
    using WouldBlockCounts = InlineWritePolicy::WouldBlockCounts;
    WouldBlockCounts would_block_counts() const { return inline_policy_.would_block_counts(); }

    // A call that may hold the inode lock or commit the journal, counted while it runs: guard (b)
    // above. flush(), unmap(), grow(), mapped_extent() and write() (fua, direct, an uncached
    // partial page) hold one; tests hold one to stand for a worker's call in flight.
    using BlockingCall = InlineWritePolicy::BlockingCall;
    [[nodiscard]] BlockingCall blocking_call() { return inline_policy_.blocking_call(); }

  private:
    // A power of two: a write's head and tail blocks map to at most two stripes.
    static constexpr size_t edge_stripes = 64;

    FileStore(int fd, std::string path, uint64_t size_bytes, const FileStoreOptions& options);

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
    // The bytes of one buffered pwrite (backend/page_cache_pieces.hpp); O_DIRECT writes whole.
    size_t piece(uint64_t offset, size_t remaining) const {
        return direct() ? remaining : buffered_piece(offset, remaining);
    }
    Status write_all(uint64_t offset, std::span<const uint8_t> in);
    Status write_all_dsync(uint64_t offset, std::span<const uint8_t> in, bool& unsupported);
    // write_nowait()'s steps: guard (a); one pwritev2(RWF_NOWAIT), `unsupported` when the kernel
    // refuses the flag.
    bool partial_pages_cached(uint64_t offset, uint64_t end);
    Status write_kernel_nowait(uint64_t offset, std::span<const uint8_t> in, bool& unsupported);

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
    InlineWritePolicy inline_policy_;  // the size limit, guards (b) and (c), the counts
};

}  // namespace atsarray::backend
