#pragma once
// A block store on a regular file (a LUN image). The image is thin: it is created sparse with
// ftruncate and the file system allocates blocks on first write. An exclusive flock keeps a
// second daemon (or a second LUN) from opening the same image.

#include <atomic>
#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "backend/block_store.hpp"

namespace atsarray::backend {

class FileStore : public BlockStore {
  public:
    // Opens the image at `path`, creating it (and its folder) sparse at `size_bytes` when it does
    // not exist. An existing image smaller than `size_bytes` is grown sparsely (unless read-only);
    // a larger one is refused, as is an image another process holds. On failure returns nullptr
    // and sets `error_message` to a sentence naming the path and the cause.
    static std::unique_ptr<FileStore> open(const std::string& path, uint64_t size_bytes,
                                           bool read_only, std::string& error_message);

    ~FileStore() override;  // closes the file, which releases the flock
    FileStore(const FileStore&) = delete;
    FileStore& operator=(const FileStore&) = delete;

    uint64_t size_bytes() const override { return size_bytes_; }
    Status grow(uint64_t new_size) override;
    Status read(uint64_t offset, std::span<uint8_t> out) override;
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
    // True while FUA writes use pwritev2(RWF_DSYNC); false once the kernel or file system refused
    // it (the store then writes and calls fdatasync).
    bool native_fua() const { return native_fua_.load(std::memory_order_relaxed); }
    // Forces the pwrite + fdatasync FUA path (tests, file systems that misreport RWF_DSYNC).
    void disable_native_fua() { native_fua_.store(false, std::memory_order_relaxed); }

  private:
    FileStore(int fd, std::string path, uint64_t size_bytes, bool read_only);

    bool in_range(uint64_t offset, size_t length) const;
    Status write_all(uint64_t offset, std::span<const uint8_t> in);
    Status write_all_dsync(uint64_t offset, std::span<const uint8_t> in, bool& unsupported);

    int fd_;
    std::string path_;
    std::atomic<uint64_t> size_bytes_;  // grows at run time (grow())
    bool read_only_;
    std::atomic<bool> native_fua_{true};
    std::atomic<bool> can_punch_{true};
    uint64_t allocation_unit_ = 0;  // st_blksize of the image
};

}  // namespace atsarray::backend
