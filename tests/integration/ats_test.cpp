// COMPARE AND WRITE under contention from several sessions, through the real daemon.
#include <gtest/gtest.h>

#include <algorithm>
#include <regex>
#include <string>

#include "tests/integration/daemon_process.hpp"
#include "tests/integration/in_process_daemon.hpp"
#include "tools/ats_counter_run.hpp"

namespace atsarray::testing {
namespace {

// Reads return 300 µs late: the window between an ATS's compare and its write is wide enough
// that a target without per-block atomicity loses increments in every run.
std::string config(const std::string& backend) {
    return "[[target]]\nname = \"iqn.2026-11.org.atsarray:ats\"\n[[target.lun]]\nid = 0\n"
           "backend = \"" +
           backend + "\"\n" + (backend == "file" ? "path = \"lun0.img\"\n" : "") +
           "size = \"16MiB\"\nread_delay_us = 300\n";
}

// tools/ats-counter: 4 sessions increment one block with read, +1, COMPARE AND WRITE while two
// more write its neighbours. Every increment must land exactly once.
void run_counter(const DaemonProcess& d) {
    std::string out;
    const int rc = run_command(std::string(ATS_COUNTER_BINARY) + " --portal " + d.portal() +
                                   " --target iqn.2026-11.org.atsarray:ats --lba 1000"
                                   " --sessions 4 --writers 2 --increments 60",
                               out);
    EXPECT_EQ(rc, 0) << out << d.log();
    std::smatch m;
    ASSERT_TRUE(std::regex_search(out, m, std::regex(R"(counter (\d+), successful ATS (\d+))")))
        << out;
    EXPECT_EQ(m[1].str(), "240");
    EXPECT_EQ(m[2].str(), "240");
    EXPECT_NE(out.find("neighbour lba-1: intact"), std::string::npos) << out;
    EXPECT_NE(out.find("neighbour lba+1: intact"), std::string::npos) << out;
}

TEST(Ats, ConcurrentIncrementsOnAFileLun) {
    DaemonProcess d(config("file"));
    run_counter(d);
}

TEST(Ats, ConcurrentIncrementsOnAMemoryLun) {
    DaemonProcess d(config("memory"));
    run_counter(d);
}

// The accounting registry counts exactly what the clients saw: per LUN and per initiator
// (IQN + ISID), successes and genuine miscompares; the hot block carries the images of the last
// miscompare. The registry records before the response leaves, so once every client has its
// answers the counts are final.
void check_accounting(const std::string& backend) {
    const std::string target = "iqn.2026-11.org.atsarray:ats";
    InProcessDaemon d(config(backend));
    initiator::CounterOptions o;
    o.portal = d.portal();
    o.target = target;
    o.lba = 1000;
    o.sessions = 4;
    o.writers = 2;
    o.increments = 60;
    o.initiator_prefix = "iqn.2026-11.org.atsarray:acct-" + backend;
    const initiator::CounterReport report = initiator::run_ats_counter(o, nullptr);
    ASSERT_EQ(report.exit_status, 0);
    EXPECT_EQ(report.counter, 240U);
    EXPECT_EQ(report.successes, 240U);

    const ats::Snapshot snap = d.daemon().accounting().snapshot();
    const auto lun = snap.ats_per_lun.find({target, 0});
    ASSERT_NE(lun, snap.ats_per_lun.end());
    EXPECT_EQ(lun->second.successes, report.successes);
    EXPECT_EQ(lun->second.miscompares, report.miscompares);
    EXPECT_EQ(lun->second.injected_miscompares, 0U);
    EXPECT_EQ(lun->second.errors, 0U);
    EXPECT_EQ(lun->second.latency_success.count(), report.successes);
    EXPECT_EQ(lun->second.latency_failure.count(), report.miscompares);

    for (const initiator::CounterSession& s : report.sessions) {
        const auto it = std::find_if(
            snap.ats_per_initiator.begin(), snap.ats_per_initiator.end(), [&](const auto& e) {
                return std::get<0>(e.first) == target &&
                       std::get<2>(e.first).rfind(s.initiator_name + ",i,0x", 0) == 0;
            });
        ASSERT_NE(it, snap.ats_per_initiator.end()) << s.initiator_name;
        EXPECT_EQ(it->second.successes, s.successes) << s.initiator_name;
        EXPECT_EQ(it->second.miscompares, s.miscompares) << s.initiator_name;
        const auto& who = snap.initiators.at(std::get<2>(it->first));
        EXPECT_EQ(who.initiator_name, s.initiator_name);
        EXPECT_EQ(who.address.rfind("127.0.0.1:", 0), 0U) << who.address;
    }
    if (report.miscompares > 0) {
        ASSERT_FALSE(snap.hot_blocks.empty());
        const ats::HotBlock& hot = snap.hot_blocks.front();
        EXPECT_EQ(hot.lba, 1000U);
        EXPECT_EQ(hot.miscompares, report.miscompares);
        EXPECT_LT(hot.last_offset, 8U);  // only the counter bytes ever change
        ASSERT_EQ(hot.last_expected.size(), 512U);
        ASSERT_EQ(hot.last_actual.size(), 512U);
        EXPECT_NE(hot.last_expected[hot.last_offset], hot.last_actual[hot.last_offset]);
        EXPECT_TRUE(std::equal(hot.last_expected.begin(),
                               hot.last_expected.begin() + hot.last_offset,
                               hot.last_actual.begin()));
    }
}

TEST(AtsAccounting, AgreesWithTheClientsOnAFileLun) {
    check_accounting("file");
}

TEST(AtsAccounting, AgreesWithTheClientsOnAMemoryLun) {
    check_accounting("memory");
}

}  // namespace
}  // namespace atsarray::testing
