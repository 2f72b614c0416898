// ATS accounting: exact counts per LUN and initiator merged across threads, the injected label,
// hot blocks with their last images, histograms and percentiles.
#include "target/ats/accounting.hpp"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

namespace atsarray::ats {
namespace {

TEST(Histogram, BucketsAreContiguousAndOrdered) {
    for (int i = 0; i + 1 < Histogram::bucket_count; ++i) {
        EXPECT_LT(Histogram::lower_bound(i), Histogram::lower_bound(i + 1)) << i;
        EXPECT_EQ(Histogram::bucket_of(Histogram::lower_bound(i)), i);
        EXPECT_EQ(Histogram::bucket_of(Histogram::lower_bound(i + 1) - 1), i);
    }
}

TEST(Histogram, PercentilesWithinABucket) {
    Histogram h;
    for (uint64_t v = 1; v <= 1000; ++v) {
        h.record(v);
    }
    EXPECT_EQ(h.count(), 1000U);
    EXPECT_EQ(h.max_micros(), 1000U);
    EXPECT_DOUBLE_EQ(h.mean_micros(), 500.5);
    const uint64_t p50 = h.percentile_micros(0.5);
    EXPECT_GE(p50, 500U);
    EXPECT_LE(p50, 500U * 5 / 4);
    EXPECT_EQ(h.percentile_micros(1.0), 1000U);
    EXPECT_EQ(Histogram{}.percentile_micros(0.99), 0U);
}

CommandRecord ats(std::string_view port, uint64_t lba, AtsResult result, bool injected = false) {
    CommandRecord r;
    r.target = "iqn.2026-11.org.atsarray:lab";
    r.lun = 0;
    r.initiator_name = "iqn.1998-01.com.vmware:esx1";
    r.initiator_port = port;
    r.address = "127.0.0.1:5000";
    r.op = Op::ats;
    r.latency_us = 100;
    r.lba = lba;
    r.ats_result = result;
    r.injected = injected;
    r.failed = result != AtsResult::success;
    return r;
}

TEST(Registry, CountsPerLunAndInitiatorAcrossThreads) {
    Registry reg;
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&reg, t] {
            const std::string port = "iqn.1998-01.com.vmware:esx" + std::to_string(t) + ",i,0x1";
            for (int i = 0; i < 1000; ++i) {
                reg.record(ats(port, 7, i % 10 == 0 ? AtsResult::miscompare : AtsResult::success));
            }
        });
    }
    for (auto& t : threads) {
        t.join();
    }
    const Snapshot s = reg.snapshot();
    const AtsCounters& lun = s.ats_per_lun.at({"iqn.2026-11.org.atsarray:lab", 0});
    EXPECT_EQ(lun.successes, 3600U);
    EXPECT_EQ(lun.miscompares, 400U);
    EXPECT_EQ(lun.latency_success.count(), 3600U);
    EXPECT_EQ(lun.latency_failure.count(), 400U);
    EXPECT_EQ(s.ats_per_initiator.size(), 4U);
    const auto& one = s.ats_per_initiator.at(
        {"iqn.2026-11.org.atsarray:lab", 0, "iqn.1998-01.com.vmware:esx2,i,0x1"});
    EXPECT_EQ(one.successes, 900U);
    EXPECT_EQ(one.miscompares, 100U);
    ASSERT_EQ(s.hot_blocks.size(), 1U);
    EXPECT_EQ(s.hot_blocks[0].lba, 7U);
    EXPECT_EQ(s.hot_blocks[0].miscompares, 400U);
    EXPECT_EQ(s.hot_blocks[0].initiators.size(), 4U);
    EXPECT_EQ(s.io_per_initiator.size(), 4U);
}

TEST(Registry, InjectedMiscomparesAreCountedApart) {
    Registry reg;
    reg.record(ats("p,i,0x1", 1, AtsResult::miscompare, true));
    reg.record(ats("p,i,0x1", 1, AtsResult::miscompare, false));
    reg.record(ats("p,i,0x1", 1, AtsResult::error));
    const auto s = reg.snapshot();
    const auto& lun = s.ats_per_lun.begin()->second;
    EXPECT_EQ(lun.miscompares, 1U);
    EXPECT_EQ(lun.injected_miscompares, 1U);
    EXPECT_EQ(lun.errors, 1U);
    EXPECT_EQ(lun.successes, 0U);
}

TEST(Registry, HotBlocksKeepTheLastImagesAndRankByMiscompares) {
    Registry reg;
    std::vector<uint8_t> expected(1024, 0x01);
    std::vector<uint8_t> actual(1024, 0x02);
    for (int i = 0; i < 3; ++i) {
        reg.record(ats("a,i,0x1", 100, AtsResult::miscompare));
    }
    CommandRecord r = ats("b,i,0x2", 200, AtsResult::miscompare);
    r.miscompare_offset = 12;
    r.expected = expected;
    r.actual = actual;
    reg.record(r);
    reg.record(ats("c,i,0x3", 300, AtsResult::success));  // never miscompared: not hot
    const auto s = reg.snapshot();
    ASSERT_EQ(s.hot_blocks.size(), 2U);
    EXPECT_EQ(s.hot_blocks[0].lba, 100U);
    EXPECT_EQ(s.hot_blocks[1].lba, 200U);
    EXPECT_EQ(s.hot_blocks[1].last_offset, 12U);
    EXPECT_EQ(s.hot_blocks[1].last_expected.size(), Registry::image_bytes);
    EXPECT_EQ(s.hot_blocks[1].last_actual[0], 0x02);
    EXPECT_EQ(s.hot_blocks[1].last_initiator, "b,i,0x2");
    EXPECT_EQ(reg.snapshot(1).hot_blocks.size(), 1U);
}

TEST(Registry, ReadsAndWritesArePerInitiatorAndOperation) {
    Registry reg;
    CommandRecord r;
    r.initiator_port = "x,i,0x1";
    r.op = Op::read;
    r.latency_us = 50;
    reg.record(r);
    r.op = Op::write;
    r.failed = true;
    reg.record(r);
    const auto s = reg.snapshot();
    const IoCounters& io = s.io_per_initiator.at("x,i,0x1");
    EXPECT_EQ(io.commands[static_cast<size_t>(Op::read)], 1U);
    EXPECT_EQ(io.commands[static_cast<size_t>(Op::write)], 1U);
    EXPECT_EQ(io.errors[static_cast<size_t>(Op::write)], 1U);
    EXPECT_EQ(io.latency[static_cast<size_t>(Op::read)].max_micros(), 50U);
    EXPECT_TRUE(s.ats_per_lun.empty());
}

}  // namespace
}  // namespace atsarray::ats
