#include "backend/io_pool.hpp"

#include <atomic>
#include <stdexcept>
#include <thread>

#include <gtest/gtest.h>

namespace atsarray::backend {
namespace {

TEST(IoPoolTest, RunsAllSubmittedWorkAndJoinWaits) {
    IoPool pool(3);
    EXPECT_EQ(pool.threads(), 3u);
    std::atomic<int> done{0};
    constexpr int jobs = 1000;
    for (int i = 0; i < jobs; ++i) {
        pool.submit([&done] {
            std::this_thread::yield();
            done.fetch_add(1, std::memory_order_relaxed);
        });
    }
    pool.join();
    EXPECT_EQ(done.load(), jobs);
}

TEST(IoPoolTest, ZeroThreadsMeansOnePerCore) {
    IoPool pool(0);
    EXPECT_GE(pool.threads(), 1u);
}

TEST(IoPoolTest, WorkRunsOffTheCallingThread) {
    IoPool pool(1);
    std::thread::id ran_on;
    pool.submit([&ran_on] { ran_on = std::this_thread::get_id(); });
    pool.join();
    EXPECT_NE(ran_on, std::this_thread::get_id());
}

TEST(IoPoolTest, FollowUpWorkSubmittedDuringJoinRuns) {
    IoPool pool(2);
    std::atomic<int> steps{0};
    pool.submit([&pool, &steps] {
        steps.fetch_add(1);
        pool.submit([&steps] { steps.fetch_add(1); });
    });
    pool.join();
    EXPECT_EQ(steps.load(), 2);
}

TEST(IoPoolTest, WorkAfterJoinIsRefusedAndJoinIsIdempotent) {
    IoPool pool(1);
    pool.join();
    bool ran = false;
    pool.submit([&ran] { ran = true; });
    pool.join();
    EXPECT_FALSE(ran);
}

TEST(IoPoolTest, ThrowingWorkDoesNotStopThePool) {
    IoPool pool(1);
    std::atomic<int> done{0};
    pool.submit([] { throw std::runtime_error("boom"); });
    pool.submit([&done] { done.fetch_add(1); });
    pool.join();
    EXPECT_EQ(done.load(), 1);
}

TEST(IoPoolTest, DestructorDrainsQueue) {
    std::atomic<int> done{0};
    {
        IoPool pool(2);
        for (int i = 0; i < 100; ++i) {
            pool.submit([&done] { done.fetch_add(1); });
        }
    }
    EXPECT_EQ(done.load(), 100);
}

}  // namespace
}  // namespace atsarray::backend
