// Session-level behaviour over the wire: task management answers and their effect on other
// sessions, target keepalive NOP-Ins, and SendTargets replies longer than the initiator accepts.
#include <gtest/gtest.h>

extern "C" {
#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>
}

#include <chrono>
#include <csignal>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/daemon_process.hpp"
#include "tests/integration/raw_iscsi.hpp"
#include "tools/libiscsi_handles.hpp"

namespace atsarray::testing {
namespace {

using initiator::Context;
using initiator::create_context;
using initiator::Task;

constexpr const char* target_name = "iqn.2026-11.org.atsarray:tmf";
constexpr const char* initiator = "iqn.2026-11.org.atsarray:raw";

std::string config(const std::string& iscsi_section = "") {
    return iscsi_section + "[[target]]\nname = \"" + std::string(target_name) +
           "\"\n[[target.lun]]\nid = 0\nbackend = \"memory\"\nsize = \"1MiB\"\n";
}

Context make_session(const DaemonProcess& d, const char* name) {
    Context ctx = create_context(name);
    iscsi_set_targetname(ctx.get(), target_name);
    iscsi_set_session_type(ctx.get(), ISCSI_SESSION_NORMAL);
    iscsi_set_noautoreconnect(ctx.get(), 1);
    EXPECT_EQ(iscsi_full_connect_sync(ctx.get(), d.portal().c_str(), 0), 0)
        << iscsi_get_error(ctx.get());
    return ctx;
}

// TEST UNIT READY; returns the sense ASC/ASCQ of a unit attention, 0 for GOOD, -1 otherwise.
int tur_unit_attention(iscsi_context* ctx) {
    scsi_task* t = iscsi_testunitready_sync(ctx, 0);
    if (t == nullptr) {
        return -1;
    }
    int result = -1;
    if (t->status == SCSI_STATUS_GOOD) {
        result = 0;
    } else if (t->status == SCSI_STATUS_CHECK_CONDITION &&
               t->sense.key == SCSI_SENSE_UNIT_ATTENTION) {
        result = t->sense.ascq;
    }
    scsi_free_scsi_task(t);
    return result;
}

TEST(TaskManagement, LunResetGivesEverySessionAUnitAttention) {
    DaemonProcess d(config());
    Context a = make_session(d, "iqn.2026-11.org.atsarray:a");
    Context b = make_session(d, "iqn.2026-11.org.atsarray:b");
    ASSERT_EQ(tur_unit_attention(b.get()), 0);  // libiscsi's connect consumed the power-on UA
    ASSERT_EQ(iscsi_task_mgmt_lun_reset_sync(a.get(), 0), 0) << iscsi_get_error(a.get());
    EXPECT_EQ(tur_unit_attention(b.get()),
              SCSI_SENSE_ASCQ_BUS_DEVICE_RESET_FUNCTION_OCCURED);  // 29/03, reported...
    EXPECT_EQ(tur_unit_attention(b.get()), 0);                     // ...once
}

TEST(TaskManagement, TargetWarmResetGivesEverySessionAUnitAttention) {
    DaemonProcess d(config());
    Context a = make_session(d, "iqn.2026-11.org.atsarray:a");
    Context b = make_session(d, "iqn.2026-11.org.atsarray:b");
    ASSERT_EQ(tur_unit_attention(b.get()), 0);
    ASSERT_EQ(iscsi_task_mgmt_target_warm_reset_sync(a.get()), 0) << iscsi_get_error(a.get());
    EXPECT_EQ(tur_unit_attention(b.get()), SCSI_SENSE_ASCQ_BUS_DEVICE_RESET_FUNCTION_OCCURED);
    EXPECT_EQ(tur_unit_attention(b.get()), 0);
}

TEST(TaskManagement, AbortTaskSetCompletes) {
    DaemonProcess d(config());
    Context a = make_session(d, "iqn.2026-11.org.atsarray:a");
    EXPECT_EQ(iscsi_task_mgmt_abort_task_set_sync(a.get(), 0), 0) << iscsi_get_error(a.get());
    EXPECT_EQ(tur_unit_attention(a.get()), 0);
}

TEST(TaskManagement, AbortOfAnAnsweredTaskFollowsRfc7143ByDefault) {
    DaemonProcess d(config());
    RawSession s(d.port(), target_name, initiator);
    const uint32_t sn = s.command(5, {0x00});  // TEST UNIT READY
    std::vector<uint8_t> bhs;
    std::string data;
    ASSERT_TRUE(s.conn.read_pdu(bhs, data));
    EXPECT_EQ(s.abort_task(6, 5, sn), 1);  // TASK DOES NOT EXIST (RFC 7143 §11.5.1 c)
}

TEST(TaskManagement, AbortOfAnAnsweredTaskCanAnswerAsEsxiExpects) {
    DaemonProcess d(config("[iscsi]\nabort_answered_task = \"function_complete\"\n"));
    RawSession s(d.port(), target_name, initiator);
    const uint32_t sn = s.command(5, {0x00});
    std::vector<uint8_t> bhs;
    std::string data;
    ASSERT_TRUE(s.conn.read_pdu(bhs, data));
    EXPECT_EQ(s.abort_task(6, 5, sn), 0);  // FUNCTION COMPLETE
}

TEST(TaskManagement, AbortBeforeArrivalMeansTheCommandNeverExecutes) {
    DaemonProcess d(config());
    RawSession s(d.port(), target_name, initiator);
    std::vector<uint8_t> bhs;
    std::string data;
    // Clear the power-on unit attention.
    s.command(1, {0x00});
    ASSERT_TRUE(s.conn.read_pdu(bhs, data));
    // The initiator "sent" a WRITE with CmdSN n that the target has not seen yet, and aborts it
    // (RFC 7143 §11.5.1 b): FUNCTION COMPLETE, and when the WRITE shows up it is dropped.
    const uint32_t lost = s.cmd_sn++;
    EXPECT_EQ(s.abort_task(2, 9, lost), 0);
    auto write = pdu(0x01, 0x80 | 0x20, std::string(512, 'Z'), 9);
    put32(write, 20, 512);
    put32(write, 24, lost);
    write[32] = 0x2a;  // WRITE(10) LBA 7, one block
    write[37] = 7;
    write[40] = 1;
    s.conn.send(write);
    EXPECT_FALSE(s.conn.read_pdu(bhs, data, 500));  // no answer for an aborted command
    // READ(10) of LBA 7: still zeros.
    s.command(10, {0x28, 0, 0, 0, 0, 7, 0, 0, 1, 0}, 0x80 | 0x40, "", 512);
    ASSERT_TRUE(s.conn.read_pdu(bhs, data));
    EXPECT_EQ(bhs[0] & 0x3f, 0x25);  // Data-In with status
    EXPECT_EQ(get32(bhs, 16), 10U);
    EXPECT_EQ(data, std::string(512, '\0'));
}

std::string sized_config(const std::string& size) {
    return "[[target]]\nname = \"" + std::string(target_name) +
           "\"\n[[target.lun]]\nid = 0\nbackend = \"file\"\npath = \"lun0.img\"\nsize = \"" + size +
           "\"\n";
}

uint64_t last_lba(iscsi_context* ctx) {
    Task t(iscsi_readcapacity16_sync(ctx, 0));
    if (!t || t->status != SCSI_STATUS_GOOD) {
        return 0;
    }
    auto* rc = static_cast<scsi_readcapacity16*>(scsi_datain_unmarshall(t.get()));
    return rc != nullptr ? rc->returned_lba : 0;
}

TEST(Resize, SighupGrowsALunAndAnnouncesIt) {
    DaemonProcess d(sized_config("1MiB"));
    Context a = make_session(d, "iqn.2026-11.org.atsarray:a");
    ASSERT_EQ(tur_unit_attention(a.get()), 0);
    EXPECT_EQ(last_lba(a.get()), 2047U);
    d.write_config(sized_config("2MiB"));
    d.signal(SIGHUP);
    // CAPACITY DATA HAS CHANGED (2A/09), once, then the new size.
    int ua = 0;
    for (int i = 0; i < 100 && ua == 0; ++i) {
        ua = tur_unit_attention(a.get());
        if (ua == 0) {
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
    }
    EXPECT_EQ(ua, 0x2a09);
    EXPECT_EQ(tur_unit_attention(a.get()), 0);
    EXPECT_EQ(last_lba(a.get()), 4095U);
    std::vector<uint8_t> block(512, 0x77);
    Task w(iscsi_write16_sync(a.get(), 0, 4095, block.data(), 512, 512, 0, 0, 0, 0, 0));
    ASSERT_NE(w, nullptr);
    EXPECT_EQ(w->status, SCSI_STATUS_GOOD);
}

TEST(Resize, ShrinkingIsRefused) {
    DaemonProcess d(sized_config("2MiB"));
    d.write_config(sized_config("1MiB"));
    d.signal(SIGHUP);
    for (int i = 0; i < 100 && d.log().find("refused") == std::string::npos; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    EXPECT_NE(d.log().find("would discard data; refused"), std::string::npos) << d.log();
    Context a = make_session(d, "iqn.2026-11.org.atsarray:a");
    EXPECT_EQ(last_lba(a.get()), 4095U);
}

TEST(Keepalive, SilentInitiatorIsDroppedAfterTheNopInTimeout) {
    DaemonProcess d(config("[iscsi]\nnop_in_interval = 1\nnop_in_timeout = 1\n"));
    RawSession s(d.port(), target_name, initiator);
    std::vector<uint8_t> bhs;
    std::string data;
    ASSERT_TRUE(s.conn.read_pdu(bhs, data, 4000));
    EXPECT_EQ(bhs[0] & 0x3f, 0x20);            // NOP-In
    EXPECT_EQ(get32(bhs, 16), 0xffffffffU);    // target-initiated: no ITT
    EXPECT_NE(get32(bhs, 20), 0xffffffffU);    // a TTT to echo
    EXPECT_TRUE(s.conn.closed_by_peer(5000));  // never answered: the connection ends
    EXPECT_NE(d.log().find("no answer to NOP-In"), std::string::npos);
}

TEST(Keepalive, AnsweringInitiatorStaysLoggedIn) {
    DaemonProcess d(config("[iscsi]\nnop_in_interval = 1\nnop_in_timeout = 1\n"));
    RawSession s(d.port(), target_name, initiator);
    std::vector<uint8_t> bhs;
    std::string data;
    for (int i = 0; i < 3; ++i) {
        ASSERT_TRUE(s.conn.read_pdu(bhs, data, 4000));
        ASSERT_EQ(bhs[0] & 0x3f, 0x20);
        auto reply = pdu(0x40, 0x80, "", 0xffffffff);  // NOP-Out, immediate, echoes the TTT
        put32(reply, 20, get32(bhs, 20));
        put32(reply, 24, s.cmd_sn);
        s.conn.send(reply);
    }
    s.command(3, {0x00});
    ASSERT_TRUE(s.conn.read_pdu(bhs, data));
    EXPECT_EQ(bhs[0] & 0x3f, 0x21);
}

TEST(SendTargets, LongReplyIsSplitToTheInitiatorsMaxRecvDataSegmentLength) {
    std::string many;
    for (int i = 0; i < 40; ++i) {
        many += "[[target]]\nname = \"iqn.2026-11.org.atsarray:a-rather-long-target-name-" +
                std::to_string(i) +
                "\"\n[[target.lun]]\nid = 0\nbackend = \"memory\"\nsize = "
                "\"1MiB\"\n";
    }
    DaemonProcess d(many);
    RawConnection c(d.port());
    c.send(login_pdu(
        0x87, keys({"InitiatorName=" + std::string(initiator), "SessionType=Discovery",
                    "HeaderDigest=None", "DataDigest=None", "MaxRecvDataSegmentLength=512"})));
    std::vector<uint8_t> bhs;
    std::string data;
    ASSERT_TRUE(c.read_pdu(bhs, data));
    ASSERT_EQ(bhs[36], 0) << data;
    uint32_t cmd_sn = get32(bhs, 28);
    auto text = pdu(0x04, 0x80, keys({"SendTargets=All"}), 0x77);
    put32(text, 20, 0xffffffff);
    put32(text, 24, cmd_sn++);
    c.send(text);
    std::string all;
    int pdus = 0;
    for (;;) {
        ASSERT_TRUE(c.read_pdu(bhs, data));
        ASSERT_EQ(bhs[0] & 0x3f, 0x24);  // Text Response
        EXPECT_LE(data.size(), 512U);
        all += data;
        ++pdus;
        if ((bhs[1] & 0x40) == 0) {  // C=0: the last part
            EXPECT_EQ(bhs[1] & 0x80, 0x80);
            break;
        }
        auto more = pdu(0x04, 0x80, "", 0x77);  // empty request echoing the TTT
        put32(more, 20, get32(bhs, 20));
        put32(more, 24, cmd_sn++);
        c.send(more);
    }
    EXPECT_GT(pdus, 5);
    std::set<std::string> names;
    for (size_t at = all.find("TargetName="); at != std::string::npos;
         at = all.find("TargetName=", at + 1)) {
        names.insert(all.substr(at + 11, all.find('\0', at) - at - 11));
    }
    EXPECT_EQ(names.size(), 40U);
}

}  // namespace
}  // namespace atsarray::testing
