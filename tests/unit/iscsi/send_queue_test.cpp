// The send queue: sealing (length, padding, digests), gathering, and what a finished write frees.
#include "target/iscsi/send_queue.hpp"

#include <gtest/gtest.h>

#include "target/iscsi/bhs.hpp"
#include "target/iscsi/digest.hpp"
#include "target/iscsi/pdu_reader.hpp"
#include "target/iscsi/task.hpp"

namespace atsarray::iscsi {
namespace {

// The bytes a write of gather() would put on the wire.
std::vector<uint8_t> flatten(const std::vector<boost::asio::const_buffer>& buffers) {
    std::vector<uint8_t> out;
    for (const auto& b : buffers) {
        const auto* p = static_cast<const uint8_t*>(b.data());
        out.insert(out.end(), p, p + b.size());
    }
    return out;
}

TEST(SendQueue, SealedPduFramesAsTheInitiatorReadsIt) {
    for (const bool digests : {false, true}) {
        SendQueue tx;
        tx.set_digests(digests, digests);
        OutPdu& out = tx.push();
        NopInBhs header(out.hdr);
        out.hdr.set_itt(0x55);
        header.set_target_transfer_tag(reserved_tag);
        out.owned = {1, 2, 3, 4, 5};  // padded to 8
        tx.seal(out);
        CommandWindow window;
        const auto wire = flatten(tx.gather(window));
        EXPECT_EQ(wire.size(), 48U + 8U + (digests ? 8U : 0U));
        FrameLimits limits;
        limits.header_digest = digests;
        limits.data_digest = digests;
        PduView view;
        std::error_code ec;
        ASSERT_EQ(read_frame(wire, limits, view, ec), wire.size()) << ec.message();
        EXPECT_TRUE(view.data_digest_ok);
        EXPECT_EQ(view.bhs.opcode(), Opcode::nop_in);
        EXPECT_EQ(view.bhs.initiator_task_tag(), 0x55U);
        EXPECT_EQ(view.bhs.data_segment_length(), 5U);
        EXPECT_EQ(std::vector<uint8_t>(view.data.begin(), view.data.end()),
                  (std::vector<uint8_t>{1, 2, 3, 4, 5}));
    }
}

TEST(SendQueue, AWriteFreesItsPdusAndTheirTasksInOrder) {
    SendQueue tx;
    Task a;
    Task b;
    for (Task* t : {&a, static_cast<Task*>(nullptr), &b}) {
        OutPdu& out = tx.push();
        out.release_task = t;
        tx.seal(out);
    }
    CommandWindow window;
    EXPECT_EQ(tx.gather(window).size(), 3U);  // three headers, no data
    EXPECT_TRUE(tx.writing());
    OutPdu& late = tx.push();  // queued while the write is under way: not part of it
    tx.seal(late);
    std::vector<Task*> released;
    tx.written([&](Task* t) { released.push_back(t); });
    EXPECT_EQ(released, (std::vector<Task*>{&a, &b}));
    EXPECT_FALSE(tx.writing());
    EXPECT_EQ(tx.size(), 1U);
}

TEST(SendQueue, GathersAtMostSixtyFourPdus) {
    SendQueue tx;
    for (int i = 0; i < 100; ++i) {
        tx.seal(tx.push());
    }
    CommandWindow window;
    EXPECT_EQ(tx.gather(window).size(), SendQueue::max_gather_pdus);
    tx.written([](Task*) {});
    EXPECT_EQ(tx.size(), 36U);
}

TEST(SendQueue, LeavingTheQueueOpensTheSlotAndCarriesTheWindowOfThatMoment) {
    CommandWindow window;
    window.open(1, 1);  // a window of one command
    SendQueue tx;
    tx.set_digests(true, false);
    OutPdu& out = tx.push();
    ScsiResponseBhs(out.hdr).set_status(0);
    window.fill(out.hdr, true);
    out.frees_slot = true;
    tx.seal(out);
    EXPECT_EQ(load32(&out.hdr.b[32]), 1U);  // MaxCmdSN when queued
    EXPECT_EQ(tx.bytes(), 48U + 4U);
    const auto wire = flatten(tx.gather(window));
    EXPECT_EQ(window.max_cmd_sn(), 2U);
    EXPECT_EQ(load32(&wire[32]), 2U);  // the initiator may send its next command
    EXPECT_EQ(load32(&wire[24]), 1U);  // StatSN as assigned when queued
    // The header digest covers the refreshed header.
    EXPECT_EQ(load_digest(&wire[48]), crc32c(std::span<const uint8_t>(wire.data(), 48)));
    tx.written([](Task*) {});
    EXPECT_EQ(tx.bytes(), 0U);
}

}  // namespace
}  // namespace atsarray::iscsi
