// The command window and StatSN (RFC 7143 §4.2.2.1, §11.5.1 b), fed raw request headers.
#include "target/iscsi/command_window.hpp"

#include <gtest/gtest.h>

#include "tests/unit/iscsi/raw_pdu.hpp"

namespace atsarray::iscsi {
namespace {

using test::RawPdu;

Bhs command(uint32_t cmd_sn, bool immediate = false) {
    RawPdu pdu(0x01);
    pdu.cmd_sn(cmd_sn);
    if (immediate) {
        pdu.immediate();
    }
    return Bhs(pdu.wire().data());
}

TEST(CommandWindow, OpensAtTheLoginCmdSnWithQueueDepthSlots) {
    CommandWindow window;
    window.open(10, 4);
    EXPECT_EQ(window.exp_cmd_sn(), 10U);
    EXPECT_EQ(window.max_cmd_sn(), 13U);
    TargetBhs hdr;
    window.fill(hdr, true);
    EXPECT_EQ(load32(&hdr.b[24]), 1U);  // StatSN
    EXPECT_EQ(load32(&hdr.b[28]), 10U);
    EXPECT_EQ(load32(&hdr.b[32]), 13U);
    window.fill(hdr, false);  // an R2T: StatSN not consumed
    EXPECT_EQ(load32(&hdr.b[24]), 2U);
    window.fill(hdr, true);
    EXPECT_EQ(load32(&hdr.b[24]), 2U);
    EXPECT_EQ(window.stat_sn(), 3U);
}

TEST(CommandWindow, InOrderCommandsAdvanceOthersAreIgnored) {
    CommandWindow window;
    window.open(10, 4);
    EXPECT_EQ(window.accept(command(9)), CommandWindow::Verdict::outside_window);
    EXPECT_EQ(window.accept(command(14)), CommandWindow::Verdict::outside_window);
    EXPECT_EQ(window.accept(command(10)), CommandWindow::Verdict::accepted);
    EXPECT_EQ(window.exp_cmd_sn(), 11U);
    // Out of order inside the window: handled, ExpCmdSN waits for 11.
    EXPECT_EQ(window.accept(command(12)), CommandWindow::Verdict::accepted);
    EXPECT_EQ(window.exp_cmd_sn(), 11U);
    // Immediate commands take no slot and do not move the window.
    EXPECT_EQ(window.accept(command(50, true)), CommandWindow::Verdict::accepted);
    EXPECT_EQ(window.exp_cmd_sn(), 11U);
    EXPECT_EQ(window.max_cmd_sn(), 13U);
}

TEST(CommandWindow, SlotsOpenAsNonImmediateCommandsEnd) {
    CommandWindow window;
    window.open(1, 2);
    EXPECT_EQ(window.accept(command(1)), CommandWindow::Verdict::accepted);
    EXPECT_EQ(window.accept(command(2)), CommandWindow::Verdict::accepted);
    EXPECT_EQ(window.accept(command(3)), CommandWindow::Verdict::outside_window);
    window.release_slot(true);  // an immediate one ended: nothing opens
    EXPECT_EQ(window.max_cmd_sn(), 2U);
    window.release_slot(false);
    EXPECT_EQ(window.max_cmd_sn(), 3U);
    EXPECT_EQ(window.accept(command(3)), CommandWindow::Verdict::accepted);
}

TEST(CommandWindow, AbortedBeforeArrivalIsSkippedAndNeverExecutes) {
    CommandWindow window;
    window.open(10, 8);
    ASSERT_TRUE(window.contains(11));
    window.abort_before_arrival(11);
    EXPECT_EQ(window.accept(command(10)), CommandWindow::Verdict::accepted);
    // ExpCmdSN passes 11, which an ABORT TASK consumed, and its slot opens.
    EXPECT_EQ(window.exp_cmd_sn(), 12U);
    EXPECT_EQ(window.max_cmd_sn(), 18U);
    EXPECT_TRUE(window.received(11));
    EXPECT_FALSE(window.received(12));
}

TEST(CommandWindow, AbortedCommandArrivingLateIsDropped) {
    CommandWindow window;
    window.open(10, 8);
    window.abort_before_arrival(12);
    EXPECT_EQ(window.accept(command(12)), CommandWindow::Verdict::aborted_earlier);
    EXPECT_EQ(window.max_cmd_sn(), 18U);
    EXPECT_EQ(window.accept(command(10)), CommandWindow::Verdict::accepted);
    EXPECT_EQ(window.exp_cmd_sn(), 11U);
}

TEST(CommandWindow, WrapsAtTwoToTheThirtyTwo) {
    CommandWindow window;
    window.open(0xfffffffeU, 4);
    EXPECT_EQ(window.max_cmd_sn(), 1U);
    for (uint32_t sn : {0xfffffffeU, 0xffffffffU, 0U, 1U}) {
        EXPECT_EQ(window.accept(command(sn)), CommandWindow::Verdict::accepted) << sn;
    }
    EXPECT_EQ(window.exp_cmd_sn(), 2U);
    EXPECT_EQ(window.accept(command(2)), CommandWindow::Verdict::outside_window);
    EXPECT_TRUE(window.received(0xffffffffU));
}

}  // namespace
}  // namespace atsarray::iscsi
