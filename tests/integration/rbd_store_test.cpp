// RbdStore against a real Ceph cluster (issue 15): the ctest fixture ceph_cluster's
// (scripts/ceph-cluster), found by ceph_conf_path(). Skipped when there is none.

#include <gtest/gtest.h>
#include <rados/librados.h>
#include <rbd/librbd.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "backend/rbd_store.hpp"
#include "tests/integration/rbd_image.hpp"

namespace atsarray::backend {
namespace {

constexpr uint64_t mib = 1024 * 1024;
constexpr uint64_t object = 4 * mib;  // the default RBD object size

using testing::rbd_test_conf;
using testing::rbd_test_pattern;
using testing::remove_rbd_image;

bool all_zero(const std::vector<uint8_t>& v) {
    for (uint8_t b : v) {
        if (b != 0) {
            return false;
        }
    }
    return true;
}

class RbdStoreTest : public ::testing::Test {
  protected:
    void SetUp() override {
        if (rbd_test_conf().empty()) {
            GTEST_SKIP() << "no Ceph cluster: set CEPH_CONF or run under ctest (fixture "
                            "ceph_cluster)";
        }
        const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
        image_ = std::string("rbdstore-") + info->name() + "-" + std::to_string(::getpid());
        remove_rbd_image("rbd", image_);
    }
    void TearDown() override {
        if (!image_.empty()) {
            remove_rbd_image("rbd", image_);
        }
    }

    RbdOptions options(uint64_t size = 64 * mib) const {
        RbdOptions o;
        o.pool = "rbd";
        o.image = image_;
        o.ceph_conf = rbd_test_conf();
        o.create = true;
        o.size_bytes = size;
        o.timeout_s = 10;
        return o;
    }
    std::shared_ptr<RbdStore> open_store(const RbdOptions& o) {
        std::string error;
        auto store = RbdStore::open(o, error);
        EXPECT_NE(store, nullptr) << error;
        return store;
    }
    std::shared_ptr<RbdStore> open_store() { return open_store(options()); }

