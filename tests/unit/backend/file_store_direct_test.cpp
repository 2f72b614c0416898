// The file store with `direct` (O_DIRECT): the image really is opened O_DIRECT, reads and writes
// at any buffer address, offset and length land byte-exact (bounce buffer, read-modify-write of
// partial aligned blocks), concurrent writers of one aligned block keep each other's bytes,
// UNMAP (punch or zero-write) reads back zeros, and sizes direct I/O cannot serve are refused.

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "backend/file_store.hpp"
#include "tests/unit/backend/store_test_support.hpp"
#include "tests/unit/backend/temp_dir.hpp"

namespace atsarray::backend {
namespace {

using test::extent;
using test::TempDir;

constexpr uint64_t kib = 1024;
constexpr uint64_t mib = 1024 * kib;

std::vector<uint8_t> pattern(size_t n, uint8_t seed) {
    std::vector<uint8_t> v(n);
    for (size_t i = 0; i < n; ++i) {
        v[i] = static_cast<uint8_t>(seed ^ (i * 31 + 7));
    }
    return v;
}

// A disk file system for the images: /tmp may be tmpfs, which older kernels refuse O_DIRECT on.
std::filesystem::path disk_base() {
    std::error_code ec;
    if (std::filesystem::is_directory("/var/tmp", ec)) {
        return "/var/tmp";
    }
    return std::filesystem::current_path();  // the build folder
}

// The open flags of the descriptor this process holds on `path` (-1 if none).
int open_flags_of(const std::string& path) {
    const auto target = std::filesystem::canonical(path);
    for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
        std::error_code ec;
        const auto link = std::filesystem::read_symlink(entry.path(), ec);
        if (!ec && link == target) {
            return ::fcntl(std::stoi(entry.path().filename().string()), F_GETFL);
        }
    }
    return -1;
}

// A copy of `data` at an address that is 1 byte past an aligned one: never direct-I/O aligned.
class Misaligned {
  public:
    explicit Misaligned(size_t n) : storage_(n + 4096 + 1) {}
    std::span<uint8_t> span() {
        auto base = reinterpret_cast<uintptr_t>(storage_.data());
        const uintptr_t aligned = (base + 4095) / 4096 * 4096;
        return {storage_.data() + (aligned - base) + 1, storage_.size() - 4096 - 1};
    }

  private:
    std::vector<uint8_t> storage_;
};

class FileStoreDirectTest : public ::testing::Test {
  protected:
    void SetUp() override {
        path = dir.file("direct.img");
        store = open_direct(path, 8 * mib);
        ASSERT_NE(store, nullptr);
    }

    std::unique_ptr<FileStore> open_direct(const std::string& p, uint64_t size,
                                           bool read_only = false) {
        FileStoreOptions options;
        options.read_only = read_only;
        options.direct = true;
        std::string error;
        auto s = FileStore::open(p, size, options, error);
        EXPECT_NE(s, nullptr) << error;
        return s;
    }

    std::vector<uint8_t> read_back(uint64_t offset, size_t n) {
        Misaligned buf(n);
        EXPECT_TRUE(store->read(offset, buf.span()).ok());
        return {buf.span().begin(), buf.span().end()};
    }

