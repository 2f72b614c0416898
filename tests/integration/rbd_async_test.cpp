// RbdStore's asynchronous operations against a real Ceph cluster (issue 15): what the SCSI layer
// relies on when it starts READ, WRITE, SYNCHRONIZE CACHE and COMPARE AND WRITE without a worker
// (BlockStore::completes_async): every callback comes exactly once, never inline on the calling
// thread (not even for a request refused before it reached the cluster), with the synchronous
// call's status, and many operations are in flight at once. The cluster: ceph_conf_path() (the
// ctest fixture ceph_cluster's); skipped when there is none.

#include <gtest/gtest.h>
#include <rados/librados.h>
#include <rbd/librbd.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
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

// Collects the answers of asynchronous calls: how many came, on which threads, with what.
class Answers {
  public:
    BlockStore::Done done() {
        return [this](Status s) { add(s, 0); };
    }
    BlockStore::CompareDone compare_done() {
        return [this](Status s, uint64_t first) { add(s, first); };
    }
    // Waits for `n` answers (all of them, or the test fails on its timeout).
    void wait(size_t n) {
        std::unique_lock lock(mutex_);
        ASSERT_TRUE(cv_.wait_for(lock, std::chrono::seconds(60), [&] { return got_ >= n; }))
            << got_ << " of " << n << " answers";
    }
    size_t count() {
        std::lock_guard lock(mutex_);
        return got_;
    }
    Status status(size_t i) {
        std::lock_guard lock(mutex_);
        return statuses_.at(i);
    }
    uint64_t first_difference(size_t i) {
        std::lock_guard lock(mutex_);
        return first_.at(i);
    }
    bool any_on(std::thread::id id) {
        std::lock_guard lock(mutex_);
        for (auto t : threads_) {
            if (t == id) {
                return true;
            }
        }
        return false;
    }

  private:
    void add(Status s, uint64_t first) {
        std::lock_guard lock(mutex_);
        ++got_;
        statuses_.push_back(s);
        first_.push_back(first);
        threads_.push_back(std::this_thread::get_id());
        cv_.notify_all();
    }
    std::mutex mutex_;
    std::condition_variable cv_;
    size_t got_ = 0;
    std::vector<Status> statuses_;
    std::vector<uint64_t> first_;
    std::vector<std::thread::id> threads_;
};

class RbdAsyncTest : public ::testing::Test {
  protected:
    void SetUp() override {
        if (rbd_test_conf().empty()) {
            GTEST_SKIP() << "no Ceph cluster: set CEPH_CONF or run under ctest (fixture "
                            "ceph_cluster)";
        }
        const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
        image_ = std::string("rbdasync-") + info->name() + "-" + std::to_string(::getpid());
        remove_rbd_image("rbd", image_);
        RbdOptions o;
        o.pool = "rbd";
        o.image = image_;
        o.ceph_conf = rbd_test_conf();
        o.create = true;
        o.size_bytes = 64 * mib;
        o.timeout_s = 10;
        std::string error;
        store_ = RbdStore::open(o, error);
        ASSERT_NE(store_, nullptr) << error;
    }
    void TearDown() override {
        store_.reset();
        if (!image_.empty()) {
            remove_rbd_image("rbd", image_);
        }
    }

    std::string image_;
    std::shared_ptr<RbdStore> store_;
};

TEST_F(RbdAsyncTest, WritesReadsAndFlushesAnswerOnTheStoresThreads) {
    ASSERT_TRUE(store_->completes_async());
    const auto data = rbd_test_pattern(8192, 3);
    Answers answers;
    store_->write_async(object - 4096, data, false, answers.done());  // across two objects
    answers.wait(1);
    ASSERT_TRUE(answers.status(0).ok()) << to_string(answers.status(0));

    std::vector<uint8_t> back(data.size());
    store_->read_async(object - 4096, back, answers.done());
    store_->write_async(8 * mib, data, true, answers.done());  // FUA: write, then flush
    store_->flush_async(answers.done());
    answers.wait(4);
    for (size_t i = 0; i < 4; ++i) {
        EXPECT_TRUE(answers.status(i).ok()) << i << ": " << to_string(answers.status(i));
    }
    EXPECT_EQ(back, data);
    EXPECT_FALSE(answers.any_on(std::this_thread::get_id()));

    std::vector<uint8_t> fua_back(data.size());
    ASSERT_TRUE(store_->read(8 * mib, fua_back).ok());
    EXPECT_EQ(fua_back, data);
}

