// The real daemon over loopback, driven by libiscsi (the library and its command-line tools).
#include <gtest/gtest.h>

extern "C" {
#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>
}

#include <memory>
#include <random>
#include <vector>

#include "tests/integration/daemon_process.hpp"
#include "tools/libiscsi_handles.hpp"

namespace atsarray::testing {
namespace {

using initiator::Context;
using initiator::create_context;
using initiator::Task;

constexpr const char* target_name = "iqn.2026-11.org.atsarray:test";
constexpr const char* initiator = "iqn.2026-11.org.atsarray:initiator";
constexpr uint32_t block_size = 512;
constexpr uint64_t lun_blocks = 8192;  // 4 MiB

std::string base_config(const std::string& extra_target_keys = "",
                        const std::string& iscsi_section = "") {
    return iscsi_section + "[[target]]\nname = \"" + std::string(target_name) +
           "\"\nalias = \"test\"\n" + extra_target_keys +
           "[[target.lun]]\nid = 0\nbackend = \"file\"\npath = \"lun0.img\"\nsize = \"4MiB\"\n"
           "[[target.lun]]\nid = 1\nbackend = \"memory\"\nsize = \"1MiB\"\nblock_size = 4096\n";
}

struct LoginOptions {
    const char* initiator_name = initiator;
    const char* target = target_name;
    iscsi_header_digest digest = ISCSI_HEADER_DIGEST_NONE;
    const char* chap_user = nullptr;
    const char* chap_secret = nullptr;
    const char* mutual_user = nullptr;
    const char* mutual_secret = nullptr;
    int isid_qualifier = -1;
};

// Logs in; returns nullptr (and the libiscsi error in `error`) when refused.
Context login(const DaemonProcess& d, const LoginOptions& o, std::string& error, int lun = 0) {
    Context ctx = create_context(o.initiator_name);
    iscsi_set_targetname(ctx.get(), o.target);
    iscsi_set_session_type(ctx.get(), ISCSI_SESSION_NORMAL);
    iscsi_set_header_digest(ctx.get(), o.digest);
    iscsi_set_noautoreconnect(ctx.get(), 1);
    iscsi_set_timeout(ctx.get(), 10);
    if (o.isid_qualifier >= 0) {
        iscsi_set_isid_random(ctx.get(), 0x123456, static_cast<uint32_t>(o.isid_qualifier));
    }
    if (o.chap_user != nullptr) {
        iscsi_set_initiator_username_pwd(ctx.get(), o.chap_user, o.chap_secret);
    }
    if (o.mutual_user != nullptr) {
        iscsi_set_target_username_pwd(ctx.get(), o.mutual_user, o.mutual_secret);
    }
    if (iscsi_full_connect_sync(ctx.get(), d.portal().c_str(), lun) != 0) {
        error = iscsi_get_error(ctx.get());
        return nullptr;
    }
    return ctx;
}

Context login_ok(const DaemonProcess& d, const LoginOptions& o = {}) {
    std::string error;
    Context ctx = login(d, o, error);
    EXPECT_NE(ctx, nullptr) << error << "\n" << d.log();
    return ctx;
}

std::vector<uint8_t> pattern(size_t n, uint32_t seed) {
    std::vector<uint8_t> v(n);
    std::mt19937 rng(seed);
    for (auto& b : v) {
        b = static_cast<uint8_t>(rng());
    }
    return v;
}

void write_blocks(iscsi_context* ctx, int lun, uint64_t lba, std::vector<uint8_t>& data,
                  uint32_t bs, bool fua = false) {
    Task t(iscsi_write16_sync(ctx, lun, lba, data.data(), static_cast<uint32_t>(data.size()), bs, 0,
                              0, fua ? 1 : 0, 0, 0));
    ASSERT_NE(t, nullptr) << iscsi_get_error(ctx);
    ASSERT_EQ(t->status, SCSI_STATUS_GOOD) << iscsi_get_error(ctx);
}

std::vector<uint8_t> read_blocks(iscsi_context* ctx, int lun, uint64_t lba, uint32_t length,
                                 uint32_t bs) {
    Task t(iscsi_read16_sync(ctx, lun, lba, length, bs, 0, 0, 0, 0, 0));
    EXPECT_NE(t, nullptr) << iscsi_get_error(ctx);
    if (t == nullptr || t->status != SCSI_STATUS_GOOD) {
        ADD_FAILURE() << "READ16 failed: " << iscsi_get_error(ctx);
        return {};
    }
    return {t->datain.data, t->datain.data + t->datain.size};
}

class IscsiTest : public ::testing::Test {
  protected:
    void SetUp() override { daemon_ = std::make_unique<DaemonProcess>(base_config()); }
    std::unique_ptr<DaemonProcess> daemon_;
};

TEST_F(IscsiTest, DiscoveryListsTheTargetWithIscsiLs) {
    std::string out;
    const int rc = run_command(
        "iscsi-ls -i " + std::string(initiator) + " -s iscsi://" + daemon_->portal(), out);
    ASSERT_EQ(rc, 0) << out;
    EXPECT_NE(out.find(target_name), std::string::npos) << out;
    EXPECT_NE(out.find("Lun:0"), std::string::npos) << out;
    EXPECT_NE(out.find("Lun:1"), std::string::npos) << out;
}

TEST_F(IscsiTest, InquiryAndReadCapacityWithLibiscsiTools) {
    std::string out;
    ASSERT_EQ(
        run_command("iscsi-inq -i " + std::string(initiator) + " " + daemon_->url(target_name, 0),
                    out),
        0)
        << out;
    EXPECT_NE(out.find("ATSARRAY"), std::string::npos) << out;
    ASSERT_EQ(run_command("iscsi-readcapacity16 -i " + std::string(initiator) + " " +
                              daemon_->url(target_name, 0),
                          out),
              0)
        << out;
    EXPECT_NE(out.find("LOGICAL BLOCK LENGTH IN BYTES:512"), std::string::npos) << out;
    EXPECT_NE(out.find("RETURNED LOGICAL BLOCK ADDRESS:" + std::to_string(lun_blocks - 1)),
              std::string::npos)
        << out;
}

void pattern_round_trip(const DaemonProcess& d, iscsi_header_digest digest) {
    LoginOptions o;
    o.digest = digest;
    Context ctx = login_ok(d, o);
    ASSERT_NE(ctx, nullptr);
    // Sizes from one block to 1 MiB: immediate data, unsolicited Data-Out, several R2Ts.
    uint32_t seed = 1;
    for (uint32_t blocks : {1U, 7U, 128U, 513U, 2048U}) {
        for (uint64_t lba : {uint64_t{0}, lun_blocks / 3, lun_blocks - blocks}) {
            auto data = pattern(blocks * block_size, seed++);
            write_blocks(ctx.get(), 0, lba, data, block_size, seed % 2 == 0);
            EXPECT_EQ(read_blocks(ctx.get(), 0, lba, blocks * block_size, block_size), data)
                << blocks << " blocks at " << lba;
        }
    }
    // The 4096-byte-block memory LUN. Its first command reports the power-on unit attention of
    // the new I_T nexus (SAM-5 §5.14), exactly once.
    Task ua(iscsi_testunitready_sync(ctx.get(), 1));
    ASSERT_NE(ua, nullptr);
    EXPECT_EQ(ua->status, SCSI_STATUS_CHECK_CONDITION);
    EXPECT_EQ(ua->sense.key, SCSI_SENSE_UNIT_ATTENTION);
    Task ready(iscsi_testunitready_sync(ctx.get(), 1));
    ASSERT_NE(ready, nullptr);
    EXPECT_EQ(ready->status, SCSI_STATUS_GOOD);
    auto data = pattern(64 * 4096, 99);
    write_blocks(ctx.get(), 1, 10, data, 4096);
    EXPECT_EQ(read_blocks(ctx.get(), 1, 10, 64 * 4096, 4096), data);
    EXPECT_EQ(iscsi_logout_sync(ctx.get()), 0);
}

TEST_F(IscsiTest, PatternsRoundTripWithoutDigests) {
    pattern_round_trip(*daemon_, ISCSI_HEADER_DIGEST_NONE);
}

TEST_F(IscsiTest, PatternsRoundTripWithCrc32cHeaderDigest) {
    pattern_round_trip(*daemon_, ISCSI_HEADER_DIGEST_CRC32C);
}

TEST_F(IscsiTest, DataSurvivesARestart) {
    auto data = pattern(16 * block_size, 7);
    {
        Context ctx = login_ok(*daemon_);
        ASSERT_NE(ctx, nullptr);
        write_blocks(ctx.get(), 0, 100, data, block_size);
        iscsi_logout_sync(ctx.get());
    }
    EXPECT_EQ(daemon_->stop(), 0);
    daemon_->start();
    Context ctx = login_ok(*daemon_);
    ASSERT_NE(ctx, nullptr);
    EXPECT_EQ(read_blocks(ctx.get(), 0, 100, 16 * block_size, block_size), data);
}

TEST_F(IscsiTest, UnknownTargetIsRefused) {
    LoginOptions o;
    o.target = "iqn.2026-11.org.atsarray:nope";
    std::string error;
    EXPECT_EQ(login(*daemon_, o, error), nullptr);
    EXPECT_TRUE(daemon_->alive());
}

TEST_F(IscsiTest, SessionReinstatementEndsTheOldSession) {
    LoginOptions o;
    o.isid_qualifier = 7;
    Context first = login_ok(*daemon_, o);
    ASSERT_NE(first, nullptr);
    Context second = login_ok(*daemon_, o);
    ASSERT_NE(second, nullptr);
    // The new session works; the old one was closed by the target.
    Task ok(iscsi_testunitready_sync(second.get(), 0));
    ASSERT_NE(ok, nullptr);
    Task gone(iscsi_testunitready_sync(first.get(), 0));
    EXPECT_TRUE(gone == nullptr || gone->status != SCSI_STATUS_GOOD);
    EXPECT_NE(daemon_->log().find("reinstated"), std::string::npos);
}

TEST_F(IscsiTest, SeveralSessionsAtOnce) {
    std::vector<Context> sessions;
    for (int i = 0; i < 6; ++i) {
        sessions.push_back(login_ok(*daemon_));
        ASSERT_NE(sessions.back(), nullptr);
    }
    for (size_t i = 0; i < sessions.size(); ++i) {
        auto data = pattern(4 * block_size, static_cast<uint32_t>(100 + i));
        write_blocks(sessions[i].get(), 0, 1000 + i * 4, data, block_size);
    }
    for (size_t i = 0; i < sessions.size(); ++i) {
        const auto expected = pattern(4 * block_size, static_cast<uint32_t>(100 + i));
        EXPECT_EQ(read_blocks(sessions[(i + 1) % sessions.size()].get(), 0, 1000 + i * 4,
                              4 * block_size, block_size),
                  expected);
    }
}

TEST_F(IscsiTest, SigtermShutsDownCleanly) {
    Context ctx = login_ok(*daemon_);
    ASSERT_NE(ctx, nullptr);
    EXPECT_EQ(daemon_->stop(SIGTERM), 0);
    EXPECT_NE(daemon_->log().find("all LUNs flushed"), std::string::npos) << daemon_->log();
}

TEST(Startup, BadConfigNamesTheKeyAndExitsWithStatus2) {
    TempDir dir;
    const auto path = dir.path() / "bad.toml";
    std::ofstream(path)
        << "[[target]]\nname = \"iqn.2026-11.org.atsarray:x\"\n[[target.lun]]\nid = 0\n"
           "backend = \"memory\"\nsize = \"1MiB\"\nblock_size = 1000\n";
    std::string out;
    EXPECT_EQ(run_command(std::string(ATSARRAY_BINARY) + " --config " + path.string(), out), 2);
    EXPECT_NE(out.find("bad.toml"), std::string::npos) << out;
    EXPECT_NE(out.find("target[0].lun[0].block_size"), std::string::npos) << out;
    EXPECT_EQ(run_command(std::string(ATSARRAY_BINARY) + " --config /nonexistent.toml", out), 2);
    EXPECT_NE(out.find("/nonexistent.toml"), std::string::npos) << out;
}

TEST(Startup, PortInUseExitsWithStatus2) {
    DaemonProcess first(base_config());
    TempDir dir;
    const auto path = dir.path() / "second.toml";
    std::ofstream(path) << "[[portal]]\naddress = \"127.0.0.1\"\nport = " << first.port() << "\n"
                        << "[[target]]\nname = \"iqn.2026-11.org.atsarray:x\"\n[[target.lun]]\n"
                           "id = 0\nbackend = \"memory\"\nsize = \"1MiB\"\n";
    std::string out;
    EXPECT_EQ(run_command(std::string(ATSARRAY_BINARY) + " --config " + path.string(), out), 2);
    EXPECT_NE(out.find("cannot listen"), std::string::npos) << out;
    EXPECT_TRUE(first.alive());
}

// --- CHAP and ACLs -----------------------------------------------------------------------------

class ChapTest : public ::testing::Test {
  protected:
    void SetUp() override {
        daemon_ = std::make_unique<DaemonProcess>(
            base_config("allowed_initiators = [\"" + std::string(initiator) +
                        "\"]\n[target.chap]\nuser = \"host1\"\nsecret = \"initiator-secret-1\"\n"
                        "[target.mutual_chap]\nuser = \"array\"\nsecret = \"target-secret-22\"\n"));
    }
    std::unique_ptr<DaemonProcess> daemon_;
};

TEST_F(ChapTest, OneWayChapLogsIn) {
    LoginOptions o;
    o.chap_user = "host1";
    o.chap_secret = "initiator-secret-1";
    Context ctx = login_ok(*daemon_, o);
    ASSERT_NE(ctx, nullptr);
    auto data = pattern(8 * block_size, 3);
    write_blocks(ctx.get(), 0, 8, data, block_size);
    EXPECT_EQ(read_blocks(ctx.get(), 0, 8, 8 * block_size, block_size), data);
}

// The initiator's CHAP and the target's mutual CHAP as both CHAP test targets configure them.
LoginOptions mutual_chap_login() {
    LoginOptions o;
    o.chap_user = "host1";
    o.chap_secret = "initiator-secret-1";
    o.mutual_user = "array";
    o.mutual_secret = "target-secret-22";
    return o;
}

TEST_F(ChapTest, MutualChapLogsInWithDigests) {
    LoginOptions o = mutual_chap_login();
    o.digest = ISCSI_HEADER_DIGEST_CRC32C;
    Context ctx = login_ok(*daemon_, o);
    ASSERT_NE(ctx, nullptr);
    auto data = pattern(300 * block_size, 4);
    write_blocks(ctx.get(), 0, 0, data, block_size);
    EXPECT_EQ(read_blocks(ctx.get(), 0, 0, 300 * block_size, block_size), data);
}

TEST_F(ChapTest, WrongSecretIsRefused) {
    LoginOptions o;
    o.chap_user = "host1";
    o.chap_secret = "not-the-secret";
    std::string error;
    EXPECT_EQ(login(*daemon_, o, error), nullptr);
    EXPECT_NE(daemon_->log().find("refused"), std::string::npos);
}

TEST_F(ChapTest, WrongMutualSecretIsDetectedByTheInitiator) {
    LoginOptions o;
    o.chap_user = "host1";
    o.chap_secret = "initiator-secret-1";
    o.mutual_user = "array";
    o.mutual_secret = "some-other-secret";
    std::string error;
    EXPECT_EQ(login(*daemon_, o, error), nullptr);
}

TEST_F(ChapTest, NoChapIsRefused) {
    std::string error;
    EXPECT_EQ(login(*daemon_, LoginOptions{}, error), nullptr);
}

TEST_F(ChapTest, InitiatorOutsideTheAclIsRefused) {
    LoginOptions o;
    o.initiator_name = "iqn.2026-11.org.example:intruder";
    o.chap_user = "host1";
    o.chap_secret = "initiator-secret-1";
    std::string error;
    EXPECT_EQ(login(*daemon_, o, error), nullptr);
    // ... and discovery does not show it the target.
    std::string out;
    run_command("iscsi-ls -i iqn.2026-11.org.example:intruder -s iscsi://" + daemon_->portal(),
                out);
    EXPECT_EQ(out.find(target_name), std::string::npos) << out;
}

// require_mutual: the target must be authenticated too (issue 12, finding 5).
class RequireMutualTest : public ::testing::Test {
  protected:
    void SetUp() override {
        daemon_ = std::make_unique<DaemonProcess>(
            base_config("require_mutual = true\n[target.chap]\nuser = \"host1\"\n"
                        "secret = \"initiator-secret-1\"\n[target.mutual_chap]\n"
                        "user = \"array\"\nsecret = \"target-secret-22\"\n"));
    }
    std::unique_ptr<DaemonProcess> daemon_;
};

TEST_F(RequireMutualTest, MutualChapLogsIn) {
    Context ctx = login_ok(*daemon_, mutual_chap_login());
    ASSERT_NE(ctx, nullptr);
    auto data = pattern(16 * block_size, 5);
    write_blocks(ctx.get(), 0, 32, data, block_size);
    EXPECT_EQ(read_blocks(ctx.get(), 0, 32, 16 * block_size, block_size), data);
}

TEST_F(RequireMutualTest, InitiatorThatDoesNotAuthenticateTheTargetIsRefused) {
    LoginOptions o;
    o.chap_user = "host1";
    o.chap_secret = "initiator-secret-1";  // right, but no CHAP_I/CHAP_C for the target
    std::string error;
    EXPECT_EQ(login(*daemon_, o, error), nullptr);
    // libiscsi reports the Login Response's status: Authentication failure (0x0201).
    EXPECT_NE(error.find("uthentication"), std::string::npos) << error;
    // Logged once, with the peer's address and why.
    const std::string log = daemon_->log();
    const std::string line = "refused: status 0x0201: the target requires mutual CHAP";
    const size_t at = log.find(line);
    ASSERT_NE(at, std::string::npos) << log;
    EXPECT_EQ(log.find(line, at + 1), std::string::npos) << log;
    const size_t line_start = log.rfind('\n', at) + 1;
    EXPECT_NE(log.substr(line_start, at - line_start).find("iscsi 127.0.0.1:"), std::string::npos)
        << log;
    // The target's secret never reaches the log.
    EXPECT_EQ(log.find("target-secret-22"), std::string::npos);
}

}  // namespace
}  // namespace atsarray::testing
