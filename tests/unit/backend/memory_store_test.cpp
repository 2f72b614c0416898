#include "backend/memory_store.hpp"

#include <algorithm>
#include <cstdint>
#include <vector>

#include <gtest/gtest.h>

namespace atsarray::backend {
namespace {

std::vector<uint8_t> pattern(size_t n, uint8_t seed) {
    std::vector<uint8_t> v(n);
    for (size_t i = 0; i < n; ++i) {
        v[i] = static_cast<uint8_t>(seed + i * 7 + 1);
    }
    return v;
}

TEST(MemoryStoreTest, Describes) {
    MemoryStore store(1 << 20);
    EXPECT_EQ(store.size_bytes(), 1u << 20);
    EXPECT_FALSE(store.blocking());
    EXPECT_EQ(store.kind(), "memory");
    EXPECT_TRUE(store.flush().ok());
}

TEST(MemoryStoreTest, FreshReadIsZeros) {
    MemoryStore store(1 << 20);
    std::vector<uint8_t> buf(8192, 0xAA);
    ASSERT_TRUE(store.read(4096, buf).ok());
    EXPECT_EQ(std::count(buf.begin(), buf.end(), 0), static_cast<long>(buf.size()));
    EXPECT_EQ(store.allocated_bytes(), 0u);
}

TEST(MemoryStoreTest, RoundTripAtOddOffsetAcrossChunks) {
    MemoryStore store(1 << 20);
    // Starts 3 bytes before a chunk boundary and spans two more boundaries.
    const uint64_t offset = MemoryStore::chunk_size - 3;
    const auto data = pattern(2 * MemoryStore::chunk_size + 11, 5);
    ASSERT_TRUE(store.write(offset, data, false).ok());

    std::vector<uint8_t> back(data.size());
    ASSERT_TRUE(store.read(offset, back).ok());
    EXPECT_EQ(back, data);

    // The bytes around the written range stay zero.
    std::vector<uint8_t> edge(1);
    ASSERT_TRUE(store.read(offset - 1, edge).ok());
    EXPECT_EQ(edge[0], 0);
    ASSERT_TRUE(store.read(offset + data.size(), edge).ok());
    EXPECT_EQ(edge[0], 0);
    EXPECT_EQ(store.allocated_bytes(), 4 * MemoryStore::chunk_size);
}

TEST(MemoryStoreTest, ZerosIntoHoleStayThin) {
    MemoryStore store(1 << 20);
    std::vector<uint8_t> zeros(MemoryStore::chunk_size * 2);
    ASSERT_TRUE(store.write(0, zeros, false).ok());
    EXPECT_EQ(store.allocated_bytes(), 0u);
}

TEST(MemoryStoreTest, OutOfRange) {
    MemoryStore store(4096);
    std::vector<uint8_t> buf(512);
    EXPECT_EQ(store.read(4096 - 511, buf).code, StoreErrc::out_of_range);
    EXPECT_EQ(store.write(4096, buf, false).code, StoreErrc::out_of_range);
    EXPECT_EQ(store.read(UINT64_MAX - 100, buf).code, StoreErrc::out_of_range);  // no overflow
    EXPECT_TRUE(store.read(4096 - 512, buf).ok());
    EXPECT_TRUE(store.read(4096, std::span<uint8_t>()).ok());  // empty at the end is in range
}

}  // namespace
}  // namespace atsarray::backend
