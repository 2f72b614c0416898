// How an esxi-sim host classifies an ATS miscompare once it has read the block again
// (tools/esxi_sim/miscompare.hpp), in the console's classes: its own set image is a late retry,
// the test image had no cause (a false or injected miscompare), anything else is genuine; a block
// it could not read is counted nowhere.
#include <gtest/gtest.h>

#include "tools/esxi_sim/miscompare.hpp"

namespace atsarray::sim {
namespace {

const Sector test_image(512, 0x11);
const Sector set_image(512, 0x22);

IoResult read_back(const Sector& data) {
    IoResult r;
    r.status = IoStatus::good;
    r.data = data;
    return r;
}

TEST(EsxiSimMiscompare, OwnSetImageIsALateRetry) {
    EXPECT_EQ(classify_miscompare(read_back(set_image), test_image, set_image),
              MiscompareClass::late_retry);
}

TEST(EsxiSimMiscompare, TestImageHadNoCause) {
    EXPECT_EQ(classify_miscompare(read_back(test_image), test_image, set_image),
              MiscompareClass::no_cause);
}

TEST(EsxiSimMiscompare, AnotherImageIsGenuine) {
    Sector other(test_image);
    other[20] = 0x12;  // another stamp
    EXPECT_EQ(classify_miscompare(read_back(other), test_image, set_image),
              MiscompareClass::genuine);
}

TEST(EsxiSimMiscompare, EachClassIsCountedOnceAndAnUnreadBlockNowhere) {
    HostStats stats;
    count_miscompare(stats, read_back(set_image), test_image, set_image);
    count_miscompare(stats, read_back(test_image), test_image, set_image);
    count_miscompare(stats, read_back(Sector(512, 0x33)), test_image, set_image);
    IoResult failed;
    failed.status = IoStatus::error;
    EXPECT_EQ(count_miscompare(stats, failed, test_image, set_image), MiscompareClass::unread);
    const HostCounters c = stats.counters();
    EXPECT_EQ(c.miscompares_late_retry, 1U);
    EXPECT_EQ(c.miscompares_no_cause, 1U);
    EXPECT_EQ(c.miscompares_genuine, 1U);
}

}  // namespace
}  // namespace atsarray::sim
