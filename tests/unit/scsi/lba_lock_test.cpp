// The LBA lock table in the command path (Lun): writers of a block never overlap, writers of
// other blocks do not wait, an aborted command that never started never executes, and nothing
// leaks a lock. A gate in the store holds a command inside its blocking step while the test
// sends others, so every interleaving here is forced, not hoped for.
#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <future>
#include <mutex>
#include <thread>

#include "backend/io_pool.hpp"
#include "tests/unit/scsi/scsi_test_support.hpp"

namespace atsarray::scsi::test {
namespace {

using namespace std::chrono_literals;

constexpr uint32_t block_size = 512;

// A thread-safe memory store where the first read or write at one byte offset can be held.
class GateStore : public backend::BlockStore {
  public:
    explicit GateStore(uint64_t size) : data_(size) {}

    uint64_t size_bytes() const override { return data_.size(); }
    bool blocking() const override { return true; }
    std::string kind() const override { return "gate"; }
    backend::Status flush() override { return backend::Status::success(); }

    backend::Status read(uint64_t offset, std::span<uint8_t> out) override {
        std::unique_lock lock(mutex_);
        wait_at_gate(lock, offset);
        std::copy_n(data_.begin() + static_cast<std::ptrdiff_t>(offset), out.size(), out.begin());
        return backend::Status::success();
    }
    backend::Status write(uint64_t offset, std::span<const uint8_t> in, bool) override {
        std::unique_lock lock(mutex_);
        wait_at_gate(lock, offset);
        ++writes_at_[offset];
        std::copy(in.begin(), in.end(), data_.begin() + static_cast<std::ptrdiff_t>(offset));
        return backend::Status::success();
    }
    backend::Status unmap(uint64_t offset, uint64_t length) override {
        std::unique_lock lock(mutex_);
        wait_at_gate(lock, offset);
        ++writes_at_[offset];
        std::fill_n(data_.begin() + static_cast<std::ptrdiff_t>(offset), length, 0);
        return backend::Status::success();
    }

    // The next call at `offset` stops until open().
    void close_at(uint64_t offset) {
        std::lock_guard lock(mutex_);
        gate_ = offset;
        held_ = false;
    }
    void wait_until_held() {
        std::unique_lock lock(mutex_);
        cv_.wait(lock, [this] { return held_; });
    }
    void open() {
        std::lock_guard lock(mutex_);
        gate_.reset();
        cv_.notify_all();
    }
    int writes_at(uint64_t offset) {
        std::lock_guard lock(mutex_);
        return writes_at_[offset];
    }
    std::vector<uint8_t> block(uint64_t lba) {
        std::lock_guard lock(mutex_);
        const auto at = data_.begin() + static_cast<std::ptrdiff_t>(lba * block_size);
        return {at, at + block_size};
    }

  private:
    // Holds the first call at the gate's offset; calls after it pass, so a command that got
    // past the lock table would show up in writes_at() while the first one is held.
    void wait_at_gate(std::unique_lock<std::mutex>& lock, uint64_t offset) {
        if (gate_ && *gate_ == offset && !held_) {
            held_ = true;
            cv_.notify_all();
            cv_.wait(lock, [this, offset] { return !gate_ || *gate_ != offset; });
        }
    }

    std::mutex mutex_;
    std::condition_variable cv_;
    std::optional<uint64_t> gate_;
    bool held_ = false;
    std::map<uint64_t, int> writes_at_;
    std::vector<uint8_t> data_;
};

// One command in flight: owns its buffers until its completion arrives.
struct Pending {
    Pending(std::vector<uint8_t> c, std::vector<uint8_t> out)
        : cdb_bytes(std::move(c)), data_out(std::move(out)) {
        cmd.cdb = cdb_bytes;
        cmd.data_out = data_out;
        cmd.expected_transfer_length = static_cast<uint32_t>(data_out.size());
        cmd.direction = DataDirection::to_device;
        cmd.data_in = &data_in;
        future = done.get_future();
    }
    std::vector<uint8_t> cdb_bytes;
    std::vector<uint8_t> data_out;
    std::vector<uint8_t> data_in;
    Command cmd;
    std::promise<Status> done;
    std::future<Status> future;

