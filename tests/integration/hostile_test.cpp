// Hostile and malformed input over a raw socket: each gets the answer RFC 7143 names, the daemon
// stays up, and a session that was already logged in keeps working.
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <poll.h>

extern "C" {
#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>
}

#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "target/iscsi/digest.hpp"
#include "tests/integration/daemon_process.hpp"
#include "tests/integration/raw_iscsi.hpp"
#include "tools/libiscsi_handles.hpp"

namespace atsarray::testing {
namespace {

constexpr const char* target_name = "iqn.2026-11.org.atsarray:test";
constexpr const char* initiator = "iqn.2026-11.org.atsarray:raw";

class HostileTest : public ::testing::Test {
  protected:
    void SetUp() override {
        daemon_ = std::make_unique<DaemonProcess>(
            std::string("[[target]]\nname = \"") + target_name +
            "\"\n[[target.lun]]\nid = 0\nbackend = \"memory\"\nsize = \"1MiB\"\n"
            "[[target]]\nname = \"iqn.2026-11.org.atsarray:chap\"\n"
            "[target.chap]\nuser = \"host1\"\nsecret = \"initiator-secret-1\"\n"
            "[target.mutual_chap]\nuser = \"array\"\nsecret = \"target-secret-22\"\n"
            "[[target.lun]]\nid = 0\nbackend = \"memory\"\nsize = \"1MiB\"\n");
        // A bystander session that must keep working whatever the hostile peer does.
        bystander_ = initiator::create_context("iqn.2026-11.org.atsarray:bystander").release();
        iscsi_set_targetname(bystander_, target_name);
        iscsi_set_session_type(bystander_, ISCSI_SESSION_NORMAL);
        iscsi_set_noautoreconnect(bystander_, 1);
        ASSERT_EQ(iscsi_full_connect_sync(bystander_, daemon_->portal().c_str(), 0), 0)
            << iscsi_get_error(bystander_);
    }
    void TearDown() override {
        EXPECT_TRUE(daemon_->alive()) << daemon_->log();
        scsi_task* t = iscsi_testunitready_sync(bystander_, 0);
        EXPECT_NE(t, nullptr) << "bystander session disturbed: " << iscsi_get_error(bystander_);
        if (t != nullptr) {
            EXPECT_EQ(t->status, SCSI_STATUS_GOOD);
            scsi_free_scsi_task(t);
        }
        iscsi_destroy_context(bystander_);
    }

    std::vector<uint8_t> login_full(RawConnection& c, const std::string& data_digest = "None") {
        return atsarray::testing::login_full(c, target_name, initiator, data_digest);
    }

