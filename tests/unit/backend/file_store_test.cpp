#include "backend/file_store.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <vector>

#include <gtest/gtest.h>

#include "tests/unit/backend/store_test_support.hpp"
#include "tests/unit/backend/temp_dir.hpp"

namespace atsarray::backend {
namespace {

using test::expect_out_of_range_refused;

using test::TempDir;

constexpr uint64_t mib = 1024 * 1024;

std::vector<uint8_t> pattern(size_t n, uint8_t seed) {
    std::vector<uint8_t> v(n);
    for (size_t i = 0; i < n; ++i) {
        v[i] = static_cast<uint8_t>(seed ^ (i * 31 + 7));
    }
    return v;
}

std::unique_ptr<FileStore> open_ok(const std::string& path, uint64_t size, bool ro = false) {
    std::string error;
    auto store = FileStore::open(path, size, ro, error);
    EXPECT_NE(store, nullptr) << error;
    EXPECT_TRUE(error.empty()) << error;
    return store;
}

// The image is created, its folder never (issue 12: a typo in the path gave the hosts a blank
// disk with a new identity).
TEST(FileStoreTest, CreatesImageButNeverItsFolder) {
    TempDir dir;
    const std::string path = dir.file("data/lun0.img");
    std::string error;
    EXPECT_EQ(FileStore::open(path, 4 * mib, false, error), nullptr);
    EXPECT_NE(error.find("folder " + dir.file("data") + " does not exist"), std::string::npos)
        << error;
    EXPECT_FALSE(std::filesystem::exists(dir.file("data")));

    std::filesystem::create_directory(dir.file("data"));
    auto store = open_ok(path, 4 * mib);
    ASSERT_NE(store, nullptr);
    EXPECT_EQ(store->size_bytes(), 4 * mib);
    EXPECT_EQ(store->kind(), "file");
    EXPECT_TRUE(store->blocking());
    EXPECT_EQ(std::filesystem::file_size(path), 4 * mib);

    std::vector<uint8_t> buf(65536, 0xEE);
    ASSERT_TRUE(store->read(mib + 1, buf).ok());
    EXPECT_TRUE(std::all_of(buf.begin(), buf.end(), [](uint8_t b) { return b == 0; }));
}

// An image open() created is removed again when a later step fails: here a size no ext4 or XFS
// file can have (8 PiB), refused by ftruncate.
TEST(FileStoreTest, AFailedOpenLeavesNoImageBehind) {
    TempDir dir;
    const std::string path = dir.file("huge.img");
    std::string error;
    EXPECT_EQ(FileStore::open(path, 8191ull << 40, false, error), nullptr);
    if (error.find("cannot set size") == std::string::npos) {
        GTEST_SKIP() << "this file system takes an 8 PiB file: " << error;
    }
    EXPECT_FALSE(std::filesystem::exists(path));
}

// read_nowait answers from the page cache; pages the kernel dropped are would_block until a
// read() brings them back.
TEST(FileStoreTest, ReadNowaitAnswersFromThePageCacheOnly) {
    TempDir dir;
    const std::string path = dir.file("nowait.img");
    auto store = open_ok(path, 4 * mib);
    ASSERT_NE(store, nullptr);
    if (!store->reads_without_waiting()) {
        GTEST_SKIP() << "preadv2(RWF_NOWAIT) refused here";
    }
    const auto data = pattern(64 * 1024, 0x42);
    ASSERT_TRUE(store->write(mib, data, true).ok());
    std::vector<uint8_t> out(data.size());
    ASSERT_TRUE(store->read_nowait(mib, out).ok());  // just written: cached
    EXPECT_EQ(out, data);
    // Clean after the FUA write: DONTNEED drops the pages.
    const int fd = ::open(path.c_str(), O_RDONLY);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED), 0);
    ::close(fd);
    EXPECT_EQ(store->read_nowait(mib, out).code, StoreErrc::would_block);
    std::fill(out.begin(), out.end(), 0);
    ASSERT_TRUE(store->read(mib, out).ok());
    EXPECT_EQ(out, data);
    std::fill(out.begin(), out.end(), 0);
    ASSERT_TRUE(store->read_nowait(mib, out).ok());
    EXPECT_EQ(out, data);
    EXPECT_EQ(store->read_nowait(4 * mib - 512, out).code, StoreErrc::out_of_range);
}

TEST(FileStoreTest, RoundTripAtOddOffsets) {
    TempDir dir;
    auto store = open_ok(dir.file("a.img"), 4 * mib);
    ASSERT_NE(store, nullptr);
    const auto data = pattern(12345, 0x5A);
    ASSERT_TRUE(store->write(4095, data, false).ok());
    std::vector<uint8_t> back(data.size());
    ASSERT_TRUE(store->read(4095, back).ok());
    EXPECT_EQ(back, data);

    // A read straddling the written range sees zeros on both sides.
    std::vector<uint8_t> wide(data.size() + 2);
    ASSERT_TRUE(store->read(4094, wide).ok());
    EXPECT_EQ(wide.front(), 0);
    EXPECT_EQ(wide.back(), 0);
    EXPECT_TRUE(std::equal(data.begin(), data.end(), wide.begin() + 1));
    EXPECT_TRUE(store->flush().ok());
}

TEST(FileStoreTest, OutOfRange) {
    TempDir dir;
    auto store = open_ok(dir.file("a.img"), mib);
    ASSERT_NE(store, nullptr);
    expect_out_of_range_refused(*store, mib);
}

