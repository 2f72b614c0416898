// The task manager fed raw SCSI Command and Data-Out PDUs: CDB and AHS, immediate data, R2Ts,
// Data-Out sequencing, Data-In and SCSI Response as RFC 7143 §11.3-§11.8 lay them out.
#include "target/iscsi/task_manager.hpp"

#include <gtest/gtest.h>

#include <numeric>

#include "target/iscsi/server_state.hpp"
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
    TaskLimits limits_;
    BufferBudget budget_;
    TaskManager tasks_{tx_, window_, tags_, params_, limits_, budget_, peer_};
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
    // The command's slot opens when its last PDU leaves the queue, not before.
    EXPECT_TRUE(sent(3).frees_slot);
    EXPECT_FALSE(sent(2).frees_slot);
    EXPECT_EQ(window_.max_cmd_sn(), 16U);
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
    EXPECT_EQ(window_.max_cmd_sn(), max_before + 1);  // no answer comes: the slot opens now
    EXPECT_EQ(tasks_.held_bytes(), 0U);
    EXPECT_EQ(budget_.used(), 0U);
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
    TaskLimits small_limits;
    small_limits.max_data_out = 4096;
    TaskManager small{tx_, window_, tags_, params_, small_limits, budget_, peer_};
    RawPdu pdu = scsi_command(0x50, 1, 0x20, 1U << 30, 0x2a);
    pdu.data(std::vector<uint8_t>(512, 0));
    ASSERT_EQ(window_.accept(pdu.view().bhs), CommandWindow::Verdict::accepted);
    Task* task = small.on_scsi_command(pdu.view());
    ASSERT_NE(task, nullptr);  // the SCSI layer answers it; nothing 1 GiB is allocated
    EXPECT_EQ(task->data_out.size(), 512U);
    EXPECT_TRUE(tx_.empty());
}

// Bounded memory (issue 12): what tasks hold is counted, a command that would go past the
// connection's budget waits its turn, and what a finished write frees lets the next one in.
TEST_F(TaskManagerTest, ReadsBeyondTheBudgetWaitUntilAnswersAreWritten) {
    limits_.buffer_bytes = 64 * 1024;
    Task* first = command(scsi_command(0x60, 1, 0x40, 32 * 1024, 0x28));
    Task* second = command(scsi_command(0x61, 2, 0x40, 32 * 1024, 0x28));
    ASSERT_NE(first, nullptr);
    ASSERT_NE(second, nullptr);
    EXPECT_EQ(tasks_.held_bytes(), 64U * 1024);
    EXPECT_EQ(budget_.used(), 64U * 1024);
    EXPECT_EQ(command(scsi_command(0x62, 3, 0x40, 32 * 1024, 0x28)), nullptr);
    EXPECT_TRUE(tasks_.has_waiting());
    EXPECT_TRUE(tx_.empty());  // waiting is not an answer
    EXPECT_TRUE(tasks_.admit_waiting().empty());

    first->data_in.assign(32 * 1024, 1);
    tasks_.queue_result(first);
    EXPECT_TRUE(tasks_.admit_waiting().empty());  // queued is not written
    tx_.gather(window_);
    tx_.written([this](Task* t) { tasks_.release(t); });
    const auto ready = tasks_.admit_waiting();
    ASSERT_EQ(ready.size(), 1U);
    EXPECT_EQ(ready[0]->itt, 0x62U);
    EXPECT_FALSE(tasks_.has_waiting());
}

TEST_F(TaskManagerTest, OneCommandIsAdmittedWhateverItsSize) {
    limits_.buffer_bytes = 4096;
    Task* big = command(scsi_command(0x63, 1, 0x40, 1U << 20, 0x28));
    ASSERT_NE(big, nullptr);
    EXPECT_EQ(command(scsi_command(0x64, 2, 0x40, 512, 0x28)), nullptr);
}

