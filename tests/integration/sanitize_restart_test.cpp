// SANITIZE and the daemon's life (issue 12, finding 4): a stop never waits for a running
// SANITIZE, and one interrupted by a stop or a crash is kept with the LUN and resumes at the next
// start (SBC-4 §4.11), answering NOT READY, SANITIZE IN PROGRESS with its progress meanwhile:
// the half-overwritten medium is never served as good. On the real binary, a file LUN; OVERWRITE
// is paced at 8 MiB/s (LunSettings), which makes the operation long enough to interrupt.
#include <gtest/gtest.h>

extern "C" {
#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>
}

#include <signal.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/daemon_process.hpp"
#include "tools/libiscsi_handles.hpp"

namespace atsarray::testing {
namespace {

using initiator::Context;
using initiator::Task;
using Clock = std::chrono::steady_clock;

constexpr const char* target_name = "iqn.2026-11.org.atsarray:sanitize";
constexpr uint32_t block_size = 512;
// Four bytes: a 7-byte parameter list did not leave libiscsi's sync API here ("Error when
// writing to socket", EINVAL) and never reached the daemon; the conformance suite's lengths are
// multiples of 4 too.
const std::vector<uint8_t> pattern{0x5A, 0xC3, 0x0F, 0x96};

std::string config_with(const std::string& size) {
    return "[[target]]\nname = \"" + std::string(target_name) +
           "\"\n[[target.lun]]\nid = 0\nbackend = \"file\"\npath = \"lun0.img\"\nsize = \"" + size +
           "\"\n";
}

Context login(const DaemonProcess& d) {
    std::string error;
    Context ctx =
        initiator::login(d.portal(), target_name, "iqn.2026-11.org.atsarray:host", 0, 10, error);
    EXPECT_TRUE(ctx) << error;
    if (ctx) {
        // The new nexus' POWER ON unit attention (or, mid-sanitize, SANITIZE IN PROGRESS).
        Task tur(iscsi_testunitready_sync(ctx.get(), 0));
    }
    return ctx;
}

// SANITIZE OVERWRITE with IMMED: one pass of `pattern`.
void start_overwrite(iscsi_context* ctx) {
    std::vector<uint8_t> list{0x01, 0, 0, static_cast<uint8_t>(pattern.size())};
    list.insert(list.end(), pattern.begin(), pattern.end());
    iscsi_data data{static_cast<size_t>(list.size()), list.data()};
    Task t(iscsi_sanitize_sync(ctx, 0, 1, 0, 0x01, static_cast<int>(list.size()), &data));
    ASSERT_TRUE(t);
    ASSERT_EQ(t->status, SCSI_STATUS_GOOD) << iscsi_get_error(ctx);
}

bool sanitize_in_progress(const scsi_task* t) {
    return t != nullptr && t->status == SCSI_STATUS_CHECK_CONDITION &&
           t->sense.key == SCSI_SENSE_NOT_READY &&
           t->sense.ascq == SCSI_SENSE_ASCQ_SANITIZE_IN_PROGRESS;
}

// PROGRESS INDICATION of a fixed-format sense (libiscsi keeps it after a 2-byte length in
// datain); -1 without SKSV.
int progress_of(const scsi_task* t) {
    if (t->datain.data == nullptr || t->datain.size < 2 + 18) {
        return -1;
    }
    const uint8_t* s = t->datain.data + 2;
    if ((s[0] & 0x7f) != 0x70 || (s[15] & 0x80) == 0) {
        return -1;
    }
    return s[16] << 8 | s[17];
}

std::string read_text(const std::filesystem::path& p) {
    std::ifstream in(p);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

TEST(SanitizeRestart, ShutdownDoesNotWaitForASanitize) {
    // 256 MiB at 8 MiB/s: about 32 s of OVERWRITE, far longer than a stop may take.
    DaemonProcess d(config_with("256MiB"));
    {
        Context ctx = login(d);
        ASSERT_TRUE(ctx);
        start_overwrite(ctx.get());
        Task tur(iscsi_testunitready_sync(ctx.get(), 0));
        EXPECT_TRUE(sanitize_in_progress(tur.get()));
        std::this_thread::sleep_for(std::chrono::seconds(1));
    }  // logged out: the stop below has no session to wait for
    const auto stopping = Clock::now();
    EXPECT_EQ(d.stop(SIGTERM), 0) << d.log();
    const auto took = Clock::now() - stopping;
    EXPECT_LT(took, std::chrono::seconds(10))
        << "the stop took " << std::chrono::duration_cast<std::chrono::milliseconds>(took).count()
        << " ms";
    const std::string kept = read_text(d.dir() / "lun0.img.sanitize");
    EXPECT_NE(kept.find("state running\n"), std::string::npos) << kept;
    EXPECT_NE(kept.find("pattern 5ac30f96\n"), std::string::npos) << kept;
    EXPECT_EQ(kept.find("done 0\n"), std::string::npos) << "no progress kept: " << kept;

    // Started again, the LUN is still being sanitized, from where it stopped.
    d.start();
    Context ctx = login(d);
    ASSERT_TRUE(ctx);
    Task tur(iscsi_testunitready_sync(ctx.get(), 0));
    ASSERT_TRUE(sanitize_in_progress(tur.get())) << d.log();
    EXPECT_GT(progress_of(tur.get()), 0);
    Task read(iscsi_read16_sync(ctx.get(), 0, 0, block_size, block_size, 0, 0, 0, 0, 0));
    EXPECT_TRUE(sanitize_in_progress(read.get()));
    ctx.reset();
    EXPECT_EQ(d.stop(SIGTERM), 0) << d.log();
}

TEST(SanitizeRestart, AfterSigkillItResumesAndNeverServesHalfOverwrittenData) {
    // 24 MiB at 8 MiB/s: about 3 s of OVERWRITE; SIGKILL after 1 s.
    constexpr uint64_t size = 24ull << 20;
    DaemonProcess d(config_with("24MiB"));
    {
        Context ctx = login(d);
        ASSERT_TRUE(ctx);
        // Old data at the end of the LUN, which the sanitize has not reached when it dies.
        std::vector<uint8_t> old(block_size, 0xEE);
        Task w(iscsi_write16_sync(ctx.get(), 0, size / block_size - 1, old.data(), block_size,
                                  block_size, 0, 0, 1, 0, 0));
        ASSERT_TRUE(w);
        ASSERT_EQ(w->status, SCSI_STATUS_GOOD);
        start_overwrite(ctx.get());
        std::this_thread::sleep_for(std::chrono::seconds(1));
        EXPECT_EQ(d.stop(SIGKILL), 128 + SIGKILL);
    }
    EXPECT_NE(read_text(d.dir() / "lun0.img.sanitize").find("state running\n"), std::string::npos);

    d.start();
    Context ctx = login(d);
    ASSERT_TRUE(ctx);
    Task first(iscsi_read16_sync(ctx.get(), 0, size / block_size - 1, block_size, block_size, 0, 0,
                                 0, 0, 0));
    ASSERT_TRUE(sanitize_in_progress(first.get())) << "served data of a LUN mid-sanitize";
    int last_progress = -1;
    bool done = false;
    for (const auto until = Clock::now() + std::chrono::seconds(60); Clock::now() < until;) {
        Task tur(iscsi_testunitready_sync(ctx.get(), 0));
        ASSERT_TRUE(tur);
        if (tur->status == SCSI_STATUS_GOOD) {
            done = true;
            break;
        }
        if (sanitize_in_progress(tur.get())) {
            const int progress = progress_of(tur.get());
            EXPECT_GE(progress, last_progress);
            last_progress = progress;
        } else {
            // Once it is over, the restart's POWER ON unit attention, then GOOD.
            ASSERT_EQ(tur->sense.key, SCSI_SENSE_UNIT_ATTENTION) << tur->sense.ascq;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    ASSERT_TRUE(done) << d.log();
    EXPECT_GT(last_progress, 0);
    EXPECT_FALSE(std::filesystem::exists(d.dir() / "lun0.img.sanitize"));

    // Every byte is the pattern: the resumed operation reached the end, nothing old survived.
    constexpr uint32_t chunk = 1u << 20;
    for (uint64_t offset = 0; offset < size; offset += chunk) {
        Task r(
            iscsi_read16_sync(ctx.get(), 0, offset / block_size, chunk, block_size, 0, 0, 0, 0, 0));
        ASSERT_TRUE(r);
        ASSERT_EQ(r->status, SCSI_STATUS_GOOD);
        ASSERT_EQ(r->datain.size, static_cast<int>(chunk));
        for (uint32_t i = 0; i < chunk; ++i) {
            ASSERT_EQ(r->datain.data[i], pattern[(i % block_size) % pattern.size()])
                << "byte " << offset + i;
        }
    }
    ctx.reset();
    EXPECT_EQ(d.stop(SIGTERM), 0) << d.log();
}

}  // namespace
}  // namespace atsarray::testing
