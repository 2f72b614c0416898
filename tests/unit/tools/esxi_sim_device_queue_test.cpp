// esxi-sim's adaptive device queue depth (tools/esxi_sim/device_queue.hpp, VMware KB 1008113):
// halved after QFullSampleSize BUSY/TASK SET FULL answers, raised by one per QFullThreshold good
// answers, never below 1 or above DQLEN, and off with QFullSampleSize 0.
#include <gtest/gtest.h>

#include "tools/esxi_sim/device_queue.hpp"

namespace atsarray::sim {
namespace {

TEST(EsxiSimDeviceQueue, StartsAtDqlen) {
    AdaptiveQueueDepth q(32, 32, 8);
    EXPECT_EQ(q.depth(), 32);
    EXPECT_EQ(q.max_depth(), 32);
    EXPECT_FALSE(q.on_good());  // already at DQLEN
    EXPECT_EQ(q.depth(), 32);
}

TEST(EsxiSimDeviceQueue, HalvesAfterQFullSampleSizeAnswers) {
    AdaptiveQueueDepth q(32, 4, 2);
    for (int i = 0; i < 3; ++i) {
        EXPECT_FALSE(q.on_queue_full());
    }
    EXPECT_EQ(q.depth(), 32);
    EXPECT_TRUE(q.on_queue_full());
    EXPECT_EQ(q.depth(), 16);
    for (int i = 0; i < 4; ++i) {
        q.on_queue_full();
    }
    EXPECT_EQ(q.depth(), 8);
    EXPECT_EQ(q.halvings(), 2u);
    EXPECT_EQ(q.queue_full_answers(), 8u);
    EXPECT_EQ(q.min_depth_seen(), 8);
}

TEST(EsxiSimDeviceQueue, NeverBelowOne) {
    AdaptiveQueueDepth q(4, 1, 1);
    EXPECT_TRUE(q.on_queue_full());
    EXPECT_TRUE(q.on_queue_full());
    EXPECT_EQ(q.depth(), 1);
    EXPECT_FALSE(q.on_queue_full());
    EXPECT_EQ(q.depth(), 1);
    EXPECT_EQ(q.min_depth_seen(), 1);
}

TEST(EsxiSimDeviceQueue, RaisesSlowlyBackToDqlen) {
    AdaptiveQueueDepth q(8, 1, 3);
    ASSERT_TRUE(q.on_queue_full());
    ASSERT_EQ(q.depth(), 4);
    int good = 0;
    while (q.depth() < 8) {
        q.on_good();
        ++good;
        ASSERT_LT(good, 100);
    }
    EXPECT_EQ(good, 4 * 3);  // one step per QFullThreshold good answers
    EXPECT_EQ(q.raises(), 4u);
    EXPECT_FALSE(q.on_good());
    EXPECT_EQ(q.depth(), 8);
}

TEST(EsxiSimDeviceQueue, AQueueFullAnswerRestartsTheGoodCount) {
    AdaptiveQueueDepth q(8, 2, 3);
    q.on_queue_full();
    ASSERT_TRUE(q.on_queue_full());
    ASSERT_EQ(q.depth(), 4);
    q.on_good();
    q.on_good();
    EXPECT_FALSE(q.on_queue_full());  // one short of the sample size: no halving...
    EXPECT_FALSE(q.on_good());        // ...but the good answers count from zero again
    EXPECT_FALSE(q.on_good());
    EXPECT_TRUE(q.on_good());
    EXPECT_EQ(q.depth(), 5);
}

TEST(EsxiSimDeviceQueue, OffWithSampleSizeZero) {
    AdaptiveQueueDepth q(32, 0, 1);
    for (int i = 0; i < 100; ++i) {
        EXPECT_FALSE(q.on_queue_full());
    }
    EXPECT_EQ(q.depth(), 32);
    EXPECT_EQ(q.queue_full_answers(), 100u);
    EXPECT_EQ(q.halvings(), 0u);
}

}  // namespace
}  // namespace atsarray::sim
