// Commands on a store that completes_async() (rbd, issue 15): READ, WRITE (FUA), SYNCHRONIZE
// CACHE and COMPARE AND WRITE start on the caller's thread and finish on the store's completion
// thread, never taking a worker; their status and sense are the synchronous path's; overlapping
// writes still go one after the other through the LBA lock table; ABORT TASK before the start
// ends in TASK ABORTED and after it changes nothing; WRITE ATOMIC is never seen torn by reads
// that hold no lock. The fake store completes every operation on a thread of its own after a
// delay, and can hold its completions, so the interleavings are forced, not hoped for.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <future>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

#include "backend/io_pool.hpp"
#include "tests/unit/scsi/scsi_test_support.hpp"

namespace atsarray::scsi::test {
namespace {

using namespace std::chrono_literals;

constexpr uint32_t block_size = 512;

class AsyncFakeStore : public backend::BlockStore {
  public:
    AsyncFakeStore(uint64_t size, std::chrono::microseconds delay)
        : data_(size), delay_(delay), thread_([this] { run(); }) {}
    ~AsyncFakeStore() override {
        {
            std::lock_guard lock(mutex_);
            stop_ = true;
            held_ = false;
        }
        cv_.notify_all();
        thread_.join();
    }

    uint64_t size_bytes() const override { return data_.size(); }
    bool blocking() const override { return true; }
    bool completes_async() const override { return true; }
    bool compares_in_store() const override { return true; }
    std::string kind() const override { return "async-fake"; }

    // The synchronous forms (the worker's path) go block by block, letting other threads in
    // between: a read that the barrier did not keep out would see half of a write.
    backend::Status read(uint64_t offset, std::span<uint8_t> out) override {
        ++sync_calls;
        return copy_out(offset, out);
    }
    backend::Status write(uint64_t offset, std::span<const uint8_t> in, bool fua) override {
        ++sync_calls;
        return copy_in(offset, in, fua);
    }
    backend::Status flush() override {
        ++sync_calls;
        return backend::Status::success();
    }
    backend::Status compare_and_write(uint64_t offset, std::span<const uint8_t> compare,
                                      std::span<const uint8_t> data, bool fua,
                                      uint64_t& first_difference) override {
        ++sync_calls;
        return compare_in(offset, compare, data, fua, first_difference);
    }

    void read_async(uint64_t offset, std::span<uint8_t> out, Done done) override {
        const auto failure = started();
        post([this, offset, out, failure, done = std::move(done)] {
            done(failure ? *failure : copy_out(offset, out));
        });
    }
    void write_async(uint64_t offset, std::span<const uint8_t> in, bool fua, Done done) override {
        const auto failure = started();
        begin_write(offset, in.size());
        post([this, offset, in, fua, failure, done = std::move(done)] {
            const backend::Status st = failure ? *failure : copy_in(offset, in, fua);
            end_write(offset);
            done(st);
        });
    }
    void flush_async(Done done) override {
        const auto failure = started();
        post([this, failure, done = std::move(done)] {
            ++flushes;
            done(failure ? *failure : backend::Status::success());
        });
    }
    void compare_and_write_async(uint64_t offset, std::span<const uint8_t> compare,
                                 std::span<const uint8_t> data, bool fua,
                                 CompareDone done) override {
        const auto failure = started();
        begin_write(offset, data.size());
        post([this, offset, compare, data, fua, failure, done = std::move(done)] {
            uint64_t first = 0;
            const backend::Status st =
                failure ? *failure : compare_in(offset, compare, data, fua, first);
            end_write(offset);
            done(st, first);
        });
    }

    // Completions wait until release(); hold() returns once `n` operations were started.
    void hold() {
        std::lock_guard lock(mutex_);
        held_ = true;
    }
    void release() {
        {
            std::lock_guard lock(mutex_);
            held_ = false;
        }
        cv_.notify_all();
    }
    void wait_started(int n) {
        std::unique_lock lock(mutex_);
        cv_.wait(lock, [&] { return async_calls >= n; });
    }
    void fail_next(backend::StoreErrc c) {
        std::lock_guard lock(mutex_);
        failure_ = backend::Status::error(c, 5);
    }
    std::vector<uint8_t> block(uint64_t lba) {
        std::lock_guard lock(data_mutex_);
        const auto at = data_.begin() + static_cast<std::ptrdiff_t>(lba * block_size);
        return {at, at + block_size};
    }
    std::thread::id completion_thread() const { return thread_.get_id(); }