// A request refused before it reached the cluster still answers on another thread, so a caller
// holding a lock its callback takes again does not deadlock.
TEST_F(RbdAsyncTest, RefusalsAnswerOnAnotherThreadToo) {
    Answers answers;
    std::mutex caller_lock;
    std::vector<uint8_t> buffer(512);
    {
        std::lock_guard lock(caller_lock);
        store_->read_async(64 * mib, buffer, [&](Status s) {
            std::lock_guard again(caller_lock);
            answers.done()(s);
        });
        store_->write_async(64 * mib - 512, rbd_test_pattern(1024, 1), false, answers.done());
        store_->compare_and_write_async(object - 512, rbd_test_pattern(1024, 0),
                                        rbd_test_pattern(1024, 1), false,
                                        answers.compare_done());  // two objects
        EXPECT_EQ(answers.count(), 0u);
    }
    answers.wait(3);
    size_t out_of_range = 0;
    size_t invalid = 0;
    for (size_t i = 0; i < 3; ++i) {
        out_of_range += answers.status(i).code == StoreErrc::out_of_range ? 1 : 0;
        invalid += answers.status(i).code == StoreErrc::io_error ? 1 : 0;
    }
    EXPECT_EQ(out_of_range, 2u);
    EXPECT_EQ(invalid, 1u);
    EXPECT_FALSE(answers.any_on(std::this_thread::get_id()));
}

// SBC-4 §5.3 in the OSD: a match writes, a mismatch writes nothing and names the first differing
// byte of the request, wherever the request sits in its object (CEPH.md's offset quirk is
// librbd's, not RADOS cmpext's), for 512- and 4096-byte requests.
TEST_F(RbdAsyncTest, CompareAndWriteMatchesAndReportsTheExactMismatchOffset) {
    for (const uint64_t offset : {uint64_t{0}, uint64_t{3 * 4096}, object + 512 * 7}) {
        for (const size_t length : {size_t{512}, size_t{4096}}) {
            SCOPED_TRACE(std::to_string(offset) + "+" + std::to_string(length));
            const auto zero = std::vector<uint8_t>(length, 0);
            const auto first = rbd_test_pattern(length, static_cast<uint8_t>(offset + length));
            // Start from zeros (a never-written extent compares as zeros).
            ASSERT_TRUE(store_->write(offset, zero, false).ok());
            Answers answers;
            store_->compare_and_write_async(offset, zero, first, false, answers.compare_done());
            answers.wait(1);
            ASSERT_TRUE(answers.status(0).ok()) << to_string(answers.status(0));

            auto wrong = first;
            wrong[length - 3] ^= 0xFF;
            store_->compare_and_write_async(offset, wrong, zero, true, answers.compare_done());
            answers.wait(2);
            EXPECT_EQ(answers.status(1).code, StoreErrc::miscompare);
            EXPECT_EQ(answers.first_difference(1), length - 3);
            std::vector<uint8_t> back(length);
            ASSERT_TRUE(store_->read(offset, back).ok());
            EXPECT_EQ(back, first);  // nothing written

            uint64_t first_difference = 0;
            EXPECT_EQ(store_->compare_and_write(offset, wrong, zero, false, first_difference).code,
                      StoreErrc::miscompare);
            EXPECT_EQ(first_difference, length - 3);
        }
    }
}

// Queue depth: 64 writes and then 64 reads in flight at once, each answered once.
TEST_F(RbdAsyncTest, ManyOperationsInFlightAllAnswerOnce) {
    constexpr size_t depth = 64;
    std::vector<std::vector<uint8_t>> written;
    Answers writes;
    for (size_t i = 0; i < depth; ++i) {
        written.push_back(rbd_test_pattern(4096, static_cast<uint8_t>(i)));
    }
    for (size_t i = 0; i < depth; ++i) {
        store_->write_async(i * 65536, written[i], false, writes.done());
    }
    writes.wait(depth);
    std::vector<std::vector<uint8_t>> read(depth, std::vector<uint8_t>(4096));
    Answers reads;
    for (size_t i = 0; i < depth; ++i) {
        store_->read_async(i * 65536, read[i], reads.done());
    }
    reads.wait(depth);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    EXPECT_EQ(writes.count(), depth);
    EXPECT_EQ(reads.count(), depth);
    for (size_t i = 0; i < depth; ++i) {
        EXPECT_TRUE(writes.status(i).ok());
        EXPECT_TRUE(reads.status(i).ok());
        EXPECT_EQ(read[i], written[i]) << i;
    }
}

}  // namespace
}  // namespace atsarray::backend
