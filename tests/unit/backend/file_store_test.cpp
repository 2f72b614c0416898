#include "backend/file_store.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
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

// Buffered writes go to the file in pieces that never cross a 64 KiB boundary, so the page
// cache holds them in small folios (backend/page_cache_pieces.hpp).
TEST(FileStoreTest, BufferedPiecesEndAtEveryBoundary) {
    EXPECT_EQ(buffered_piece(0, 4096), 4096u);
    EXPECT_EQ(buffered_piece(0, 1 * mib), max_buffered_piece);
    EXPECT_EQ(buffered_piece(60 * 1024, 8192), 4096u);
    EXPECT_EQ(buffered_piece(max_buffered_piece - 1, 10), 1u);
    EXPECT_EQ(buffered_piece(max_buffered_piece, 3 * max_buffered_piece), max_buffered_piece);
    EXPECT_EQ(buffered_piece(3 * mib + 512, 0), 0u);
}

// A write of many pieces, unaligned at both ends, plain and FUA, reads back whole.
TEST(FileStoreTest, WritesOfManyPiecesReadBack) {
    TempDir dir;
    auto store = open_ok(dir.file("a.img"), 8 * mib);
    ASSERT_NE(store, nullptr);
    const auto data = pattern(mib + 3 * 4096 + 512, 0x3C);
    ASSERT_TRUE(store->write(max_buffered_piece - 512, data, false).ok());
    const auto fua_data = pattern(300 * 1024, 0xC3);
    ASSERT_TRUE(store->write(4 * mib + 1536, fua_data, true).ok());
    std::vector<uint8_t> back(data.size());
    ASSERT_TRUE(store->read(max_buffered_piece - 512, back).ok());
    EXPECT_EQ(back, data);
    back.resize(fua_data.size());
    ASSERT_TRUE(store->read(4 * mib + 1536, back).ok());
    EXPECT_EQ(back, fua_data);
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

// write_nowait (issue 17): what the SCSI layer does with it, try on the I/O thread and hand a
// would_block to a worker's write().
Status write_like_the_scsi_layer(FileStore& store, uint64_t offset, std::span<const uint8_t> in,
                                 bool fua) {
    Status s = store.write_nowait(offset, in, fua);
    if (s.code == StoreErrc::would_block) {
        s = store.write(offset, in, fua);
    }
    return s;
}

// Opens with `options` and settles which way write_nowait() writes (a first try at an aligned,
// cached page); true when it is the guarded pwrite of file systems without RWF_NOWAIT writes
// (ext4, tmpfs), whose answers the tests below can predict exactly.
bool settles_to_guarded(FileStore& store) {
    const std::vector<uint8_t> page(4096, 0);
    EXPECT_TRUE(write_like_the_scsi_layer(store, 0, page, false).ok());
    EXPECT_NE(store.nowait_writes(), FileStore::NowaitWrites::untried);
    return store.nowait_writes() == FileStore::NowaitWrites::guarded;
}

std::unique_ptr<FileStore> open_with(const std::string& path, uint64_t size,
                                     const FileStoreOptions& options) {
    std::string error;
    auto store = FileStore::open(path, size, options, error);
    EXPECT_NE(store, nullptr) << error;
    return store;
}

// A stall threshold no write reaches: a loaded machine's slow write must not turn inline writes
// off in a test that counts them (no timing in assertions).
std::unique_ptr<FileStore> open_patient(const std::string& path, uint64_t size) {
    FileStoreOptions options;
    options.inline_stall_threshold = std::chrono::hours(1);
    return open_with(path, size, options);
}

// Drops the image's clean pages from the page cache (after a FUA write or a flush). A read
// first waits for any read the probes started (DONTNEED skips pages under I/O).
void drop_cached_pages(FileStore& store, uint64_t offset, size_t length) {
    (void)test::read_back(store, offset, length);
    const int fd = ::open(store.path().c_str(), O_RDONLY);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED), 0);
    ::close(fd);
}

