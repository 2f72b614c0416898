// SANITIZE (sanitize.cpp) and READ DEFECT DATA (defect_data.cpp): raw CDBs, exact sense.

#include <unistd.h>

#include <deque>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>

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
    // SAM-5 §5.14: the reset's unit attention comes first, then SANITIZE IN PROGRESS again.
    EXPECT_CHECK(exec(test_unit_ready_cdb), 0x06, 0x29, 0x03);
    EXPECT_CHECK(exec(test_unit_ready_cdb), 0x02, 0x04, 0x1B);
    drain();
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

// The sanitize state kept with the LUN (issue 12): stored when an operation starts, its progress
// when it stops, removed when it completes; a new Lun on the same state and store (a restart)
// resumes it and answers SANITIZE IN PROGRESS until it is done.
class SanitizeKept : public ::testing::Test {
  protected:
    void SetUp() override {
        std::string pattern =
            (std::filesystem::temp_directory_path() / "atsarray-sanitize-XXXXXX").string();
        ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
        dir = pattern;
        settings = default_settings(0, 8192);  // 4 MiB: four 1 MiB OVERWRITE chunks a pass
        settings.sanitize_overwrite_bytes_per_second = 0;
        settings.sanitize_state_path = (dir / "lun0.sanitize").string();
        store = std::make_shared<FakeStore>(settings.block_count * settings.block_size);
        restart();
    }
    void TearDown() override {
        jobs.clear();
        std::error_code ec;
        std::filesystem::remove_all(dir, ec);
    }

    // A new Lun on the same store and state file, as the daemon makes it at start.
    void restart() {
        jobs.clear();
        lun = std::make_shared<Lun>(
            settings, store, [this](std::function<void()> job) { jobs.push_back(std::move(job)); });
        lun->nexus_added(nexus);
    }
    Result exec(std::vector<uint8_t> cdb, std::vector<uint8_t> data_out = {}) {
        Request r;
        r.cdb = std::move(cdb);
        r.nexus = &nexus;
        r.data_out = std::move(data_out);
        return run(*lun, r);
    }
    void run_jobs(size_t n) {
        for (size_t i = 0; i < n && !jobs.empty(); ++i) {
            auto job = std::move(jobs.front());
            jobs.pop_front();
            job();
        }
    }
    void drain() { run_jobs(static_cast<size_t>(-1)); }
    std::string state_file() const {
        std::ifstream in(settings.sanitize_state_path);
        std::stringstream text;
        text << in.rdbuf();
        return text.str();
    }
    bool state_kept() const { return std::filesystem::exists(settings.sanitize_state_path); }
    // Clears the POWER ON unit attention of a new LUN's nexus.
    void clear_unit_attention() { (void)exec({0x03, 0, 0, 0, 18, 0}); }
    // The PROGRESS INDICATION of REQUEST SENSE's fixed format sense (SKSV set), or -1.
    int reported_progress() {
        auto rs = exec({0x03, 0, 0, 0, 18, 0});
        if (rs.data.size() < 18 || (rs.data[15] & 0x80) == 0) {
            return -1;
        }
        return rs.data[16] << 8 | rs.data[17];
    }

    std::filesystem::path dir;
    LunSettings settings;
    std::shared_ptr<FakeStore> store;
    std::shared_ptr<Lun> lun;
    std::deque<std::function<void()>> jobs;
    Nexus nexus{7, "iqn.test:init", "iqn.test:init,i,0x1", "127.0.0.1:1", 1};
};

TEST_F(SanitizeKept, StoredWhileRunningRemovedWhenDone) {
    clear_unit_attention();
    auto list = overwrite_list(0x80 | 0x02, {0x0F, 0x3C});  // INVERT, two passes
    EXPECT_EQ(exec(sanitize_cdb(0x80 | 0x20 | 0x01, 6), list).status, Status::good);
    const std::string kept = state_file();
    EXPECT_NE(kept.find("state running\n"), std::string::npos) << kept;
    EXPECT_NE(kept.find("service_action 1\n"), std::string::npos) << kept;
    EXPECT_NE(kept.find("ause 1\n"), std::string::npos) << kept;
    EXPECT_NE(kept.find("invert 1\n"), std::string::npos) << kept;
    EXPECT_NE(kept.find("passes 2\n"), std::string::npos) << kept;
    EXPECT_NE(kept.find("pattern 0f3c\n"), std::string::npos) << kept;
    EXPECT_NE(kept.find("capacity 4194304\n"), std::string::npos) << kept;
    drain();
    EXPECT_FALSE(state_kept());
    EXPECT_EQ(exec(test_unit_ready_cdb).status, Status::good);
    EXPECT_EQ(store->data()[0], 0xF0);
    EXPECT_EQ(store->data()[1], 0xC3);
}

