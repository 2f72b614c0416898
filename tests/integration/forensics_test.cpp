// The flight recorder end to end (issue 16): each cause of a miscompare made on purpose by
// libiscsi sessions against the real daemon, and read back from the API with its culprit:
// two initiators racing (contention), an ATS whose status was dropped and then retried
// (late_retry), a stale_read rule (stale_read), a write on a second path of the same initiator
// (failover), a false_miscompare rule (injected). Also one block's history with its images.
#include <gtest/gtest.h>

extern "C" {
#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>
}

#include <chrono>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/http_client.hpp"
#include "tests/integration/in_process_daemon.hpp"
#include "tools/libiscsi_handles.hpp"

namespace atsarray::testing {
namespace {

using initiator::Context;
using initiator::Task;
using nlohmann::json;

constexpr const char* target_name = "iqn.2026-12.org.atsarray:forensics";
constexpr uint32_t block_size = 512;

std::string config() {
    return std::string("[console]\nport = ") + std::to_string(free_port()) +
           "\n[fault]\nenabled = true\n[[target]]\nname = \"" + target_name +
           "\"\n[[target.lun]]\nid = 0\nbackend = \"memory\"\nsize = \"16MiB\"\n";
}

// The status a POST of a host log declared one byte over the upload limit gets: only its header is
// sent (the console answers from the Content-Length, before any of the body).
unsigned declared_too_big(uint16_t port, const std::string& token) {
    namespace beast = boost::beast;
    namespace http = beast::http;
    boost::asio::io_context ioc;
    beast::tcp_stream stream(ioc);
    stream.connect(
        boost::asio::ip::tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), port));
    const std::string header =
        "POST /api/v1/forensics/host-log HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        "Authorization: Bearer " +
        token +
        "\r\nContent-Type: text/plain\r\nContent-Length: " + std::to_string((16 << 20) + 1) +
        "\r\n\r\n";
    boost::asio::write(stream, boost::asio::buffer(header));
    beast::flat_buffer buffer;
    http::response<http::string_body> res;
    http::read(stream, buffer, res);
    return res.result_int();
}

class Forensics : public ::testing::Test {
  protected:
    Forensics() : d(config()) {}

    // A session of initiator `name` with its own ISID (`isid`: two sessions of one initiator
    // are two I_T nexuses, two paths), to the fixture's daemon or to `portal`.
    Context connect(const std::string& name, uint32_t isid = 1) {
        return connect_to(d.portal(), name, isid);
    }
    static Context connect_to(const std::string& portal, const std::string& name,
                              uint32_t isid = 1) {
        Context ctx = initiator::create_context(name);
        iscsi_set_targetname(ctx.get(), target_name);
        iscsi_set_session_type(ctx.get(), ISCSI_SESSION_NORMAL);
        iscsi_set_noautoreconnect(ctx.get(), 1);
        iscsi_set_isid_random(ctx.get(), isid, 0);
        iscsi_set_timeout(ctx.get(), 10);
        if (iscsi_full_connect_sync(ctx.get(), portal.c_str(), 0) != 0) {
            ADD_FAILURE() << name << ": " << iscsi_get_error(ctx.get());
            return nullptr;
        }
        Task(iscsi_testunitready_sync(ctx.get(), 0));  // the power-on unit attention
        return ctx;
    }

    uint16_t port() { return d.daemon().console_port(); }
    std::string token() { return d.daemon().console_token(); }