    std::string image_;
};

TEST_F(RbdStoreTest, CreatesAThinImageAndReopensItWithItsSize) {
    auto store = open_store();
    ASSERT_NE(store, nullptr);
    EXPECT_EQ(store->size_bytes(), 64 * mib);
    EXPECT_EQ(store->kind(), "rbd");
    EXPECT_EQ(store->allocation_unit(), object);
    EXPECT_TRUE(store->compares_in_store());
    EXPECT_TRUE(store->blocking());
    ASSERT_NE(store->shared_records(), nullptr);  // the image's records, for every gateway
    bool written = false;
    uint64_t version = 0;
    ASSERT_TRUE(store->shared_records()->write_if("probe", "x", 0, written, version).ok());
    EXPECT_TRUE(written);
    EXPECT_NE(store->io_context(), nullptr);
    EXPECT_EQ(store->image_name(), image_);
    EXPECT_EQ(store->allocated_bytes(), 0u);
    store.reset();

    // The image's size wins over `size` once it exists.
    RbdOptions again = options(128 * mib);
    auto reopened = open_store(again);
    ASSERT_NE(reopened, nullptr);
    EXPECT_EQ(reopened->size_bytes(), 64 * mib);
    again.create = false;
    auto third = open_store(again);
    ASSERT_NE(third, nullptr);
    EXPECT_EQ(third->size_bytes(), 64 * mib);
}

TEST_F(RbdStoreTest, RefusesAMissingImageWithoutCreateAndCreateWithoutSize) {
    RbdOptions o = options();
    o.create = false;
    std::string error;
    EXPECT_EQ(RbdStore::open(o, error), nullptr);
    EXPECT_NE(error.find("does not exist"), std::string::npos) << error;
    o.create = true;
    o.size_bytes = 0;
    EXPECT_EQ(RbdStore::open(o, error), nullptr);
    EXPECT_NE(error.find("size"), std::string::npos) << error;
    o = options();
    o.pool = "no-such-pool";
    EXPECT_EQ(RbdStore::open(o, error), nullptr);
    EXPECT_NE(error.find("no-such-pool"), std::string::npos) << error;
}

TEST_F(RbdStoreTest, NeverWrittenReadsZerosAndWritesReadBack) {
    auto store = open_store();
    ASSERT_NE(store, nullptr);
    std::vector<uint8_t> out(mib, 0xff);
    ASSERT_TRUE(store->read(3 * mib, out).ok());
    EXPECT_TRUE(all_zero(out));

    // 512 and 4096 bytes, at the image's start, inside an object and across an object boundary.
    const uint64_t offsets[] = {0, 512, object + 4096 * 5, object - 512, 2 * object - 2048};
    uint8_t seed = 1;
    for (uint64_t off : offsets) {
        for (size_t len : {size_t{512}, size_t{4096}}) {
            const auto data = rbd_test_pattern(len, seed++);
            ASSERT_TRUE(store->write(off, data, false).ok()) << off;
            std::vector<uint8_t> back(len);
            ASSERT_TRUE(store->read(off, back).ok());
            EXPECT_EQ(back, data) << "offset " << off << " length " << len;
        }
    }
    std::vector<uint8_t> beyond(512);
    EXPECT_EQ(store->read(64 * mib - 256, beyond).code, StoreErrc::out_of_range);
    EXPECT_EQ(store->write(64 * mib, beyond, false).code, StoreErrc::out_of_range);
}

TEST_F(RbdStoreTest, FuaAndFlushWritesAreSeenByAnotherClient) {
    auto one = open_store();
    ASSERT_NE(one, nullptr);
    auto two = open_store();
    ASSERT_NE(two, nullptr);
    const auto fua = rbd_test_pattern(4096, 9);
    ASSERT_TRUE(one->write(8192, fua, true).ok());
    std::vector<uint8_t> back(4096);
    ASSERT_TRUE(two->read(8192, back).ok());
    EXPECT_EQ(back, fua);

    const auto plain = rbd_test_pattern(512, 33);
    ASSERT_TRUE(one->write(mib, plain, false).ok());
    ASSERT_TRUE(one->flush().ok());
    std::vector<uint8_t> back2(512);
    ASSERT_TRUE(two->read(mib, back2).ok());
    EXPECT_EQ(back2, plain);
}

TEST_F(RbdStoreTest, UnmapZeroesPartsAndFreesObjectsAsGetLbaStatusSees) {
    auto store = open_store();
    ASSERT_NE(store, nullptr);
    bool mapped = true;
    uint64_t length = 0;
    ASSERT_TRUE(store->mapped_extent(0, 64 * mib, mapped, length).ok());
    EXPECT_FALSE(mapped);
    EXPECT_EQ(length, RbdStore::scan_objects * object < 64 * mib ? RbdStore::scan_objects * object
                                                                 : 64 * mib);

    const auto data = rbd_test_pattern(64 * 1024, 5);
    ASSERT_TRUE(store->write(object, data, false).ok());
    ASSERT_TRUE(store->write(3 * object + 4096, data, false).ok());
    ASSERT_TRUE(store->mapped_extent(0, 64 * mib, mapped, length).ok());
    EXPECT_FALSE(mapped);
    EXPECT_EQ(length, object);
    ASSERT_TRUE(store->mapped_extent(object, 64 * mib, mapped, length).ok());
    EXPECT_TRUE(mapped);
    EXPECT_EQ(length, data.size());  // an object is mapped up to its length
    ASSERT_TRUE(store->mapped_extent(object + 512, 1024, mapped, length).ok());
    EXPECT_TRUE(mapped);
    EXPECT_EQ(length, 1024u);
    ASSERT_TRUE(store->mapped_extent(object + data.size(), 64 * mib, mapped, length).ok());
    EXPECT_FALSE(mapped);
    EXPECT_EQ(length, 3 * object - (object + data.size()));  // up to object 3's start
    ASSERT_TRUE(store->mapped_extent(3 * object, 64 * mib, mapped, length).ok());
    EXPECT_TRUE(mapped);  // an object is mapped from its start
    EXPECT_EQ(length, 4096 + data.size());

    // A part smaller than the allocation unit reads as zeros at once; its neighbours stay.
    ASSERT_TRUE(store->unmap(object + 512, 512).ok());
    std::vector<uint8_t> back(2048);
    ASSERT_TRUE(store->read(object, back).ok());
    for (size_t i = 0; i < back.size(); ++i) {
        const uint8_t want = i >= 512 && i < 1024 ? 0 : data[i];
        ASSERT_EQ(back[i], want) << i;
    }
    // A whole object leaves the map.
    ASSERT_TRUE(store->unmap(object, object).ok());
    ASSERT_TRUE(store->mapped_extent(object, 64 * mib, mapped, length).ok());
    EXPECT_FALSE(mapped);
    EXPECT_EQ(length, 2 * object);
    std::vector<uint8_t> zeros(data.size());
    ASSERT_TRUE(store->read(object, zeros).ok());
    EXPECT_TRUE(all_zero(zeros));

    // allocated_bytes(): the remaining object, once the store's thread refreshed it.
    uint64_t allocated = store->allocated_bytes();
    for (int i = 0; i < 100 && allocated != 4096 + data.size(); ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        allocated = store->allocated_bytes();
    }
    EXPECT_EQ(allocated, 4096 + data.size());
    EXPECT_EQ(store->unmap(64 * mib - 512, 1024).code, StoreErrc::out_of_range);
}

// An UNMAP larger than one piece of RbdStore::unmap_objects objects, starting off an object.
TEST_F(RbdStoreTest, UnmapOfManyObjectsZeroesThemAll) {
    const uint64_t piece = RbdStore::unmap_objects * object;
    auto store = open_store(options(2 * piece + 4 * object));
    ASSERT_NE(store, nullptr);
    const auto data = rbd_test_pattern(4096, 21);
    const uint64_t offsets[] = {object, piece - 4096, piece, 2 * piece + 8192};
    for (uint64_t off : offsets) {
        ASSERT_TRUE(store->write(off, data, false).ok());
    }
    ASSERT_TRUE(store->unmap(object + 512, 2 * piece + 2 * object).ok());
    std::vector<uint8_t> back(4096);
    ASSERT_TRUE(store->read(object, back).ok());
    EXPECT_TRUE(std::equal(back.begin(), back.begin() + 512, data.begin()));
    EXPECT_TRUE(std::all_of(back.begin() + 512, back.end(), [](uint8_t b) { return b == 0; }));
    for (uint64_t off : {piece - 4096, piece, 2 * piece + 8192}) {
        ASSERT_TRUE(store->read(off, back).ok());
        EXPECT_TRUE(all_zero(back)) << off;
        bool mapped = true;
        uint64_t length = 0;
        ASSERT_TRUE(store->mapped_extent(off, 4096, mapped, length).ok());
        EXPECT_FALSE(mapped) << off;
    }
}

TEST_F(RbdStoreTest, GrowsButNeverShrinks) {
    auto store = open_store();
    ASSERT_NE(store, nullptr);
    ASSERT_TRUE(store->grow(128 * mib).ok());
    EXPECT_EQ(store->size_bytes(), 128 * mib);
    std::vector<uint8_t> out(4096, 0xff);
    ASSERT_TRUE(store->read(128 * mib - 4096, out).ok());
    EXPECT_TRUE(all_zero(out));
    const auto data = rbd_test_pattern(4096, 77);
    ASSERT_TRUE(store->write(128 * mib - 4096, data, false).ok());
    EXPECT_EQ(store->grow(64 * mib).code, StoreErrc::out_of_range);
    EXPECT_EQ(store->size_bytes(), 128 * mib);
    auto other = open_store();
    ASSERT_NE(other, nullptr);
    EXPECT_EQ(other->size_bytes(), 128 * mib);
}

TEST_F(RbdStoreTest, CompareAndWriteMatchWrites) {
    auto store = open_store();
    ASSERT_NE(store, nullptr);
    const auto old_data = rbd_test_pattern(512, 3);
    const auto new_data = rbd_test_pattern(512, 4);
    ASSERT_TRUE(store->write(object + 4096, old_data, false).ok());
    uint64_t first = 12345;
    ASSERT_TRUE(store->compare_and_write(object + 4096, old_data, new_data, false, first).ok());
    EXPECT_EQ(first, 12345u);
    std::vector<uint8_t> back(512);
    ASSERT_TRUE(store->read(object + 4096, back).ok());
    EXPECT_EQ(back, new_data);
    // The same compare now misses: the first byte differs.
    const Status s = store->compare_and_write(object + 4096, old_data, new_data, true, first);
    EXPECT_EQ(s.code, StoreErrc::miscompare);
    EXPECT_EQ(first, 0u);
}

// The first differing byte is exact wherever the request sits in its object (librbd 16.2's
// compare-and-write reports it from the object's start: CEPH.md).
TEST_F(RbdStoreTest, CompareAndWriteMismatchOffsetIsExact) {
    auto store = open_store();
    ASSERT_NE(store, nullptr);
    const uint64_t offsets[] = {0, 512, object + 4096 * 3 + 512, 2 * object - 4096,
                                5 * object + 65536};
    for (uint64_t off : offsets) {
        for (size_t len : {size_t{512}, size_t{4096}}) {
            const auto current = rbd_test_pattern(len, static_cast<uint8_t>(off / 512 + len));
            ASSERT_TRUE(store->write(off, current, false).ok());
            for (size_t at : {size_t{0}, size_t{1}, size_t{511}, len - 1, len / 2 + 3}) {
                auto compare = current;
                compare[at] ^= 0x5a;
                uint64_t first = ~0ull;
                const auto data = rbd_test_pattern(len, 200);
                const Status s = store->compare_and_write(off, compare, data, false, first);
                EXPECT_EQ(s.code, StoreErrc::miscompare) << off << "+" << at;
                EXPECT_EQ(first, at) << "offset " << off << " length " << len;
                std::vector<uint8_t> back(len);
                ASSERT_TRUE(store->read(off, back).ok());
                EXPECT_EQ(back, current) << "a miscompare wrote at " << off;
            }
        }
    }
}

TEST_F(RbdStoreTest, CompareAndWriteOnNeverWrittenOrUnmappedBlocksComparesZeros) {
    auto store = open_store();
    ASSERT_NE(store, nullptr);
    const std::vector<uint8_t> zeros(4096, 0);
    const auto data = rbd_test_pattern(4096, 11);
    uint64_t first = 0;
    // The object does not exist: the compare sees zeros, the write creates it, atomically.
    ASSERT_TRUE(store->compare_and_write(7 * object + 8192, zeros, data, false, first).ok());
    std::vector<uint8_t> back(4096);
    ASSERT_TRUE(store->read(7 * object + 8192, back).ok());
    EXPECT_EQ(back, data);
    // A missing object compared against non-zero data: miscompare at the first non-zero byte.
    auto expect = zeros;
    expect[100] = 1;
    EXPECT_EQ(store->compare_and_write(9 * object + 512, expect, data, false, first).code,
              StoreErrc::miscompare);
    EXPECT_EQ(first, 100u);
    // Inside an existing object, beyond its end (never written there): zeros too.
    ASSERT_TRUE(store->compare_and_write(7 * object + mib, zeros, data, false, first).ok());
    // After unmap.
    ASSERT_TRUE(store->unmap(7 * object, object).ok());
    ASSERT_TRUE(store->compare_and_write(7 * object + 8192, zeros, data, false, first).ok());
    ASSERT_TRUE(store->read(7 * object + 8192, back).ok());
    EXPECT_EQ(back, data);
}

TEST_F(RbdStoreTest, CompareAndWriteRefusesWhatCannotBeOneOperation) {
    auto store = open_store();
    ASSERT_NE(store, nullptr);
    const std::vector<uint8_t> zeros(4096, 0);
    uint64_t first = 0;
    // Straddles objects 0 and 1: refused, nothing written.
    EXPECT_EQ(store->compare_and_write(object - 2048, zeros, zeros, false, first).code,
              StoreErrc::io_error);
    EXPECT_EQ(store->compare_and_write(64 * mib - 512, zeros, zeros, false, first).code,
              StoreErrc::out_of_range);
    EXPECT_EQ(store->compare_and_write(0, std::span(zeros).first(512), zeros, false, first).code,
              StoreErrc::io_error);
    EXPECT_EQ(store
                  ->compare_and_write(100, std::span(zeros).first(512), std::span(zeros).first(512),
                                      false, first)
                  .code,
              StoreErrc::io_error);
}

TEST_F(RbdStoreTest, ReadOnlyStoreRefusesWrites) {
    ASSERT_NE(open_store(), nullptr);
    RbdOptions o = options();
    o.read_only = true;
    o.create = false;
    auto store = open_store(o);
    ASSERT_NE(store, nullptr);
    const std::vector<uint8_t> zeros(512, 0);
    uint64_t first = 0;
    EXPECT_EQ(store->write(0, zeros, false).code, StoreErrc::read_only);
    EXPECT_EQ(store->unmap(0, 512).code, StoreErrc::read_only);
    EXPECT_EQ(store->compare_and_write(0, zeros, zeros, false, first).code, StoreErrc::read_only);
    std::vector<uint8_t> out(512);
    EXPECT_TRUE(store->read(0, out).ok());
}

// Two stores ("gateways", each its own librados client) race read + COMPARE AND WRITE
// increments of one counter from 4 threads each: none is lost.
TEST_F(RbdStoreTest, TwoGatewaysRacingCompareAndWriteLoseNoIncrement) {
    auto gateway_a = open_store();
    auto gateway_b = open_store();
    ASSERT_NE(gateway_a, nullptr);
    ASSERT_NE(gateway_b, nullptr);
    for (size_t block : {size_t{512}, size_t{4096}}) {
        const uint64_t offset = 2 * object + 8 * block;
        std::atomic<uint64_t> succeeded{0};
        std::atomic<uint64_t> miscompared{0};
        std::atomic<uint64_t> failed{0};
        constexpr int per_thread = 150;
        const auto start = std::chrono::steady_clock::now();
        std::vector<std::thread> threads;
        for (int t = 0; t < 8; ++t) {
            RbdStore* store = (t % 2 == 0 ? gateway_a : gateway_b).get();
            threads.emplace_back([&, store] {
                std::vector<uint8_t> current(block);
                std::vector<uint8_t> next(block);
                for (int i = 0; i < per_thread; ++i) {
                    if (!store->read(offset, current).ok()) {
                        ++failed;
                        continue;
                    }
                    uint64_t counter = 0;
                    std::memcpy(&counter, current.data(), sizeof(counter));
                    next = current;
                    ++counter;
                    std::memcpy(next.data(), &counter, sizeof(counter));
                    uint64_t first = 0;
                    const Status s = store->compare_and_write(offset, current, next, false, first);
                    if (s.ok()) {
                        ++succeeded;
                    } else if (s.code == StoreErrc::miscompare) {
                        ++miscompared;
                        EXPECT_LT(first, 8u);  // only the counter's bytes ever change
                    } else {
                        ++failed;
                    }
                }
            });
        }
        for (auto& t : threads) {
            t.join();
        }
        const double seconds =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        std::vector<uint8_t> final_block(block);
        ASSERT_TRUE(gateway_a->read(offset, final_block).ok());
        uint64_t counter = 0;
        std::memcpy(&counter, final_block.data(), sizeof(counter));
        EXPECT_EQ(failed.load(), 0u);
        EXPECT_EQ(counter, succeeded.load()) << "lost increments";
        EXPECT_GT(succeeded.load(), 0u);
        std::printf(
            "[ figures  ] %zu-byte CAS counter, 2 gateways x 4 threads: %llu ATS ok, "
            "%llu miscompares, %.0f ATS/s attempted, %.0f successful/s\n",
            block, static_cast<unsigned long long>(succeeded.load()),
            static_cast<unsigned long long>(miscompared.load()),
            (succeeded + miscompared) / seconds, succeeded / seconds);
    }
}

// WRITE through one gateway and COMPARE AND WRITE through another on the same 4096-byte block:
// every block ever read is one whole version (never half of one and half of another), and a
// compare that misses reports the first byte.
TEST_F(RbdStoreTest, WriteAndCompareAndWriteFromTwoGatewaysStayAtomic) {
    auto gateway_a = open_store();
    auto gateway_b = open_store();
    ASSERT_NE(gateway_a, nullptr);
    ASSERT_NE(gateway_b, nullptr);
    constexpr size_t block = 4096;
    const uint64_t offset = 3 * object + 16 * block;
    auto uniform = [](uint8_t v) { return std::vector<uint8_t>(block, v); };
    ASSERT_TRUE(gateway_a->write(offset, uniform(1), false).ok());
    std::atomic<bool> stop{false};
    std::atomic<uint64_t> torn{0};
    std::atomic<uint64_t> caw_ok{0};
    std::atomic<uint64_t> caw_missed{0};
    auto is_uniform = [](const std::vector<uint8_t>& v) {
        return std::all_of(v.begin(), v.end(), [&](uint8_t b) { return b == v[0]; });
    };
    std::vector<std::thread> threads;
    for (int t = 0; t < 2; ++t) {
        threads.emplace_back([&, t] {
            for (int i = 0; i < 300; ++i) {
                // Odd values from the writers, even ones from compare-and-write.
                EXPECT_TRUE(
                    gateway_a
                        ->write(offset, uniform(static_cast<uint8_t>(2 * (i + t) + 1)), i % 4 == 0)
                        .ok());
            }
        });
    }
    for (int t = 0; t < 2; ++t) {
        threads.emplace_back([&, t] {
            std::vector<uint8_t> current(block);
            for (int i = 0; !stop.load(); ++i) {
                ASSERT_TRUE(gateway_b->read(offset, current).ok());
                if (!is_uniform(current)) {
                    ++torn;
                    continue;
                }
                uint64_t first = ~0ull;
                const Status s = gateway_b->compare_and_write(
                    offset, current, uniform(static_cast<uint8_t>(2 * (i + t))), false, first);
                if (s.ok()) {
                    ++caw_ok;
                } else {
                    ASSERT_EQ(s.code, StoreErrc::miscompare) << to_string(s);
                    EXPECT_EQ(first, 0u);
                    ++caw_missed;
                }
            }
        });
    }
    threads[0].join();
    threads[1].join();
    stop = true;
    threads[2].join();
    threads[3].join();
    std::vector<uint8_t> last(block);
    ASSERT_TRUE(gateway_a->read(offset, last).ok());
    EXPECT_TRUE(is_uniform(last));
    EXPECT_EQ(torn.load(), 0u);
    EXPECT_GT(caw_ok.load() + caw_missed.load(), 0u);
    std::printf(
        "[ figures  ] WRITE vs COMPARE AND WRITE across gateways: %llu ATS ok, %llu "
        "miscompares, 0 torn\n",
        static_cast<unsigned long long>(caw_ok.load()),
        static_cast<unsigned long long>(caw_missed.load()));
}

// A measurement, not an assertion (STYLE.md: a benchmark measures, a test asserts): the figures
// the README and the report quote.
TEST_F(RbdStoreTest, ReportsLatencyFigures) {
    auto store = open_store();
    ASSERT_NE(store, nullptr);
    const auto data = rbd_test_pattern(4096, 1);
    constexpr int rounds = 200;
    auto time_it = [&](auto&& op) {
        const auto start = std::chrono::steady_clock::now();
        for (int i = 0; i < rounds; ++i) {
            op(i);
        }
        return std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start)
                   .count() /
               rounds;
    };
    const double write_us = time_it([&](int i) {
        ASSERT_TRUE(store->write(static_cast<uint64_t>(i) * 4096 * 3, data, false).ok());
    });
    const double fua_us = time_it([&](int i) {
        ASSERT_TRUE(store->write(static_cast<uint64_t>(i) * 4096 * 3, data, true).ok());
    });
    std::vector<uint8_t> out(4096);
    const double read_us = time_it(
        [&](int i) { ASSERT_TRUE(store->read(static_cast<uint64_t>(i) * 4096 * 3, out).ok()); });
    ASSERT_TRUE(store->write(object, data, false).ok());
    std::vector<uint8_t> current = data;
    std::vector<uint8_t> next = data;
    const double caw_us = time_it([&](int i) {
        next[0] = static_cast<uint8_t>(i + 1);
        uint64_t first = 0;
        ASSERT_TRUE(store->compare_and_write(object, current, next, false, first).ok());
        current = next;
    });
    std::printf(
        "[ figures  ] one thread, 4 KiB, mean latency: write %.0f us, FUA write %.0f us, "
        "read %.0f us, compare-and-write %.0f us\n",
        write_us, fua_us, read_us, caw_us);
}

// A cluster that does not answer stops open() with an error within about timeout_s.
TEST(RbdStoreOpen, UnreachableMonitorFailsWithinTheTimeout) {
    const auto dir =
        std::filesystem::temp_directory_path() / ("rbdstore-test-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    const auto conf = dir / "ceph.conf";
    {
        // Nothing listens on port 1 of loopback: the monitor never answers.
        std::ofstream out(conf);
        out << "[global]\nmon host = v1:127.0.0.1:1\nauth client required = none\n"
               "auth cluster required = none\nauth service required = none\n"
               "ms bind ipv6 = false\nlog file = /dev/null\n";
    }
    RbdOptions o;
    o.pool = "rbd";
    o.image = "never";
    o.ceph_conf = conf.string();
    o.timeout_s = 3;
    std::string error;
    const auto start = std::chrono::steady_clock::now();
    EXPECT_EQ(RbdStore::open(o, error), nullptr);
    const auto took = std::chrono::steady_clock::now() - start;
    EXPECT_NE(error.find("cannot connect"), std::string::npos) << error;
    // A bound on the hang, far from the measured time (about timeout_s), not a benchmark.
    EXPECT_LT(took, std::chrono::seconds(30)) << error;
    std::printf("[ figures  ] unreachable monitor: open() failed after %.1f s (timeout_s 3): %s\n",
                std::chrono::duration<double>(took).count(), error.c_str());

    o.ceph_conf = (dir / "missing.conf").string();
    EXPECT_EQ(RbdStore::open(o, error), nullptr);
    EXPECT_NE(error.find("missing.conf"), std::string::npos) << error;
    std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace atsarray::backend
