// Fault injection end to end: rules added and deleted through the console's API change what a
// libiscsi client sees, are counted apart from genuine outcomes, and leave exact behaviour
// behind once deleted.
#include <gtest/gtest.h>

extern "C" {
#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>
}

#include <algorithm>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/http_client.hpp"
#include "tests/integration/in_process_daemon.hpp"
#include "tests/integration/raw_iscsi.hpp"
#include "tools/libiscsi_handles.hpp"

namespace atsarray::testing {
namespace {

using initiator::Context;
using initiator::Task;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

constexpr const char* target_name = "iqn.2026-11.org.atsarray:fault";
constexpr uint32_t block_size = 512;

std::string config(bool enabled = true) {
    return std::string("[console]\nport = ") + std::to_string(free_port()) +
           "\n[fault]\nenabled = " + (enabled ? "true" : "false") + "\n[[target]]\nname = \"" +
           target_name + "\"\n[[target.lun]]\nid = 0\nbackend = \"memory\"\nsize = \"16MiB\"\n";
}

Context connect(const InProcessDaemon& d, const std::string& name) {
    std::string error;
    Context ctx = initiator::login(d.portal(), target_name, name, 0, 10, error);
    if (!ctx) {
        ADD_FAILURE() << name << ": " << error;
        return nullptr;
    }
    Task(iscsi_testunitready_sync(ctx.get(), 0));  // the power-on unit attention
    return ctx;
}

class Fault : public ::testing::Test {
  protected:
    Fault() : d(config()) {}

    uint64_t add_rule(const json& rule) {
        const HttpAnswer a = http_call(port(), "POST", "/api/v1/faults", token(), rule.dump());
        EXPECT_EQ(a.status, 201U) << a.body.dump();
        return a.body.value("id", uint64_t{0});
    }
    void delete_rule(uint64_t id) {
        EXPECT_EQ(
            http_call(port(), "DELETE", "/api/v1/faults/" + std::to_string(id), token()).status,
            200U);
    }
    json rule(uint64_t id) {
        return http_call(port(), "GET", "/api/v1/faults/" + std::to_string(id)).body;
    }
    uint16_t port() { return d.daemon().console_port(); }
    std::string token() { return d.daemon().console_token(); }

    std::vector<uint8_t> read_block(iscsi_context* ctx, uint64_t lba) {
        Task t(iscsi_read16_sync(ctx, 0, lba, block_size, block_size, 0, 0, 0, 0, 0));
        EXPECT_TRUE(t && t->status == SCSI_STATUS_GOOD);
        return t ? std::vector<uint8_t>(t->datain.data, t->datain.data + block_size)
                 : std::vector<uint8_t>();
    }
    int ats(iscsi_context* ctx, uint64_t lba, uint8_t expected, uint8_t next) {
        std::vector<uint8_t> both(2 * block_size, expected);
        std::fill(both.begin() + block_size, both.end(), next);
        Task t(iscsi_compareandwrite_sync(ctx, 0, lba, both.data(), 2 * block_size, block_size, 0,
                                          0, 0, 0, 0));
        if (!t) {
            return -1;
        }
        if (t->status == SCSI_STATUS_CHECK_CONDITION && t->sense.key == SCSI_SENSE_MISCOMPARE) {
            return 0x0E;
        }
        return t->status;
    }

