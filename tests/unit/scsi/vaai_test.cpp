// COMPARE AND WRITE (SBC-4 §5.3, VMware ATS): success, miscompare with the offset of the first
// differing byte and nothing written, the CDB and Data-Out checks, FUA, what VPD B0 advertises,
// and atomicity against concurrent ATS and writes.

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "backend/memory_store.hpp"
#include "tests/unit/scsi/scsi_test_support.hpp"

namespace atsarray::scsi::test {
namespace {

using Vaai = LunFixture;

std::vector<uint8_t> caw(uint64_t lba, uint8_t blocks, uint8_t flags = 0) {
    std::vector<uint8_t> c(16, 0);
    c[0] = 0x89;
    c[1] = flags;
    for (int i = 0; i < 8; ++i) {
        c[2 + i] = static_cast<uint8_t>(lba >> (56 - 8 * i));
    }
    c[13] = blocks;
    return c;
}

std::vector<uint8_t> read16(uint64_t lba, uint32_t blocks) {
    std::vector<uint8_t> c(16, 0);
    c[0] = 0x88;
    for (int i = 0; i < 8; ++i) {
        c[2 + i] = static_cast<uint8_t>(lba >> (56 - 8 * i));
    }
    c[13] = static_cast<uint8_t>(blocks);
    return c;
}

std::vector<uint8_t> concat(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b) {
    std::vector<uint8_t> v(a);
    v.insert(v.end(), b.begin(), b.end());
    return v;
}

uint32_t information(const Result& r) {
    return (uint32_t{r.sense[3]} << 24) | (uint32_t{r.sense[4]} << 16) |
           (uint32_t{r.sense[5]} << 8) | r.sense[6];
}

TEST_F(Vaai, MatchingCompareWritesTheSecondHalf) {
    const auto a = pattern(512, 1);
    const auto b = pattern(512, 2);
    std::copy(a.begin(), a.end(), store->data().begin() + 5 * 512);
    const Result r = exec(caw(5, 1), concat(a, b));
    EXPECT_EQ(r.status, Status::good);
    EXPECT_EQ(r.data_out_wanted, 1024u);
    EXPECT_TRUE(std::equal(b.begin(), b.end(), store->data().begin() + 5 * 512));
    EXPECT_FALSE(store->last_fua);
}

TEST_F(Vaai, MiscompareReportsFirstDifferingByteAndWritesNothing) {
    const auto a = pattern(512, 1);
    std::copy(a.begin(), a.end(), store->data().begin() + 7 * 512);
    auto verify = a;
    verify[512 - 27] ^= 0xFF;
    verify[511] ^= 0xFF;  // a later difference does not matter
    const int writes = store->writes;
    const Result r = exec(caw(7, 1), concat(verify, pattern(512, 9)));
    EXPECT_CHECK(r, 0x0E, 0x1D, 0x00);
    ASSERT_GE(r.sense.size(), 7u);
    EXPECT_TRUE((r.sense[0] & 0x80) != 0) << "INFORMATION must be valid";
    EXPECT_EQ(information(r), 512u - 27);
    EXPECT_EQ(store->writes, writes);
    EXPECT_TRUE(std::equal(a.begin(), a.end(), store->data().begin() + 7 * 512));
}

TEST_F(Vaai, MiscompareAtTheFirstByteHasInformationZero) {
    auto verify = std::vector<uint8_t>(512, 0);
    verify[0] = 1;
    const Result r = exec(caw(0, 1), concat(verify, pattern(512, 3)));
    EXPECT_CHECK(r, 0x0E, 0x1D, 0x00);
    EXPECT_TRUE((r.sense[0] & 0x80) != 0);
    EXPECT_EQ(information(r), 0u);
}

// A medium shared with other gateways (RBD) compares and writes in one operation of its own:
// the LUN hands it the whole ATS instead of reading and writing, and answers what it says.
class ComparingStore : public FakeStore {
  public:
    using FakeStore::FakeStore;
    bool compares_in_store() const override { return true; }
    backend::Status compare_and_write(uint64_t offset, std::span<const uint8_t> compare,
                                      std::span<const uint8_t> in, bool fua,
                                      uint64_t& first_difference) override {
        ++compare_and_writes;
        if (busy) {
            return backend::Status::error(backend::StoreErrc::busy, ETIMEDOUT);
        }
        const auto at = data().begin() + static_cast<std::ptrdiff_t>(offset);
        const auto [differs, unused] = std::mismatch(compare.begin(), compare.end(), at);
        if (differs != compare.end()) {
            first_difference = static_cast<uint64_t>(differs - compare.begin());
            return backend::Status::error(backend::StoreErrc::miscompare);
        }
        last_fua = fua;
        std::copy(in.begin(), in.end(), at);
        return backend::Status::success();
    }
    int compare_and_writes = 0;
    bool busy = false;
};

TEST(VaaiInStore, TheMediumComparesAndWritesInOneOperation) {
    LunSettings s = default_settings();
    auto store = std::make_shared<ComparingStore>(s.block_count * s.block_size);
    auto lun = std::make_shared<Lun>(s, store);
    Nexus nexus;
    const auto a = pattern(512, 1);
    const auto b = pattern(512, 2);
    std::copy(a.begin(), a.end(), store->data().begin() + 3 * 512);

    Request ok;
    ok.cdb = caw(3, 1, 0x08);  // FUA
    ok.nexus = &nexus;
    ok.data_out = concat(a, b);
    EXPECT_EQ(run(*lun, ok).status, Status::good);
    EXPECT_EQ(store->compare_and_writes, 1);
    EXPECT_EQ(store->reads + store->writes, 0) << "the LUN must not compare by itself";
    EXPECT_TRUE(store->last_fua);
    EXPECT_TRUE(std::equal(b.begin(), b.end(), store->data().begin() + 3 * 512));

    // The medium's miscompare offset is the sense INFORMATION (SBC-4 §5.3).
    auto stale = a;
    stale[100] ^= 1;
    Request miss;
    miss.cdb = caw(3, 1);
    miss.nexus = &nexus;
    miss.data_out = concat(stale, pattern(512, 9));
    const Result r = run(*lun, miss);
    EXPECT_CHECK(r, 0x0E, 0x1D, 0x00);
    EXPECT_EQ(information(r), 0u) << "block 3 holds b now: the first byte already differs";
    EXPECT_TRUE(std::equal(b.begin(), b.end(), store->data().begin() + 3 * 512));
    auto later = b;
    later[100] ^= 1;
    miss.data_out = concat(later, pattern(512, 9));
    EXPECT_EQ(information(run(*lun, miss)), 100u);

    // A cluster operation that timed out: BUSY, so the host retries.
    store->busy = true;
    Request busy;
    busy.cdb = caw(3, 1);
    busy.nexus = &nexus;
    busy.data_out = concat(b, a);
    const Result rb = run(*lun, busy);
    EXPECT_EQ(rb.status, Status::busy);
    EXPECT_TRUE(rb.sense.empty());
}

TEST_F(Vaai, ZeroBlocksIsGoodAndTouchesNothing) {
    const Result r = exec(caw(3, 0), {}, 0);
    EXPECT_EQ(r.status, Status::good);
    EXPECT_EQ(store->reads + store->writes, 0);
}

TEST_F(Vaai, ZeroBlocksWithDataOutIsInvalidFieldAtByte13) {
    // What a wrapped 8-bit NUMBER OF LOGICAL BLOCKS (256 -> 0) looks like.
    const Result r = exec(caw(0, 0), std::vector<uint8_t>(2 * 256 * 512, 0));
    EXPECT_CHECK(r, 0x05, 0x24, 0x00);
    EXPECT_EQ(sks(r), (std::vector<uint8_t>{0xCF, 0x00, 13}));
    EXPECT_EQ(store->reads + store->writes, 0);
}

TEST_F(Vaai, MoreThanMaximumCompareAndWriteLengthIsInvalidFieldAtByte13) {
    const Result r = exec(caw(0, 2), std::vector<uint8_t>(4 * 512, 0));
    EXPECT_CHECK(r, 0x05, 0x24, 0x00);
    EXPECT_EQ(sks(r), (std::vector<uint8_t>{0xCF, 0x00, 13}));
    EXPECT_EQ(store->reads + store->writes, 0);
}

TEST_F(Vaai, AdvertisedLengthIsExactlyWhatIsAccepted) {
    const Result vpd = exec(cdb16({0x12, 0x01, 0xB0, 0x00, 0xFF, 0x00}));
    ASSERT_EQ(vpd.status, Status::good);
    ASSERT_GE(vpd.data.size(), 6u);
    const uint8_t max = vpd.data[5];
    ASSERT_GE(max, 1);
    const size_t half = size_t{max} * 512;
    EXPECT_EQ(exec(caw(0, max), std::vector<uint8_t>(2 * half, 0)).status, Status::good);
    const size_t over = size_t{max + 1u} * 512;
    EXPECT_CHECK(exec(caw(0, static_cast<uint8_t>(max + 1)), std::vector<uint8_t>(2 * over, 0)),
                 0x05, 0x24, 0x00);
}

TEST_F(Vaai, WrprotectIsInvalidField) {
    const Result r = exec(caw(0, 1, 0x20), std::vector<uint8_t>(1024, 0));
    EXPECT_CHECK(r, 0x05, 0x24, 0x00);
    EXPECT_EQ(sks(r), (std::vector<uint8_t>{0xCF, 0x00, 1}));
}

TEST_F(Vaai, ReservedBitsAreInvalidField) {
    auto c = caw(0, 1);
    c[11] = 0x01;  // reserved byte
    EXPECT_CHECK(exec(c, std::vector<uint8_t>(1024, 0)), 0x05, 0x24, 0x00);
}

TEST_F(Vaai, LbaOutOfRange) {
    EXPECT_CHECK(exec(caw(1024, 1), std::vector<uint8_t>(1024, 0)), 0x05, 0x21, 0x00);
    EXPECT_CHECK(exec(caw(~uint64_t{0}, 1), std::vector<uint8_t>(1024, 0)), 0x05, 0x21, 0x00);
    EXPECT_EQ(exec(caw(1023, 1), std::vector<uint8_t>(1024, 0)).status, Status::good);
}

TEST_F(Vaai, DataOutMustBeBothHalvesExactly) {
    const int writes = store->writes;
    // Only the verify half.
    EXPECT_CHECK(exec(caw(0, 1), std::vector<uint8_t>(512, 0)), 0x05, 0x0E, 0x03);
    // More than both halves.
    EXPECT_CHECK(exec(caw(0, 1), std::vector<uint8_t>(1536, 0)), 0x05, 0x0E, 0x03);
    // EDTL right, but the transport delivered less.
    EXPECT_CHECK(exec(caw(0, 1), std::vector<uint8_t>(512, 0), 1024), 0x05, 0x0E, 0x03);
    EXPECT_EQ(store->writes, writes);
}

TEST_F(Vaai, FuaAndDpoAreHonoured) {
    EXPECT_EQ(exec(caw(0, 1, 0x08), std::vector<uint8_t>(1024, 0)).status, Status::good);
    EXPECT_TRUE(store->last_fua);
    EXPECT_EQ(exec(caw(0, 1, 0x10), std::vector<uint8_t>(1024, 0)).status, Status::good);
    EXPECT_FALSE(store->last_fua);
}

TEST_F(Vaai, ReadOnlyLunIsWriteProtected) {
    auto s = default_settings();
    s.read_only = true;
    make_lun(s);
    EXPECT_CHECK(exec(caw(0, 1), std::vector<uint8_t>(1024, 0)), 0x07, 0x27, 0x00);
}

// Many initiators increment one counter with read + COMPARE AND WRITE, retrying on miscompare,
// while others write the neighbouring block: without atomic ATS an increment would be lost.
TEST(VaaiAtomicity, ConcurrentCompareAndWriteLosesNoIncrement) {
    auto settings = default_settings(0, 64);
    auto store = std::make_shared<backend::MemoryStore>(64 * 512);
    // The memory store never blocks, so commands run on the callers' threads: the lock must
    // hold there.
    auto lun = std::make_shared<Lun>(settings, store);
    constexpr int thread_count = 4;
    constexpr int increments = 200;
    std::atomic<int> miscompares{0};
    auto increment = [&](int id) {
        Nexus nexus{static_cast<uint64_t>(id + 1), "iqn.test:i", "iqn.test:i,i,0x1", "", 1};
        for (int done = 0; done < increments;) {
            Request read;
            read.cdb = read16(3, 1);
            read.nexus = &nexus;
            const Result current = run(*lun, read);
            ASSERT_EQ(current.status, Status::good);
            uint64_t value = 0;
            std::memcpy(&value, current.data.data(), sizeof(value));
            auto next = current.data;
            const uint64_t incremented = value + 1;
            std::memcpy(next.data(), &incremented, sizeof(incremented));
            Request ats;
            ats.cdb = caw(3, 1);
            ats.nexus = &nexus;
            ats.data_out = concat(current.data, next);
            const Result r = run(*lun, ats);
            if (r.status == Status::good) {
                ++done;
            } else {
                ASSERT_EQ(r.key(), 0x0E);
                ++miscompares;
            }
            // A plain write to the next block, concurrently with the ATS of the others.
            Request w;
            w.cdb = cdb16({0x2A, 0, 0, 0, 0, 4, 0, 0, 1, 0});
            w.nexus = &nexus;
            w.data_out = pattern(512, static_cast<uint8_t>(id));
            EXPECT_EQ(run(*lun, w).status, Status::good);
        }
    };
    std::vector<std::thread> initiators;
    for (int i = 0; i < thread_count; ++i) {
        initiators.emplace_back(increment, i);
    }
    for (auto& t : initiators) {
        t.join();
    }
    std::vector<uint8_t> block(512);
    ASSERT_TRUE(store->read(3 * 512, block).ok());
    uint64_t value = 0;
    std::memcpy(&value, block.data(), sizeof(value));
    EXPECT_EQ(value, uint64_t{thread_count} * increments);
}

// The same with a blocking store: commands run on the blocking-work hook's threads.
TEST(VaaiAtomicity, CompareAndWriteOnTheBlockingHookIsAtomic) {
    auto settings = default_settings(0, 64);
    auto store = std::make_shared<FakeStore>(64 * 512, /*blocking=*/true);
    std::mutex workers_mutex;
    std::vector<std::thread> workers;
    auto lun = std::make_shared<Lun>(settings, store, [&](std::function<void()> work) {
        std::lock_guard lock(workers_mutex);
        workers.emplace_back(std::move(work));
    });
    // Fire many ATS, all expecting zeros and writing ones: exactly one may succeed.
    constexpr int command_count = 16;
    std::vector<Command> cmds(command_count);
    std::vector<std::vector<uint8_t>> data_in(command_count);
    const auto cdb = caw(9, 1);
    std::vector<uint8_t> payload(1024, 0);
    std::fill(payload.begin() + 512, payload.end(), 1);
    std::atomic<int> good{0};
    std::atomic<int> miscompare{0};
    Nexus nexus{1, "iqn.test:i", "iqn.test:i,i,0x1", "", 1};
    for (int i = 0; i < command_count; ++i) {
        Command& c = cmds[static_cast<size_t>(i)];
        c.cdb = cdb;
        c.nexus = &nexus;
        c.data_out = payload;
        c.expected_transfer_length = 1024;
        c.direction = DataDirection::to_device;
        c.data_in = &data_in[static_cast<size_t>(i)];
        lun->execute(c, [&](Command& done) {
            if (done.status == Status::good) {
                ++good;
            } else if (done.status == Status::check_condition) {
                ++miscompare;
            }
        });
    }
    // A command that queued for the block's lock is submitted when the holder releases it, from
    // the holder's worker: wait for every completion, then join the workers.
    while (good.load() + miscompare.load() < command_count) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    std::vector<std::thread> started;
    {
        std::lock_guard lock(workers_mutex);
        started.swap(workers);
    }
    for (auto& t : started) {
        t.join();
    }
    EXPECT_EQ(good.load(), 1);
    EXPECT_EQ(miscompare.load(), command_count - 1);
}

}  // namespace
}  // namespace atsarray::scsi::test