// FUA, write cache off (the SCSI layer passes fua), read-only and O_DIRECT images: every such
// write waits for the medium, so write_nowait answers would_block having written nothing.
TEST(FileStoreWriteNowaitTest, WritesThatWaitAreWouldBlockAndWriteNothing) {
    TempDir dir;
    const std::string path = dir.file("wb.img");
    auto store = open_ok(path, 4 * mib);
    ASSERT_NE(store, nullptr);
    EXPECT_TRUE(store->writes_without_waiting());
    const auto data = pattern(4096, 0x31);
    EXPECT_EQ(store->write_nowait(mib, data, true).code, StoreErrc::would_block);
    EXPECT_EQ(store->nowait_would_block(), 1u);
    EXPECT_EQ(store->would_block_counts().waits, 1u);
    EXPECT_EQ(store->inline_writes(), 0u);
    EXPECT_EQ(test::read_back(*store, mib, data.size()), std::vector<uint8_t>(data.size(), 0));
    EXPECT_EQ(store->write_nowait(4 * mib - 512, data, false).code, StoreErrc::out_of_range);
    // Above inline_max_bytes (32 KiB): a worker copies it while the I/O thread goes on.
    const auto large = pattern(32 * 1024 + 512, 0x32);
    EXPECT_EQ(store->write_nowait(mib, large, false).code, StoreErrc::would_block);
    EXPECT_EQ(store->would_block_counts().large, 1u);
    EXPECT_EQ(test::read_back(*store, mib, large.size()), std::vector<uint8_t>(large.size(), 0));
    store.reset();

    auto read_only = open_ok(path, 4 * mib, true);
    ASSERT_NE(read_only, nullptr);
    EXPECT_FALSE(read_only->writes_without_waiting());
    EXPECT_EQ(read_only->write_nowait(mib, data, false).code, StoreErrc::would_block);
    EXPECT_EQ(test::read_back(*read_only, mib, data.size()), std::vector<uint8_t>(data.size(), 0));
    read_only.reset();

    TempDir disk{"/var/tmp"};  // O_DIRECT wants a disk file system
    FileStoreOptions options;
    options.direct = true;
    std::string error;
    auto direct = FileStore::open(disk.file("direct.img"), 4 * mib, options, error);
    if (direct == nullptr) {
        GTEST_SKIP() << "no O_DIRECT here: " << error;
    }
    EXPECT_FALSE(direct->writes_without_waiting());
    EXPECT_EQ(direct->write_nowait(mib, data, false).code, StoreErrc::would_block);
    EXPECT_EQ(test::read_back(*direct, mib, data.size()), std::vector<uint8_t>(data.size(), 0));
}

// Writes into the page cache happen on the calling thread and read back; a worker's write() of
// the rest sees the same image.
TEST(FileStoreWriteNowaitTest, PlainWritesRunInline) {
    TempDir dir;
    auto store = open_patient(dir.file("inline.img"), 4 * mib);
    ASSERT_NE(store, nullptr);
    const bool guarded = settles_to_guarded(*store);
    const auto block = pattern(4096, 0x11);
    const auto big = pattern(32 * 1024, 0x22);  // inline_max_bytes
    const auto small = pattern(512, 0x33);
    ASSERT_TRUE(write_like_the_scsi_layer(*store, 8192, block, false).ok());
    ASSERT_TRUE(write_like_the_scsi_layer(*store, mib, big, false).ok());
    // Into the page the 4 KiB write left in the cache: no read of the rest of the page.
    ASSERT_TRUE(write_like_the_scsi_layer(*store, 8192 + 1024, small, false).ok());
    EXPECT_EQ(test::read_back(*store, mib, big.size()), big);
    auto expected = block;
    std::copy(small.begin(), small.end(), expected.begin() + 1024);
    EXPECT_EQ(test::read_back(*store, 8192, expected.size()), expected);
    if (!guarded) {
        GTEST_SKIP() << "pwritev2(RWF_NOWAIT) file system: the kernel decides what runs inline";
    }
    EXPECT_EQ(store->inline_writes(), 4u);  // settles_to_guarded's page too
    EXPECT_EQ(store->nowait_would_block(), 0u);
    EXPECT_EQ(store->inline_stalls(), 0u);
}

