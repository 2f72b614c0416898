#include "backend/delay_store.hpp"

#include <thread>
#include <utility>

namespace atsarray::backend {

DelayStore::DelayStore(std::shared_ptr<BlockStore> inner, std::chrono::microseconds read_delay,
                       std::chrono::microseconds write_delay)
    : inner_(std::move(inner)), read_delay_(read_delay), write_delay_(write_delay) {}

// The data is taken first and handed over late, as from a slow medium: what the caller gets
// may be stale by the time it arrives.
Status DelayStore::read(uint64_t offset, std::span<uint8_t> out) {
    const Status st = inner_->read(offset, out);
    std::this_thread::sleep_for(read_delay_);
    return st;
}

Status DelayStore::write(uint64_t offset, std::span<const uint8_t> in, bool fua) {
    std::this_thread::sleep_for(write_delay_);
    return inner_->write(offset, in, fua);
}

Status DelayStore::unmap(uint64_t offset, uint64_t length) {
    std::this_thread::sleep_for(write_delay_);
    return inner_->unmap(offset, length);
}

// The compare and the write are one step of the medium: the delay comes before both.
Status DelayStore::compare_and_write(uint64_t offset, std::span<const uint8_t> compare,
                                     std::span<const uint8_t> data, bool fua,
                                     uint64_t& first_difference) {
    std::this_thread::sleep_for(write_delay_);
    return inner_->compare_and_write(offset, compare, data, fua, first_difference);
}

}  // namespace atsarray::backend
