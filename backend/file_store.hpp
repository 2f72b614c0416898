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

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>

#include "backend/block_store.hpp"

namespace atsarray::backend {

struct FileStoreOptions {
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
};

}  // namespace atsarray::backend