    int async_calls = 0;  // guarded by mutex_
    std::atomic<int> sync_calls{0};
    std::atomic<int> flushes{0};
    std::atomic<int> writes{0};
    std::atomic<int> overlapping_writes{0};  // two writes of one block in flight at once
    std::atomic<bool> last_fua{false};

  private:
    std::optional<backend::Status> started() {
        std::lock_guard lock(mutex_);
        ++async_calls;
        cv_.notify_all();
        return std::exchange(failure_, std::nullopt);
    }
    void begin_write(uint64_t offset, size_t length) {
        std::lock_guard lock(mutex_);
        for (const auto& [at, n] : in_flight_) {
            if (at < offset + length && offset < at + n) {
                ++overlapping_writes;
            }
        }
        in_flight_.emplace_back(offset, length);
    }
    void end_write(uint64_t offset) {
        std::lock_guard lock(mutex_);
        in_flight_.erase(std::find_if(in_flight_.begin(), in_flight_.end(),
                                      [&](const auto& w) { return w.first == offset; }));
    }
    void post(std::function<void()> job) {
        {
            std::lock_guard lock(mutex_);
            queue_.emplace_back(std::chrono::steady_clock::now() + delay_, std::move(job));
        }
        cv_.notify_all();
    }
    void run() {
        std::unique_lock lock(mutex_);
        for (;;) {
            cv_.wait(lock, [&] { return stop_ || (!held_ && !queue_.empty()); });
            if (queue_.empty()) {
                return;  // stopping
            }
            auto [due, job] = std::move(queue_.front());
            queue_.pop_front();
            lock.unlock();
            std::this_thread::sleep_until(due);
            job();
            lock.lock();
        }
    }
    backend::Status copy_out(uint64_t offset, std::span<uint8_t> out) {
        if (offset + out.size() > data_.size()) {
            return backend::Status::error(backend::StoreErrc::out_of_range);
        }
        for (size_t done = 0; done < out.size(); done += block_size) {
            {
                std::lock_guard lock(data_mutex_);
                std::copy_n(data_.begin() + static_cast<std::ptrdiff_t>(offset + done),
                            std::min<size_t>(block_size, out.size() - done), out.begin() + done);
            }
            std::this_thread::yield();
        }
        return backend::Status::success();
    }
    backend::Status copy_in(uint64_t offset, std::span<const uint8_t> in, bool fua) {
        ++writes;
        last_fua = fua;
        if (offset + in.size() > data_.size()) {
            return backend::Status::error(backend::StoreErrc::out_of_range);
        }
        for (size_t done = 0; done < in.size(); done += block_size) {
            {
                std::lock_guard lock(data_mutex_);
                const size_t n = std::min<size_t>(block_size, in.size() - done);
                std::copy_n(in.begin() + static_cast<std::ptrdiff_t>(done), n,
                            data_.begin() + static_cast<std::ptrdiff_t>(offset + done));
            }
            std::this_thread::yield();
        }
        return backend::Status::success();
    }
    backend::Status compare_in(uint64_t offset, std::span<const uint8_t> compare,
                               std::span<const uint8_t> data, bool fua, uint64_t& first) {
        std::lock_guard lock(data_mutex_);
        const auto at = data_.begin() + static_cast<std::ptrdiff_t>(offset);
        const auto [medium, expected] =
            std::mismatch(at, at + static_cast<std::ptrdiff_t>(compare.size()), compare.begin());
        if (expected != compare.end()) {
            first = static_cast<uint64_t>(expected - compare.begin());
            return backend::Status::error(backend::StoreErrc::miscompare);
        }
        ++writes;
        last_fua = fua;
        std::copy(data.begin(), data.end(), at);
        return backend::Status::success();
    }