// Guard (a): filling the rest of a page the cache does not hold reads it from the disk, so such
// a write is would_block and leaves the image as it was; once the page is cached it runs inline.
TEST(FileStoreWriteNowaitTest, PartialPageOutsideTheCacheIsWouldBlock) {
    TempDir dir;
    auto store = open_patient(dir.file("partial.img"), 4 * mib);
    ASSERT_NE(store, nullptr);
    const bool guarded = settles_to_guarded(*store);
    const auto old_data = pattern(16384, 0x44);
    ASSERT_TRUE(store->write(mib, old_data, true).ok());
    drop_cached_pages(*store, mib, old_data.size());
    std::vector<uint8_t> probe(1);
    if (store->read_nowait(mib + 4096, probe).ok() || !store->reads_without_waiting()) {
        GTEST_SKIP() << "the page cache cannot be dropped or probed here (tmpfs)";
    }
    drop_cached_pages(*store, mib, old_data.size());  // the probe started reading pages in
    const auto small = pattern(512, 0x55);
    const uint64_t blocked_before = store->nowait_would_block();
    // Head partial, tail partial, and a page-aligned start ending inside the next page.
    EXPECT_EQ(store->write_nowait(mib + 512, small, false).code, StoreErrc::would_block);
    drop_cached_pages(*store, mib, old_data.size());
    EXPECT_EQ(store->write_nowait(mib + 4096 + 3584, small, false).code, StoreErrc::would_block);
    drop_cached_pages(*store, mib, old_data.size());
    EXPECT_EQ(store->write_nowait(mib + 8192, pattern(4096 + 512, 0x56), false).code,
              StoreErrc::would_block);
    EXPECT_EQ(store->nowait_would_block(), blocked_before + 3);
    EXPECT_EQ(store->would_block_counts().uncached_page, 3u);
    EXPECT_EQ(test::read_back(*store, mib, old_data.size()), old_data);  // nothing written

    // read() brought every page back: the same write now runs inline.
    const uint64_t inline_before = store->inline_writes();
    ASSERT_TRUE(write_like_the_scsi_layer(*store, mib + 512, small, false).ok());
    auto expected = old_data;
    std::copy(small.begin(), small.end(), expected.begin() + 512);
    EXPECT_EQ(test::read_back(*store, mib, expected.size()), expected);
    if (guarded) {
        EXPECT_EQ(store->inline_writes(), inline_before + 1);
    }
}

// Guard (b): while a worker's flush, unmap, grow or long write runs (it holds the inode lock or
// commits the journal) the guarded pwrite is not tried; afterwards it is again.
TEST(FileStoreWriteNowaitTest, NotWhileABlockingCallIsInFlight) {
    TempDir dir;
    auto store = open_patient(dir.file("busy.img"), 4 * mib);
    ASSERT_NE(store, nullptr);
    if (!settles_to_guarded(*store)) {
        GTEST_SKIP() << "pwritev2(RWF_NOWAIT) file system: the kernel checks its own locks";
    }
    const auto data = pattern(4096, 0x66);
    {
        const auto in_flight = store->blocking_call();
        EXPECT_EQ(store->write_nowait(mib, data, false).code, StoreErrc::would_block);
        EXPECT_EQ(store->would_block_counts().busy, 1u);
        EXPECT_EQ(test::read_back(*store, mib, data.size()), std::vector<uint8_t>(data.size(), 0));
    }
    ASSERT_TRUE(store->write_nowait(mib, data, false).ok());
    EXPECT_EQ(test::read_back(*store, mib, data.size()), data);
}