    bool finished() { return future.wait_for(0s) == std::future_status::ready; }
    Status wait() { return future.get(); }
};

std::vector<uint8_t> write16(uint64_t lba, uint32_t blocks) {
    auto c = cdb16({0x8A});
    for (int i = 0; i < 8; ++i) {
        c[2 + i] = static_cast<uint8_t>(lba >> (56 - 8 * i));
    }
    c[13] = static_cast<uint8_t>(blocks);
    return c;
}

std::vector<uint8_t> caw(uint64_t lba) {
    auto c = cdb16({0x89});
    for (int i = 0; i < 8; ++i) {
        c[2 + i] = static_cast<uint8_t>(lba >> (56 - 8 * i));
    }
    c[13] = 1;
    return c;
}

std::vector<uint8_t> filled(uint8_t v, size_t n = block_size) {
    return std::vector<uint8_t>(n, v);
}

std::vector<uint8_t> concat(std::vector<uint8_t> a, const std::vector<uint8_t>& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
}

class LbaLocks : public ::testing::Test {
  protected:
    LbaLocks()
        : store_(std::make_shared<GateStore>(1024 * block_size)),
          lun_(std::make_shared<Lun>(
              default_settings(0, 1024), store_,
              [this](std::function<void()> job) { pool_.submit(std::move(job)); })) {}

    std::unique_ptr<Pending> start(std::vector<uint8_t> cdb, std::vector<uint8_t> data_out) {
        auto p = std::make_unique<Pending>(std::move(cdb), std::move(data_out));
        lun_->execute(p->cmd, [raw = p.get()](Command& c) { raw->done.set_value(c.status); });
        return p;
    }

