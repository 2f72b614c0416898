#include "backend/block_store.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

namespace atsarray::backend {

namespace {

const char* errc_name(StoreErrc c) {
    switch (c) {
        case StoreErrc::ok:
            return "ok";
        case StoreErrc::out_of_range:
            return "out of range";
        case StoreErrc::io_error:
            return "I/O error";
        case StoreErrc::no_space:
            return "no space";
        case StoreErrc::read_only:
            return "read-only";
        case StoreErrc::would_block:
            return "would block";
        case StoreErrc::miscompare:
            return "miscompare";
        case StoreErrc::busy:
            return "busy";
    }
    return "unknown";
}

}  // namespace

std::string to_string(const Status& s) {
    std::string text = errc_name(s.code);
    if (s.sys_errno != 0) {
        // strerror_r (GNU flavour) may return a static string instead of filling buf.
        char buf[128] = {};
        const char* msg = strerror_r(s.sys_errno, buf, sizeof(buf));
        text += " (errno ";
        text += std::to_string(s.sys_errno);
        text += ": ";
        text += msg;
        text += ")";
    }
    return text;
}

Status BlockStore::read_nowait(uint64_t /*offset*/, std::span<uint8_t> /*out*/) {
    return Status::error(StoreErrc::would_block);
}

Status BlockStore::write_nowait(uint64_t /*offset*/, std::span<const uint8_t> /*in*/,
                                bool /*fua*/) {
    return Status::error(StoreErrc::would_block);
}

Status BlockStore::unmap(uint64_t offset, uint64_t length) {
    if (offset > size_bytes() || length > size_bytes() - offset) {
        return Status::error(StoreErrc::out_of_range);
    }
    constexpr uint64_t piece = 1u << 20;
    const std::vector<uint8_t> zeros(static_cast<size_t>(std::min(length, piece)), 0);
    for (uint64_t done = 0; done < length;) {
        const auto n = static_cast<size_t>(std::min(length - done, piece));
        if (Status s = write(offset + done, std::span(zeros).first(n), false); !s.ok()) {
            return s;
        }
        done += n;
    }
    return Status::success();
}

Status BlockStore::mapped_extent(uint64_t offset, uint64_t limit, bool& mapped, uint64_t& length) {
    if (offset >= size_bytes() || limit == 0) {
        return Status::error(StoreErrc::out_of_range);
    }
    mapped = true;
    length = std::min(limit, size_bytes() - offset);
    return Status::success();
}

Status BlockStore::compare_and_write(uint64_t /*offset*/, std::span<const uint8_t> /*compare*/,
                                     std::span<const uint8_t> /*data*/, bool /*fua*/,
                                     uint64_t& /*first_difference*/) {
    return Status::error(StoreErrc::io_error, EOPNOTSUPP);
}

void BlockStore::read_async(uint64_t offset, std::span<uint8_t> out, Done done) {
    done(read(offset, out));
}

void BlockStore::write_async(uint64_t offset, std::span<const uint8_t> in, bool fua, Done done) {
    done(write(offset, in, fua));
}

void BlockStore::flush_async(Done done) {
    done(flush());
}

void BlockStore::compare_and_write_async(uint64_t offset, std::span<const uint8_t> compare,
                                         std::span<const uint8_t> data, bool fua,
                                         CompareDone done) {
    uint64_t first_difference = 0;
    const Status s = compare_and_write(offset, compare, data, fua, first_difference);
    done(s, first_difference);
}

Status BlockStore::grow(uint64_t new_size) {
    return new_size == size_bytes() ? Status::success() : Status::error(StoreErrc::out_of_range);
}

}  // namespace atsarray::backend
