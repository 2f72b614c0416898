#pragma once
// A thin, sparse in-memory block store (tests, demos). Storage is allocated in fixed chunks on
// the first non-zero write; never-written regions read as zeros. Calls never block on I/O, so the
// SCSI layer may run them on the calling thread.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <shared_mutex>
#include <span>
#include <string>
#include <unordered_map>

#include "backend/block_store.hpp"

namespace atsarray::backend {

class MemoryStore : public BlockStore {
  public:
    static constexpr size_t chunk_size = 64 * 1024;

    explicit MemoryStore(uint64_t size_bytes);

    uint64_t size_bytes() const override { return size_bytes_; }
    Status grow(uint64_t new_size) override;
    Status read(uint64_t offset, std::span<uint8_t> out) override;
    Status write(uint64_t offset, std::span<const uint8_t> in, bool fua) override;
    Status flush() override { return Status::success(); }
    // Frees whole chunks and zeroes the covered part of partial ones.
    Status unmap(uint64_t offset, uint64_t length) override;
    // Mapped = the chunk holding the byte is allocated.
    Status mapped_extent(uint64_t offset, uint64_t limit, bool& mapped, uint64_t& length) override;
    uint64_t allocation_unit() const override { return chunk_size; }
    bool blocking() const override { return false; }
    std::string kind() const override { return "memory"; }

    // Bytes of chunk storage actually allocated (thin provisioning, tests, the console).
    uint64_t allocated_bytes() const override;

  private:
    bool in_range(uint64_t offset, size_t length) const;

    std::atomic<uint64_t> size_bytes_;  // grows at run time (grow())
    mutable std::shared_mutex mutex_;   // readers share; a writer may insert chunks
    std::unordered_map<uint64_t, std::unique_ptr<uint8_t[]>> chunks_;  // chunk index -> data
};

}  // namespace atsarray::backend
