// Chaos without loss (issue 12): atsarray-chaos cuts sessions mid-command (TCP resets with
// writes and ATS in flight, peers that stop reading, an R2T never answered) and reinstates them
// with CmdSN wrapping 2^32, a few dozen cycles per LUN here; `atsarray-chaos --cycles 1000` is
// the long run (README). The last test shows the checker catches a lost write: with reads that
// see stale images (the stale_read fault), it must fail.
#include <gtest/gtest.h>

#include <array>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/daemon_process.hpp"
#include "tools/chaos/session.hpp"

namespace atsarray::testing {
namespace {

constexpr const char* target_name = "iqn.2026-12.org.atsarray:chaos";

std::string config(uint16_t console_port, const std::string& extra = "") {
    return "[console]\nport = " + std::to_string(console_port) + "\n" + extra +
           "[[target]]\nname = \"" + target_name +
           "\"\n"
           "[[target.lun]]\nid = 0\nbackend = \"rocksdb\"\nsize = \"64MiB\"\nblock_size = 512\n"
           "[[target.lun]]\nid = 1\nbackend = \"file\"\npath = \"lun1.img\"\nsize = \"64MiB\"\n"
           "block_size = 4096\n";
}

// ASan keeps freed memory in its quarantine (256 MiB): the RSS rises by that much, not a leak.
#if defined(ATSARRAY_UNDER_ASAN)
constexpr const char* rss_allowance = " --max-rss-growth-mib 512";
#else
constexpr const char* rss_allowance = "";
#endif

std::string chaos(const DaemonProcess& d, uint16_t console_port, int lun, int cycles, int& status) {
    std::string out;
    status = run_command(
        std::string(CHAOS_BINARY) + " --portal " + d.portal() + " --target " + target_name +
            " --lun " + std::to_string(lun) + " --cycles " + std::to_string(cycles) +
            " --writers 3 --ats 2 --seed " + std::to_string(11 + lun) + " --console-port " +
            std::to_string(console_port) + " --pid " + std::to_string(d.pid()) + rss_allowance,
        out);
    return out;
}

TEST(ChaosTest, CutsAndReinstatementsLoseNothingAndLeakNothing) {
    const uint16_t console_port = free_port();
    DaemonProcess d(config(console_port));
    for (int lun : {0, 1}) {
        int status = -1;
        const std::string out = chaos(d, console_port, lun, 100, status);
        EXPECT_EQ(status, 0) << out << d.log();
        EXPECT_NE(out.find("chaos: PASS"), std::string::npos) << out;
        // Every kind of cut happened, and the sessions' CmdSN wrapped.
        for (const char* seen : {"reset 0,", "stall unread 0,", "stall mid-data 0,", " 0 CmdSN"}) {
            EXPECT_EQ(out.find(seen), std::string::npos) << seen << "\n" << out;
        }
        EXPECT_NE(out.find("atsarray_connections 0, atsarray_buffer_bytes 0"), std::string::npos)
            << out;
    }
    EXPECT_TRUE(d.alive());
}

TEST(ChaosTest, ALostWriteIsCaught) {
    // Reads see each block as it was before its last write for 60 s: to the chaos command the
    // acknowledged versions are gone.
    const uint16_t console_port = free_port();
    DaemonProcess d(config(console_port,
                           "[fault]\nenabled = true\n[[fault.rule]]\nname = \"stale\"\n"
                           "action = \"stale_read\"\ncommand = \"read\"\nstale_ms = 60000\n"));
    int status = -1;
    const std::string out = chaos(d, console_port, 0, 20, status);
    EXPECT_EQ(status, 1) << out;
    EXPECT_NE(out.find("acknowledged write lost"), std::string::npos) << out;
    EXPECT_NE(out.find("chaos: FAIL"), std::string::npos) << out;
}

// Session reinstatement terminates the old session's tasks before the new session is answered
// (RFC 7143 §6.3.5): a WRITE still landing on a slow medium when the same initiator logs in
// again is on the medium before that login completes, so it cannot overwrite what the new
// session writes next. The first chaos runs found such writes landing late, after a newer one
// had been acknowledged: the new login did not wait.
TEST(ChaosTest, ReinstatementWaitsForTheOldSessionsWrites) {
    DaemonProcess d("[[target]]\nname = \"" + std::string(target_name) +
                    "\"\n[[target.lun]]\nid = 0\nbackend = \"memory\"\nsize = \"16MiB\"\n"
                    "write_delay_us = 1000000\n");
    chaos::LoginSpec spec;
    spec.initiator_name = "iqn.2026-12.org.atsarray.test:reinstate";
    spec.target_name = target_name;
    spec.isid = 0x400000abcdefULL;
    const chaos::Endpoint at{"127.0.0.1", d.port()};
    std::string error;
    auto old_session = chaos::Session::login(at, spec, error);
    ASSERT_TRUE(old_session) << error;

    const std::array<uint8_t, 16> test_unit_ready{};
    for (int attempt = 0; attempt < 3; ++attempt) {  // past the power-on unit attention
        if (old_session->execute(test_unit_ready, {}, 0, false, std::chrono::seconds(10)).good()) {
            break;
        }
    }
    const std::array<uint8_t, 16> write{0x8a, 0, 0, 0, 0, 0, 0, 0, 0, 7, 0, 0, 0, 1, 0, 0};
    const std::vector<uint8_t> data(512, 0xa5);
    ASSERT_NE(old_session->send(write, data, 512, false), 0U);
    std::this_thread::sleep_for(std::chrono::milliseconds(300));  // now in the slow medium
    old_session->reset();

    auto new_session = chaos::Session::login(at, spec, error);
    ASSERT_TRUE(new_session) << error;
    const std::array<uint8_t, 16> read{0x88, 0, 0, 0, 0, 0, 0, 0, 0, 7, 0, 0, 0, 1, 0, 0};
    chaos::ScsiResult r;
    for (int attempt = 0; attempt < 3; ++attempt) {  // past the unit attention of the reset
        r = new_session->execute(read, {}, 512, true, std::chrono::seconds(10));
        if (r.status != 0x02 || r.sense_key != 0x06) {
            break;
        }
    }
    ASSERT_TRUE(r.good()) << "status " << int{r.status};
    EXPECT_EQ(r.data, data) << "the old session's WRITE was still running after the new login\n"
                            << d.log();
}

}  // namespace
}  // namespace atsarray::testing
