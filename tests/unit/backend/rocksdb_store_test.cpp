// The RocksDB block store: chunked reads and writes, thin provisioning, the LUN's size kept with
// its data, one database per folder shared by the LUNs of a process and refused to a second one.

#include "backend/rocksdb_store.hpp"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "tests/unit/backend/store_test_support.hpp"
#include "tests/unit/backend/temp_dir.hpp"

extern char** environ;

namespace atsarray::backend {
namespace {

using test::expect_out_of_range_refused;
using test::extent;
using test::Extent;
using test::read_back;

using test::TempDir;

constexpr uint64_t kib = 1024;
constexpr uint64_t mib = 1024 * kib;
constexpr uint64_t chunk = 4 * kib;
constexpr const char* lun0 = "iqn.2026-11.org.atsarray:test/lun0";
constexpr const char* lun1 = "iqn.2026-11.org.atsarray:test/lun1";
// Set for the child process of SecondProcessIsRefused: the folder the parent holds open.
constexpr const char* held_dir_env = "ATSARRAY_TEST_ROCKSDB_HELD_DIR";

std::vector<uint8_t> pattern(size_t n, uint8_t seed) {
    std::vector<uint8_t> v(n);
    for (size_t i = 0; i < n; ++i) {
        v[i] = static_cast<uint8_t>(seed ^ (i * 31 + 7));
    }
    return v;
}

bool all_zero(const std::vector<uint8_t>& v) {
    return std::all_of(v.begin(), v.end(), [](uint8_t b) { return b == 0; });
}

std::unique_ptr<RocksDbStore> open_ok(const std::string& dir, uint64_t size, const char* lun = lun0,
                                      RocksDbOptions options = {}, bool read_only = false) {
    std::string error;
    auto store = RocksDbStore::open(dir, lun, size, options, read_only, error);
    EXPECT_NE(store, nullptr) << error;
    EXPECT_TRUE(error.empty()) << error;
    return store;
}

std::string open_error(const std::string& dir, uint64_t size, const char* lun = lun0,
                       RocksDbOptions options = {}, bool read_only = false) {
    std::string error;
    auto store = RocksDbStore::open(dir, lun, size, options, read_only, error);
    EXPECT_EQ(store, nullptr);
    return error;
}

TEST(RocksDbStoreTest, FreshLunReadsZerosAndDescribes) {
    TempDir dir;
    auto store = open_ok(dir.file("db"), 8 * mib);
    ASSERT_NE(store, nullptr);
    EXPECT_EQ(store->kind(), "rocksdb");
    EXPECT_TRUE(store->blocking());
    EXPECT_EQ(store->size_bytes(), 8 * mib);
    EXPECT_EQ(store->allocation_unit(), chunk);
    EXPECT_EQ(store->chunk_bytes(), chunk);
    EXPECT_EQ(store->lun_name(), lun0);
    EXPECT_TRUE(all_zero(read_back(*store, 0, 512)));             // one chunk
    EXPECT_TRUE(all_zero(read_back(*store, mib + 1, 64 * kib)));  // many
    const Extent e = extent(*store, 0, 8 * mib);
    EXPECT_FALSE(e.mapped);
    EXPECT_EQ(e.length, 8 * mib);
}

TEST(RocksDbStoreTest, PartialChunkWritesAtOddOffsets) {
    TempDir dir;
    auto store = open_ok(dir.file("db"), 8 * mib);
    ASSERT_NE(store, nullptr);
    // Inside one chunk, then across three with partial chunks at both ends.
    const auto small = pattern(100, 0x21);
    ASSERT_TRUE(store->write(chunk + 7, small, false).ok());
    const auto wide = pattern(2 * chunk + 333, 0x5A);
    ASSERT_TRUE(store->write(5 * chunk - 1, wide, false).ok());

    EXPECT_EQ(read_back(*store, chunk + 7, small.size()), small);
    EXPECT_EQ(read_back(*store, 5 * chunk - 1, wide.size()), wide);
    // The rest of each touched chunk still reads zeros.
    const auto around = read_back(*store, chunk, chunk);
    EXPECT_TRUE(std::all_of(around.begin(), around.begin() + 7, [](uint8_t b) { return b == 0; }));
    EXPECT_TRUE(std::equal(small.begin(), small.end(), around.begin() + 7));
    EXPECT_TRUE(std::all_of(around.begin() + 107, around.end(), [](uint8_t b) { return b == 0; }));
    const auto edges = read_back(*store, 4 * chunk, 4 * chunk);
    EXPECT_TRUE(
        std::all_of(edges.begin(), edges.begin() + chunk - 1, [](uint8_t b) { return b == 0; }));
    EXPECT_TRUE(std::equal(wide.begin(), wide.end(), edges.begin() + chunk - 1));
    EXPECT_TRUE(std::all_of(edges.begin() + static_cast<std::ptrdiff_t>(chunk - 1 + wide.size()),
                            edges.end(), [](uint8_t b) { return b == 0; }));

    // Overwriting part of a written chunk keeps the rest of it.
    ASSERT_TRUE(store->write(5 * chunk + 10, pattern(10, 0x99), false).ok());
    auto expected = wide;
    const auto patch = pattern(10, 0x99);
    std::copy(patch.begin(), patch.end(), expected.begin() + 11);
    EXPECT_EQ(read_back(*store, 5 * chunk - 1, wide.size()), expected);
}

TEST(RocksDbStoreTest, MultiChunkWriteReadsBackWholeAndInParts) {
    TempDir dir;
    auto store = open_ok(dir.file("db"), 8 * mib);
    ASSERT_NE(store, nullptr);
    const auto data = pattern(1 * mib, 0x3C);
    ASSERT_TRUE(store->write(2 * mib, data, true).ok());
    EXPECT_EQ(read_back(*store, 2 * mib, data.size()), data);
    const auto part = read_back(*store, 2 * mib + 3 * chunk + 5, 10 * chunk);
    EXPECT_TRUE(std::equal(part.begin(), part.end(), data.begin() + 3 * chunk + 5));
    // A read straddling the written range sees zeros on both sides.
    const auto straddle = read_back(*store, 2 * mib - chunk, data.size() + 2 * chunk);
    EXPECT_TRUE(
        std::all_of(straddle.begin(), straddle.begin() + chunk, [](uint8_t b) { return b == 0; }));
    EXPECT_TRUE(std::equal(data.begin(), data.end(), straddle.begin() + chunk));
    EXPECT_TRUE(
        std::all_of(straddle.end() - chunk, straddle.end(), [](uint8_t b) { return b == 0; }));
    EXPECT_TRUE(store->flush().ok());

    const Extent before = extent(*store, 0, 8 * mib);
    EXPECT_FALSE(before.mapped);
    EXPECT_EQ(before.length, 2 * mib);
    // A mapped run is reported in pieces of at most a bounded scan; together they cover it.
    uint64_t mapped = 0;
    for (uint64_t at = 2 * mib; at < 3 * mib;) {
        const Extent e = extent(*store, at, 8 * mib - at);
        ASSERT_TRUE(e.mapped);
        ASSERT_GT(e.length, 0u);
        mapped += e.length;
        at += e.length;
    }
    EXPECT_EQ(mapped, 1 * mib);
    const Extent after = extent(*store, 3 * mib, 8 * mib);
    EXPECT_FALSE(after.mapped);
    EXPECT_EQ(after.length, 5 * mib);
}

TEST(RocksDbStoreTest, ZerosStayThin) {
    TempDir dir;
    auto store = open_ok(dir.file("db"), 4 * mib);
    ASSERT_NE(store, nullptr);
    ASSERT_TRUE(store->write(0, std::vector<uint8_t>(64 * kib, 0), false).ok());
    EXPECT_FALSE(extent(*store, 0, 4 * mib).mapped);
    // Zeros over written data: the chunks read zeros (and need no key).
    ASSERT_TRUE(store->write(mib, pattern(2 * chunk, 1), false).ok());
    ASSERT_TRUE(store->write(mib, std::vector<uint8_t>(2 * chunk, 0), false).ok());
    EXPECT_TRUE(all_zero(read_back(*store, mib, 2 * chunk)));
    EXPECT_EQ(extent(*store, 0, 4 * mib).length, 4 * mib);
}

TEST(RocksDbStoreTest, UnmapReadsZerosAndDeallocates) {
    TempDir dir;
    auto store = open_ok(dir.file("db"), 8 * mib);
    ASSERT_NE(store, nullptr);
    const auto data = pattern(2 * mib, 0x77);
    ASSERT_TRUE(store->write(mib, data, false).ok());

    // Partial chunks at both ends, a long run (DeleteRange) in between.
    const uint64_t from = mib + 100;
    const uint64_t length = mib + 2 * chunk;
    ASSERT_TRUE(store->unmap(from, length).ok());
    const auto back = read_back(*store, mib, data.size());
    for (uint64_t i = 0; i < data.size(); ++i) {
        const uint64_t at = mib + i;
        const uint8_t want = (at >= from && at < from + length) ? 0 : data[i];
        ASSERT_EQ(back[i], want) << "byte " << i;
    }
    // The partial chunks keep their keys; the whole ones in between are gone.
    Extent e = extent(*store, mib, 8 * mib);
    EXPECT_TRUE(e.mapped);
    EXPECT_EQ(e.length, chunk);
    e = extent(*store, mib + chunk, 8 * mib);
    EXPECT_FALSE(e.mapped);
    EXPECT_EQ(e.length, mib + chunk);
    e = extent(*store, 2 * mib + 2 * chunk, 8 * mib);
    EXPECT_TRUE(e.mapped);

    // A short run of whole chunks (point deletes), and a partial unmap that leaves a chunk all
    // zeros drops its key.
    ASSERT_TRUE(store->unmap(2 * mib + 3 * chunk, 4 * chunk).ok());
    EXPECT_FALSE(extent(*store, 2 * mib + 3 * chunk, chunk).mapped);
    ASSERT_TRUE(store->unmap(mib, 100).ok());
    e = extent(*store, mib, 8 * mib);
    EXPECT_FALSE(e.mapped);
    EXPECT_EQ(e.length, mib + 2 * chunk);
    EXPECT_TRUE(all_zero(read_back(*store, mib, mib + 2 * chunk)));

    // Unmapping holes and the range checks.
    EXPECT_TRUE(store->unmap(0, 8 * mib).ok());
    e = extent(*store, 0, 8 * mib);
    EXPECT_FALSE(e.mapped);
    EXPECT_EQ(e.length, 8 * mib);
    EXPECT_TRUE(store->unmap(8 * mib, 0).ok());
    EXPECT_EQ(store->unmap(8 * mib - 512, 1024).code, StoreErrc::out_of_range);
}

TEST(RocksDbStoreTest, OutOfRange) {
    TempDir dir;
    auto store = open_ok(dir.file("db"), mib);
    ASSERT_NE(store, nullptr);
    expect_out_of_range_refused(*store, mib);
    bool mapped = false;
    uint64_t length = 0;
    EXPECT_EQ(store->mapped_extent(mib, 1, mapped, length).code, StoreErrc::out_of_range);
}

TEST(RocksDbStoreTest, LunSizeNotAMultipleOfTheChunk) {
    TempDir dir;
    const uint64_t size = mib + 512;  // the last chunk is mostly past the end
    auto store = open_ok(dir.file("db"), size);
    ASSERT_NE(store, nullptr);
    const auto data = pattern(1024, 0x42);
    ASSERT_TRUE(store->write(size - 1024, data, false).ok());
    EXPECT_EQ(read_back(*store, size - 1024, 1024), data);
    ASSERT_TRUE(store->unmap(mib, 512).ok());  // all of the last chunk inside the LUN
    EXPECT_FALSE(extent(*store, mib, 512).mapped);
    EXPECT_TRUE(all_zero(read_back(*store, mib, 512)));
    EXPECT_TRUE(extent(*store, mib - 512, 512).mapped);
}

TEST(RocksDbStoreTest, ReopenAfterCloseKeepsData) {
    TempDir dir;
    const auto data = pattern(3 * chunk + 3, 0x11);
    {
        auto store = open_ok(dir.file("db"), 2 * mib);
        ASSERT_NE(store, nullptr);
        ASSERT_TRUE(store->write(mib + 17, data, false).ok());
        ASSERT_TRUE(store->unmap(mib + 2 * chunk, chunk).ok());
    }  // the last LUN closes the database
    auto store = open_ok(dir.file("db"), 2 * mib);
    ASSERT_NE(store, nullptr);
    auto expected = data;
    std::fill(expected.begin() + static_cast<std::ptrdiff_t>(2 * chunk - 17),
              expected.begin() + static_cast<std::ptrdiff_t>(3 * chunk - 17), 0);
    EXPECT_EQ(read_back(*store, mib + 17, data.size()), expected);
}

// read_nowait answers from the memtables and the block cache (what a fresh write leaves there,
// and holes); RocksDB answers Incomplete for a block only a table file holds, which the store
// turns into would_block (tests/unit/scsi/nowait_read_test.cpp: the dispatcher's side).
TEST(RocksDbStoreTest, ReadNowaitAnswersFromTheMemtable) {
    TempDir dir;
    const auto data = pattern(2 * chunk, 0x21);
    std::vector<uint8_t> out(data.size());
    auto store = open_ok(dir.file("db"), 2 * mib);
    ASSERT_NE(store, nullptr);
    EXPECT_TRUE(store->reads_without_waiting());
    ASSERT_TRUE(store->write(chunk, data, false).ok());
    ASSERT_TRUE(store->read_nowait(chunk, std::span(out).first(chunk)).ok());
    EXPECT_TRUE(std::equal(out.begin(), out.begin() + chunk, data.begin()));
    ASSERT_TRUE(store->read_nowait(2 * chunk + 7, std::span(out).first(chunk - 7)).ok());
    EXPECT_TRUE(std::equal(out.begin(), out.begin() + chunk - 7, data.begin() + chunk + 7));
    ASSERT_TRUE(store->read_nowait(4 * chunk, std::span(out).first(chunk)).ok());  // a hole
    EXPECT_TRUE(std::all_of(out.begin(), out.begin() + chunk, [](uint8_t b) { return b == 0; }));
    // Several chunks never read memory-only (RocksDB 7.8's MultiGet answered wrongly: see
    // rocksdb_store.cpp): a worker reads them.
    EXPECT_EQ(store->read_nowait(chunk, out).code, StoreErrc::would_block);
    EXPECT_EQ(store->read_nowait(chunk + 7, std::span(out).first(chunk)).code,
              StoreErrc::would_block);
    EXPECT_EQ(store->read_nowait(2 * mib - 512, out).code, StoreErrc::out_of_range);
}

// write_nowait takes a write into the WAL and the memtable; it answers would_block having
// written nothing for a FUA write (a WAL sync) and for a partial chunk whose old contents only a
// table file holds (tests/unit/scsi/nowait_test.cpp: the dispatcher's side).
TEST(RocksDbStoreTest, WriteNowaitWritesIntoMemoryOrNothing) {
    TempDir dir;
    const auto data = pattern(3 * chunk, 0x31);
    {
        auto store = open_ok(dir.file("db"), 2 * mib);
        ASSERT_NE(store, nullptr);
        EXPECT_TRUE(store->writes_without_waiting());
        ASSERT_TRUE(store->write_nowait(chunk, data, false).ok());  // whole chunks
        EXPECT_EQ(read_back(*store, chunk, data.size()), data);
        const auto block = pattern(512, 0x32);
        ASSERT_TRUE(store->write_nowait(chunk + 512, block, false).ok());  // merged in memory
        auto expected = data;
        std::copy(block.begin(), block.end(), expected.begin() + 512);
        EXPECT_EQ(read_back(*store, chunk, data.size()), expected);
        ASSERT_TRUE(store->write_nowait(8 * chunk + 100, block, false).ok());  // into a hole
        auto hole = std::vector<uint8_t>(chunk, 0);
        std::copy(block.begin(), block.end(), hole.begin() + 100);
        EXPECT_EQ(read_back(*store, 8 * chunk, chunk), hole);
        EXPECT_EQ(store->write_nowait(0, block, true).code, StoreErrc::would_block);  // fua
        EXPECT_TRUE(all_zero(read_back(*store, 0, 512)));
        EXPECT_EQ(store->write_nowait(2 * mib - 512, data, false).code, StoreErrc::out_of_range);
        ASSERT_TRUE(store->write(0, block, true).ok());
    }
    // Reopened, the chunks are in table files and the cache is empty: a partial chunk cannot be
    // merged without reading a file, a whole one can be written.
    auto store = open_ok(dir.file("db"), 2 * mib);
    ASSERT_NE(store, nullptr);
    const auto other = pattern(512, 0x33);
    std::vector<uint8_t> out(chunk);
    if (store->read_nowait(chunk, out).code == StoreErrc::would_block) {
        EXPECT_EQ(store->write_nowait(chunk + 1024, other, false).code, StoreErrc::would_block);
        EXPECT_NE(read_back(*store, chunk + 1024, 512), other);  // nothing written
    }
    ASSERT_TRUE(store->write_nowait(2 * chunk, pattern(chunk, 0x34), false).ok());
    EXPECT_EQ(read_back(*store, 2 * chunk, chunk), pattern(chunk, 0x34));
    ASSERT_TRUE(store->write(chunk + 1024, other, false).ok());
    ASSERT_TRUE(store->write_nowait(chunk + 1024, other, false).ok());  // read back: cached now
    EXPECT_EQ(read_back(*store, chunk + 1024, 512), other);
}

TEST(RocksDbStoreTest, ReadOnlyLunDoesNotWriteWithoutWaiting) {
    TempDir dir;
    { ASSERT_NE(open_ok(dir.file("db"), mib), nullptr); }
    auto store = open_ok(dir.file("db"), mib, lun0, {}, true);
    ASSERT_NE(store, nullptr);
    EXPECT_FALSE(store->writes_without_waiting());
}

// A read of many chunks (one MultiGet) places written chunks, holes and partial ends.
TEST(RocksDbStoreTest, LongReadMixesChunksAndHoles) {
    TempDir dir;
    auto store = open_ok(dir.file("db"), 4 * mib);
    ASSERT_NE(store, nullptr);
    std::vector<uint8_t> expected(64 * chunk, 0);
    for (uint64_t i = 0; i < 64; i += 3) {
        const auto piece = pattern(chunk, static_cast<uint8_t>(i));
        ASSERT_TRUE(store->write(i * chunk, piece, false).ok());
        std::copy(piece.begin(), piece.end(),
                  expected.begin() + static_cast<std::ptrdiff_t>(i * chunk));
    }
    EXPECT_EQ(read_back(*store, 0, expected.size()), expected);
    const auto middle = read_back(*store, 700, 40 * chunk + 5);
    EXPECT_TRUE(std::equal(middle.begin(), middle.end(), expected.begin() + 700));
    // Several chunks never read memory-only (RocksDB 7.8's MultiGet, rocksdb_store.cpp): a
    // worker reads them.
    std::vector<uint8_t> out(expected.size());
    EXPECT_EQ(store->read_nowait(0, out).code, StoreErrc::would_block);
}

TEST(RocksDbStoreTest, ReopenWithSmallerSizeIsRefused) {
    TempDir dir;
    { ASSERT_NE(open_ok(dir.file("db"), 2 * mib), nullptr); }
    const std::string error = open_error(dir.file("db"), mib);
    EXPECT_NE(error.find("configured size 1048576 is smaller than the 2097152 bytes the LUN "
                         "had; refusing to discard data"),
              std::string::npos)
        << error;
    EXPECT_NE(error.find(lun0), std::string::npos) << error;
    // Nothing was lost or changed: the old size still opens.
    EXPECT_NE(open_ok(dir.file("db"), 2 * mib), nullptr);
}

TEST(RocksDbStoreTest, ReopenWithLargerSizeGrows) {
    TempDir dir;
    const auto data = pattern(chunk, 0x42);
    {
        auto store = open_ok(dir.file("db"), mib);
        ASSERT_NE(store, nullptr);
        ASSERT_TRUE(store->write(mib - chunk, data, true).ok());
    }
    {
        auto store = open_ok(dir.file("db"), 4 * mib);
        ASSERT_NE(store, nullptr);
        EXPECT_EQ(store->size_bytes(), 4 * mib);
        EXPECT_EQ(read_back(*store, mib - chunk, chunk), data);
        EXPECT_TRUE(all_zero(read_back(*store, mib, 3 * mib)));
    }
    // The grown size was recorded: going back is refused.
    EXPECT_NE(open_error(dir.file("db"), mib).find("refusing to discard data"), std::string::npos);
}

TEST(RocksDbStoreTest, GrowAtRunTimeIsRecorded) {
    TempDir dir;
    {
        auto store = open_ok(dir.file("db"), mib);
        ASSERT_NE(store, nullptr);
        const std::vector<uint8_t> data(chunk, 0xab);
        ASSERT_TRUE(store->write(mib - chunk, data, false).ok());
        ASSERT_TRUE(store->grow(2 * mib).ok());
        EXPECT_EQ(store->size_bytes(), 2 * mib);
        EXPECT_EQ(read_back(*store, mib - chunk, chunk), data);
        EXPECT_TRUE(all_zero(read_back(*store, 2 * mib - chunk, chunk)));
        ASSERT_TRUE(store->write(2 * mib - chunk, data, true).ok());
        EXPECT_EQ(store->grow(mib).code, StoreErrc::out_of_range);  // shrinking loses data
        EXPECT_TRUE(store->grow(2 * mib).ok());
        EXPECT_EQ(store->size_bytes(), 2 * mib);
    }
    EXPECT_NE(open_error(dir.file("db"), mib).find("2097152 bytes the LUN had"), std::string::npos);
    auto store = open_ok(dir.file("db"), 2 * mib);
    ASSERT_NE(store, nullptr);
    EXPECT_EQ(read_back(*store, 2 * mib - chunk, chunk), std::vector<uint8_t>(chunk, 0xab));
}

TEST(RocksDbStoreTest, LunsOfOneFolderShareOneDatabase) {
    TempDir dir;
    auto a = open_ok(dir.file("db"), mib, lun0);
    auto b = open_ok(dir.file("db"), 2 * mib, lun1);
    ASSERT_NE(a, nullptr);
    ASSERT_NE(b, nullptr);
    EXPECT_TRUE(a->shares_database_with(*b));
    EXPECT_EQ(a->db_dir(), b->db_dir());
    ASSERT_TRUE(a->write(0, pattern(chunk, 1), false).ok());
    ASSERT_TRUE(b->write(0, pattern(chunk, 2), false).ok());
    EXPECT_EQ(read_back(*a, 0, chunk), pattern(chunk, 1));  // separate key spaces
    EXPECT_EQ(read_back(*b, 0, chunk), pattern(chunk, 2));

    // The same LUN twice is refused, like a file image's flock.
    EXPECT_NE(open_error(dir.file("db"), mib, lun0).find("already open"), std::string::npos);

    TempDir other;
    auto c = open_ok(other.file("db"), mib, lun0);
    ASSERT_NE(c, nullptr);
    EXPECT_FALSE(c->shares_database_with(*a));

    // The database stays open while one LUN uses it; a LUN closed and opened again shares it.
    a.reset();
    a = open_ok(dir.file("db"), mib, lun0);
    ASSERT_NE(a, nullptr);
    EXPECT_TRUE(a->shares_database_with(*b));
    EXPECT_EQ(read_back(*a, 0, chunk), pattern(chunk, 1));
}

// Runs in the child process of SecondProcessIsRefused only.
TEST(RocksDbStoreChildProcess, OpenOfHeldFolderIsRefused) {
    const char* dir = std::getenv(held_dir_env);
    if (dir == nullptr) {
        GTEST_SKIP() << "helper of RocksDbStoreTest.SecondProcessIsRefused";
    }
    const std::string error = open_error(dir, mib, lun1);
    EXPECT_NE(error.find("in use by another process"), std::string::npos) << error;
    EXPECT_NE(error.find(dir), std::string::npos) << error;
}

TEST(RocksDbStoreTest, SecondProcessIsRefused) {
    TempDir dir;
    auto store = open_ok(dir.file("db"), mib);
    ASSERT_NE(store, nullptr);

    // RocksDB's LOCK file is per process: a second process runs this test binary's child test.
    std::vector<std::string> env_strings;
    for (char** e = environ; *e != nullptr; ++e) {
        env_strings.emplace_back(*e);
    }
    env_strings.push_back(std::string(held_dir_env) + "=" + store->db_dir());
    std::vector<char*> envp;
    for (auto& s : env_strings) {
        envp.push_back(s.data());
    }
    envp.push_back(nullptr);
    std::string exe = std::filesystem::read_symlink("/proc/self/exe").string();
    std::string filter = "--gtest_filter=RocksDbStoreChildProcess.OpenOfHeldFolderIsRefused";
    char* argv[] = {exe.data(), filter.data(), nullptr};
    const std::string log = dir.file("child.txt");
    posix_spawn_file_actions_t actions;
    ASSERT_EQ(posix_spawn_file_actions_init(&actions), 0);
    posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    pid_t pid = 0;
    const int rc = posix_spawn(&pid, exe.c_str(), &actions, nullptr, argv, envp.data());
    posix_spawn_file_actions_destroy(&actions);
    ASSERT_EQ(rc, 0);
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    std::ifstream in(log);
    std::stringstream output;
    output << in.rdbuf();
    ASSERT_TRUE(WIFEXITED(status)) << output.str();
    EXPECT_EQ(WEXITSTATUS(status), 0) << output.str();
    EXPECT_NE(output.str().find("[  PASSED  ] 1 test"), std::string::npos) << output.str();

    // The parent's store is untouched.
    EXPECT_TRUE(store->write(0, pattern(chunk, 3), true).ok());
}

TEST(RocksDbStoreTest, ConcurrentWritersToOneChunkKeepEveryBlock) {
    TempDir dir;
    RocksDbOptions options;
    options.chunk_bytes = 8 * kib;  // 16 blocks of 512 bytes per chunk
    auto store = open_ok(dir.file("db"), mib, lun0, options);
    ASSERT_NE(store, nullptr);
    constexpr size_t threads = 8;
    constexpr int rounds = 200;
    // Every write is a partial chunk: thread t writes blocks t and t + 8 of chunk 0, and the
    // t-th KiB of chunk 1, over and over; the last round of every thread must survive.
    std::vector<std::thread> workers;
    for (size_t t = 0; t < threads; ++t) {
        workers.emplace_back([&, t] {
            for (int r = 0; r < rounds; ++r) {
                const auto block = std::vector<uint8_t>(512, static_cast<uint8_t>(t * 16 + r % 16));
                ASSERT_TRUE(store->write(t * 512, block, r % 7 == 0).ok());
                ASSERT_TRUE(store->write((t + 8) * 512, block, false).ok());
                ASSERT_TRUE(
                    store->write(8 * kib + t * 1024, pattern(1024, static_cast<uint8_t>(t)), false)
                        .ok());
            }
        });
    }
    for (auto& w : workers) {
        w.join();
    }
    const auto back = read_back(*store, 0, 16 * kib);
    for (size_t t = 0; t < threads; ++t) {
        const auto want = static_cast<uint8_t>(t * 16 + (rounds - 1) % 16);
        for (size_t i = 0; i < 512; ++i) {
            ASSERT_EQ(back[t * 512 + i], want) << "thread " << t << " byte " << i;
            ASSERT_EQ(back[(t + 8) * 512 + i], want) << "thread " << t << " byte " << i;
        }
        const auto mine = pattern(1024, static_cast<uint8_t>(t));
        EXPECT_TRUE(std::equal(mine.begin(), mine.end(), back.begin() + 8 * kib + t * 1024))
            << "thread " << t;
    }
}

TEST(RocksDbStoreTest, ChunkSizeIsFixedWhenTheLunIsCreated) {
    TempDir dir;
    const auto data = pattern(3 * chunk, 0x66);
    {
        auto store = open_ok(dir.file("db"), mib);
        ASSERT_NE(store, nullptr);
        ASSERT_TRUE(store->write(chunk, data, false).ok());
    }
    RocksDbOptions options;
    options.chunk_bytes = 64 * kib;
    auto store = open_ok(dir.file("db"), mib, lun0, options);
    ASSERT_NE(store, nullptr);
    EXPECT_EQ(store->chunk_bytes(), chunk);
    EXPECT_EQ(read_back(*store, chunk, data.size()), data);
    auto other = open_ok(dir.file("db"), mib, lun1, options);  // a new LUN takes the option
    ASSERT_NE(other, nullptr);
    EXPECT_EQ(other->chunk_bytes(), 64 * kib);
}

TEST(RocksDbStoreTest, BadOptionsAreRefused) {
    TempDir dir;
    RocksDbOptions options;
    options.chunk_bytes = 3000;
    EXPECT_NE(open_error(dir.file("db"), mib, lun0, options).find("not a power of two"),
              std::string::npos);
    options.chunk_bytes = 256;
    EXPECT_NE(open_error(dir.file("db"), mib, lun0, options).find("not a power of two"),
              std::string::npos);
    options = {};
    options.compression = "lzma";
    EXPECT_NE(open_error(dir.file("db"), mib, lun0, options).find("unknown compression"),
              std::string::npos);
    EXPECT_NE(open_error(dir.file("db"), 0).find("greater than 0"), std::string::npos);
    for (const char* name : {"none", "lz4", "zstd", "snappy"}) {
        TempDir each;
        options.compression = name;
        auto store = open_ok(each.file("db"), mib, lun0, options);
        ASSERT_NE(store, nullptr) << name;
        ASSERT_TRUE(store->write(0, pattern(chunk, 9), true).ok());
    }
}

TEST(RocksDbStoreTest, ReadOnlyLun) {
    TempDir dir;
    EXPECT_NE(open_error(dir.file("db"), mib, lun0, {}, true).find("needs existing data"),
              std::string::npos);
    { ASSERT_NE(open_ok(dir.file("db"), mib), nullptr); }
    EXPECT_NE(open_error(dir.file("db"), 2 * mib, lun0, {}, true).find("cannot be grown"),
              std::string::npos);
    auto store = open_ok(dir.file("db"), mib, lun0, {}, true);
    ASSERT_NE(store, nullptr);
    std::vector<uint8_t> buf(512);
    EXPECT_EQ(store->write(0, buf, false).code, StoreErrc::read_only);
    EXPECT_EQ(store->unmap(0, 512).code, StoreErrc::read_only);
    EXPECT_EQ(store->grow(2 * mib).code, StoreErrc::read_only);
    EXPECT_TRUE(store->flush().ok());
    EXPECT_TRUE(store->read(0, buf).ok());
}

TEST(RocksDbStoreTest, DamagedDatabaseIsNeverReformatted) {
    TempDir dir;
    const std::string db = dir.file("db");
    {
        auto store = open_ok(db, mib);
        ASSERT_NE(store, nullptr);
        ASSERT_TRUE(store->write(0, pattern(chunk, 5), true).ok());
    }
    // CURRENT names the live MANIFEST; without it the folder still holds data.
    std::filesystem::rename(db + "/CURRENT", db + "/CURRENT.lost");
    std::string error = open_error(db, mib);
    EXPECT_NE(error.find("is damaged"), std::string::npos) << error;
    EXPECT_NE(error.find(db), std::string::npos) << error;
    EXPECT_FALSE(std::filesystem::exists(db + "/CURRENT"));  // no new database was made

    // CURRENT pointing at a MANIFEST that is not there.
    {
        std::ofstream current(db + "/CURRENT", std::ios::trunc);
        current << "MANIFEST-999999\n";
    }
    error = open_error(db, mib);
    EXPECT_NE(error.find(db), std::string::npos) << error;
    EXPECT_NE(error.find("does not reformat"), std::string::npos) << error;

    std::filesystem::remove(db + "/CURRENT");
    std::filesystem::rename(db + "/CURRENT.lost", db + "/CURRENT");
    auto store = open_ok(db, mib);
    ASSERT_NE(store, nullptr);
    EXPECT_EQ(read_back(*store, 0, chunk), pattern(chunk, 5));
}

TEST(RocksDbStoreTest, FolderThatIsAFileIsRefused) {
    TempDir dir;
    { std::ofstream(dir.file("db")) << "not a database"; }
    EXPECT_NE(open_error(dir.file("db"), mib).find("not a folder"), std::string::npos);
}

}  // namespace
}  // namespace atsarray::backend