    std::mutex data_mutex_;
    std::vector<uint8_t> data_;
    std::chrono::microseconds delay_;
    std::mutex mutex_;
    std::condition_variable cv_;
    std::deque<std::pair<std::chrono::steady_clock::time_point, std::function<void()>>> queue_;
    std::vector<std::pair<uint64_t, size_t>> in_flight_;
    std::optional<backend::Status> failure_;
    bool held_ = false;
    bool stop_ = false;
    std::thread thread_;  // last: started once the rest exists
};

// One command in flight: owns its buffers until its completion arrives.
struct Pending {
    Pending(std::vector<uint8_t> c, std::vector<uint8_t> out)
        : cdb_bytes(std::move(c)), data_out(std::move(out)) {
        cmd.cdb = cdb_bytes;
        cmd.data_out = data_out;
        cmd.expected_transfer_length =
            data_out.empty() ? 65536u : static_cast<uint32_t>(data_out.size());
        cmd.direction = data_out.empty() ? DataDirection::from_device : DataDirection::to_device;
        cmd.data_in = &data_in;
        future = done.get_future();
    }
    std::vector<uint8_t> cdb_bytes;
    std::vector<uint8_t> data_out;
    std::vector<uint8_t> data_in;
    std::vector<uint8_t> sense;
    std::thread::id completed_on;
    Command cmd;
    std::promise<Status> done;
    std::future<Status> future;

    bool finished() { return future.wait_for(0s) == std::future_status::ready; }
    Status wait() { return future.get(); }
};

std::vector<uint8_t> rw16(uint8_t opcode, uint64_t lba, uint32_t blocks, uint8_t byte1 = 0) {
    auto c = cdb16({opcode, byte1});
    for (int i = 0; i < 8; ++i) {
        c[2 + i] = static_cast<uint8_t>(lba >> (56 - 8 * i));
    }
    c[10] = static_cast<uint8_t>(blocks >> 24);
    c[11] = static_cast<uint8_t>(blocks >> 16);
    c[12] = static_cast<uint8_t>(blocks >> 8);
    c[13] = static_cast<uint8_t>(blocks);
    return c;
}

std::vector<uint8_t> read16(uint64_t lba, uint32_t blocks) {
    return rw16(0x88, lba, blocks);
}
std::vector<uint8_t> write16(uint64_t lba, uint32_t blocks, uint8_t byte1 = 0) {
    return rw16(0x8A, lba, blocks, byte1);
}
std::vector<uint8_t> caw(uint64_t lba) {
    auto c = rw16(0x89, lba, 0);
    c[13] = 1;
    return c;
}
std::vector<uint8_t> write_atomic16(uint64_t lba, uint16_t blocks) {
    auto c = rw16(0x9C, lba, 0);
    c[12] = static_cast<uint8_t>(blocks >> 8);
    c[13] = static_cast<uint8_t>(blocks);
    return c;
}
std::vector<uint8_t> filled(uint8_t v, size_t n = block_size) {
    return std::vector<uint8_t>(n, v);
}
std::vector<uint8_t> concat(std::vector<uint8_t> a, const std::vector<uint8_t>& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
}

class AsyncStore : public ::testing::Test {
  protected:
    explicit AsyncStore(std::chrono::microseconds delay = 2ms)
        : store_(std::make_shared<AsyncFakeStore>(1024 * block_size, delay)),
          lun_(std::make_shared<Lun>(default_settings(0, 1024), store_,
                                     [this](std::function<void()> job) {
                                         ++worker_jobs_;
                                         pool_.submit(std::move(job));
                                     })) {}
    ~AsyncStore() override { pool_.join(); }

    std::unique_ptr<Pending> start(std::vector<uint8_t> cdb, std::vector<uint8_t> data_out = {}) {
        auto p = std::make_unique<Pending>(std::move(cdb), std::move(data_out));
        lun_->execute(p->cmd, [raw = p.get()](Command& c) {
            auto v = c.sense.view();
            raw->sense.assign(v.begin(), v.end());
            raw->completed_on = std::this_thread::get_id();
            raw->done.set_value(c.status);
        });
        return p;
    }

