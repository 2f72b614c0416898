// A READ the store can answer from its cache (BlockStore::read_nowait) and a WRITE it can take
// without waiting (write_nowait) complete on the caller's thread, without the blocking-work hook;
// one that would wait goes to the hook and runs there as before, having changed nothing.
#include <gtest/gtest.h>

#include <deque>
#include <functional>
#include <set>

#include "tests/unit/scsi/scsi_test_support.hpp"

namespace atsarray::scsi::test {
namespace {

constexpr uint32_t block_size = 512;

// A blocking store whose "cache" holds the blocks in `cached`.
class CachedStore : public FakeStore {
  public:
    CachedStore() : FakeStore(1024 * block_size, true) {}
    bool reads_without_waiting() const override { return true; }
    backend::Status read_nowait(uint64_t offset, std::span<uint8_t> out) override {
        ++nowait_calls;
        for (uint64_t b = offset / block_size; b < (offset + out.size()) / block_size; ++b) {
            if (cached.count(b) == 0) {
                return backend::Status::error(backend::StoreErrc::would_block);
            }
        }
        return read(offset, out);
    }
    bool writes_without_waiting() const override { return takes_writes; }
    backend::Status write_nowait(uint64_t offset, std::span<const uint8_t> in, bool fua) override {
        ++write_nowait_calls;
        last_nowait_fua = fua;
        if (!writes_fit) {
            return backend::Status::error(backend::StoreErrc::would_block);
        }
        return write(offset, in, fua);
    }
    std::set<uint64_t> cached;
    int nowait_calls = 0;
    bool takes_writes = false;
    bool writes_fit = true;
    int write_nowait_calls = 0;
    bool last_nowait_fua = false;
};

std::vector<uint8_t> read10(uint32_t lba, uint16_t blocks) {
    return cdb16({0x28, 0, static_cast<uint8_t>(lba >> 24), static_cast<uint8_t>(lba >> 16),
                  static_cast<uint8_t>(lba >> 8), static_cast<uint8_t>(lba), 0,
                  static_cast<uint8_t>(blocks >> 8), static_cast<uint8_t>(blocks), 0});
}

class NowaitRead : public ::testing::Test {
  protected:
    NowaitRead()
        : store(std::make_shared<CachedStore>()),
          lun(std::make_shared<Lun>(default_settings(), store, [this](std::function<void()> job) {
              jobs.push_back(std::move(job));
          })) {
        const std::vector<uint8_t> data = pattern(4 * block_size, 3);
        std::copy(data.begin(), data.end(), store->data().begin());
    }

    // Starts a command; its completion is recorded in `done`.
    void start(std::vector<uint8_t> cdb, std::vector<uint8_t> data_out = {}) {
        cmd.cdb = std::move(cdb);
        cmd.nexus = &nexus;
        out = std::move(data_out);  // the Command only points at it
        cmd.data_out = out;
        cmd.expected_transfer_length = out.empty() ? 65536u : static_cast<uint32_t>(out.size());
        cmd.data_in = &data_in;
        lun->execute(cmd, [this](Command& c) {
            ++done;
            status = c.status;
            auto v = c.sense.view();
            sense.assign(v.begin(), v.end());
        });
    }
    void run_jobs() {
        while (!jobs.empty()) {
            auto job = std::move(jobs.front());
            jobs.pop_front();
            job();
        }
    }