    std::vector<uint8_t> read_block(iscsi_context* ctx, uint64_t lba) {
        Task t(iscsi_read16_sync(ctx, 0, lba, block_size, block_size, 0, 0, 0, 0, 0));
        EXPECT_TRUE(t && t->status == SCSI_STATUS_GOOD);
        return t ? std::vector<uint8_t>(t->datain.data, t->datain.data + block_size)
                 : std::vector<uint8_t>();
    }
    void write_block(iscsi_context* ctx, uint64_t lba, uint8_t fill) {
        std::vector<uint8_t> data(block_size, fill);
        Task t(iscsi_write16_sync(ctx, 0, lba, data.data(), block_size, block_size, 0, 0, 0, 0, 0));
        EXPECT_TRUE(t && t->status == SCSI_STATUS_GOOD);
    }
    // SCSI status, 0x0E for MISCOMPARE, -1 for no answer.
    int ats(iscsi_context* ctx, uint64_t lba, uint8_t expected, uint8_t next) {
        std::vector<uint8_t> both(2 * block_size, expected);
        std::fill(both.begin() + block_size, both.end(), next);
        Task t(iscsi_compareandwrite_sync(ctx, 0, lba, both.data(), 2 * block_size, block_size, 0,
                                          0, 0, 0, 0));
        if (!t || t->status == SCSI_STATUS_TIMEOUT) {
            return -1;
        }
        if (t->status == SCSI_STATUS_CHECK_CONDITION && t->sense.key == SCSI_SENSE_MISCOMPARE) {
            return 0x0E;
        }
        return t->status;
    }
    uint64_t add_rule(const json& rule) {
        const HttpAnswer a = http_call(port(), "POST", "/api/v1/faults", token(), rule.dump());
        EXPECT_EQ(a.status, 201U) << a.body.dump();
        return a.body.value("id", uint64_t{0});
    }