    std::unique_ptr<DaemonProcess> daemon_;
    iscsi_context* bystander_ = nullptr;
};

TEST_F(HostileTest, NonLoginPduDuringLoginIsRefusedAndClosed) {
    RawConnection c(daemon_->port());
    ASSERT_TRUE(c.connected());
    c.send(pdu(0x01, 0x80, ""));  // SCSI Command before any login
    std::vector<uint8_t> bhs;
    std::string data;
    ASSERT_TRUE(c.read_pdu(bhs, data));
    EXPECT_EQ(bhs[0] & 0x3f, 0x23);  // Login Response
    EXPECT_EQ(bhs[36], 0x02);        // initiator error
    EXPECT_EQ(bhs[37], 0x0b);        // invalid request during login
    EXPECT_TRUE(c.closed_by_peer());
}

TEST_F(HostileTest, OversizedDataSegmentLengthClosesTheConnection) {
    RawConnection c(daemon_->port());
    c.send(pdu(0x43, 0x87, "", 1, 0xffffff));
    EXPECT_TRUE(c.closed_by_peer());
}

TEST_F(HostileTest, RandomGarbageNeverCrashes) {
    std::mt19937 rng(42);
    for (int round = 0; round < 20; ++round) {
        RawConnection c(daemon_->port());
        std::vector<uint8_t> junk(4096);
        for (auto& b : junk) {
            b = static_cast<uint8_t>(rng());
        }
        c.send(junk);
        c.closed_by_peer(2000);
    }
}

TEST_F(HostileTest, TextKeyTooLongFailsTheLogin) {
    RawConnection c(daemon_->port());
    c.send(login_pdu(
        0x87, keys({"InitiatorName=" + std::string(initiator),
                    "TargetName=" + std::string(target_name), std::string(64, 'K') + "=1"})));
    std::vector<uint8_t> bhs;
    std::string data;
    ASSERT_TRUE(c.read_pdu(bhs, data));
    EXPECT_EQ(bhs[36], 0x02);
    EXPECT_TRUE(c.closed_by_peer());
}

TEST_F(HostileTest, KeyWithoutNulTerminatorFailsTheLogin) {
    RawConnection c(daemon_->port());
    std::string body = keys({"InitiatorName=" + std::string(initiator)}) + "TargetName=x";
    c.send(login_pdu(0x87, body));
    std::vector<uint8_t> bhs;
    std::string data;
    ASSERT_TRUE(c.read_pdu(bhs, data));
    EXPECT_EQ(bhs[36], 0x02);
}

TEST_F(HostileTest, DuplicateKeysFailTheLogin) {
    RawConnection c(daemon_->port());
    c.send(login_pdu(0x87, keys({"InitiatorName=" + std::string(initiator),
                                 "TargetName=" + std::string(target_name), "MaxBurstLength=65536",
                                 "MaxBurstLength=65536"})));
    std::vector<uint8_t> bhs;
    std::string data;
    ASSERT_TRUE(c.read_pdu(bhs, data));
    EXPECT_EQ(bhs[36], 0x02);
}

TEST_F(HostileTest, EndlessContinuationIsBounded) {
    RawConnection c(daemon_->port());
    const std::string chunk = "X-Filler=" + std::string(8000, 'a');
    bool refused = false;
    for (int i = 0; i < 40 && !refused; ++i) {
        c.send(login_pdu(0x40 | 0x04,
                         i == 0 ? keys({"InitiatorName=" + std::string(initiator)}) : chunk));
        std::vector<uint8_t> bhs;
        std::string data;
        if (!c.read_pdu(bhs, data)) {
            refused = true;
            break;
        }
        refused = bhs[36] != 0;
    }
    EXPECT_TRUE(refused);
}

TEST_F(HostileTest, DataOutWithUnknownTagIsRejected) {
    RawConnection c(daemon_->port());
    auto rsp = login_full(c);
    ASSERT_EQ(rsp[36], 0) << daemon_->log();
    ASSERT_EQ(rsp[1] & 0x83, 0x83);  // T=1, NSG=3
    auto data_out = pdu(0x05, 0x80, std::string(512, 'd'), 0x1234);
    put32(data_out, 20, 0x77);  // a TTT the target never issued
    c.send(data_out);
    std::vector<uint8_t> bhs;
    std::string data;
    ASSERT_TRUE(c.read_pdu(bhs, data));
    EXPECT_EQ(bhs[0] & 0x3f, 0x3f);  // Reject
    EXPECT_EQ(bhs[2], 0x09);         // invalid PDU field
    ASSERT_EQ(data.size(), 48U);     // the rejected header comes back
    EXPECT_EQ(get32(std::vector<uint8_t>(data.begin(), data.end()), 16), 0x1234U);
}

TEST_F(HostileTest, UnknownOpcodeAndMalformedAhsAreRejected) {
    RawConnection c(daemon_->port());
    auto rsp = login_full(c);
    ASSERT_EQ(rsp[36], 0);
    std::vector<uint8_t> bhs;
    std::string data;
    c.send(pdu(0x1c, 0x80, "", 0x31));  // no such initiator opcode
    ASSERT_TRUE(c.read_pdu(bhs, data));
    EXPECT_EQ(bhs[0] & 0x3f, 0x3f);
    EXPECT_EQ(bhs[2], 0x04);  // protocol error
    // A SCSI command whose AHS claims more bytes than it has.
    auto cmd = pdu(0x01, 0x80, "", 0x32);
    cmd[4] = 1;  // TotalAHSLength: one word
    const uint8_t ahs[4] = {0x00, 0x40, 0x01, 0x00};
    cmd.insert(cmd.begin() + 48, ahs, ahs + 4);
    put32(cmd, 24, get32(rsp, 28));
    c.send(cmd);
    ASSERT_TRUE(c.read_pdu(bhs, data));
    EXPECT_EQ(bhs[0] & 0x3f, 0x3f);
    EXPECT_EQ(bhs[2], 0x09);  // invalid PDU field
    // The connection still works.
    auto nop = pdu(0x40, 0x80, "", 0x33);
    put32(nop, 20, 0xffffffff);
    put32(nop, 24, get32(rsp, 28) + 1);
    c.send(nop);
    ASSERT_TRUE(c.read_pdu(bhs, data));
    EXPECT_EQ(bhs[0] & 0x3f, 0x20);
}

TEST_F(HostileTest, CommandOutsideTheCmdSnWindowIsIgnored) {
    RawConnection c(daemon_->port());
    auto rsp = login_full(c);
    ASSERT_EQ(rsp[36], 0);
    const uint32_t max_cmd_sn = get32(rsp, 32);
    auto nop = pdu(0x00, 0x80, "", 0x10);  // NOP-Out ping, non-immediate
    put32(nop, 20, 0xffffffff);
    put32(nop, 24, max_cmd_sn + 1);
    c.send(nop);
    std::vector<uint8_t> bhs;
    std::string data;
    EXPECT_FALSE(c.read_pdu(bhs, data, 1000));  // silently ignored
    put32(nop, 24, get32(rsp, 28));             // at ExpCmdSN: answered
    c.send(nop);
    ASSERT_TRUE(c.read_pdu(bhs, data));
    EXPECT_EQ(bhs[0] & 0x3f, 0x20);  // NOP-In
    EXPECT_EQ(get32(bhs, 16), 0x10U);
}

TEST_F(HostileTest, HugeExpectedTransferLengthIsAnsweredWithoutAllocating) {
    RawConnection c(daemon_->port());
    auto rsp = login_full(c);
    ASSERT_EQ(rsp[36], 0);
    std::vector<uint8_t> bhs;
    std::string data;
    // Clear the new nexus' power-on unit attention first.
    auto tur = pdu(0x01, 0x80, "", 0x41);
    put32(tur, 24, get32(rsp, 28));
    c.send(tur);
    ASSERT_TRUE(c.read_pdu(bhs, data));
    // WRITE(10) of 16 blocks with 512 bytes of immediate data, whose Expected Data Transfer Length
    // claims 4 GiB - 1: nothing is allocated for it, nothing is waited for, nothing is written.
    auto cmd = pdu(0x01, 0x80 | 0x20, std::string(512, 'w'), 0x42);
    put32(cmd, 20, 0xffffffff);
    put32(cmd, 24, get32(rsp, 28) + 1);
    cmd[32] = 0x2a;  // WRITE(10), LBA 0
    cmd[40] = 16;    // blocks
    c.send(cmd);
    ASSERT_TRUE(c.read_pdu(bhs, data));
    EXPECT_EQ(bhs[0] & 0x3f, 0x21);  // SCSI Response
    EXPECT_EQ(bhs[3], 0x02);         // CHECK CONDITION
    ASSERT_GE(data.size(), 2U + 14U);
    EXPECT_EQ(data[2 + 2] & 0x0f, 0x05);  // ILLEGAL REQUEST
}

TEST_F(HostileTest, DataDigestIsCheckedAndAnsweredWithReject) {
    RawConnection c(daemon_->port());
    auto rsp = login_full(c, "CRC32C");
    ASSERT_EQ(rsp[36], 0) << daemon_->log();
    uint32_t cmd_sn = get32(rsp, 28);
    // NOP-Out ping with 5 bytes of data, padding and a correct data digest: echoed with a digest.
    auto ping = [&](bool corrupt) {
        auto nop = pdu(0x00, 0x80, "hello", 0x51);
        put32(nop, 20, 0xffffffff);
        put32(nop, 24, cmd_sn);
        const uint32_t crc = iscsi::crc32c({nop.data() + 48, 8});
        nop.resize(nop.size() + 4);
        iscsi::store_digest(&nop[56], corrupt ? crc ^ 1 : crc);
        c.send(nop);
    };
    ping(false);
    std::vector<uint8_t> bhs;
    std::string data;
    ASSERT_TRUE(c.read_pdu(bhs, data));
    EXPECT_EQ(bhs[0] & 0x3f, 0x20);
    EXPECT_EQ(data, "hello");
    std::string digest;
    ASSERT_TRUE(c.read_bytes(digest, 4));
    const std::string padded = data + std::string(3, '\0');
    EXPECT_EQ(iscsi::load_digest(reinterpret_cast<const uint8_t*>(digest.data())),
              iscsi::crc32c({reinterpret_cast<const uint8_t*>(padded.data()), 8}));
    ++cmd_sn;
    ping(true);
    ASSERT_TRUE(c.read_pdu(bhs, data));
    EXPECT_EQ(bhs[0] & 0x3f, 0x3f);  // Reject
    EXPECT_EQ(bhs[2], 0x02);         // data digest error
}

TEST_F(HostileTest, FloodOfUnknownKeysEndsTheLogin) {
    RawConnection c(daemon_->port());
    std::string body =
        keys({"InitiatorName=" + std::string(initiator), "TargetName=" + std::string(target_name)});
    for (int i = 0; i < 600; ++i) {
        body += keys({"X-com.example.k" + std::to_string(i) + "=1"});
    }
    // CSG=1 NSG=3 without T, continued (C bit) across PDUs of at most 8000 bytes.
    std::vector<uint8_t> bhs;
    std::string data;
    for (size_t at = 0; at < body.size(); at += 8000) {
        const bool last = at + 8000 >= body.size();
        c.send(login_pdu(last ? 0x07 : 0x47, body.substr(at, 8000)));
        ASSERT_TRUE(c.read_pdu(bhs, data));
        if (!last) {
            ASSERT_EQ(bhs[36], 0);  // the empty response that asks for more
        }
    }
    EXPECT_EQ(bhs[36], 0x02);
    EXPECT_LE(data.size(), 8192U);
}

TEST_F(HostileTest, ShortChapResponseIsAnAuthenticationFailure) {
    RawConnection c(daemon_->port());
    const std::string chap_target = "iqn.2026-11.org.atsarray:chap";
    std::vector<uint8_t> bhs;
    std::string data;
    c.send(login_pdu(0x01,
                     keys({"InitiatorName=" + std::string(initiator), "TargetName=" + chap_target,
                           "SessionType=Normal", "AuthMethod=CHAP"})));  // CSG=0 NSG=1
    ASSERT_TRUE(c.read_pdu(bhs, data));
    ASSERT_EQ(bhs[36], 0) << data;
    c.send(login_pdu(0x01, keys({"CHAP_A=5"})));
    ASSERT_TRUE(c.read_pdu(bhs, data));
    ASSERT_EQ(bhs[36], 0);
    ASSERT_NE(data.find("CHAP_C="), std::string::npos) << data;
    c.send(login_pdu(0x81, keys({"CHAP_N=host1", "CHAP_R=0x00"})));
    ASSERT_TRUE(c.read_pdu(bhs, data));
    EXPECT_EQ(bhs[36], 0x02);
    EXPECT_EQ(bhs[37], 0x01);  // authentication failure
    EXPECT_TRUE(c.closed_by_peer());
}

TEST_F(HostileTest, ReflectedChapChallengeIsRefused) {
    RawConnection c(daemon_->port());
    const std::string chap_target = "iqn.2026-11.org.atsarray:chap";
    std::vector<uint8_t> bhs;
    std::string data;
    c.send(login_pdu(0x01, keys({"InitiatorName=" + std::string(initiator),
                                 "TargetName=" + chap_target, "AuthMethod=CHAP"})));
    ASSERT_TRUE(c.read_pdu(bhs, data));
    c.send(login_pdu(0x01, keys({"CHAP_A=5"})));
    ASSERT_TRUE(c.read_pdu(bhs, data));
    const std::string challenge = key_value(data, "CHAP_C");
    const std::string id = key_value(data, "CHAP_I");
    ASSERT_FALSE(challenge.empty());
    ASSERT_FALSE(id.empty());
    // A correct response, but the target's own challenge sent back for mutual CHAP (a reflection
    // attack, RFC 7143 §12.1.3): refused.
    const std::string response = chap_response(static_cast<uint8_t>(std::stoi(id)),
                                               "initiator-secret-1", from_hex(challenge));
    c.send(login_pdu(
        0x81, keys({"CHAP_N=host1", "CHAP_R=" + response, "CHAP_I=1", "CHAP_C=" + challenge})));
    ASSERT_TRUE(c.read_pdu(bhs, data));
    EXPECT_EQ(bhs[36], 0x02);
    EXPECT_EQ(bhs[37], 0x01);
    EXPECT_TRUE(c.closed_by_peer());
}

TEST_F(HostileTest, CorrectChapResponseLogsIn) {
    // The same exchange as above with an honest mutual challenge succeeds: the refusals above are
    // about the faults they inject, not about the exchange itself.
    RawConnection c(daemon_->port());
    std::vector<uint8_t> bhs;
    std::string data;
    c.send(login_pdu(0x01, keys({"InitiatorName=" + std::string(initiator),
                                 "TargetName=iqn.2026-11.org.atsarray:chap", "AuthMethod=CHAP"})));
    ASSERT_TRUE(c.read_pdu(bhs, data));
    c.send(login_pdu(0x01, keys({"CHAP_A=5"})));
    ASSERT_TRUE(c.read_pdu(bhs, data));
    const std::string response =
        chap_response(static_cast<uint8_t>(std::stoi(key_value(data, "CHAP_I"))),
                      "initiator-secret-1", from_hex(key_value(data, "CHAP_C")));
    c.send(login_pdu(0x81, keys({"CHAP_N=host1", "CHAP_R=" + response, "CHAP_I=9",
                                 "CHAP_C=0x5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a"})));
    ASSERT_TRUE(c.read_pdu(bhs, data));
    EXPECT_EQ(bhs[36], 0) << data;
    EXPECT_EQ(key_value(data, "CHAP_N"), "array");
    EXPECT_FALSE(key_value(data, "CHAP_R").empty());
}

}  // namespace
}  // namespace atsarray::testing