TEST_F(SanitizeKept, AStoppedSanitizeResumesAfterARestart) {
    clear_unit_attention();
    std::fill(store->data().begin(), store->data().end(), 'd');
    auto list = overwrite_list(0x01, {0x5A});
    EXPECT_EQ(exec(sanitize_cdb(0x80 | 0x01, 5), list).status, Status::good);
    run_jobs(3);  // a step, then two of the four chunks
    lun->sanitize_state().request_stop();
    drain();  // the next chunk sees the stop: nothing more is written
    EXPECT_NE(state_file().find("done 2097152\n"), std::string::npos) << state_file();
    EXPECT_EQ(store->data()[(2u << 20) - 1], 0x5A);
    EXPECT_EQ(store->data()[2u << 20], 'd');

    restart();
    clear_unit_attention();
    // In progress from the moment the LUN exists, with the stored progress (half).
    EXPECT_CHECK(exec(test_unit_ready_cdb), 0x02, 0x04, 0x1B);
    EXPECT_EQ(reported_progress(), 32768);
    EXPECT_TRUE(lun->resume_sanitize());
    EXPECT_FALSE(lun->resume_sanitize());  // once
    EXPECT_CHECK(exec({0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0}), 0x02, 0x04, 0x1B);
    drain();
    EXPECT_FALSE(state_kept());
    EXPECT_EQ(exec(test_unit_ready_cdb).status, Status::good);
    for (size_t i = 0; i < store->data().size(); i += 4093) {
        ASSERT_EQ(store->data()[i], 0x5A) << i;
    }
}

TEST_F(SanitizeKept, AfterACrashItResumesFromTheLastStoredPoint) {
    clear_unit_attention();
    std::fill(store->data().begin(), store->data().end(), 'd');
    EXPECT_EQ(exec(sanitize_cdb(0x80 | 0x02, 0)).status, Status::good);  // BLOCK ERASE, IMMED
    restart();  // the process died before a chunk: what is stored says 0 done
    clear_unit_attention();
    EXPECT_CHECK(exec(test_unit_ready_cdb), 0x02, 0x04, 0x1B);
    EXPECT_EQ(reported_progress(), 0);
    EXPECT_TRUE(lun->resume_sanitize());
    drain();
    EXPECT_FALSE(state_kept());
    for (const uint8_t b : store->data()) {
        ASSERT_EQ(b, 0);
    }
}

TEST_F(SanitizeKept, ADamagedStateIsFailureModeNeverGoodData) {
    std::ofstream(settings.sanitize_state_path) << "atsarray-sanitize 1\nstate running\npas";
    restart();
    clear_unit_attention();
    EXPECT_FALSE(lun->resume_sanitize());
    EXPECT_CHECK(exec(test_unit_ready_cdb), 0x03, 0x31, 0x03);
    EXPECT_CHECK(exec({0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0}), 0x03, 0x31, 0x03);
    EXPECT_CHECK(exec(sanitize_cdb(0x1F, 0)), 0x05, 0x24, 0x00);  // no AUSE known: not allowed
    EXPECT_EQ(exec(sanitize_cdb(0x80 | 0x02, 0)).status, Status::good);  // a new one runs
    drain();
    EXPECT_EQ(exec(test_unit_ready_cdb).status, Status::good);
    EXPECT_FALSE(state_kept());
}

TEST_F(SanitizeKept, FailureModeOutlivesARestart) {
    clear_unit_attention();
    store->fail_next = backend::StoreErrc::io_error;
    auto list = overwrite_list(0x01, {1, 2, 3, 4});
    EXPECT_EQ(exec(sanitize_cdb(0x80 | 0x20 | 0x01, 8), list).status, Status::good);  // AUSE
    drain();
    EXPECT_CHECK(exec(test_unit_ready_cdb), 0x03, 0x31, 0x03);
    EXPECT_NE(state_file().find("state failed\n"), std::string::npos) << state_file();
    restart();
    clear_unit_attention();
    EXPECT_FALSE(lun->resume_sanitize());
    EXPECT_CHECK(exec(test_unit_ready_cdb), 0x03, 0x31, 0x03);
    EXPECT_EQ(exec(sanitize_cdb(0x1F, 0)).status, Status::good);  // AUSE was set
    EXPECT_FALSE(state_kept());
    EXPECT_EQ(exec(test_unit_ready_cdb).status, Status::good);
}

TEST_F(SanitizeInProgress, SenseCarriesTheProgress) {
    auto list = overwrite_list(0x01, {0x55});
    EXPECT_EQ(exec(sanitize_cdb(0x80 | 0x01, 5), list).status, Status::good);
    auto tur = exec(test_unit_ready_cdb);
    ASSERT_GE(tur.sense.size(), 18u);
    EXPECT_EQ(tur.sense[15], 0x80);  // SKSV, progress indication 0
    EXPECT_EQ(tur.sense[16], 0);
    lun->sanitize_state().set_progress(0x1234);
    auto rs = exec({0x03, 0, 0, 0, 18, 0});
    ASSERT_GE(rs.data.size(), 18u);
    EXPECT_EQ(rs.data[15], 0x80);
    EXPECT_EQ(rs.data[16], 0x12);
    EXPECT_EQ(rs.data[17], 0x34);
    auto desc = exec({0x03, 0x01, 0, 0, 252, 0});  // descriptor format
    ASSERT_GE(desc.data.size(), 16u);
    EXPECT_EQ(desc.data[8], 0x02);  // sense key specific descriptor
    EXPECT_EQ(desc.data[12], 0x80);
    EXPECT_EQ(desc.data[13], 0x12);
    EXPECT_EQ(desc.data[14], 0x34);
    drain();
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
