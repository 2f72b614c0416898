// Thin provisioning on both stores: unmap() deallocates and reads back zeros, mapped_extent()
// reports allocated and deallocated extents (GET LBA STATUS), and the BlockStore defaults.

#include <sys/stat.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "backend/file_store.hpp"
#include "backend/memory_store.hpp"
#include "tests/unit/backend/store_test_support.hpp"
#include "tests/unit/backend/temp_dir.hpp"

namespace atsarray::backend {
namespace {

using test::extent;
using test::Extent;

constexpr uint64_t kib = 1024;
constexpr uint64_t mib = 1024 * kib;

std::vector<uint8_t> filled(size_t n, uint8_t v) {
    return std::vector<uint8_t>(n, v);
}

bool all_zero(const std::vector<uint8_t>& v) {
    return std::all_of(v.begin(), v.end(), [](uint8_t b) { return b == 0; });
}

// --- memory store -------------------------------------------------------------------------

TEST(ThinMemoryStoreTest, FreshStoreIsOneUnmappedExtent) {
    MemoryStore store(4 * mib);
    const Extent e = extent(store, 0, 4 * mib);
    EXPECT_FALSE(e.mapped);
    EXPECT_EQ(e.length, 4 * mib);
    EXPECT_EQ(store.allocation_unit(), MemoryStore::chunk_size);
}

TEST(ThinMemoryStoreTest, ExtentsFollowChunks) {
    MemoryStore store(1 * mib);
    const uint64_t c = MemoryStore::chunk_size;
    ASSERT_TRUE(store.write(2 * c + 10, filled(2 * c, 0x5A), false).ok());  // chunks 2..4
    Extent e = extent(store, 0, mib);
    EXPECT_FALSE(e.mapped);
    EXPECT_EQ(e.length, 2 * c);
    e = extent(store, 2 * c + 100, mib);
    EXPECT_TRUE(e.mapped);
    EXPECT_EQ(e.length, 5 * c - (2 * c + 100));
    e = extent(store, 5 * c, mib);
    EXPECT_FALSE(e.mapped);
    EXPECT_EQ(e.length, mib - 5 * c);
    // The limit caps the length.
    e = extent(store, 2 * c, 7);
    EXPECT_TRUE(e.mapped);
    EXPECT_EQ(e.length, 7u);
}

TEST(ThinMemoryStoreTest, UnmapFreesWholeChunksAndZeroesPartialOnes) {
    MemoryStore store(1 * mib);
    const uint64_t c = MemoryStore::chunk_size;
    ASSERT_TRUE(store.write(0, filled(4 * c, 0xFF), false).ok());
    EXPECT_EQ(store.allocated_bytes(), 4 * c);
    // From the middle of chunk 0 to the middle of chunk 3: chunks 1 and 2 are freed.
    ASSERT_TRUE(store.unmap(c / 2, 3 * c).ok());
    EXPECT_EQ(store.allocated_bytes(), 2 * c);
    std::vector<uint8_t> buf(4 * c);
    ASSERT_TRUE(store.read(0, buf).ok());
    for (size_t i = 0; i < buf.size(); ++i) {
        const bool unmapped = i >= c / 2 && i < c / 2 + 3 * c;
        ASSERT_EQ(buf[i], unmapped ? 0 : 0xFF) << "byte " << i;
    }
    EXPECT_TRUE(extent(store, 0, mib).mapped);
    const Extent hole = extent(store, c, mib);
    EXPECT_FALSE(hole.mapped);
    EXPECT_EQ(hole.length, 2 * c);
}

TEST(ThinMemoryStoreTest, UnmapChecksRangeAndToleratesHoles) {
    MemoryStore store(1 * mib);
    EXPECT_TRUE(store.unmap(0, mib).ok());  // nothing allocated: nothing to do
    EXPECT_EQ(store.unmap(mib - 512, 1024).code, StoreErrc::out_of_range);
    bool mapped = false;
    uint64_t length = 0;
    EXPECT_EQ(store.mapped_extent(mib, 1, mapped, length).code, StoreErrc::out_of_range);
}

// --- file store ---------------------------------------------------------------------------

class ThinFileStoreTest : public ::testing::Test {
  protected:
    void SetUp() override {
        std::string error;
        store = FileStore::open(dir.file("thin.img"), 8 * mib, false, error);
        ASSERT_NE(store, nullptr) << error;
    }

    uint64_t allocated_bytes() const {
        struct stat st = {};
        EXPECT_EQ(::stat(store->path().c_str(), &st), 0);
        return static_cast<uint64_t>(st.st_blocks) * 512;
    }

