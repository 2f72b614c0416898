// top's numbers come from the difference of two polls, never from totals over the uptime (issue
// 19: the console's charts opened with a spike for that reason).
#include "ctl/top_model.hpp"

#include <gtest/gtest.h>

#include <cmath>

namespace atsarray::ctl {
namespace {

using nlohmann::json;

json counters(uint64_t ok, uint64_t miscompares, uint64_t injected, double ok_mean_us,
              double bad_mean_us) {
    return {{"successes", ok},
            {"miscompares", miscompares},
            {"injected_miscompares", injected},
            {"errors", 0},
            {"latency_success", {{"count", ok}, {"mean_us", ok_mean_us}, {"p99_us", 900}}},
            {"latency_failure", {{"count", miscompares + injected}, {"mean_us", bad_mean_us}}}};
}

Sample sample(double seconds, uint64_t ok, uint64_t miscompares, uint64_t injected,
              double ok_mean_us, double bad_mean_us, json buckets) {
    Sample s;
    json lun = counters(ok, miscompares, injected, ok_mean_us, bad_mean_us);
    lun["target"] = "iqn.t";
    lun["lun"] = 0;
    lun["latency_buckets"] = buckets;
    json initiator = counters(ok, miscompares, injected, ok_mean_us, bad_mean_us);
    initiator["target"] = "iqn.t";
    initiator["lun"] = 0;
    initiator["initiator_name"] = "iqn.host";
    initiator["initiator_port"] = "iqn.host,i,0x1";
    s.ats = {{"luns", {lun}}, {"initiators", {initiator}}, {"hot_blocks", json::array()}};
    s.latency = {{{"initiator_port", "iqn.host,i,0x1"},
                  {"initiator_name", "iqn.host"},
                  {"ops", {{"ats", {{"buckets", std::move(buckets)}}}}}}};
    s.sessions = {{{"target", "iqn.t"}, {"initiator_name", "iqn.host"}, {"commands_in_flight", 3}}};
    // LUN 0 has the ATS; LUN 1 none yet, and two commands in flight.
    s.targets = {
        {{"name", "iqn.t"},
         {"luns",
          {{{"id", 0}, {"commands_in_flight", 3}}, {{"id", 1}, {"commands_in_flight", 2}}}}}};
    s.at = std::chrono::steady_clock::time_point(
        std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000)));
    return s;
}

TEST(TopModel, RatesAndMeansComeFromTheInterval) {
    // 1,000,000 ATS over the uptime at 100 us; then 200 more at 400 us and 50 miscompares (10
    // injected) at 1000 us in 2 s.
    const Sample before = sample(10, 1000000, 900, 100, 100, 500, json::array());
    const Sample now = sample(12, 1000200, 940, 110, (1000000 * 100.0 + 200 * 400.0) / 1000200,
                              (1000 * 500.0 + 50 * 1000.0) / 1050, json::array());
    for (const View view : {View::luns, View::initiators}) {
        const std::vector<TopRow> rows = top_rows(&before, now, view);
        ASSERT_EQ(rows.size(), view == View::luns ? 2U : 1U);
        const TopRow& r = rows[0];
        EXPECT_EQ(r.name, view == View::luns ? "iqn.t/0" : "iqn.host");
        EXPECT_DOUBLE_EQ(r.ats_s, 100);
        EXPECT_DOUBLE_EQ(r.atsf_s, 25);
        EXPECT_NEAR(r.aavg_suc_us, 400, 1e-3);
        EXPECT_NEAR(r.aavg_f_us, 1000, 1e-3);
        EXPECT_DOUBLE_EQ(r.mcr, 50.0 / 250.0);
        EXPECT_EQ(r.actv, 3);
    }
}

TEST(TopModel, FirstPollAndIdleIntervalShowNoRateOrLatency) {
    const Sample s = sample(1, 500, 5, 0, 100, 200, json::array());
    const TopRow first = top_rows(nullptr, s, View::luns).at(0);
    EXPECT_TRUE(std::isnan(first.ats_s));
    EXPECT_TRUE(std::isnan(first.aavg_suc_us));
    Sample later = s;
    later.at += std::chrono::seconds(1);
    const TopRow idle = top_rows(&s, later, View::initiators).at(0);
    EXPECT_EQ(idle.ats_s, 0);
    EXPECT_TRUE(std::isnan(idle.aavg_suc_us));  // no ATS: no mean, not the uptime's
    EXPECT_TRUE(std::isnan(idle.mcr));
    EXPECT_TRUE(std::isnan(idle.p99_us));
    const AtsTotals t = ats_totals(s);
    EXPECT_EQ(t.successes, 500U);
    EXPECT_EQ(t.miscompares, 5U);
}

TEST(TopModel, P99OfTheIntervalFromBucketDeltas) {
    // Before: 10,000 fast ATS. Then 100 more: 98 under 64 us, 2 under 4096 us.
    const json before = {{64, 10000}};
    const json now = {{64, 10098}, {4096, 2}};
    EXPECT_EQ(interval_p99(before, now), 4096);
    EXPECT_EQ(interval_p99(before, {{64, 10099}, {4096, 1}}), 64);
    EXPECT_TRUE(std::isnan(interval_p99(before, before)));
    const Sample a = sample(1, 10000, 0, 0, 50, 0, before);
    const Sample b = sample(2, 10100, 0, 0, 50, 0, now);
    EXPECT_EQ(top_rows(&a, b, View::initiators).at(0).p99_us, 4096);
    EXPECT_EQ(top_rows(&a, b, View::luns).at(0).p99_us, 4096);  // the LUN's own buckets
}

TEST(TopModel, EveryLunIsListedWithItsOwnCommandsInFlight) {
    const Sample a = sample(1, 10, 0, 0, 50, 0, json::array());
    const Sample b = sample(2, 10, 0, 0, 50, 0, json::array());
    const std::vector<TopRow> rows = top_rows(&a, b, View::luns);
    ASSERT_EQ(rows.size(), 2U);
    EXPECT_EQ(rows[1].name, "iqn.t/1");  // no ATS ever: listed, idle
    EXPECT_EQ(rows[1].actv, 2);
    EXPECT_EQ(rows[1].ats_s, 0);
    EXPECT_TRUE(std::isnan(rows[1].p99_us));
}

}  // namespace
}  // namespace atsarray::ctl