TEST_F(TaskManagerTest, TheDaemonBudgetHoldsBackEveryConnection) {
    budget_.set_limit(16 * 1024);
    budget_.add(16 * 1024);  // other connections hold it all
    ASSERT_NE(command(scsi_command(0x65, 1, 0x40, 4096, 0x28)), nullptr);  // progress: one
    EXPECT_EQ(command(scsi_command(0x66, 2, 0x40, 4096, 0x28)), nullptr);
    EXPECT_TRUE(tasks_.blocked_by_daemon_budget());
    budget_.sub(16 * 1024);
    EXPECT_EQ(tasks_.admit_waiting().size(), 1U);
}

// 64 hostile sessions each admitted one 8 MiB READ past a full daemon budget took the RSS to
// 779 MiB with a 256 MiB budget: a lone command past the daemon's budget must be a small one.
TEST_F(TaskManagerTest, ALoneLargeCommandWaitsForTheDaemonBudget) {
    budget_.set_limit(1U << 20);
    budget_.add(1U << 20);
    EXPECT_EQ(command(scsi_command(0x68, 1, 0x40, 8U << 20, 0x28)), nullptr);
    EXPECT_TRUE(tasks_.blocked_by_daemon_budget());
    EXPECT_EQ(tasks_.held_bytes(), 0U);
    budget_.sub(1U << 20);  // nothing else holds any: a command larger than the budget runs
    const auto ready = tasks_.admit_waiting();
    ASSERT_EQ(ready.size(), 1U);
    EXPECT_EQ(tasks_.held_bytes(), 8U << 20);
}

TEST_F(TaskManagerTest, WritesHoldOnlyWhatTheirR2tsSolicited) {
    limits_.buffer_bytes = 64 * 1024;
    params_.max_burst_length = 16 * 1024;
    params_.max_outstanding_r2t = 1;
    EXPECT_EQ(command(scsi_command(0x67, 1, 0x20, 1U << 20, 0x2a)), nullptr);
    ASSERT_EQ(tx_.size(), 1U);  // one R2T of 16 KiB, not a 1 MiB buffer
    EXPECT_EQ(u32_at(sent(0), 44), 16U * 1024);
    EXPECT_EQ(tasks_.held_bytes(), 16U * 1024);
    EXPECT_EQ(tasks_.find(0x67)->data_out.size(), 16U * 1024);
}

TEST_F(TaskManagerTest, TooManyImmediateCommandsAreRejected) {
    limits_.max_immediate_commands = 2;
    for (uint32_t i = 0; i < 2; ++i) {
        RawPdu pdu = scsi_command(0x70 + i, 1, 0x40, 512, 0x28);
        pdu.immediate();
        ASSERT_NE(command(pdu), nullptr);
    }
    RawPdu third = scsi_command(0x72, 1, 0x40, 512, 0x28);
    third.immediate();
    EXPECT_EQ(command(third), nullptr);
    ASSERT_EQ(tx_.size(), 1U);
    EXPECT_EQ(test::opcode_of(sent(0)), op_reject);
    EXPECT_EQ(test::byte_at(sent(0), 2), 0x06);  // immediate command reject
    // One ends: the next immediate command is taken.
    tasks_.drop(tasks_.find(0x70));
    RawPdu fourth = scsi_command(0x73, 1, 0x40, 512, 0x28);
    fourth.immediate();
    EXPECT_NE(command(fourth), nullptr);
}

TEST_F(TaskManagerTest, ReadAskingBeyondTheExpectedLengthKeepsOnlyWhatIsSent) {
    Task* task = command(scsi_command(0x74, 1, 0x40, 0, 0x88));  // EDTL 0, a READ(16) CDB
    ASSERT_NE(task, nullptr);
    task->data_in.assign(8U << 20, 7);  // what the SCSI layer read for the CDB
    tasks_.queue_result(task);
    EXPECT_EQ(task->data_in.capacity(), 0U);  // nothing is sent, nothing is kept
    EXPECT_EQ(tasks_.held_bytes(), 0U);
    ASSERT_EQ(tx_.size(), 1U);
    EXPECT_EQ(test::byte_at(sent(0), 1), 0x80 | 0x04);  // F, O: overflow
}

}  // namespace
}  // namespace atsarray::iscsi