    // Waits until the recorder tracks `lba` (its first ATS was folded in): commands on the block
    // from then on are in its history.
    void wait_tracked(uint64_t lba) {
        for (int i = 0; i < 500; ++i) {
            const HttpAnswer a = http_call(port(), "GET", history_path(lba));
            if (a.status == 200) {
                return;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        ADD_FAILURE() << "block " << lba << " never tracked";
    }
    static std::string history_path(uint64_t lba) {
        return std::string("/api/v1/forensics/blocks/") + target_name + "/0/" + std::to_string(lba);
    }

    // The explained miscompare of `lba` (waits for the recorder's thread), from the fixture's
    // daemon or the one whose console listens on `console`.
    json miscompare_of(uint64_t lba) { return miscompare_of(lba, port()); }
    static json miscompare_of(uint64_t lba, uint16_t console) {
        for (int i = 0; i < 500; ++i) {
            const HttpAnswer a = http_call(console, "GET", "/api/v1/forensics");
            EXPECT_EQ(a.status, 200U) << a.body.dump();
            for (const json& m : a.body["miscompares"]) {
                if (m["block"] == lba) {
                    return m;
                }
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        ADD_FAILURE() << "no miscompare explained on block " << lba;
        return json::object();
    }

    InProcessDaemon d;
};

TEST_F(Forensics, TwoInitiatorsRacingIsContentionNamingTheOther) {
    Context a = connect("iqn.2026-12.org.atsarray:host-a");
    Context b = connect("iqn.2026-12.org.atsarray:host-b");
    ASSERT_EQ(ats(a.get(), 10, 0, 0), SCSI_STATUS_GOOD);  // tracks the block
    wait_tracked(10);
    EXPECT_EQ(read_block(a.get(), 10), std::vector<uint8_t>(block_size, 0));  // A reads 0
    ASSERT_EQ(ats(b.get(), 10, 0, 0xB), SCSI_STATUS_GOOD);                    // B takes it
    ASSERT_EQ(ats(a.get(), 10, 0, 0xA), 0x0E);                                // A is late

    const json m = miscompare_of(10);
    EXPECT_EQ(m["cause"], "contention") << m.dump(2);
    EXPECT_EQ(m["origin"]["initiator_name"], "iqn.2026-12.org.atsarray:host-a");
    ASSERT_TRUE(m["culprit"].is_object()) << m.dump(2);
    EXPECT_EQ(m["culprit"]["origin"]["initiator_name"], "iqn.2026-12.org.atsarray:host-b");
    EXPECT_EQ(m["culprit"]["command"], "ats");
    EXPECT_NE(m["explanation"].get<std::string>().find("iqn.2026-12.org.atsarray:host-b"),
              std::string::npos)
        << m["explanation"];

    // The block's history: every command in order, the images once each.
    const HttpAnswer h = http_call(port(), "GET", history_path(10));
    ASSERT_EQ(h.status, 200U);
    const json& entries = h.body["entries"];
    ASSERT_EQ(entries.size(), 4U) << h.body.dump(2);
    EXPECT_EQ(entries[0]["command"], "ats");
    EXPECT_EQ(entries[1]["command"], "read");
    EXPECT_EQ(entries[2]["origin"]["initiator_name"], "iqn.2026-12.org.atsarray:host-b");
    EXPECT_EQ(entries[3]["outcome"], "miscompare");
    EXPECT_EQ(entries[3]["cause"], "contention");
    const std::string set_b = std::to_string(entries[2]["set_image"].get<uint64_t>());
    ASSERT_TRUE(h.body["images"].contains(set_b)) << h.body["images"].dump();
    EXPECT_EQ(h.body["images"][set_b]["hex"], [] {
        std::string b_image;
        for (uint32_t i = 0; i < block_size; ++i) {
            b_image += "0b";
        }
        return b_image;
    }());
    // The miscompare's on-disk image is B's set image, stored once.
    EXPECT_EQ(entries[3]["on_disk_image"], entries[2]["set_image"]);
}

// KB 2113956: the ATS is executed, its status dropped; the host's retry meets its own write.
TEST_F(Forensics, ARetryAfterADroppedStatusIsALateRetryOfItsOwnAts) {
    Context a = connect("iqn.2026-12.org.atsarray:host-a");
    add_rule(
        {{"name", "lost-ack"}, {"action", "drop_status"}, {"command", "ats"}, {"max_hits", 1}});
    iscsi_set_timeout(a.get(), 1);
    EXPECT_EQ(ats(a.get(), 20, 0, 3), -1);  // executed, never answered
    iscsi_set_timeout(a.get(), 10);
    ASSERT_EQ(ats(a.get(), 20, 0, 3), 0x0E);  // the retry

    const json m = miscompare_of(20);
    EXPECT_EQ(m["cause"], "late_retry") << m.dump(2);
    ASSERT_TRUE(m["culprit"].is_object()) << m.dump(2);
    EXPECT_EQ(m["culprit"]["command"], "ats");
    EXPECT_EQ(m["culprit"]["status_seen"], false);
    EXPECT_EQ(m["culprit"]["fault_rule"], "lost-ack");
    EXPECT_EQ(m["culprit"]["origin"]["initiator_name"], "iqn.2026-12.org.atsarray:host-a");
    EXPECT_NE(m["culprit"]["itt"], m["itt"]);  // the first attempt, not the retry
}

// A node cache that missed an invalidation (stale_read): the reader's ATS is built on an image
// the writer had already replaced.
TEST_F(Forensics, AnAtsBuiltOnAStaleReadIsStaleReadNamingTheRule) {
    Context w = connect("iqn.2026-12.org.atsarray:host-writer");
    Context r = connect("iqn.2026-12.org.atsarray:host-reader");
    ASSERT_EQ(ats(w.get(), 30, 0, 1), SCSI_STATUS_GOOD);
    wait_tracked(30);
    add_rule({{"name", "stale-node"},
              {"action", "stale_read"},
              {"lba_first", 30},
              {"lba_last", 30},
              {"initiator", "*reader"},
              {"stale_ms", 60000}});
    write_block(w.get(), 30, 2);
    EXPECT_EQ(read_block(r.get(), 30), std::vector<uint8_t>(block_size, 1));  // stale
    ASSERT_EQ(ats(r.get(), 30, 1, 3), 0x0E);

    const json m = miscompare_of(30);
    EXPECT_EQ(m["cause"], "stale_read") << m.dump(2);
    EXPECT_EQ(m["origin"]["initiator_name"], "iqn.2026-12.org.atsarray:host-reader");
    EXPECT_NE(m["explanation"].get<std::string>().find("stale-node"), std::string::npos)
        << m["explanation"];
}

// The same initiator on a second path (another I_T nexus) writes the block between its read and
// its ATS on the first: a stale in-flight write after a failover.
TEST_F(Forensics, AWriteFromTheSameInitiatorOnAnotherPathIsFailover) {
    Context first = connect("iqn.2026-12.org.atsarray:host-a", 1);
    Context second = connect("iqn.2026-12.org.atsarray:host-a", 2);
    ASSERT_EQ(ats(first.get(), 40, 0, 5), SCSI_STATUS_GOOD);
    wait_tracked(40);
    EXPECT_EQ(read_block(first.get(), 40), std::vector<uint8_t>(block_size, 5));
    write_block(second.get(), 40, 9);
    ASSERT_EQ(ats(first.get(), 40, 5, 6), 0x0E);

    const json m = miscompare_of(40);
    EXPECT_EQ(m["cause"], "failover") << m.dump(2);
    ASSERT_TRUE(m["culprit"].is_object()) << m.dump(2);
    EXPECT_EQ(m["culprit"]["command"], "write");
    EXPECT_EQ(m["culprit"]["origin"]["initiator_name"], "iqn.2026-12.org.atsarray:host-a");
    EXPECT_NE(m["culprit"]["origin"]["initiator_port"], m["origin"]["initiator_port"]);
}

TEST_F(Forensics, AFalseMiscompareRuleIsInjectedNamingTheRule) {
    Context a = connect("iqn.2026-12.org.atsarray:host-a");
    add_rule({{"name", "firmware-bug"},
              {"action", "false_miscompare"},
              {"lba_first", 50},
              {"lba_last", 50}});
    ASSERT_EQ(ats(a.get(), 50, 0, 7), 0x0E);  // the data matched: the array lies
    const json m = miscompare_of(50);
    EXPECT_EQ(m["cause"], "injected") << m.dump(2);
    EXPECT_EQ(m["outcome"], "injected_miscompare");
    EXPECT_EQ(m["fault_rule"], "firmware-bug");
    EXPECT_NE(m["explanation"].get<std::string>().find("firmware-bug"), std::string::npos);
    // The event (made on the recorder's thread just after it explained the miscompare).
    bool event = false;
    for (int i = 0; i < 500 && !event; ++i) {
        const json events = http_call(port(), "GET", "/api/v1/events").body["events"];
        for (const json& e : events) {
            event = event || (e["kind"] == "miscompare_cause" &&
                              e["message"].get<std::string>().find(
                                  "injected: fault rule firmware-bug") != std::string::npos);
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    EXPECT_TRUE(event);
    const json stats = http_call(port(), "GET", "/api/v1/forensics").body["stats"];
    EXPECT_EQ(stats["causes"]["injected"], 1) << stats.dump();
}

// A host's vmkernel.log excerpt uploaded and joined with the array's events (issue 16): its ATS
// miscompare line matches the miscompare the recorder explained, a line about a block the array
// never saw an ATS on is flagged, and a line the parser does not know is counted.
TEST_F(Forensics, AHostLogIsJoinedWithTheRecordersMiscompares) {
    Context a = connect("iqn.2026-12.org.atsarray:host-a");
    Context b = connect("iqn.2026-12.org.atsarray:host-b");
    ASSERT_EQ(ats(a.get(), 10, 0, 0), SCSI_STATUS_GOOD);
    wait_tracked(10);
    read_block(a.get(), 10);
    ASSERT_EQ(ats(b.get(), 10, 0, 0xB), SCSI_STATUS_GOOD);
    ASSERT_EQ(ats(a.get(), 10, 0, 0xA), 0x0E);
    const std::string at = miscompare_of(10)["answered"].get<std::string>();

    const std::string log =
        at + " cpu3:2098765)HBX: 1936: ATS Miscompare detected between test and set HB images " +
        "at offset 5120 on vol 'ds1'.\n" + at +
        " cpu3:2098765)HBX: 1936: ATS Miscompare detected between test and set HB images at " +
        "offset 397824 on vol 'ds1'.\n" + "this line is no log line at all\n";
    const HttpAnswer joined = http_call(port(), "POST", "/api/v1/forensics/host-log?host=host-a",
                                        token(), log, "text/plain");
    ASSERT_EQ(joined.status, 200U) << joined.body.dump(2);
    const json& counts = joined.body["counts"];
    EXPECT_EQ(counts["host_events"], 2) << joined.body.dump(2);
    EXPECT_EQ(counts["host_matched"], 1) << joined.body.dump(2);
    EXPECT_EQ(counts["host_unmatched"], 1) << joined.body.dump(2);
    EXPECT_EQ(joined.body["parse"]["unknown_lines"], 1);
    bool flagged = false;
    for (const json& e : joined.body["timeline"]) {
        if (e["side"] == "host" && e["state"] == "unmatched") {
            flagged = e.contains("explanation");
        }
        if (e["side"] == "host" && e["state"] == "matched") {
            ASSERT_EQ(e["matches"].size(), 1U) << e.dump(2);
        }
    }
    EXPECT_TRUE(flagged) << joined.body["timeline"].dump(2);

    // Refused: without the token, as JSON, and over the upload limit (16 MiB).
    EXPECT_EQ(http_call(port(), "POST", "/api/v1/forensics/host-log", "", log, "text/plain").status,
              401U);
    EXPECT_EQ(http_call(port(), "POST", "/api/v1/forensics/host-log", token(), "{}").status, 415U);
    EXPECT_EQ(declared_too_big(port(), token()), 413U);
    EXPECT_EQ(http_call(port(), "GET", "/api/v1/forensics/host-log").status, 405U);
    EXPECT_EQ(http_call(port(), "POST", "/api/v1/forensics/host-log?window_ms=0", token(), log,
                        "text/plain")
                  .status,
              400U);
}

// [ats] recorder_persist: a file LUN's histories are written next to its image when the daemon
// stops and read back when it starts again: the miscompare, its cause and its culprit survive the
// restart, and the block's history goes on from there.
TEST_F(Forensics, PersistedHistoriesSurviveARestart) {
    TempDir dir;
    const std::string image = (dir.path() / "lun0.img").string();
    const auto body = [&] {
        return std::string("[console]\nport = ") + std::to_string(free_port()) +
               "\n[ats]\nrecorder_persist = true\n[[target]]\nname = \"" + target_name +
               "\"\n[[target.lun]]\nid = 0\nbackend = \"file\"\npath = \"" + image +
               "\"\nsize = \"16MiB\"\n";
    };
    json before;
    {
        InProcessDaemon first(body());
        Context a = connect_to(first.portal(), "iqn.2026-12.org.atsarray:host-a");
        Context b = connect_to(first.portal(), "iqn.2026-12.org.atsarray:host-b");
        ASSERT_EQ(ats(a.get(), 10, 0, 0), SCSI_STATUS_GOOD);
        ASSERT_EQ(ats(b.get(), 10, 0, 0xB), SCSI_STATUS_GOOD);
        ASSERT_EQ(ats(a.get(), 10, 0, 0xA), 0x0E);
        before = miscompare_of(10, first.daemon().console_port());
        ASSERT_TRUE(before.is_object());
        EXPECT_EQ(before["cause"], "contention") << before.dump(2);
    }
    ASSERT_TRUE(std::filesystem::exists(image + ".forensics"));
    InProcessDaemon second(body());
    const json after = miscompare_of(10, second.daemon().console_port());
    ASSERT_TRUE(after.is_object()) << "nothing restored";
    for (const char* field : {"cause", "explanation", "answered", "itt", "origin", "block"}) {
        EXPECT_EQ(after[field], before[field]) << field;
    }
    ASSERT_TRUE(after["culprit"].is_object());
    EXPECT_EQ(after["culprit"]["origin"]["initiator_name"], "iqn.2026-12.org.atsarray:host-b");
    // The block is tracked again: a read now joins its history after the restored entries.
    Context c = connect_to(second.portal(), "iqn.2026-12.org.atsarray:host-c");
    Task t(iscsi_read16_sync(c.get(), 0, 10, block_size, block_size, 0, 0, 0, 0, 0));
    ASSERT_TRUE(t && t->status == SCSI_STATUS_GOOD);
    json history;
    for (int i = 0; i < 500; ++i) {
        history = http_call(second.daemon().console_port(), "GET", history_path(10)).body;
        if (history["entries"].size() == 4) {
            break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ASSERT_EQ(history["entries"].size(), 4U) << history.dump(2);
    EXPECT_EQ(history["entries"][3]["command"], "read");
    EXPECT_EQ(history["entries"][3]["origin"]["initiator_name"], "iqn.2026-12.org.atsarray:host-c");
}

TEST_F(Forensics, BadRequestsGetClearErrors) {
    EXPECT_EQ(http_call(port(), "GET", history_path(999)).status, 404U);
    EXPECT_EQ(http_call(port(), "GET", "/api/v1/forensics/blocks/x/zero/1").status, 400U);
    EXPECT_EQ(http_call(port(), "GET", "/api/v1/forensics?limit=0").status, 400U);
    EXPECT_EQ(http_call(port(), "POST", "/api/v1/forensics", token(), "{}").status, 405U);
    EXPECT_EQ(http_call(port(), "GET", "/api/v1/forensics/nothing").status, 404U);
}

}  // namespace
}  // namespace atsarray::testing