    test::TempDir dir;
    std::unique_ptr<FileStore> store;
};

TEST_F(ThinFileStoreTest, FreshImageIsUnmapped) {
    const Extent e = extent(*store, 0, 8 * mib);
    EXPECT_FALSE(e.mapped);
    EXPECT_EQ(e.length, 8 * mib);
    EXPECT_GT(store->allocation_unit(), 0u);
}

TEST_F(ThinFileStoreTest, WrittenRangeIsMappedUntilPunched) {
    ASSERT_TRUE(store->write(1 * mib, filled(1 * mib, 0xC3), false).ok());
    Extent e = extent(*store, 0, 8 * mib);
    EXPECT_FALSE(e.mapped);
    EXPECT_EQ(e.length, 1 * mib);
    e = extent(*store, 1 * mib, 8 * mib);
    EXPECT_TRUE(e.mapped);
    EXPECT_EQ(e.length, 1 * mib);
    e = extent(*store, 2 * mib, 8 * mib);
    EXPECT_FALSE(e.mapped);
    EXPECT_EQ(e.length, 6 * mib);

    const uint64_t before = allocated_bytes();
    ASSERT_TRUE(store->unmap(1 * mib, 512 * kib).ok());
    EXPECT_LT(allocated_bytes(), before);
    std::vector<uint8_t> buf(1 * mib);
    ASSERT_TRUE(store->read(1 * mib, buf).ok());
    EXPECT_TRUE(all_zero(std::vector<uint8_t>(buf.begin(), buf.begin() + 512 * kib)));
    EXPECT_EQ(buf[512 * kib], 0xC3);
    EXPECT_EQ(buf.back(), 0xC3);
    e = extent(*store, 0, 8 * mib);
    EXPECT_FALSE(e.mapped);
    EXPECT_EQ(e.length, 1 * mib + 512 * kib);
    e = extent(*store, 1 * mib + 512 * kib, 8 * mib);
    EXPECT_TRUE(e.mapped);
    EXPECT_EQ(e.length, 512 * kib);
}

TEST_F(ThinFileStoreTest, PartialBlockUnmapReadsZeros) {
    ASSERT_TRUE(store->write(0, filled(8 * kib, 0x77), false).ok());
    ASSERT_TRUE(store->unmap(512, 1024).ok());  // inside one file-system block
    std::vector<uint8_t> buf(8 * kib);
    ASSERT_TRUE(store->read(0, buf).ok());
    for (size_t i = 0; i < buf.size(); ++i) {
        ASSERT_EQ(buf[i], (i >= 512 && i < 1536) ? 0 : 0x77) << "byte " << i;
    }
    EXPECT_TRUE(extent(*store, 0, 8 * kib).mapped);
}

TEST_F(ThinFileStoreTest, UnmapChecksRangeAndReadOnly) {
    EXPECT_EQ(store->unmap(8 * mib - 512, 1024).code, StoreErrc::out_of_range);
    EXPECT_TRUE(store->unmap(8 * mib, 0).ok());
    const std::string path = store->path();
    store.reset();
    std::string error;
    auto ro = FileStore::open(path, 8 * mib, true, error);
    ASSERT_NE(ro, nullptr) << error;
    EXPECT_EQ(ro->unmap(0, 4096).code, StoreErrc::read_only);
}

// --- BlockStore defaults ------------------------------------------------------------------

// A store that implements only the required calls: unmap() writes zeros, everything is mapped.
class PlainStore : public BlockStore {
  public:
    explicit PlainStore(size_t size) : bytes(size, 0xEE) {}
    uint64_t size_bytes() const override { return bytes.size(); }
    Status read(uint64_t offset, std::span<uint8_t> out) override {
        std::copy_n(bytes.begin() + static_cast<std::ptrdiff_t>(offset), out.size(), out.begin());
        return Status::success();
    }
    Status write(uint64_t offset, std::span<const uint8_t> in, bool) override {
        std::copy(in.begin(), in.end(), bytes.begin() + static_cast<std::ptrdiff_t>(offset));
        return Status::success();
    }
    Status flush() override { return Status::success(); }
    std::string kind() const override { return "plain"; }
    std::vector<uint8_t> bytes;
};

TEST(ThinDefaultsTest, UnmapWritesZerosAndEverythingIsMapped) {
    PlainStore store(3 * mib);
    ASSERT_TRUE(store.unmap(512, 2 * mib + 512).ok());  // more than one 1 MiB piece
    EXPECT_EQ(store.bytes[511], 0xEE);
    EXPECT_EQ(store.bytes[512], 0);
    EXPECT_EQ(store.bytes[2 * mib + 1023], 0);
    EXPECT_EQ(store.bytes[2 * mib + 1024], 0xEE);
    EXPECT_EQ(store.unmap(3 * mib, 1).code, StoreErrc::out_of_range);
    const Extent e = extent(store, 100, 10 * mib);
    EXPECT_TRUE(e.mapped);
    EXPECT_EQ(e.length, 3 * mib - 100);
    EXPECT_EQ(store.allocation_unit(), 0u);
}

}  // namespace
}  // namespace atsarray::backend
