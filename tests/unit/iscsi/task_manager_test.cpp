// The task manager fed raw SCSI Command and Data-Out PDUs: CDB and AHS, immediate data, R2Ts,
// Data-Out sequencing, Data-In and SCSI Response as RFC 7143 §11.3-§11.8 lay them out.
#include "target/iscsi/task_manager.hpp"

#include <gtest/gtest.h>

#include <numeric>

#include "tests/unit/iscsi/raw_pdu.hpp"

namespace atsarray::iscsi {
namespace {

using test::RawPdu;
using test::u32_at;

constexpr uint8_t op_scsi_command = 0x01;
constexpr uint8_t op_data_out = 0x05;
constexpr uint8_t op_scsi_response = 0x21;
constexpr uint8_t op_data_in = 0x25;
constexpr uint8_t op_r2t = 0x31;
constexpr uint8_t op_reject = 0x3f;

class TaskManagerTest : public ::testing::Test {
  protected:
    TaskManagerTest() { window_.open(1, 16); }

    // A SCSI Command: F plus R or W, ITT, CmdSN, EDTL, CDB opcode.
    static RawPdu scsi_command(uint32_t itt, uint32_t cmd_sn, uint8_t rw, uint32_t edtl,
                               uint8_t cdb0) {
        RawPdu pdu(op_scsi_command, static_cast<uint8_t>(0x80 | rw));
        pdu.itt(itt).cmd_sn(cmd_sn).u32(20, edtl).u8(32, cdb0);
        return pdu;
    }
    static RawPdu data_out(uint32_t itt, uint32_t ttt, uint32_t data_sn, uint32_t offset,
                           uint32_t length, bool final_bit) {
        RawPdu pdu(op_data_out, final_bit ? 0x80 : 0x00);
        pdu.itt(itt).u32(20, ttt).u32(36, data_sn).u32(40, offset);
        std::vector<uint8_t> d(length);
        std::iota(d.begin(), d.end(), static_cast<uint8_t>(offset));
        pdu.data(std::move(d));
        return pdu;
    }
    Task* command(RawPdu pdu) {
        EXPECT_EQ(window_.accept(pdu.view().bhs), CommandWindow::Verdict::accepted);
        return tasks_.on_scsi_command(pdu.view());
    }
    const OutPdu& sent(size_t i) const { return tx_.at(i); }