    std::atomic<int> worker_jobs_{0};
    backend::IoPool pool_{4};
    std::shared_ptr<AsyncFakeStore> store_;
    std::shared_ptr<Lun> lun_;
};

uint8_t key(const Pending& p) {
    return p.sense.size() > 2 ? p.sense[2] & 0x0F : 0xFF;
}
uint8_t asc(const Pending& p) {
    return p.sense.size() > 12 ? p.sense[12] : 0xFF;
}
uint32_t information(const Pending& p) {
    return p.sense.size() > 6 ? (uint32_t{p.sense[3]} << 24) | (uint32_t{p.sense[4]} << 16) |
                                    (uint32_t{p.sense[5]} << 8) | p.sense[6]
                              : 0xFFFFFFFF;
}

TEST_F(AsyncStore, ReadWriteAndFlushFinishOnTheStoresThreadWithoutAWorker) {
    const auto data = concat(filled(0x11), filled(0x22));
    auto write = start(write16(5, 2), data);
    EXPECT_EQ(write->wait(), Status::good);
    EXPECT_EQ(write->completed_on, store_->completion_thread());
    EXPECT_FALSE(store_->last_fua);

    auto read = start(read16(5, 2));
    EXPECT_EQ(read->wait(), Status::good);
    EXPECT_EQ(read->data_in, data);
    EXPECT_EQ(read->completed_on, store_->completion_thread());

    auto sync = start(cdb16({0x35, 0, 0, 0, 0, 0, 0, 0, 0, 0}));  // SYNCHRONIZE CACHE(10)
    EXPECT_EQ(sync->wait(), Status::good);
    EXPECT_EQ(store_->flushes, 1);

    EXPECT_EQ(worker_jobs_, 0);
    EXPECT_EQ(store_->sync_calls, 0);
}

TEST_F(AsyncStore, FuaWritesThrough) {
    auto write = start(write16(0, 1, 0x08), filled(1));
    EXPECT_EQ(write->wait(), Status::good);
    EXPECT_TRUE(store_->last_fua);
}

TEST_F(AsyncStore, StoreErrorsGiveTheSynchronousPathsSense) {
    store_->fail_next(backend::StoreErrc::io_error);
    auto read = start(read16(9, 1));
    EXPECT_EQ(read->wait(), Status::check_condition);
    EXPECT_EQ(key(*read), 0x03);  // MEDIUM ERROR, UNRECOVERED READ ERROR, INFORMATION = LBA
    EXPECT_EQ(asc(*read), 0x11);
    EXPECT_EQ(information(*read), 9u);

    store_->fail_next(backend::StoreErrc::io_error);
    auto write = start(write16(9, 1), filled(1));
    EXPECT_EQ(write->wait(), Status::check_condition);
    EXPECT_EQ(key(*write), 0x03);  // MEDIUM ERROR, WRITE ERROR
    EXPECT_EQ(asc(*write), 0x0C);

    // A cluster operation that timed out: BUSY, the host retries (SAM-5 §5.3.1).
    store_->fail_next(backend::StoreErrc::busy);
    EXPECT_EQ(start(write16(9, 1), filled(1))->wait(), Status::busy);
    store_->fail_next(backend::StoreErrc::busy);
    EXPECT_EQ(start(cdb16({0x35, 0, 0, 0, 0, 0, 0, 0, 0, 0}))->wait(), Status::busy);
    store_->fail_next(backend::StoreErrc::no_space);
    auto full = start(write16(9, 1), filled(1));
    EXPECT_EQ(full->wait(), Status::check_condition);
    EXPECT_EQ(key(*full), 0x07);  // DATA PROTECT, SPACE ALLOCATION FAILED WRITE PROTECT
    EXPECT_EQ(asc(*full), 0x27);
    EXPECT_EQ(worker_jobs_, 0);
}

// SBC-4 §5.3: the store compares and writes in one operation; a miscompare writes nothing and
// reports the first differing byte in INFORMATION.
TEST_F(AsyncStore, CompareAndWriteMatchesAndMiscompares) {
    auto first = start(caw(40), concat(filled(0), filled(0x33)));
    EXPECT_EQ(first->wait(), Status::good);
    EXPECT_EQ(store_->block(40), filled(0x33));

    auto compare = filled(0x33);
    compare[77] = 0x34;
    auto second = start(caw(40), concat(compare, filled(0x44)));
    EXPECT_EQ(second->wait(), Status::check_condition);
    EXPECT_EQ(key(*second), 0x0E);  // MISCOMPARE DURING VERIFY OPERATION
    EXPECT_EQ(asc(*second), 0x1D);
    EXPECT_TRUE((second->sense[0] & 0x80) != 0);
    EXPECT_EQ(information(*second), 77u);
    EXPECT_EQ(store_->block(40), filled(0x33));
    EXPECT_EQ(second->completed_on, store_->completion_thread());
    EXPECT_EQ(worker_jobs_, 0);
    EXPECT_EQ(store_->sync_calls, 0);
}

// Writers of one block still go one at a time, in arrival order: the LBA locks are held from
// before each operation starts until its completion.
TEST_F(AsyncStore, OverlappingWritesGoOneAfterTheOther) {
    std::vector<std::unique_ptr<Pending>> all;
    for (uint8_t i = 1; i <= 16; ++i) {
        all.push_back(i % 4 == 0 ? start(caw(7), concat(filled(i - 1), filled(i)))
                                 : start(write16(7, 1), filled(i)));
    }
    for (auto& p : all) {
        EXPECT_EQ(p->wait(), Status::good);
    }
    EXPECT_EQ(store_->overlapping_writes, 0);
    EXPECT_EQ(store_->block(7), filled(16));
}

// ABORT TASK (SAM-5): a command still waiting for its LBA locks never starts (TASK ABORTED); one
// whose operation is in flight completes as it would have.
TEST_F(AsyncStore, AbortBeforeTheStartEndsTheTaskAndAfterItChangesNothing) {
    store_->hold();
    auto in_flight = start(write16(50, 1), filled(1));
    store_->wait_started(1);
    auto waiting = start(write16(50, 1), filled(2));
    ASSERT_TRUE(in_flight->cmd.abort);
    ASSERT_TRUE(waiting->cmd.abort);
    in_flight->cmd.abort();
    waiting->cmd.abort();
    std::this_thread::sleep_for(20ms);
    EXPECT_FALSE(in_flight->finished());
    store_->release();
    EXPECT_EQ(in_flight->wait(), Status::good);
    EXPECT_EQ(waiting->wait(), Status::task_aborted);
    EXPECT_EQ(store_->block(50), filled(1));
    EXPECT_EQ(store_->writes, 1);

    auto later = start(write16(50, 1), filled(3));  // nothing leaked a lock
    EXPECT_EQ(later->wait(), Status::good);
    EXPECT_EQ(store_->block(50), filled(3));
}

class AsyncStoreNoDelay : public AsyncStore {
  protected:
    AsyncStoreNoDelay() : AsyncStore(0us) {}
};

// SBC-4 §4.29: a READ overlapping a WRITE ATOMIC sees all of it or none of it, though reads on
// this store hold no lock while in flight (Lun::enter_async_read).
TEST_F(AsyncStoreNoDelay, WriteAtomicIsNeverSeenTornByAsyncReads) {
    constexpr uint16_t blocks = 8;
    constexpr uint64_t lba = 100;
    std::atomic<bool> writing{true};
    std::atomic<int> torn{0};
    std::atomic<int> reads{0};
    std::thread writer([&] {
        for (int i = 0; i < 300; ++i) {
            const uint8_t v = i % 2 == 0 ? 0xAA : 0x55;
            EXPECT_EQ(start(write_atomic16(lba, blocks), filled(v, blocks * block_size))->wait(),
                      Status::good);
        }
        writing = false;
    });
    std::vector<std::thread> readers;
    for (int r = 0; r < 3; ++r) {
        readers.emplace_back([&] {
            while (writing) {
                auto read = start(read16(lba, blocks));
                EXPECT_EQ(read->wait(), Status::good);
                const auto& d = read->data_in;
                if (std::any_of(d.begin(), d.end(), [&](uint8_t b) { return b != d.front(); })) {
                    ++torn;
                }
                ++reads;
            }
        });
    }
    writer.join();
    for (auto& t : readers) {
        t.join();
    }
    EXPECT_EQ(torn, 0);
    EXPECT_GT(reads, 0);
}

}  // namespace
}  // namespace atsarray::scsi::test
