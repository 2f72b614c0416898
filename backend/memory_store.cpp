#include "backend/memory_store.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <new>

namespace atsarray::backend {

MemoryStore::MemoryStore(uint64_t size_bytes) : size_bytes_(size_bytes) {}

bool MemoryStore::in_range(uint64_t offset, size_t length) const {
    return offset <= size_bytes_ && length <= size_bytes_ - offset;
}

Status MemoryStore::read(uint64_t offset, std::span<uint8_t> out) {
    if (!in_range(offset, out.size())) {
        return Status::error(StoreErrc::out_of_range);
    }
    std::shared_lock lock(mutex_);
    size_t done = 0;
    while (done < out.size()) {
        const uint64_t pos = offset + done;
        const uint64_t index = pos / chunk_size;
        const size_t within = static_cast<size_t>(pos % chunk_size);
        const size_t n = std::min(out.size() - done, chunk_size - within);
        auto it = chunks_.find(index);
        if (it == chunks_.end()) {
            std::memset(out.data() + done, 0, n);
        } else {
            std::memcpy(out.data() + done, it->second.get() + within, n);
        }
        done += n;
    }
    return Status::success();
}

Status MemoryStore::write(uint64_t offset, std::span<const uint8_t> in, bool /*fua*/) {
    if (!in_range(offset, in.size())) {
        return Status::error(StoreErrc::out_of_range);
    }
    std::unique_lock lock(mutex_);
    size_t done = 0;
    while (done < in.size()) {
        const uint64_t pos = offset + done;
        const uint64_t index = pos / chunk_size;
        const size_t within = static_cast<size_t>(pos % chunk_size);
        const size_t n = std::min(in.size() - done, chunk_size - within);
        const uint8_t* src = in.data() + done;
        auto it = chunks_.find(index);
        if (it == chunks_.end()) {
            // Zeros into a hole change nothing a reader can see: stay thin (WRITE SAME of zeros).
            const bool all_zero = std::all_of(src, src + n, [](uint8_t b) { return b == 0; });
            if (!all_zero) {
                try {
                    // value-initialised: the rest of the chunk reads as zeros
                    auto chunk = std::make_unique<uint8_t[]>(chunk_size);
                    std::memcpy(chunk.get() + within, src, n);
                    chunks_.emplace(index, std::move(chunk));
                } catch (const std::bad_alloc&) {
                    // Thin provisioning ran out of memory: the SCSI layer reports it as space
                    // allocation failed; chunks written before stay (a write is not atomic).
                    return Status::error(StoreErrc::no_space, ENOMEM);
                }
            }
        } else {
            std::memcpy(it->second.get() + within, src, n);
        }
        done += n;
    }
    return Status::success();
}

Status MemoryStore::unmap(uint64_t offset, uint64_t length) {
    if (offset > size_bytes_ || length > size_bytes_ - offset) {
        return Status::error(StoreErrc::out_of_range);
    }
    std::unique_lock lock(mutex_);
    uint64_t done = 0;
    while (done < length) {
        const uint64_t pos = offset + done;
        const uint64_t index = pos / chunk_size;
        const size_t within = static_cast<size_t>(pos % chunk_size);
        const size_t n =
            static_cast<size_t>(std::min<uint64_t>(length - done, chunk_size - within));
        auto it = chunks_.find(index);
        if (it != chunks_.end()) {
            if (n == chunk_size) {
                chunks_.erase(it);
            } else {
                std::memset(it->second.get() + within, 0, n);
            }
        }
        done += n;
    }
    return Status::success();
}

Status MemoryStore::mapped_extent(uint64_t offset, uint64_t limit, bool& mapped, uint64_t& length) {
    if (offset >= size_bytes_ || limit == 0) {
        return Status::error(StoreErrc::out_of_range);
    }
    const uint64_t end = offset + std::min(limit, size_bytes_ - offset);
    std::shared_lock lock(mutex_);
    mapped = chunks_.contains(offset / chunk_size);
    uint64_t pos = (offset / chunk_size + 1) * chunk_size;  // start of the next chunk
    while (pos < end && chunks_.contains(pos / chunk_size) == mapped) {
        pos += chunk_size;
    }
    length = std::min(pos, end) - offset;
    return Status::success();
}

uint64_t MemoryStore::allocated_bytes() const {
    std::shared_lock lock(mutex_);
    return static_cast<uint64_t>(chunks_.size()) * chunk_size;
}

Status MemoryStore::grow(uint64_t new_size) {
    std::unique_lock lock(mutex_);
    if (new_size < size_bytes_) {
        return Status::error(StoreErrc::out_of_range);
    }
    size_bytes_ = new_size;  // chunks beyond the old end were never allocated: they read zeros
    return Status::success();
}

}  // namespace atsarray::backend
