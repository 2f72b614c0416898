// Captures (target/forensics/capture.hpp): which commands a capture keeps, its bounds (commands,
// bytes, captures), the trace an export gets, and notes from several threads.
#include "target/forensics/capture.hpp"

#include <gtest/gtest.h>

#include <thread>

#include "formats/trace_json.hpp"

namespace atsarray::forensics {
namespace {

constexpr const char* target_a = "iqn.2026-12.org.atsarray:a";
constexpr const char* target_b = "iqn.2026-12.org.atsarray:b";
constexpr const char* esx1 = "iqn.1998-01.com.vmware:esx-01";
constexpr const char* esx2 = "iqn.1998-01.com.vmware:esx-02";

// What a LUN hands over; the views point into the struct's own storage.
struct Sent {
    std::string target = target_a;
    std::string initiator = esx1;
    uint64_t nexus = 1;
    uint64_t lun = 0;
    std::vector<uint8_t> cdb{0x8a, 0, 0, 0, 0, 0, 0, 0, 0, 100, 0, 0, 0, 1, 0, 0};  // WRITE(16)
    std::vector<uint8_t> data_out = std::vector<uint8_t>(512, 0x5a);
    std::vector<uint8_t> data_in;
    std::vector<uint8_t> sense;
    uint8_t status = 0;
    uint32_t itt = 1;

