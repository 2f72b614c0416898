// The stream's ticks without sockets (issue 19): the first tick of a stream has no previous one,
// so it gives no deltas (null, "first": true) rather than the counters' totals as one tick's.
#include "webui/server/stream.hpp"

#include <gtest/gtest.h>

#include "target/iscsi/server_state.hpp"

namespace atsarray::webui {
namespace {

using nlohmann::json;

constexpr const char* target_name = "iqn.2026-11.org.atsarray:stream";
constexpr const char* initiator_name = "iqn.1998-01.com.vmware:esx-01";
constexpr const char* initiator_port = "iqn.1998-01.com.vmware:esx-01,i,0x00023d000001";

class TickBuilderTest : public ::testing::Test {
  protected:
    void ats(int n) {
        for (int i = 0; i < n; ++i) {
            ats::CommandRecord r;
            r.target = target_name;
            r.lun = 0;
            r.initiator_name = initiator_name;
            r.initiator_port = initiator_port;
            r.address = "127.0.0.1:41001";
            r.op = ats::Op::ats;
            r.latency_us = 800;
            registry_.record(r);
        }
    }

    static const json& lun0(const json& tick) {
        EXPECT_EQ(tick["luns"].size(), 1U);
        return tick["luns"][0];
    }

    iscsi::ServerState state_;
    ats::Registry registry_;
    ats::EventLog events_;
    ConsoleModel model_{state_, registry_, events_};
    TickBuilder ticks_{model_};
};

TEST_F(TickBuilderTest, TheFirstTickGivesTotalsButNoDeltas) {
    ats(196);
    const json first = ticks_.next();
    EXPECT_EQ(first["first"], true);
    EXPECT_EQ(first["interval_ms"], 0);
    const json& l = lun0(first);
    EXPECT_EQ(l["successes"], 196);
    for (const char* field :
         {"d_successes", "d_miscompares", "d_errors", "aavg_suc_us", "aavg_f_us"}) {
        EXPECT_TRUE(l[field].is_null()) << field << " of the first tick: " << l[field];
    }

    ats(4);
    const json second = ticks_.next();
    EXPECT_EQ(second["first"], false);
    EXPECT_EQ(lun0(second)["successes"], 200);
    EXPECT_EQ(lun0(second)["d_successes"], 4) << "this tick's ATS only";
    EXPECT_EQ(lun0(second)["d_miscompares"], 0);
    // The initiator sent commands since the previous tick: listed, with this tick's figures.
    ASSERT_EQ(second["initiators"].size(), 1U);
    const json& i = second["initiators"][0];
    EXPECT_EQ(i["initiator_port"], initiator_port);
    EXPECT_EQ(i["d_ats_successes"], 4);
    EXPECT_EQ(i["ops"]["ats"]["d_commands"], 4);
    EXPECT_FALSE(i["ops"]["ats"]["p99_us"].is_null());
}

TEST_F(TickBuilderTest, AfterARestartTheNextTickIsAFirstOneAgain) {
    ats(10);
    ticks_.next();
    ats(5);
    ticks_.restart();  // no page listened for a while
    const json t = ticks_.next();
    EXPECT_EQ(t["first"], true);
    EXPECT_EQ(t["interval_ms"], 0);
    EXPECT_EQ(lun0(t)["successes"], 15);
    EXPECT_TRUE(lun0(t)["d_successes"].is_null());
    const json next = ticks_.next();
    EXPECT_EQ(next["first"], false);
    EXPECT_EQ(lun0(next)["d_successes"], 0);
}

}  // namespace
}  // namespace atsarray::webui
