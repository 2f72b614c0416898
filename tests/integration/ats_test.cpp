// COMPARE AND WRITE under contention from several sessions, through the real daemon.
#include <gtest/gtest.h>

#include <regex>
#include <string>

#include "tests/integration/daemon_process.hpp"

namespace atsarray::testing {
namespace {

std::string config(const std::string& backend) {
    return "[[target]]\nname = \"iqn.2026-11.org.atsarray:ats\"\n[[target.lun]]\nid = 0\n"
           "backend = \"" +
           backend + "\"\n" + (backend == "file" ? "path = \"lun0.img\"\n" : "") +
           "size = \"16MiB\"\n";
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

}  // namespace
}  // namespace atsarray::testing
