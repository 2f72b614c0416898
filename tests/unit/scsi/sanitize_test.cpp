// SANITIZE (sanitize.cpp) and READ DEFECT DATA (defect_data.cpp): raw CDBs, exact sense.

#include <deque>
#include <functional>

#include <gtest/gtest.h>

#include "tests/unit/scsi/scsi_test_support.hpp"

namespace atsarray::scsi::test {
namespace {

using Sanitize = LunFixture;
using DefectData = LunFixture;

std::vector<uint8_t> sanitize_cdb(uint8_t byte1, uint16_t parameter_list_length) {
    return {0x48,
            byte1,
            0,
            0,
            0,
            0,
            0,
            static_cast<uint8_t>(parameter_list_length >> 8),
            static_cast<uint8_t>(parameter_list_length),
            0};
}

std::vector<uint8_t> overwrite_list(uint8_t byte0, const std::vector<uint8_t>& pattern) {
    std::vector<uint8_t> p(4 + pattern.size(), 0);
    p[0] = byte0;
    p[2] = static_cast<uint8_t>(pattern.size() >> 8);
    p[3] = static_cast<uint8_t>(pattern.size());
    for (size_t i = 0; i < pattern.size(); ++i) {
        p[4 + i] = pattern[i];
    }
    return p;
}

const std::vector<uint8_t> test_unit_ready_cdb{0x00, 0, 0, 0, 0, 0};
const std::vector<uint8_t> inquiry_cdb{0x12, 0, 0, 0, 36, 0};

TEST_F(Sanitize, OverwriteRepeatsThePatternOverEveryBlock) {
    auto list = overwrite_list(0x01, {0xDE, 0xAD, 0xBE, 0xEF});
    EXPECT_EQ(exec(sanitize_cdb(0x01, static_cast<uint16_t>(list.size())), list).status,
              Status::good);
    const auto& d = store->data();
    for (size_t i = 0; i < d.size(); i += 509) {
        ASSERT_EQ(d[i], list[4 + (i % 512) % 4]) << i;
    }
    EXPECT_EQ(exec(test_unit_ready_cdb).status, Status::good);
}

TEST_F(Sanitize, OverwriteInvertsBetweenPasses) {
    auto list = overwrite_list(0x80 | 0x02, {0x0F});  // INVERT, two passes
    EXPECT_EQ(exec(sanitize_cdb(0x01, 5), list).status, Status::good);
    EXPECT_EQ(store->data().front(), 0xF0);
    EXPECT_EQ(store->data().back(), 0xF0);
}

TEST_F(Sanitize, OverwriteParameterChecks) {
    std::vector<uint8_t> full = overwrite_list(0x01, std::vector<uint8_t>(512, 0xAA));
    for (uint16_t len : {0, 1, 4, 517}) {
        auto r = exec(sanitize_cdb(0x01, len), std::vector<uint8_t>(len, 0));
        EXPECT_CHECK(r, 0x05, 0x24, 0x00);
    }
    // OVERWRITE COUNT 0, INITIALIZATION PATTERN LENGTH 0 or past the list: what libiscsi's
    // Sanitize.Overwrite expects (INVALID FIELD IN CDB).
    auto no_passes = full;
    no_passes[0] = 0;
    EXPECT_CHECK(exec(sanitize_cdb(0x01, 516), no_passes), 0x05, 0x24, 0x00);
    auto no_pattern = full;
    no_pattern[2] = no_pattern[3] = 0;
    EXPECT_CHECK(exec(sanitize_cdb(0x01, 516), no_pattern), 0x05, 0x24, 0x00);
    auto too_long = full;
    too_long[2] = 0x02;
    too_long[3] = 0x04;  // 516 > 512 bytes left
    EXPECT_CHECK(exec(sanitize_cdb(0x01, 516), too_long), 0x05, 0x24, 0x00);
    auto test_field = full;
    test_field[0] = 0x21;  // TEST 01b
    EXPECT_CHECK(exec(sanitize_cdb(0x01, 516), test_field), 0x05, 0x26, 0x00);
    auto reserved = full;
    reserved[1] = 0x01;
    EXPECT_CHECK(exec(sanitize_cdb(0x01, 516), reserved), 0x05, 0x26, 0x00);
    // Less data than the PARAMETER LIST LENGTH.
    EXPECT_CHECK(exec(sanitize_cdb(0x01, 516), full, 100), 0x05, 0x1A, 0x00);
    EXPECT_EQ(store->writes, 0);
}

TEST_F(Sanitize, ServiceActionsAndReservedBits) {
    for (uint8_t sa = 0; sa < 0x1F; ++sa) {
        if (sa == 0x01 || sa == 0x02) {
            continue;
        }
        SCOPED_TRACE(int(sa));
        EXPECT_CHECK(exec(sanitize_cdb(sa, 0)), 0x05, 0x24, 0x00);  // incl. CRYPTO
    }
    EXPECT_CHECK(exec(sanitize_cdb(0x02 | 0x40, 0)), 0x05, 0x24, 0x00);
    auto byte3 = sanitize_cdb(0x02, 0);
    byte3[3] = 1;
    EXPECT_CHECK(exec(byte3), 0x05, 0x24, 0x00);
    EXPECT_CHECK(exec(sanitize_cdb(0x02, 8), std::vector<uint8_t>(8, 0)), 0x05, 0x24, 0x00);
    EXPECT_CHECK(exec(sanitize_cdb(0x1F, 8), std::vector<uint8_t>(8, 0)), 0x05, 0x24, 0x00);
    EXPECT_EQ(exec(sanitize_cdb(0x1F, 0)).status, Status::good);  // not in failure mode
}

TEST_F(Sanitize, BlockEraseUnmapsEverything) {
    std::fill(store->data().begin(), store->data().end(), 'a');
    EXPECT_EQ(exec(sanitize_cdb(0x02 | 0x20, 0)).status, Status::good);  // AUSE
    for (uint8_t b : store->data()) {
        ASSERT_EQ(b, 0);
    }
}

TEST_F(Sanitize, WriteProtectedLun) {
    auto s = default_settings();
    s.read_only = true;
    make_lun(s);
    EXPECT_CHECK(exec(sanitize_cdb(0x02, 0)), 0x07, 0x27, 0x00);
    auto list = overwrite_list(0x01, {1, 2, 3, 4});
    EXPECT_CHECK(exec(sanitize_cdb(0x01, 8), list), 0x07, 0x27, 0x00);
}

TEST_F(Sanitize, FailureModeAndExit) {
    store->fail_next = backend::StoreErrc::io_error;
    auto list = overwrite_list(0x01, {1, 2, 3, 4});
    EXPECT_EQ(exec(sanitize_cdb(0x01, 8), list).status, Status::check_condition);
    EXPECT_CHECK(exec(test_unit_ready_cdb), 0x03, 0x31, 0x03);
    EXPECT_EQ(exec(inquiry_cdb).status, Status::good);
    // AUSE was 0: EXIT FAILURE MODE is refused; a new SANITIZE is allowed and clears it.
    EXPECT_CHECK(exec(sanitize_cdb(0x1F, 0)), 0x05, 0x24, 0x00);
    EXPECT_EQ(exec(sanitize_cdb(0x02, 0)).status, Status::good);
    EXPECT_EQ(exec(test_unit_ready_cdb).status, Status::good);

    store->fail_next = backend::StoreErrc::io_error;
    EXPECT_EQ(exec(sanitize_cdb(0x01 | 0x20, 8), list).status, Status::check_condition);
    EXPECT_CHECK(exec(test_unit_ready_cdb), 0x03, 0x31, 0x03);
    EXPECT_EQ(exec(sanitize_cdb(0x1F, 0)).status, Status::good);  // AUSE was 1
    EXPECT_EQ(exec(test_unit_ready_cdb).status, Status::good);
}

// A LUN whose blocking work waits in a queue, so a sanitize operation stays in progress.
class SanitizeInProgress : public LunFixture {
  protected:
    void SetUp() override {
        auto s = default_settings();
        s.sanitize_overwrite_bytes_per_second = 0;
        store = std::make_shared<FakeStore>(s.block_count * s.block_size);
        lun = std::make_shared<Lun>(
            s, store, [this](std::function<void()> job) { jobs.push_back(std::move(job)); });
        lun->nexus_added(nexus);
        exec(test_unit_ready_cdb);  // the new nexus' POWER ON OCCURRED
    }
    void drain() {
        while (!jobs.empty()) {
            auto job = std::move(jobs.front());
            jobs.pop_front();
            job();
        }
    }
    std::deque<std::function<void()>> jobs;
};

TEST_F(SanitizeInProgress, OtherCommandsAreNotReady) {
    auto list = overwrite_list(0x01, {0x55});
    EXPECT_EQ(exec(sanitize_cdb(0x80 | 0x01, 5), list).status, Status::good);  // IMMED
    EXPECT_CHECK(exec(test_unit_ready_cdb), 0x02, 0x04, 0x1B);
    EXPECT_CHECK(exec({0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0}), 0x02, 0x04, 0x1B);
    EXPECT_CHECK(exec(sanitize_cdb(0x02, 0)), 0x02, 0x04, 0x1B);
    EXPECT_EQ(exec(inquiry_cdb).status, Status::good);
    EXPECT_EQ(exec({0xA0, 0, 0, 0, 0, 0, 0, 0, 0, 64, 0, 0}).status, Status::good);
    auto rs = exec({0x03, 0, 0, 0, 18, 0});
    ASSERT_EQ(rs.status, Status::good);
    ASSERT_GE(rs.data.size(), 14u);
    EXPECT_EQ(rs.data[2] & 0x0F, 0x02);
    EXPECT_EQ(rs.data[12], 0x04);
    EXPECT_EQ(rs.data[13], 0x1B);
    lun->reset();  // SBC-4 §4.11.3: a logical unit reset does not stop it
    EXPECT_CHECK(exec(test_unit_ready_cdb), 0x02, 0x04, 0x1B);
    drain();
    EXPECT_CHECK(exec(test_unit_ready_cdb), 0x06, 0x29, 0x03);  // the reset's unit attention
    EXPECT_EQ(exec(test_unit_ready_cdb).status, Status::good);
    EXPECT_EQ(store->data()[1000], 0x55);
}

TEST_F(SanitizeInProgress, WithoutImmedStatusComesAtTheEnd) {
    Request r;
    r.cdb = sanitize_cdb(0x02, 0);
    r.nexus = &nexus;
    Command cmd;
    cmd.cdb = r.cdb;
    cmd.nexus = &nexus;
    int completions = 0;
    Status status = Status::check_condition;
    lun->execute(cmd, [&](Command& c) {
        ++completions;
        status = c.status;
    });
    EXPECT_EQ(completions, 0);
    drain();
    EXPECT_EQ(completions, 1);
    EXPECT_EQ(status, Status::good);
}

TEST_F(SanitizeInProgress, AnAbortedCommandEndsTheOperationGoesOn) {
    Command cmd;
    const auto cdb = sanitize_cdb(0x02, 0);
    cmd.cdb = cdb;
    cmd.nexus = &nexus;
    int completions = 0;
    lun->execute(cmd, [&](Command&) { ++completions; });
    ASSERT_TRUE(cmd.abort);
    cmd.abort();  // ABORT TASK
    EXPECT_EQ(completions, 1);
    EXPECT_CHECK(exec(test_unit_ready_cdb), 0x02, 0x04, 0x1B);
    drain();
    EXPECT_EQ(completions, 1);
    EXPECT_EQ(exec(test_unit_ready_cdb).status, Status::good);
}

TEST_F(DefectData, EmptyListInTheRequestedFormat) {
    auto ten = exec({0x37, 0, 0x18 | 0x05, 0, 0, 0, 0, 0, 32, 0});
    EXPECT_EQ(ten.status, Status::good);
    EXPECT_EQ(ten.data, (std::vector<uint8_t>{0, 0x1D, 0, 0}));
    auto twelve = exec({0xB7, 0x08 | 0x03, 0, 0, 0, 0, 0, 0, 0, 32, 0, 0});
    EXPECT_EQ(twelve.status, Status::good);
    EXPECT_EQ(twelve.data, (std::vector<uint8_t>{0, 0x0B, 0, 0, 0, 0, 0, 0}));
    EXPECT_EQ(exec({0x37, 0, 0x10, 0, 0, 0, 0, 0, 2, 0}).data, (std::vector<uint8_t>{0, 0x10}));
    EXPECT_TRUE(exec({0xB7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}).data.empty());
    EXPECT_CHECK(exec({0x37, 0, 0x07, 0, 0, 0, 0, 0, 32, 0}), 0x05, 0x24, 0x00);
    EXPECT_CHECK(exec({0x37, 0x01, 0, 0, 0, 0, 0, 0, 32, 0}), 0x05, 0x24, 0x00);
}

}  // namespace
}  // namespace atsarray::scsi::test