    InProcessDaemon d;
};

TEST_F(Fault, FalseMiscompareWritesNothingAndIsCountedAsInjected) {
    Context c = connect(d, "iqn.2026-11.org.atsarray:fault-a");
    const uint64_t id = add_rule({{"name", "false-ats"},
                                  {"action", "false_miscompare"},
                                  {"lba_first", 100},
                                  {"lba_last", 100}});
    EXPECT_EQ(ats(c.get(), 100, 0, 7), 0x0E);  // the data matched: the array lies
    EXPECT_EQ(read_block(c.get(), 100), std::vector<uint8_t>(block_size, 0));
    EXPECT_EQ(ats(c.get(), 101, 0, 7), SCSI_STATUS_GOOD);  // outside the rule's range
    EXPECT_EQ(rule(id)["hits"], 1);
    const auto snap = d.daemon().accounting().snapshot();
    const auto& lun = snap.ats_per_lun.at({target_name, 0});
    EXPECT_EQ(lun.injected_miscompares, 1U);
    EXPECT_EQ(lun.miscompares, 0U);
    // The log line and the console's event name the rule instead of images that say nothing.
    bool named = false;
    const json events = http_call(port(), "GET", "/api/v1/events").body["events"];
    for (const auto& e : events) {
        named = named || (e["kind"] == "miscompare" &&
                          e["message"].get<std::string>().find(
                              "injected by fault rule " + std::to_string(id) + " \"false-ats\"") !=
                              std::string::npos);
    }
    EXPECT_TRUE(named) << events.dump();
    delete_rule(id);
    EXPECT_EQ(ats(c.get(), 100, 0, 7), SCSI_STATUS_GOOD);  // exact behaviour again
    EXPECT_EQ(read_block(c.get(), 100), std::vector<uint8_t>(block_size, 7));
}

TEST_F(Fault, MiscompareAfterWriteWritesTheNewImage) {
    Context c = connect(d, "iqn.2026-11.org.atsarray:fault-b");
    const uint64_t id = add_rule({{"name", "lying-ats"}, {"action", "miscompare_after_write"}});
    EXPECT_EQ(ats(c.get(), 200, 0, 5), 0x0E);
    EXPECT_EQ(read_block(c.get(), 200), std::vector<uint8_t>(block_size, 5));
    delete_rule(id);
    EXPECT_EQ(ats(c.get(), 200, 5, 6), SCSI_STATUS_GOOD);
}

TEST_F(Fault, DelayIsMeasuredByTheClient) {
    Context c = connect(d, "iqn.2026-11.org.atsarray:fault-c");
    const uint64_t id = add_rule({{"name", "slow-reads"},
                                  {"action", "delay"},
                                  {"command", "read"},
                                  {"delay_ms", 300},
                                  {"lba_first", 300},
                                  {"lba_last", 300}});
    auto start = Clock::now();
    read_block(c.get(), 300);
    EXPECT_GE(Clock::now() - start, std::chrono::milliseconds(300));
    delete_rule(id);
    const uint64_t late = add_rule({{"name", "late-status"},
                                    {"action", "delay"},
                                    {"command", "write"},
                                    {"stage", "before_status"},
                                    {"delay_ms", 300}});
    std::vector<uint8_t> block(block_size, 9);
    start = Clock::now();
    Task w(
        iscsi_write16_sync(c.get(), 0, 301, block.data(), block_size, block_size, 0, 0, 0, 0, 0));
    ASSERT_TRUE(w && w->status == SCSI_STATUS_GOOD);
    EXPECT_GE(Clock::now() - start, std::chrono::milliseconds(300));
    EXPECT_EQ(rule(late)["hits"], 1);
}

// ESXi aborts what does not answer in time: a command a delay rule holds ends with the abort,
// at once, and one held before execution never executes.
TEST_F(Fault, AbortEndsADelayAtOnce) {
    add_rule({{"name", "hang"}, {"action", "delay"}, {"command", "write"}, {"delay_ms", 20000}});
    RawSession s(d.port(), target_name, "iqn.2026-11.org.atsarray:fault-hang");
    std::vector<uint8_t> bhs;
    std::string data;
    s.command(1, {0x00});  // the power-on unit attention
    ASSERT_TRUE(s.conn.read_pdu(bhs, data));
    const uint32_t sn = s.command(7, {0x8A, 0, 0, 0, 0, 0, 0, 0, 0, 0x02, 0, 0, 0, 1, 0, 0},
                                  0x80 | 0x20, std::string(block_size, 'H'), block_size);
    EXPECT_EQ(s.abort_task(8, 7, sn), 0);  // FUNCTION COMPLETE, well before 20 s
    Context c = connect(d, "iqn.2026-11.org.atsarray:fault-check");
    EXPECT_EQ(read_block(c.get(), 2), std::vector<uint8_t>(block_size, 0));  // never written
}

TEST_F(Fault, StatusRulesAnswerBusyOrTheChosenSense) {
    Context c = connect(d, "iqn.2026-11.org.atsarray:fault-d");
    const uint64_t busy =
        add_rule({{"name", "busy"}, {"action", "status"}, {"status", "busy"}, {"command", "read"}});
    Task t(iscsi_read16_sync(c.get(), 0, 400, block_size, block_size, 0, 0, 0, 0, 0));
    ASSERT_TRUE(t);
    EXPECT_EQ(t->status, SCSI_STATUS_BUSY);
    delete_rule(busy);
    const uint64_t cc = add_rule({{"name", "hw-error"},
                                  {"action", "status"},
                                  {"status", "check_condition"},
                                  {"command", "read"},
                                  {"sense_key", 4},
                                  {"asc", 0x44},
                                  {"ascq", 0}});
    Task t2(iscsi_read16_sync(c.get(), 0, 400, block_size, block_size, 0, 0, 0, 0, 0));
    ASSERT_TRUE(t2);
    EXPECT_EQ(t2->status, SCSI_STATUS_CHECK_CONDITION);
    EXPECT_EQ(t2->sense.key, 4);
    EXPECT_EQ(t2->sense.ascq, 0x4400);
    delete_rule(cc);
    Task t3(iscsi_read16_sync(c.get(), 0, 400, block_size, block_size, 0, 0, 0, 0, 0));
    ASSERT_TRUE(t3);
    EXPECT_EQ(t3->status, SCSI_STATUS_GOOD);
}

// KB 2113956: the ATS is executed but its status never comes; the host times out and retries
// the same ATS, which now miscompares against its own earlier write. The console counts one
// injected drop (the rule's hit) and one genuine miscompare, exactly what the client saw.
TEST_F(Fault, DroppedStatusThenRetryGivesOneGenuineMiscompare) {
    Context c = connect(d, "iqn.2026-11.org.atsarray:fault-e");
    const uint64_t id = add_rule(
        {{"name", "lost-ack"}, {"action", "drop_status"}, {"command", "ats"}, {"max_hits", 1}});
    iscsi_set_timeout(c.get(), 1);
    std::vector<uint8_t> both(2 * block_size, 0);
    std::fill(both.begin() + block_size, both.end(), 3);
    Task first(iscsi_compareandwrite_sync(c.get(), 0, 500, both.data(), 2 * block_size, block_size,
                                          0, 0, 0, 0, 0));
    ASSERT_TRUE(first == nullptr || first->status == SCSI_STATUS_TIMEOUT)
        << (first ? first->status : -1);
    iscsi_set_timeout(c.get(), 10);
    EXPECT_EQ(ats(c.get(), 500, 0, 3), 0x0E);  // the retry meets its own write
    EXPECT_EQ(read_block(c.get(), 500), std::vector<uint8_t>(block_size, 3));
    EXPECT_EQ(rule(id)["hits"], 1);
    const auto snap = d.daemon().accounting().snapshot();
    const auto& lun = snap.ats_per_lun.at({target_name, 0});
    EXPECT_EQ(lun.miscompares, 1U);
    EXPECT_EQ(lun.late_retry_miscompares, 1U);  // caused by the retry, and the console says so
    EXPECT_EQ(lun.successes, 1U);               // the dropped one did write
    ASSERT_FALSE(snap.hot_blocks.empty());
    EXPECT_TRUE(snap.hot_blocks.front().last_late_retry);
    EXPECT_EQ(lun.injected_miscompares, 0U);
}

TEST_F(Fault, DropConnectionClosesThePath) {
    Context c = connect(d, "iqn.2026-11.org.atsarray:fault-f");
    const uint64_t id = add_rule({{"name", "flap"},
                                  {"action", "drop_connection"},
                                  {"command", "read"},
                                  {"initiator", "*fault-f"}});
    Task t(iscsi_read16_sync(c.get(), 0, 600, block_size, block_size, 0, 0, 0, 0, 0));
    EXPECT_TRUE(t == nullptr || t->status != SCSI_STATUS_GOOD);
    delete_rule(id);
    Context again = connect(d, "iqn.2026-11.org.atsarray:fault-f");
    ASSERT_TRUE(again);
    read_block(again.get(), 600);
}

// A node cache that missed an invalidation: for stale_ms after a write, the reader the rule names
// gets the block's previous image; an ATS built on it miscompares against the medium, a genuine
// miscompare the stale read caused. Deleting the rule makes reads exact at once.
TEST_F(Fault, StaleReadReturnsThePreviousImageUntilItsTimeHasPassed) {
    Context w = connect(d, "iqn.2026-11.org.atsarray:fault-g-writer");
    Context r = connect(d, "iqn.2026-11.org.atsarray:fault-g-reader");
    const auto write_block = [](iscsi_context* ctx, uint64_t lba, uint8_t fill) {
        std::vector<uint8_t> data(block_size, fill);
        Task t(iscsi_write16_sync(ctx, 0, lba, data.data(), block_size, block_size, 0, 0, 0, 0, 0));
        EXPECT_TRUE(t && t->status == SCSI_STATUS_GOOD);
    };
    write_block(w.get(), 700, 1);
    const uint64_t id = add_rule({{"name", "stale-node"},
                                  {"action", "stale_read"},
                                  {"lba_first", 700},
                                  {"lba_last", 700},
                                  {"initiator", "*reader"},
                                  {"stale_ms", 1500}});
    EXPECT_EQ(rule(id)["command"], "read");
    write_block(w.get(), 700, 2);
    write_block(w.get(), 701, 2);
    EXPECT_EQ(read_block(r.get(), 700), std::vector<uint8_t>(block_size, 1));  // stale
    EXPECT_EQ(read_block(w.get(), 700), std::vector<uint8_t>(block_size, 2));  // another node
    EXPECT_EQ(read_block(r.get(), 701), std::vector<uint8_t>(block_size, 2));  // outside the range
    EXPECT_EQ(ats(r.get(), 700, 1, 3), 0x0E);  // built on the stale image
    EXPECT_GE(rule(id)["hits"].get<int>(), 1);
    const auto snap = d.daemon().accounting().snapshot();
    EXPECT_EQ(snap.ats_per_lun.at({target_name, 0}).miscompares, 1U);
    std::this_thread::sleep_for(std::chrono::milliseconds(1600));
    EXPECT_EQ(read_block(r.get(), 700), std::vector<uint8_t>(block_size, 2));  // expired
    write_block(w.get(), 700, 4);
    EXPECT_EQ(read_block(r.get(), 700), std::vector<uint8_t>(block_size, 2));  // a new window
    delete_rule(id);
    EXPECT_EQ(read_block(r.get(), 700), std::vector<uint8_t>(block_size, 4));  // exact at once
}

TEST_F(Fault, BadRulesGetJsonErrors) {
    EXPECT_EQ(http_call(port(), "POST", "/api/v1/faults", "", R"({"name":"x"})").status, 401U);
    const HttpAnswer bad = http_call(port(), "POST", "/api/v1/faults", token(),
                                     R"({"name": "x", "action": "explode"})");
    EXPECT_EQ(bad.status, 422U);
    EXPECT_NE(bad.body["error"]["message"].get<std::string>().find("action"), std::string::npos);
    EXPECT_EQ(http_call(port(), "POST", "/api/v1/faults", token(),
                        R"({"name": "x", "action": "false_miscompare", "command": "read"})")
                  .status,
              422U);
    EXPECT_EQ(http_call(port(), "POST", "/api/v1/faults", token(),
                        R"({"name": "x", "action": "delay", "delay_ms": 0})")
                  .status,
              422U);
    EXPECT_EQ(http_call(port(), "POST", "/api/v1/faults", token(),
                        R"({"name": "x", "action": "stale_read", "command": "write"})")
                  .status,
              422U);
    EXPECT_EQ(http_call(port(), "POST", "/api/v1/faults", token(), "{oops").status, 400U);
    EXPECT_EQ(http_call(port(), "DELETE", "/api/v1/faults/99", token()).status, 404U);
    EXPECT_EQ(http_call(port(), "GET", "/api/v1/faults").body["enabled"], true);
}

TEST_F(Fault, PresetsAddTheirRulesByName) {
    const HttpAnswer list = http_call(port(), "GET", "/api/v1/faults/presets");
    ASSERT_EQ(list.status, 200U);
    std::vector<std::string> names;
    for (const auto& p : list.body) {
        names.push_back(p["name"]);
        EXPECT_FALSE(p["description"].get<std::string>().empty());
    }
    EXPECT_NE(std::find(names.begin(), names.end(), "esxi-heartbeat-timeout"), names.end());
    EXPECT_NE(std::find(names.begin(), names.end(), "false-ats-firmware"), names.end());
    const HttpAnswer added =
        http_call(port(), "POST", "/api/v1/faults/presets/lost-ats-ack", token());
    ASSERT_EQ(added.status, 201U);
    ASSERT_EQ(added.body["rules"].size(), 1U);
    EXPECT_EQ(added.body["rules"][0]["action"], "drop_status");
    EXPECT_EQ(http_call(port(), "GET", "/api/v1/faults").body["rules"].size(), 1U);
    EXPECT_EQ(http_call(port(), "POST", "/api/v1/faults/presets/nope", token()).status, 404U);
    EXPECT_EQ(http_call(port(), "POST", "/api/v1/faults/presets/lost-ats-ack").status, 401U);
}

TEST(FaultOff, RulesAreRefusedWhenTheConfigKeepsInjectionOff) {
    InProcessDaemon d(config(false));
    const HttpAnswer a =
        http_call(d.daemon().console_port(), "POST", "/api/v1/faults", d.daemon().console_token(),
                  R"({"name": "x", "action": "false_miscompare"})");
    EXPECT_EQ(a.status, 409U);
    EXPECT_EQ(http_call(d.daemon().console_port(), "GET", "/api/v1/faults").body["enabled"], false);
}

}  // namespace
}  // namespace atsarray::testing