// Guard (c) on a clock the test steps: an inline write slower than the threshold is done, then
// inline writes are off for the back-off (1 s), doubled while stalls repeat within a period of
// the last back-off's end, and back to 1 s after a quiet spell.
TEST(FileStoreWriteNowaitTest, StallTurnsInlineWritesOffForABackOff) {
    using namespace std::chrono_literals;
    TempDir dir;
    auto t = std::make_shared<std::chrono::steady_clock::time_point>();
    auto step = std::make_shared<std::chrono::nanoseconds>(0);
    FileStoreOptions options;
    options.inline_stall_threshold = 1ms;
    options.inline_backoff = 1s;
    options.inline_backoff_cap = 4s;
    options.clock = [t, step] { return *t += *step; };  // every reading advances by `step`
    auto switches = std::make_shared<uint64_t>(0);
    options.voluntary_switches = [switches] { return ++*switches; };  // the thread always slept
    auto store = open_with(dir.file("stall.img"), 4 * mib, options);
    ASSERT_NE(store, nullptr);
    if (!settles_to_guarded(*store)) {
        GTEST_SKIP() << "pwritev2(RWF_NOWAIT) file system: it may refuse a write on its own";
    }
    ASSERT_EQ(store->inline_stalls(), 0u);
    const auto page = [](uint8_t seed) { return pattern(4096, seed); };
    // Reads `offset` back and checks it holds `expected`.
    const auto holds = [&](uint64_t offset, const std::vector<uint8_t>& expected) {
        return test::read_back(*store, offset, expected.size()) == expected;
    };

    *step = 2ms;  // every inline write now takes 2 ms: a stall
    ASSERT_TRUE(store->write_nowait(mib, page(1), false).ok());  // done, then off for 1 s
    EXPECT_TRUE(holds(mib, page(1)));
    EXPECT_EQ(store->inline_stalls(), 1u);
    EXPECT_EQ(store->write_nowait(mib, page(2), false).code, StoreErrc::would_block);
    EXPECT_TRUE(holds(mib, page(1)));  // nothing written
    *t += 990ms;
    EXPECT_EQ(store->write_nowait(mib, page(2), false).code, StoreErrc::would_block);

    *t += 10ms;  // the back-off is over; the next stall repeats within a period: 2 s
    ASSERT_TRUE(store->write_nowait(mib, page(3), false).ok());
    EXPECT_EQ(store->inline_stalls(), 2u);
    *t += 1s;
    EXPECT_EQ(store->write_nowait(mib, page(4), false).code, StoreErrc::would_block);
    *t += 1s;
    ASSERT_TRUE(store->write_nowait(mib, page(5), false).ok());  // 4 s, the cap
    *t += 3s;
    EXPECT_EQ(store->write_nowait(mib, page(6), false).code, StoreErrc::would_block);
    *t += 1s;
    ASSERT_TRUE(store->write_nowait(mib, page(7), false).ok());  // capped: 4 s again
    *t += 3s;
    EXPECT_EQ(store->write_nowait(mib, page(8), false).code, StoreErrc::would_block);
    EXPECT_TRUE(holds(mib, page(7)));
    EXPECT_EQ(store->inline_stalls(), 4u);

    *step = 0ns;  // a fast file system again: no stall, nothing turned off
    *t += 1s;
    ASSERT_TRUE(store->write_nowait(mib, page(9), false).ok());
    ASSERT_TRUE(store->write_nowait(mib, page(10), false).ok());
    EXPECT_EQ(store->inline_stalls(), 4u);

    *t += 10s;  // quiet for longer than the back-off: the next stall starts again at 1 s
    *step = 2ms;
    ASSERT_TRUE(store->write_nowait(mib, page(11), false).ok());
    EXPECT_EQ(store->write_nowait(mib, page(12), false).code, StoreErrc::would_block);
    *t += 1s;
    ASSERT_TRUE(store->write_nowait(mib, page(13), false).ok());
    EXPECT_TRUE(holds(mib, page(13)));
    EXPECT_EQ(store->inline_stalls(), 6u);
    EXPECT_EQ(store->inline_writes(), 9u);  // settles_to_guarded's page and eight here
    EXPECT_EQ(store->would_block_counts().backing_off, 6u);
    EXPECT_EQ(store->would_block_counts().slow_preempted, 0u);
}

// A slow inline write in which the thread never slept was preempted by the scheduler (a busy
// machine): a worker would have been as slow, so inline writes stay on.
TEST(FileStoreWriteNowaitTest, APreemptedWriteIsNoStall) {
    using namespace std::chrono_literals;
    TempDir dir;
    auto t = std::make_shared<std::chrono::steady_clock::time_point>();
    FileStoreOptions options;
    options.inline_stall_threshold = 1ms;
    options.clock = [t] { return *t += 5ms; };
    options.voluntary_switches = [] { return uint64_t{7}; };  // never slept
    auto store = open_with(dir.file("preempted.img"), 4 * mib, options);
    ASSERT_NE(store, nullptr);
    if (!settles_to_guarded(*store)) {
        GTEST_SKIP() << "pwritev2(RWF_NOWAIT) file system: it may refuse a write on its own";
    }
    const auto data = pattern(4096, 0x77);
    ASSERT_TRUE(store->write_nowait(mib, data, false).ok());
    ASSERT_TRUE(store->write_nowait(mib, data, false).ok());
    EXPECT_EQ(store->inline_stalls(), 0u);
    EXPECT_EQ(store->would_block_counts().slow_preempted, 3u);  // settles_to_guarded's too
    EXPECT_EQ(store->inline_writes(), 3u);
}

}  // namespace
}  // namespace atsarray::backend
