// Growing a store at run time (a LUN resized): old data stays, the new range reads zeros,
// shrinking is refused.
#include <gtest/gtest.h>

#include <vector>

#include "backend/file_store.hpp"
#include "backend/memory_store.hpp"
#include "tests/unit/backend/temp_dir.hpp"

namespace atsarray::backend {
namespace {

using test::TempDir;

void check_grow(BlockStore& store) {
    const std::vector<uint8_t> data(4096, 0xab);
    ASSERT_TRUE(store.write(store.size_bytes() - 4096, data, false).ok());
    const uint64_t old_size = store.size_bytes();
    ASSERT_TRUE(store.grow(old_size * 2).ok());
    EXPECT_EQ(store.size_bytes(), old_size * 2);
    std::vector<uint8_t> back(4096);
    ASSERT_TRUE(store.read(old_size - 4096, back).ok());
    EXPECT_EQ(back, data);
    ASSERT_TRUE(store.read(old_size * 2 - 4096, back).ok());
    EXPECT_EQ(back, std::vector<uint8_t>(4096, 0));
    ASSERT_TRUE(store.write(old_size * 2 - 4096, data, true).ok());
    EXPECT_EQ(store.grow(old_size).code, StoreErrc::out_of_range);  // shrinking loses data
    EXPECT_EQ(store.size_bytes(), old_size * 2);
}

TEST(Grow, MemoryStore) {
    MemoryStore store(1 << 20);
    check_grow(store);
}

TEST(Grow, FileStoreAndItsImage) {
    TempDir dir;
    std::string error;
    {
        auto store = FileStore::open(dir.file("lun.img"), 1 << 20, false, error);
        ASSERT_NE(store, nullptr) << error;
        check_grow(*store);
    }
    // The image really grew: reopening at the new size keeps the data.
    auto again = FileStore::open(dir.file("lun.img"), 2 << 20, false, error);
    ASSERT_NE(again, nullptr) << error;
    std::vector<uint8_t> back(4096);
    ASSERT_TRUE(again->read((2 << 20) - 4096, back).ok());
    EXPECT_EQ(back, std::vector<uint8_t>(4096, 0xab));
}

TEST(Grow, ReadOnlyFileStoreRefuses) {
    TempDir dir;
    std::string error;
    { ASSERT_NE(FileStore::open(dir.file("lun.img"), 1 << 20, false, error), nullptr); }
    auto store = FileStore::open(dir.file("lun.img"), 1 << 20, true, error);
    ASSERT_NE(store, nullptr) << error;
    EXPECT_EQ(store->grow(2 << 20).code, StoreErrc::read_only);
}

}  // namespace
}  // namespace atsarray::backend