    SendQueue tx_;
    CommandWindow window_;
    TransferTags tags_;
    SessionParams params_;
    std::string peer_ = "test";
    TaskManager tasks_{tx_, window_, tags_, params_, 16U << 20, peer_};
};

TEST_F(TaskManagerTest, ReadGoesOutAsDataInWithStatusInTheLast) {
    params_.initiator_max_recv_data_segment_length = 1024;
    Task* task = command(scsi_command(0x10, 1, 0x40, 4096, 0x28));
    ASSERT_NE(task, nullptr);
    EXPECT_TRUE(task->read);
    EXPECT_EQ(task->cdb[0], 0x28);
    EXPECT_EQ(task->cdb_length, 16);
    EXPECT_EQ(tasks_.in_flight(), 1U);
    task->data_in.assign(4096, 0xab);
    tasks_.queue_result(task);
    ASSERT_EQ(tx_.size(), 4U);
    for (uint32_t i = 0; i < 4; ++i) {
        const OutPdu& pdu = sent(i);
        EXPECT_EQ(test::opcode_of(pdu), op_data_in);
        EXPECT_EQ(u32_at(pdu, 16), 0x10U);         // ITT
        EXPECT_EQ(u32_at(pdu, 20), reserved_tag);  // TTT
        EXPECT_EQ(u32_at(pdu, 36), i);             // DataSN
        EXPECT_EQ(u32_at(pdu, 40), i * 1024);      // Buffer Offset
        EXPECT_EQ(pdu.data.size(), 1024U);
    }
    EXPECT_EQ(test::byte_at(sent(0), 1), 0x00);  // neither F nor S
    EXPECT_EQ(test::stat_sn_of(sent(0)), 0U);    // reserved without S
    EXPECT_EQ(test::byte_at(sent(3), 1), 0x81);  // F and S, no residual
    EXPECT_EQ(test::byte_at(sent(3), 3), 0x00);  // GOOD
    EXPECT_EQ(test::stat_sn_of(sent(3)), 1U);
    // The command's slot opened: MaxCmdSN 16 -> 17.
    EXPECT_EQ(test::max_cmd_sn_of(sent(3)), 17U);
    EXPECT_EQ(sent(3).release_task, task);
    EXPECT_TRUE(tasks_.empty());
}

TEST_F(TaskManagerTest, ShortReadReportsUnderflowInTheCollapsedStatus) {
    Task* task = command(scsi_command(0x11, 1, 0x40, 4096, 0x28));
    ASSERT_NE(task, nullptr);
    task->data_in.assign(512, 1);
    tasks_.queue_result(task);
    ASSERT_EQ(tx_.size(), 1U);
    EXPECT_EQ(test::byte_at(sent(0), 1), 0x80 | 0x02 | 0x01);  // F, U, S
    EXPECT_EQ(u32_at(sent(0), 44), 4096U - 512U);              // Residual Count
}

TEST_F(TaskManagerTest, CheckConditionGoesInAScsiResponseWithSense) {
    Task* task = command(scsi_command(0x12, 1, 0x00, 0, 0x00));
    ASSERT_NE(task, nullptr);
    task->cmd.status = scsi::Status::check_condition;
    task->cmd.sense.length = 18;
    task->cmd.sense.bytes[0] = 0x70;
    task->cmd.sense.bytes[2] = 0x05;
    tasks_.queue_result(task);
    ASSERT_EQ(tx_.size(), 1U);
    const OutPdu& pdu = sent(0);
    EXPECT_EQ(test::opcode_of(pdu), op_scsi_response);
    EXPECT_EQ(test::byte_at(pdu, 1), 0x80);
    EXPECT_EQ(test::byte_at(pdu, 2), 0x00);  // command completed at target
    EXPECT_EQ(test::byte_at(pdu, 3), 0x02);  // CHECK CONDITION
    ASSERT_EQ(pdu.data.size(), 20U);         // SenseLength + 18 bytes
    EXPECT_EQ(load16(pdu.data.data()), 18U);
    EXPECT_EQ(pdu.data[2], 0x70);
    EXPECT_EQ(pdu.data[4], 0x05);
}

TEST_F(TaskManagerTest, WriteSolicitsTheRestWithR2tAndCompletesInOrder) {
    // 8192 bytes, 1024 of them immediate; InitialR2T=Yes: one R2T for the other 7168.
    RawPdu pdu = scsi_command(0x20, 1, 0x20, 8192, 0x2a);
    pdu.data(std::vector<uint8_t>(1024, 0xee));
    EXPECT_EQ(command(pdu), nullptr);
    ASSERT_EQ(tx_.size(), 1U);
    const OutPdu& r2t = sent(0);
    EXPECT_EQ(test::opcode_of(r2t), op_r2t);
    EXPECT_EQ(test::byte_at(r2t, 1), 0x80);
    EXPECT_EQ(u32_at(r2t, 16), 0x20U);
    const uint32_t ttt = u32_at(r2t, 20);
    EXPECT_NE(ttt, reserved_tag);
    EXPECT_EQ(u32_at(r2t, 36), 0U);     // R2TSN
    EXPECT_EQ(u32_at(r2t, 40), 1024U);  // Buffer Offset
    EXPECT_EQ(u32_at(r2t, 44), 7168U);  // Desired Data Transfer Length
    EXPECT_EQ(test::stat_sn_of(r2t), 1U);
    EXPECT_EQ(window_.stat_sn(), 1U);  // an R2T consumes no StatSN

    EXPECT_EQ(tasks_.on_data_out(data_out(0x20, ttt, 0, 1024, 4096, false).view()), nullptr);
    Task* task = tasks_.on_data_out(data_out(0x20, ttt, 1, 5120, 3072, true).view());
    ASSERT_NE(task, nullptr);
    EXPECT_EQ(task->received, 8192U);
    EXPECT_EQ(task->data_out[0], 0xee);
    EXPECT_EQ(task->data_out[1024], static_cast<uint8_t>(1024));
    EXPECT_EQ(task->data_out[5121], static_cast<uint8_t>(5120 + 1));
    EXPECT_EQ(tx_.size(), 1U);  // nothing rejected
}

TEST_F(TaskManagerTest, DataOutOutOfSequenceIsRejectedAndTheTaskEnds) {
    EXPECT_EQ(command(scsi_command(0x21, 1, 0x20, 4096, 0x2a)), nullptr);
    const uint32_t ttt = u32_at(sent(0), 20);
    const uint32_t max_before = window_.max_cmd_sn();
    // Offset 512 where 0 is expected (DataPDUInOrder=Yes).
    EXPECT_EQ(tasks_.on_data_out(data_out(0x21, ttt, 0, 512, 512, false).view()), nullptr);
    ASSERT_EQ(tx_.size(), 2U);
    EXPECT_EQ(test::opcode_of(sent(1)), op_reject);
    EXPECT_EQ(test::byte_at(sent(1), 2), 0x04);  // protocol error
    EXPECT_EQ(sent(1).data.size(), bhs_length);  // the rejected header
    EXPECT_EQ(sent(1).data[0], op_data_out);
    EXPECT_TRUE(tasks_.empty());
    EXPECT_EQ(tasks_.in_flight(), 0U);
    EXPECT_EQ(window_.max_cmd_sn(), max_before + 1);
}

TEST_F(TaskManagerTest, DataOutForNoTaskOrAnUnknownTttIsRejected) {
    EXPECT_EQ(tasks_.on_data_out(data_out(0x99, 5, 0, 0, 512, true).view()), nullptr);
    ASSERT_EQ(tx_.size(), 1U);
    EXPECT_EQ(test::byte_at(sent(0), 2), 0x09);  // invalid PDU field
    EXPECT_EQ(command(scsi_command(0x22, 1, 0x20, 4096, 0x2a)), nullptr);
    EXPECT_EQ(tasks_.on_data_out(data_out(0x22, 0x7777, 0, 0, 512, false).view()), nullptr);
    EXPECT_EQ(test::byte_at(sent(2), 2), 0x09);
    EXPECT_NE(tasks_.find(0x22), nullptr);  // the task still waits for its data
}

TEST_F(TaskManagerTest, DuplicateTaskTagIsRejected) {
    EXPECT_EQ(command(scsi_command(0x30, 1, 0x20, 4096, 0x2a)), nullptr);
    EXPECT_EQ(command(scsi_command(0x30, 2, 0x40, 512, 0x28)), nullptr);
    ASSERT_EQ(tx_.size(), 2U);
    EXPECT_EQ(test::opcode_of(sent(1)), op_reject);
    EXPECT_EQ(test::byte_at(sent(1), 2), 0x07);  // task in progress
    EXPECT_EQ(tasks_.in_flight(), 1U);
}

TEST_F(TaskManagerTest, ImmediateDataOnAReadIsAProtocolError) {
    RawPdu pdu = scsi_command(0x31, 1, 0x40, 512, 0x28);
    pdu.data(std::vector<uint8_t>(512, 0));
    EXPECT_EQ(command(pdu), nullptr);
    ASSERT_EQ(tx_.size(), 1U);
    EXPECT_EQ(test::byte_at(sent(0), 2), 0x04);
    EXPECT_TRUE(tasks_.empty());
}

TEST_F(TaskManagerTest, ExtendedCdbAhsMakesALongCdb) {
    // AHSLength 17 (type byte's reserved byte + 16 CDB bytes), type 1, padded to 20 bytes.
    std::vector<uint8_t> ahs(20, 0);
    store16(ahs.data(), 17);
    ahs[2] = 1;
    ahs[4] = 0xcd;
    RawPdu pdu = scsi_command(0x40, 1, 0x00, 0, 0x7f);
    pdu.ahs(ahs);
    Task* task = command(pdu);
    ASSERT_NE(task, nullptr);
    EXPECT_EQ(task->cdb_length, 32);
    EXPECT_EQ(task->cdb[0], 0x7f);
    EXPECT_EQ(task->cdb[16], 0xcd);
}

TEST_F(TaskManagerTest, MalformedAhsIsRejected) {
    std::vector<uint8_t> ahs(4, 0);
    store16(ahs.data(), 40);  // longer than what follows
    ahs[2] = 1;
    RawPdu pdu = scsi_command(0x41, 1, 0x00, 0, 0x00);
    pdu.ahs(ahs);
    EXPECT_EQ(command(pdu), nullptr);
    ASSERT_EQ(tx_.size(), 1U);
    EXPECT_EQ(test::byte_at(sent(0), 2), 0x09);
    EXPECT_EQ(tasks_.in_flight(), 0U);
}

TEST_F(TaskManagerTest, WriteBeyondTheLargestAcceptedExecutesWithImmediateDataOnly) {
    TaskManager small{tx_, window_, tags_, params_, 4096, peer_};
    RawPdu pdu = scsi_command(0x50, 1, 0x20, 1U << 30, 0x2a);
    pdu.data(std::vector<uint8_t>(512, 0));
    ASSERT_EQ(window_.accept(pdu.view().bhs), CommandWindow::Verdict::accepted);
    Task* task = small.on_scsi_command(pdu.view());
    ASSERT_NE(task, nullptr);  // the SCSI layer answers it; nothing 1 GiB is allocated
    EXPECT_EQ(task->data_out.size(), 512U);
    EXPECT_TRUE(tx_.empty());
}

}  // namespace
}  // namespace atsarray::iscsi