    TempDir dir{disk_base()};
    std::string path;
    std::unique_ptr<FileStore> store;
};

TEST_F(FileStoreDirectTest, ImageIsOpenedODirect) {
    EXPECT_TRUE(store->direct());
    const uint32_t a = store->direct_alignment();
    EXPECT_GE(a, 512u);
    EXPECT_EQ(a & (a - 1), 0u) << "alignment " << a << " is not a power of two";
    const int flags = open_flags_of(path);
    ASSERT_NE(flags, -1);
    EXPECT_NE(flags & O_DIRECT, 0);

    std::string error;
    auto buffered = FileStore::open(dir.file("buffered.img"), mib, false, error);
    ASSERT_NE(buffered, nullptr) << error;
    EXPECT_FALSE(buffered->direct());
    EXPECT_EQ(buffered->direct_alignment(), 0u);
    EXPECT_EQ(open_flags_of(dir.file("buffered.img")) & O_DIRECT, 0);
}

TEST_F(FileStoreDirectTest, RoundTripAt512And4096GranularityFromMisalignedBuffers) {
    struct Io {
        uint64_t offset;
        size_t length;
    };
    const Io ios[] = {
        {512, 512},          // one 512-byte LBA, inside a 4 KiB block
        {3 * 512, 3 * 512},  // crosses a 4 KiB boundary
        {8 * kib, 4096},     // one aligned 4 KiB block
        {64 * kib + 512, 64 * kib},
        {mib - 512, 8 * kib},
    };
    uint8_t seed = 1;
    for (const Io& io : ios) {
        SCOPED_TRACE("offset " + std::to_string(io.offset) + " length " +
                     std::to_string(io.length));
        const auto data = pattern(io.length, seed++);
        Misaligned in(io.length);
        std::copy(data.begin(), data.end(), in.span().begin());
        ASSERT_TRUE(store->write(io.offset, in.span(), false).ok());
        EXPECT_EQ(read_back(io.offset, io.length), data);
    }
}

TEST_F(FileStoreDirectTest, AlignedBuffersGoStraightThrough) {
    const size_t n = 64 * kib;
    std::unique_ptr<uint8_t[], decltype(&std::free)> buf(
        static_cast<uint8_t*>(std::aligned_alloc(4096, n)), &std::free);
    ASSERT_NE(buf, nullptr);
    const auto data = pattern(n, 0x5A);
    std::copy(data.begin(), data.end(), buf.get());
    ASSERT_TRUE(store->write(128 * kib, std::span<const uint8_t>(buf.get(), n), true).ok());
    std::fill(buf.get(), buf.get() + n, 0);
    ASSERT_TRUE(store->read(128 * kib, std::span<uint8_t>(buf.get(), n)).ok());
    EXPECT_TRUE(std::equal(data.begin(), data.end(), buf.get()));
}

TEST_F(FileStoreDirectTest, PartialBlockWritesKeepTheBytesAround) {
    const auto base = pattern(16 * kib, 0x11);
    ASSERT_TRUE(store->write(0, base, false).ok());
    // Byte-granular pieces: always a read-modify-write, whatever the device's alignment.
    const auto piece = pattern(100, 0x22);
    ASSERT_TRUE(store->write(4096 - 50, piece, false).ok());
    const auto one = pattern(1, 0x33);
    ASSERT_TRUE(store->write(10 * kib + 7, one, true).ok());

    auto expected = base;
    std::copy(piece.begin(), piece.end(), expected.begin() + 4096 - 50);
    expected[10 * kib + 7] = one[0];
    EXPECT_EQ(read_back(0, 16 * kib), expected);
    EXPECT_EQ(read_back(4096 - 49, 3), std::vector<uint8_t>(piece.begin() + 1, piece.begin() + 4));
}

TEST_F(FileStoreDirectTest, LargeUnalignedWriteSpansSeveralBouncePieces) {
    const size_t n = 3 * mib + 512;  // more than one 1 MiB bounce buffer
    const auto data = pattern(n, 0x44);
    Misaligned in(n);
    std::copy(data.begin(), data.end(), in.span().begin());
    ASSERT_TRUE(store->write(512, in.span(), false).ok());
    EXPECT_EQ(read_back(512, n), data);
    EXPECT_EQ(read_back(0, 512), std::vector<uint8_t>(512, 0));
    EXPECT_EQ(read_back(512 + n, 4096), std::vector<uint8_t>(4096, 0));
}

// Writers of different bytes of one aligned block each read-modify-write it: without the
// store's edge locks, one would write back the block it read before the other's write landed.
// Every slot is written once, so a lost update stays visible.
TEST_F(FileStoreDirectTest, ConcurrentWritersOfOneAlignedBlockKeepEachOthersBytes) {
    constexpr uint64_t thread_count = 4;
    constexpr uint64_t block_count = 256;
    const uint64_t block = store->direct_alignment();
    const uint64_t slot = block / thread_count;
    auto value = [](uint64_t b, uint64_t t) {
        return static_cast<uint8_t>(b * thread_count + t + 1);
    };
    std::vector<std::thread> threads;
    std::vector<int> failures(thread_count, 0);
    for (uint64_t t = 0; t < thread_count; ++t) {
        threads.emplace_back([&, t] {
            // All threads walk the blocks in the same order, so they meet in the same block.
            for (uint64_t b = 0; b < block_count; ++b) {
                const std::vector<uint8_t> bytes(static_cast<size_t>(slot), value(b, t));
                if (!store->write(b * block + t * slot, bytes, false).ok()) {
                    ++failures[t];
                }
            }
        });
    }
    for (auto& th : threads) {
        th.join();
    }
    EXPECT_EQ(failures, std::vector<int>(thread_count, 0));
    const auto back = read_back(0, static_cast<size_t>(block_count * block));
    for (uint64_t b = 0; b < block_count; ++b) {
        for (uint64_t t = 0; t < thread_count; ++t) {
            const uint64_t first = b * block + t * slot;
            for (uint64_t i = first; i < first + slot; ++i) {
                ASSERT_EQ(back[i], value(b, t))
                    << "block " << b << " thread " << t << " byte " << i;
            }
        }
    }
}

TEST_F(FileStoreDirectTest, UnmapPunchesAndReadsZeros) {
    const auto data = pattern(1 * mib, 0x66);
    ASSERT_TRUE(store->write(1 * mib, data, false).ok());
    ASSERT_TRUE(store->unmap(1 * mib + 512, 256 * kib).ok());  // partial blocks at both ends
    const auto back = read_back(1 * mib, 1 * mib);
    for (size_t i = 0; i < back.size(); ++i) {
        const bool unmapped = i >= 512 && i < 512 + 256 * kib;
        ASSERT_EQ(back[i], unmapped ? 0 : data[i]) << "byte " << i;
    }
    // A whole aligned unmap frees its blocks: GET LBA STATUS sees a hole.
    ASSERT_TRUE(store->unmap(1 * mib, 1 * mib).ok());
    EXPECT_EQ(read_back(1 * mib, 1 * mib), std::vector<uint8_t>(1 * mib, 0));
    const test::Extent e = extent(*store, 0, 8 * mib);
    EXPECT_FALSE(e.mapped);
    EXPECT_EQ(e.length, 8 * mib);
}

// Where the file system cannot punch, UNMAP writes zeros through write(): aligned for O_DIRECT.
TEST_F(FileStoreDirectTest, ZeroWritingUnmapIsAligned) {
    const auto data = pattern(64 * kib, 0x77);
    ASSERT_TRUE(store->write(0, data, false).ok());
    ASSERT_TRUE(store->BlockStore::unmap(512, 8 * kib + 512).ok());
    const auto back = read_back(0, 64 * kib);
    for (size_t i = 0; i < back.size(); ++i) {
        const bool unmapped = i >= 512 && i < 512 + 8 * kib + 512;
        ASSERT_EQ(back[i], unmapped ? 0 : data[i]) << "byte " << i;
    }
}

TEST_F(FileStoreDirectTest, FuaWithNativeAndFallbackPaths) {
    const auto first = pattern(8 * kib, 0x01);
    const auto second = pattern(512, 0x02);
    ASSERT_TRUE(store->write(512, first, true).ok());  // pwritev2(RWF_DSYNC)
    store->disable_native_fua();
    ASSERT_TRUE(store->write(64 * kib + 512, second, true).ok());  // pwrite + fdatasync
    ASSERT_TRUE(store->flush().ok());
    store.reset();

    // Buffered, to check the bytes sit where direct I/O put them.
    std::string error;
    auto buffered = FileStore::open(path, 8 * mib, false, error);
    ASSERT_NE(buffered, nullptr) << error;
    EXPECT_EQ(test::read_back(*buffered, 512, first.size()), first);
    EXPECT_EQ(test::read_back(*buffered, 64 * kib + 512, second.size()), second);
}

TEST_F(FileStoreDirectTest, ReadOnlyDirect) {
    const auto data = pattern(4096, 0x55);
    ASSERT_TRUE(store->write(4096, data, true).ok());
    store.reset();
    store = open_direct(path, 8 * mib, true);
    ASSERT_NE(store, nullptr);
    EXPECT_EQ(read_back(4096, 4096), data);
    EXPECT_EQ(store->write(0, data, false).code, StoreErrc::read_only);
}

TEST_F(FileStoreDirectTest, SizeThatIsNotAMultipleOfTheAlignmentIsRefused) {
    FileStoreOptions options;
    options.direct = true;
    std::string error;
    EXPECT_EQ(FileStore::open(dir.file("odd.img"), mib + 1, options, error), nullptr);
    EXPECT_NE(error.find("direct I/O alignment"), std::string::npos) << error;
    // Growing to such a size is refused too; to a multiple it works.
    EXPECT_EQ(store->grow(16 * mib + 1).code, StoreErrc::out_of_range);
    EXPECT_TRUE(store->grow(16 * mib).ok());
    EXPECT_EQ(read_back(16 * mib - 4096, 4096), std::vector<uint8_t>(4096, 0));
}

}  // namespace
}  // namespace atsarray::backend