    Nexus nexus{7, "iqn.test:init", "iqn.test:init,i,0x1", "127.0.0.1:1", 1};
    std::shared_ptr<CachedStore> store;
    std::deque<std::function<void()>> jobs;
    std::shared_ptr<Lun> lun;
    Command cmd;
    std::vector<uint8_t> out;
    std::vector<uint8_t> data_in;
    int done = 0;
    Status status = Status::good;
    std::vector<uint8_t> sense;
};

TEST_F(NowaitRead, CachedReadCompletesWithoutTheBlockingHook) {
    store->cached = {0, 1};
    start(read10(0, 2));
    EXPECT_EQ(done, 1);  // answered before execute() returned
    EXPECT_TRUE(jobs.empty());
    EXPECT_EQ(status, Status::good);
    EXPECT_EQ(data_in,
              std::vector<uint8_t>(store->data().begin(), store->data().begin() + 2 * block_size));
    EXPECT_EQ(store->nowait_calls, 1);
}

TEST_F(NowaitRead, ReadThatWouldWaitGoesToTheBlockingHook) {
    store->cached = {0};
    start(read10(0, 2));  // block 1 is not cached
    EXPECT_EQ(done, 0);
    ASSERT_EQ(jobs.size(), 1U);
    run_jobs();
    EXPECT_EQ(done, 1);
    EXPECT_EQ(status, Status::good);
    EXPECT_EQ(data_in,
              std::vector<uint8_t>(store->data().begin(), store->data().begin() + 2 * block_size));
    EXPECT_EQ(store->nowait_calls, 1);
    EXPECT_EQ(store->reads, 1);  // the worker's read(); the cached try read nothing
}

TEST_F(NowaitRead, WritesOfAStoreThatCannotTellAndComparesNeverTryIt) {
    store->cached = {0, 1, 2, 3};
    std::vector<uint8_t> cdb = cdb16({0x2A, 0, 0, 0, 0, 2, 0, 0, 1, 0});  // WRITE(10) LBA 2
    start(cdb, std::vector<uint8_t>(block_size, 0x55));
    EXPECT_EQ(done, 0);
    run_jobs();
    EXPECT_EQ(done, 1);
    EXPECT_EQ(status, Status::good) << testing::PrintToString(sense);
    EXPECT_EQ(store->nowait_calls, 0);
    // COMPARE AND WRITE of LBA 2 reads to compare, under its locks, on the hook.
    std::vector<uint8_t> both(2 * block_size, 0x55);
    start(cdb16({0x89, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0}), both);
    run_jobs();
    EXPECT_EQ(done, 2);
    EXPECT_EQ(status, Status::good) << testing::PrintToString(sense);
    EXPECT_EQ(store->nowait_calls, 0);
}

std::vector<uint8_t> write10(uint32_t lba, uint16_t blocks, bool fua) {
    return cdb16({0x2A, static_cast<uint8_t>(fua ? 0x08 : 0), static_cast<uint8_t>(lba >> 24),
                  static_cast<uint8_t>(lba >> 16), static_cast<uint8_t>(lba >> 8),
                  static_cast<uint8_t>(lba), 0, static_cast<uint8_t>(blocks >> 8),
                  static_cast<uint8_t>(blocks), 0});
}

TEST_F(NowaitRead, WriteTheStoreTakesCompletesWithoutTheBlockingHook) {
    store->takes_writes = true;
    const std::vector<uint8_t> data = pattern(2 * block_size, 9);
    start(write10(5, 2, false), data);
    EXPECT_EQ(done, 1);  // answered before execute() returned
    EXPECT_TRUE(jobs.empty());
    EXPECT_EQ(status, Status::good) << testing::PrintToString(sense);
    EXPECT_EQ(store->write_nowait_calls, 1);
    EXPECT_FALSE(store->last_nowait_fua);
    EXPECT_EQ(std::vector<uint8_t>(store->data().begin() + 5 * block_size,
                                   store->data().begin() + 7 * block_size),
              data);
    // FUA reaches the store: it decides whether it can make the data stable without waiting.
    start(write10(5, 1, true), std::vector<uint8_t>(block_size, 0x11));
    EXPECT_EQ(store->write_nowait_calls, 2);
    EXPECT_TRUE(store->last_nowait_fua);
}

TEST_F(NowaitRead, WriteThatWouldWaitGoesToTheBlockingHook) {
    store->takes_writes = true;
    store->writes_fit = false;
    const std::vector<uint8_t> data = pattern(block_size, 4);
    start(write10(9, 1, false), data);
    EXPECT_EQ(done, 0);
    EXPECT_EQ(store->writes, 0);  // the try wrote nothing
    ASSERT_EQ(jobs.size(), 1U);
    run_jobs();
    EXPECT_EQ(done, 1);
    EXPECT_EQ(status, Status::good) << testing::PrintToString(sense);
    EXPECT_EQ(store->write_nowait_calls, 1);
    EXPECT_EQ(store->writes, 1);  // the worker's write()
    EXPECT_EQ(std::vector<uint8_t>(store->data().begin() + 9 * block_size,
                                   store->data().begin() + 10 * block_size),
              data);
}

TEST_F(NowaitRead, WriteWaitingForItsLocksGoesToTheBlockingHook) {
    // A write granted its LBA locks after waiting runs on the releasing command's thread: it
    // never tries there, it goes to a worker (Lun::lock_and_run).
    store->takes_writes = true;
    store->writes_fit = false;
    start(write10(12, 1, false), std::vector<uint8_t>(block_size, 1));  // holds LBA 12 on a job
    ASSERT_EQ(jobs.size(), 1U);
    store->writes_fit = true;
    Command second_cmd;
    std::vector<uint8_t> second_out(block_size, 2);
    const std::vector<uint8_t> second_cdb = write10(12, 1, false);
    second_cmd.cdb = second_cdb;
    second_cmd.nexus = &nexus;
    second_cmd.data_out = second_out;
    second_cmd.expected_transfer_length = block_size;
    int second_done = 0;
    Status second_status = Status::good;
    lun->execute(second_cmd, [&](Command& c) {
        ++second_done;
        second_status = c.status;
    });
    EXPECT_EQ(second_done, 0);                // queued for LBA 12
    EXPECT_EQ(store->write_nowait_calls, 1);  // only the first tried
    run_jobs();
    EXPECT_EQ(done, 1);
    EXPECT_EQ(second_done, 1);
    EXPECT_EQ(store->write_nowait_calls, 1);
    EXPECT_EQ(second_status, Status::good);
    EXPECT_EQ(store->data()[12 * block_size], 2);
}

// COMPARE AND WRITE of one block at `lba`: compare image `verify`, new image `data`.
std::vector<uint8_t> ats(uint32_t lba) {
    return cdb16({0x89, 0, 0, 0, 0, 0, static_cast<uint8_t>(lba >> 24),
                  static_cast<uint8_t>(lba >> 16), static_cast<uint8_t>(lba >> 8),
                  static_cast<uint8_t>(lba), 0, 0, 0, 1, 0, 0});
}

std::vector<uint8_t> ats_data(const std::vector<uint8_t>& verify, uint8_t fill) {
    std::vector<uint8_t> both = verify;
    both.resize(2 * block_size, fill);
    return both;
}

TEST_F(NowaitRead, CompareAndWriteTheStoreAnswersCompletesWithoutTheBlockingHook) {
    store->takes_writes = true;
    store->cached = {0, 1, 2, 3};
    const std::vector<uint8_t> before(store->data().begin() + block_size,
                                      store->data().begin() + 2 * block_size);
    start(ats(1), ats_data(before, 0x66));
    EXPECT_EQ(done, 1);
    EXPECT_TRUE(jobs.empty());
    EXPECT_EQ(status, Status::good) << testing::PrintToString(sense);
    EXPECT_EQ(store->data()[block_size], 0x66);
    // The same compare image again: the medium now holds 0x66, a miscompare, inline too.
    start(ats(1), ats_data(before, 0x77));
    EXPECT_EQ(done, 2);
    EXPECT_TRUE(jobs.empty());
    EXPECT_EQ(status, Status::check_condition);
    ASSERT_GE(sense.size(), 3U);
    EXPECT_EQ(sense[2] & 0x0F, 0x0E);  // MISCOMPARE
    EXPECT_EQ(store->data()[block_size], 0x66);
}

TEST_F(NowaitRead, CompareAndWriteWhoseWriteWouldWaitRunsWholeOnTheBlockingHook) {
    store->takes_writes = true;
    store->writes_fit = false;
    store->cached = {0, 1, 2, 3};
    const std::vector<uint8_t> before(store->data().begin() + 2 * block_size,
                                      store->data().begin() + 3 * block_size);
    start(ats(2), ats_data(before, 0x44));
    EXPECT_EQ(done, 0);
    EXPECT_EQ(store->writes, 0);
    ASSERT_EQ(jobs.size(), 1U);
    run_jobs();
    EXPECT_EQ(done, 1);
    EXPECT_EQ(status, Status::good) << testing::PrintToString(sense);
    EXPECT_EQ(store->writes, 1);
    EXPECT_EQ(store->data()[2 * block_size], 0x44);
}

TEST_F(NowaitRead, CompareAndWriteOfAnUncachedBlockRunsOnTheBlockingHook) {
    store->takes_writes = true;
    store->cached = {};
    const std::vector<uint8_t> before(store->data().begin() + 3 * block_size,
                                      store->data().begin() + 4 * block_size);
    start(ats(3), ats_data(before, 0x45));
    EXPECT_EQ(done, 0);
    EXPECT_EQ(store->write_nowait_calls, 0);
    run_jobs();
    EXPECT_EQ(done, 1);
    EXPECT_EQ(status, Status::good) << testing::PrintToString(sense);
    EXPECT_EQ(store->data()[3 * block_size], 0x45);
}

}  // namespace
}  // namespace atsarray::scsi::test
