#pragma once
// A store that answers late (SPDK's bdev_delay, dm-delay): every read returns its data after
// `read_delay`, every write and deallocation lands after `write_delay`. A lab knob for slow
// media and latency spikes: it widens the window between an ATS's compare and its write, where
// a target without per-block atomicity loses updates. Always blocking: the delay is a sleep on
// the worker that runs the call.

#include <chrono>
#include <memory>

#include "backend/block_store.hpp"

namespace atsarray::backend {

class DelayStore : public BlockStore {
  public:
    DelayStore(std::shared_ptr<BlockStore> inner, std::chrono::microseconds read_delay,
               std::chrono::microseconds write_delay);

    uint64_t size_bytes() const override { return inner_->size_bytes(); }
    Status read(uint64_t offset, std::span<uint8_t> out) override;
    Status write(uint64_t offset, std::span<const uint8_t> in, bool fua) override;
    Status flush() override { return inner_->flush(); }
    Status unmap(uint64_t offset, uint64_t length) override;
    Status mapped_extent(uint64_t offset, uint64_t limit, bool& mapped, uint64_t& length) override {
        return inner_->mapped_extent(offset, limit, mapped, length);
    }
    uint64_t allocation_unit() const override { return inner_->allocation_unit(); }
    uint64_t allocated_bytes() const override { return inner_->allocated_bytes(); }
    Status grow(uint64_t new_size) override { return inner_->grow(new_size); }
    bool compares_in_store() const override { return inner_->compares_in_store(); }
    Status compare_and_write(uint64_t offset, std::span<const uint8_t> compare,
                             std::span<const uint8_t> data, bool fua,
                             uint64_t& first_difference) override;
    SharedRecords* shared_records() override { return inner_->shared_records(); }
    bool blocking() const override { return true; }
    // The delay is a sleep: even over an asynchronous store (rbd) every call takes a worker.
    bool completes_async() const override { return false; }
    std::string kind() const override { return inner_->kind() + "+delay"; }

  private:
    std::shared_ptr<BlockStore> inner_;
    std::chrono::microseconds read_delay_;
    std::chrono::microseconds write_delay_;
};

}  // namespace atsarray::backend