    CaptureNote note() const {
        CaptureNote n;
        n.target = target;
        n.lun = lun;
        n.capacity_blocks = 2048;
        n.nexus_id = nexus;
        n.initiator_name = initiator;
        n.isid = 0x023d00000000 + nexus;
        n.address = "127.0.0.1:50000";
        n.portal = "127.0.0.1:3260";
        n.itt = itt;
        n.cmd_sn = itt;
        n.cdb = cdb;
        n.direction = data_in.empty() ? trace::Direction::write : trace::Direction::read;
        n.expected_transfer_length = 512;
        n.arrived = n.answered = std::chrono::system_clock::now();
        n.status = status;
        n.sense = sense;
        n.data_out = data_out;
        n.data_in = data_in;
        n.outcome = status == 0 ? "good" : "check_condition";
        return n;
    }
};

TEST(Captures, KeepsOnlyTheCommandsOfItsTargetLunAndInitiator) {
    Captures captures;
    EXPECT_FALSE(captures.active());
    CaptureRequest r;
    r.target = target_a;
    r.lun = 1;
    r.initiator = esx2;
    const std::string id = captures.start(r);
    EXPECT_TRUE(captures.active());

    Sent other_target;
    other_target.target = target_b;
    other_target.lun = 1;
    other_target.initiator = esx2;
    Sent other_lun;
    other_lun.initiator = esx2;
    Sent other_initiator;
    other_initiator.lun = 1;
    Sent wanted;
    wanted.lun = 1;
    wanted.initiator = esx2;
    wanted.nexus = 2;
    wanted.itt = 42;
    for (const Sent* s : {&other_target, &other_lun, &other_initiator, &wanted}) {
        captures.record(s->note());
    }
    const auto t = captures.trace(id);
    ASSERT_TRUE(t);
    ASSERT_EQ(t->commands.size(), 1u);
    EXPECT_EQ(t->commands[0].itt, 42u);
    EXPECT_EQ(t->commands[0].data_out, wanted.data_out);
    ASSERT_EQ(t->sessions.size(), 1u);
    EXPECT_EQ(t->sessions[0].initiator_name, esx2);
    EXPECT_EQ(t->sessions[0].isid, 0x023d00000002u);
    ASSERT_EQ(t->luns.size(), 1u);
    EXPECT_EQ(t->luns[0].lun, 1u);
    EXPECT_EQ(t->luns[0].blocks, 2048u);
    EXPECT_EQ(t->stop_reason, "running");
}

TEST(Captures, PastItsByteBudgetKeepsTheLengthAndCrcOfTheData) {
    Captures captures;
    CaptureRequest r;
    r.target = target_a;
    r.max_bytes = 1024;
    const std::string id = captures.start(r);
    Sent s;
    for (uint32_t i = 1; i <= 3; ++i) {
        s.itt = i;
        captures.record(s.note());
    }
    const auto t = captures.trace(id);
    ASSERT_EQ(t->commands.size(), 3u);
    EXPECT_TRUE(t->commands[1].data_out_kept);
    EXPECT_FALSE(t->commands[2].data_out_kept);
    EXPECT_TRUE(t->commands[2].data_out.empty());
    EXPECT_EQ(t->commands[2].data_out_length, 512u);
    EXPECT_EQ(t->commands[2].data_out_crc32c, trace::crc32c(s.data_out));
    const auto info = captures.info(id);
    EXPECT_EQ(info->data_bytes, 1024u);
    EXPECT_EQ(info->data_not_kept, 1u);
    EXPECT_TRUE(info->running);
}

TEST(Captures, StopsAtItsCommandCount) {
    Captures captures;
    CaptureRequest r;
    r.target = target_a;
    r.max_commands = 2;
    const std::string id = captures.start(r);
    Sent s;
    for (int i = 0; i < 5; ++i) {
        captures.record(s.note());
    }
    const auto info = captures.info(id);
    EXPECT_FALSE(info->running);
    EXPECT_EQ(info->stop_reason, "max_commands");
    EXPECT_EQ(info->commands, 2u);
    EXPECT_FALSE(captures.active());
    EXPECT_EQ(captures.trace(id)->stop_reason, "max_commands");
}

TEST(Captures, RefusesRequestsOutOfBoundsAndMoreThanItKeeps) {
    Captures captures(2);
    CaptureRequest none;
    EXPECT_THROW(captures.start(none), std::invalid_argument);
    CaptureRequest r;
    r.target = target_a;
    r.max_commands = capture_max_commands_limit + 1;
    EXPECT_THROW(captures.start(r), std::invalid_argument);
    r.max_commands = 10;
    r.max_bytes = capture_max_bytes_limit + 1;
    EXPECT_THROW(captures.start(r), std::invalid_argument);
    r.max_bytes = 1 << 20;
    r.max_seconds = std::chrono::seconds(0);
    EXPECT_THROW(captures.start(r), std::invalid_argument);
    r.max_seconds = std::chrono::seconds(60);
    const std::string first = captures.start(r);
    const std::string second = captures.start(r);
    EXPECT_NE(first, second);
    EXPECT_THROW(captures.start(r), std::length_error);
    // A stopped capture is still kept; deleting one makes room.
    EXPECT_TRUE(captures.stop(first));
    EXPECT_THROW(captures.start(r), std::length_error);
    EXPECT_TRUE(captures.remove(first));
    EXPECT_FALSE(captures.remove(first));
    EXPECT_NO_THROW(captures.start(r));
    EXPECT_FALSE(captures.stop("c99"));
    EXPECT_FALSE(captures.trace("c99"));
}

TEST(Captures, RemovingARunningCaptureEndsTheIoPathsWork) {
    Captures captures;
    CaptureRequest r;
    r.target = target_a;
    const std::string id = captures.start(r);
    ASSERT_TRUE(captures.active());
    EXPECT_TRUE(captures.remove(id));
    EXPECT_FALSE(captures.active());
    EXPECT_TRUE(captures.list().empty());
}

TEST(Captures, AnExportsWindowTakesItsInitiatorsCommandsAndRenumbersTheSessions) {
    Captures captures;
    CaptureRequest r;
    r.target = target_a;
    const std::string id = captures.start(r);
    Sent a;  // esx-01, nexus 1
    Sent b;
    b.initiator = esx2;
    b.nexus = 2;
    Sent read;
    read.initiator = esx2;
    read.nexus = 2;
    read.cdb = {0x88, 0, 0, 0, 0, 0, 0, 0, 0, 100, 0, 0, 0, 1, 0, 0};  // READ(16)
    read.data_out.clear();
    read.data_in.assign(512, 0x11);
    for (const Sent* s : {&a, &b, &read, &a}) {
        captures.record(s->note());
    }
    TraceWindow w;
    w.initiator = esx2;
    const auto t = captures.trace(id, w);
    ASSERT_EQ(t->commands.size(), 2u);
    ASSERT_EQ(t->sessions.size(), 1u);
    EXPECT_EQ(t->sessions[0].initiator_name, esx2);
    EXPECT_EQ(t->commands[0].session, 0u);
    EXPECT_EQ(t->commands[1].data_in, read.data_in);
    EXPECT_EQ(t->commands[1].data_in_crc32c, trace::crc32c(read.data_in));
    EXPECT_EQ(t->initiator, esx2);
    // A window that ends before the first arrival holds nothing.
    TraceWindow none;
    none.to_us = -1;
    EXPECT_TRUE(captures.trace(id, none)->commands.empty());
}

TEST(Captures, NotesFromSeveralThreadsWhileTheConsoleListsAndExports) {
    Captures captures;
    CaptureRequest r;
    r.target = target_a;
    r.max_commands = 4000;
    const std::string id = captures.start(r);
    std::vector<std::thread> writers;
    for (uint64_t n = 1; n <= 4; ++n) {
        writers.emplace_back([&captures, n] {
            Sent s;
            s.nexus = n;
            for (int i = 0; i < 1000; ++i) {
                captures.record(s.note());
            }
        });
    }
    for (int i = 0; i < 50; ++i) {
        (void)captures.list();
        (void)captures.trace(id);
    }
    for (auto& w : writers) {
        w.join();
    }
    const auto t = captures.trace(id);
    EXPECT_EQ(t->commands.size(), 4000u);
    EXPECT_EQ(t->sessions.size(), 4u);
    EXPECT_EQ(captures.info(id)->stop_reason, "max_commands");
}

}  // namespace
}  // namespace atsarray::forensics