    backend::IoPool pool_{4};
    std::shared_ptr<GateStore> store_;
    std::shared_ptr<Lun> lun_;
};

// A WRITE to the block an ATS is comparing waits for the ATS; a WRITE elsewhere does not.
TEST_F(LbaLocks, WriteWaitsForTheAtsOnItsBlockOnly) {
    store_->close_at(10 * block_size);
    auto ats = start(caw(10), concat(filled(0), filled(0xAA)));
    store_->wait_until_held();  // the ATS is inside its compare read

    auto same = start(write16(10, 1), filled(0x55));
    auto other = start(write16(11, 1), filled(0x11));
    EXPECT_EQ(other->wait(), Status::good);  // unrelated blocks go on
    std::this_thread::sleep_for(50ms);
    EXPECT_FALSE(same->finished());
    EXPECT_EQ(store_->writes_at(10 * block_size), 0);  // nothing wrote between compare and write

    store_->open();
    EXPECT_EQ(ats->wait(), Status::good);
    EXPECT_EQ(same->wait(), Status::good);
    EXPECT_EQ(store_->block(10), filled(0x55));  // the ATS, then the WRITE: nothing lost
    EXPECT_EQ(store_->writes_at(10 * block_size), 2);
}

// The LUN's commands in flight (esxtop's ACTV, GET /targets): one inside the store and one
// waiting for its block's lock both count until their status is sent.
TEST_F(LbaLocks, CommandsInFlightCountUntilTheirStatus) {
    EXPECT_EQ(lun_->commands_in_flight(), 0U);
    store_->close_at(30 * block_size);
    auto first = start(write16(30, 1), filled(1));
    store_->wait_until_held();
    auto second = start(write16(30, 1), filled(2));
    EXPECT_EQ(lun_->commands_in_flight(), 2U);
    store_->open();
    EXPECT_EQ(first->wait(), Status::good);
    EXPECT_EQ(second->wait(), Status::good);
    EXPECT_EQ(lun_->commands_in_flight(), 0U);
}

// Two ATS with the same compare image: exactly one succeeds, the other miscompares.
TEST_F(LbaLocks, SecondAtsWithTheSameImageMiscompares) {
    store_->close_at(20 * block_size);
    auto first = start(caw(20), concat(filled(0), filled(1)));
    store_->wait_until_held();
    auto second = start(caw(20), concat(filled(0), filled(2)));
    std::this_thread::sleep_for(20ms);
    EXPECT_FALSE(second->finished());
    store_->open();
    EXPECT_EQ(first->wait(), Status::good);
    EXPECT_EQ(second->wait(), Status::check_condition);
    EXPECT_EQ(store_->block(20), filled(1));
}

// ABORT TASK of an ATS still waiting for its lock: it never executes, and the lock it was
// queued for is not leaked (a later ATS on the block runs at once).
TEST_F(LbaLocks, AbortedWaiterNeverExecutesAndLeaksNothing) {
    store_->close_at(30 * block_size);
    auto holder = start(caw(30), concat(filled(0), filled(1)));
    store_->wait_until_held();
    auto waiter = start(caw(30), concat(filled(1), filled(7)));  // would succeed if it ran
    ASSERT_TRUE(waiter->cmd.abort);
    waiter->cmd.abort();
    store_->open();
    EXPECT_EQ(holder->wait(), Status::good);
    EXPECT_EQ(waiter->wait(), Status::task_aborted);
    EXPECT_EQ(store_->block(30), filled(1));
    EXPECT_EQ(store_->writes_at(30 * block_size), 1);

    auto later = start(caw(30), concat(filled(1), filled(3)));
    EXPECT_EQ(later->wait(), Status::good);
    EXPECT_EQ(store_->block(30), filled(3));
}

// UNMAP locks every descriptor's range: one held block of the second range holds it all.
TEST_F(LbaLocks, UnmapWaitsForEveryRangeItCovers) {
    std::vector<uint8_t> list(8 + 2 * 16, 0);
    list[1] = static_cast<uint8_t>(list.size() - 2);
    list[3] = 32;
    list[8 + 7] = 100;  // LBA 100, 4 blocks
    list[8 + 11] = 4;
    list[24 + 7] = 200;  // LBA 200, 2 blocks
    list[24 + 11] = 2;
    auto unmap_cdb =
        std::vector<uint8_t>{0x42, 0, 0, 0, 0, 0, 0, 0, static_cast<uint8_t>(list.size()), 0};
    unmap_cdb.resize(16, 0);

    store_->close_at(201 * block_size);
    auto ats = start(caw(201), concat(filled(0), filled(9)));
    store_->wait_until_held();
    auto unmap = start(unmap_cdb, list);
    std::this_thread::sleep_for(50ms);
    EXPECT_FALSE(unmap->finished());
    EXPECT_EQ(store_->writes_at(100 * block_size), 0);  // not even the first range went ahead
    store_->open();
    EXPECT_EQ(ats->wait(), Status::good);
    EXPECT_EQ(unmap->wait(), Status::good);
    EXPECT_EQ(store_->block(201), filled(0));  // UNMAP came second
}

// Many writers and ATS on a few blocks from many threads: every command completes exactly
// once and the table is empty afterwards.
TEST_F(LbaLocks, StormLeavesNoLockBehind) {
    std::vector<std::unique_ptr<Pending>> all;
    for (int i = 0; i < 400; ++i) {
        const uint64_t lba = 40 + static_cast<uint64_t>(i % 3);
        if (i % 2 == 0) {
            all.push_back(start(caw(lba), concat(filled(0), filled(static_cast<uint8_t>(i)))));
        } else {
            all.push_back(start(write16(lba, 2), filled(0, 2 * block_size)));
        }
        if (i % 5 == 0) {
            all.back()->cmd.abort ? all.back()->cmd.abort() : void();
        }
    }
    for (auto& p : all) {
        const Status s = p->wait();
        EXPECT_TRUE(s == Status::good || s == Status::check_condition || s == Status::task_aborted);
    }
    const ats::LockTableStats stats = lun_->lock_table().stats();
    EXPECT_EQ(stats.waiting, 0U);
    auto probe = start(write16(40, 3), filled(4, 3 * block_size));
    EXPECT_EQ(probe->wait(), Status::good);
}

}  // namespace
}  // namespace atsarray::scsi::test