TEST(FileStoreTest, PersistsAcrossReopen) {
    TempDir dir;
    const std::string path = dir.file("p.img");
    const auto data = pattern(4096 + 3, 0x11);
    {
        auto store = open_ok(path, 2 * mib);
        ASSERT_NE(store, nullptr);
        ASSERT_TRUE(store->write(mib + 17, data, false).ok());
        ASSERT_TRUE(store->flush().ok());
    }
    auto store = open_ok(path, 2 * mib);
    ASSERT_NE(store, nullptr);
    std::vector<uint8_t> back(data.size());
    ASSERT_TRUE(store->read(mib + 17, back).ok());
    EXPECT_EQ(back, data);
}

TEST(FileStoreTest, SecondOpenIsRefusedByFlock) {
    TempDir dir;
    const std::string path = dir.file("locked.img");
    auto first = open_ok(path, mib);
    ASSERT_NE(first, nullptr);

    std::string error;
    EXPECT_EQ(FileStore::open(path, mib, false, error), nullptr);
    EXPECT_NE(error.find(path), std::string::npos) << error;
    EXPECT_NE(error.find("in use by another process"), std::string::npos) << error;
    error.clear();
    EXPECT_EQ(FileStore::open(path, mib, true, error), nullptr);  // read-only too
    EXPECT_NE(error.find("in use"), std::string::npos) << error;

    first.reset();  // closing releases the lock
    error.clear();
    EXPECT_NE(FileStore::open(path, mib, false, error), nullptr) << error;
}

TEST(FileStoreTest, LargerImageIsRefused) {
    TempDir dir;
    const std::string path = dir.file("big.img");
    { ASSERT_NE(open_ok(path, 2 * mib), nullptr); }
    std::string error;
    EXPECT_EQ(FileStore::open(path, mib, false, error), nullptr);
    EXPECT_NE(error.find("LUN size 1048576 is smaller than existing image 2097152"),
              std::string::npos)
        << error;
    EXPECT_EQ(std::filesystem::file_size(path), 2 * mib);  // untouched
}

TEST(FileStoreTest, SmallerImageIsGrownKeepingData) {
    TempDir dir;
    const std::string path = dir.file("grow.img");
    const auto data = pattern(1000, 0x42);
    {
        auto store = open_ok(path, mib);
        ASSERT_NE(store, nullptr);
        ASSERT_TRUE(store->write(100, data, false).ok());
    }
    auto store = open_ok(path, 3 * mib);
    ASSERT_NE(store, nullptr);
    EXPECT_EQ(std::filesystem::file_size(path), 3 * mib);
    std::vector<uint8_t> back(data.size());
    ASSERT_TRUE(store->read(100, back).ok());
    EXPECT_EQ(back, data);
}

TEST(FileStoreTest, ReadOnlyCannotGrowOrWrite) {
    TempDir dir;
    const std::string path = dir.file("ro.img");
    std::string error;
    EXPECT_EQ(FileStore::open(path, mib, true, error), nullptr);
    EXPECT_NE(error.find("read-only LUN needs an existing image"), std::string::npos) << error;

    { ASSERT_NE(open_ok(path, mib), nullptr); }
    error.clear();
    EXPECT_EQ(FileStore::open(path, 2 * mib, true, error), nullptr);
    EXPECT_NE(error.find("cannot be grown"), std::string::npos) << error;

    auto store = open_ok(path, mib, true);
    ASSERT_NE(store, nullptr);
    EXPECT_TRUE(store->read_only());
    std::vector<uint8_t> buf(512, 1);
    EXPECT_EQ(store->write(0, buf, false).code, StoreErrc::read_only);
    EXPECT_EQ(store->write(0, buf, true).code, StoreErrc::read_only);
    EXPECT_TRUE(store->read(0, buf).ok());
    EXPECT_TRUE(store->flush().ok());
}

TEST(FileStoreTest, NotARegularFile) {
    TempDir dir;
    std::filesystem::create_directories(dir.file("adir"));
    std::string error;
    EXPECT_EQ(FileStore::open(dir.file("adir"), mib, true, error), nullptr);
    EXPECT_FALSE(error.empty());
}

TEST(FileStoreTest, FuaWritesWithNativeAndFallbackPaths) {
    TempDir dir;
    const std::string path = dir.file("fua.img");
    const auto first = pattern(8192, 0x01);
    const auto second = pattern(513, 0x02);
    {
        auto store = open_ok(path, mib);
        ASSERT_NE(store, nullptr);
        ASSERT_TRUE(store->write(512, first, true).ok());  // pwritev2(RWF_DSYNC) if supported

        store->disable_native_fua();
        EXPECT_FALSE(store->native_fua());
        ASSERT_TRUE(store->write(65537, second, true).ok());  // pwrite + fdatasync
    }
    auto store = open_ok(path, mib);
    ASSERT_NE(store, nullptr);
    std::vector<uint8_t> back(first.size());
    ASSERT_TRUE(store->read(512, back).ok());
    EXPECT_EQ(back, first);
    back.resize(second.size());
    ASSERT_TRUE(store->read(65537, back).ok());
    EXPECT_EQ(back, second);
}

TEST(FileStoreTest, NewImageIsSparse) {
    TempDir dir;
    const std::string path = dir.file("sparse.img");
    auto store = open_ok(path, 1024 * mib);
    ASSERT_NE(store, nullptr);
    std::vector<uint8_t> block(4096, 0x77);
    ASSERT_TRUE(store->write(512 * mib, block, false).ok());
    ASSERT_TRUE(store->flush().ok());

    struct stat st = {};
    ASSERT_EQ(::stat(path.c_str(), &st), 0);
    EXPECT_EQ(static_cast<uint64_t>(st.st_size), 1024 * mib);
    // st_blocks counts 512-byte units; one written block plus metadata is far below 1 MiB.
    EXPECT_LT(static_cast<uint64_t>(st.st_blocks) * 512, mib);
}

}  // namespace
}  // namespace atsarray::backend
