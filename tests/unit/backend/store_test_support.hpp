#pragma once
// What the store tests share: GET LBA STATUS extents, read-backs, and the out-of-range contract
// every BlockStore keeps.

#include <cstdint>
#include <vector>

#include <gtest/gtest.h>

#include "backend/block_store.hpp"

namespace atsarray::backend::test {

struct Extent {
    bool mapped = false;
    uint64_t length = 0;
};

inline Extent extent(BlockStore& store, uint64_t offset, uint64_t limit) {
    Extent e;
    EXPECT_TRUE(store.mapped_extent(offset, limit, e.mapped, e.length).ok());
    return e;
}

inline std::vector<uint8_t> read_back(BlockStore& store, uint64_t offset, size_t n) {
    std::vector<uint8_t> out(n, 0xEE);
    EXPECT_TRUE(store.read(offset, out).ok());
    return out;
}

// Reads and writes that do not fit a store of `size` bytes are refused, the last block is not.
inline void expect_out_of_range_refused(BlockStore& store, uint64_t size) {
    std::vector<uint8_t> buf(512);
    EXPECT_EQ(store.read(size - 511, buf).code, StoreErrc::out_of_range);
    EXPECT_EQ(store.write(size, buf, false).code, StoreErrc::out_of_range);
    EXPECT_EQ(store.write(UINT64_MAX - 10, buf, true).code, StoreErrc::out_of_range);
    EXPECT_TRUE(store.write(size - 512, buf, false).ok());
}

}  // namespace atsarray::backend::test
