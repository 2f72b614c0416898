// atsarray-replay end to end (issue 16): a workload of two initiators captured by the real daemon
// through the console API (writes, reads, a COMPARE AND WRITE that succeeds, one that miscompares
// because the other initiator changed the block in between, an invalid CDB), its JSON trace
// replayed against a fresh daemon of the same config (identical, ordered and timed) and against
// the recording daemon, whose blocks the workload changed (diverges); a bad trace and a login the
// target refuses end in exit 2.
#include <gtest/gtest.h>

extern "C" {
#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>
}

#include <chrono>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/daemon_process.hpp"
#include "tests/integration/http_client.hpp"
#include "tools/libiscsi_handles.hpp"

namespace atsarray::testing {
namespace {

using initiator::Context;
using initiator::Task;
using nlohmann::json;

constexpr const char* target_name = "iqn.2026-12.org.atsarray:replay";
constexpr const char* token = "replay-test-token-0123456789abcdef";
constexpr const char* initiator_a = "iqn.2026-12.org.atsarray:replay-host-a";
constexpr const char* initiator_b = "iqn.2026-12.org.atsarray:replay-host-b";
constexpr uint32_t block_size = 512;
constexpr uint64_t counted_lba = 100;  // the block both initiators race on
constexpr size_t workload_commands = 7;

// The same array each time but for its console's port (the portal's comes from DaemonProcess).
std::string config(uint16_t console_port) {
    return std::string("[console]\naddress = \"127.0.0.1\"\nport = ") +
           std::to_string(console_port) + "\ntoken = \"" + token + "\"\n[[target]]\nname = \"" +
           target_name + "\"\n[[target.lun]]\nid = 0\nbackend = \"memory\"\nsize = \"16MiB\"\n";
}

struct ReplayRun {
    int status = -1;
    std::string out;
    std::string err;
};

class Replay : public ::testing::Test {
  protected:
    Replay() : console_port_(free_port()), recording_(config(console_port_)) {
        for (int i = 0; i < 200 && !can_connect(console_port_); ++i) {
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
    }

    // A session of `name` with ISID Random type, `isid` in its 24 bits, its unit attention
    // cleared before the capture starts (the replay clears its own).
    Context connect(const std::string& name, uint32_t isid) {
        Context ctx = initiator::create_context(name);
        iscsi_set_targetname(ctx.get(), target_name);
        iscsi_set_session_type(ctx.get(), ISCSI_SESSION_NORMAL);
        iscsi_set_noautoreconnect(ctx.get(), 1);
        iscsi_set_isid_random(ctx.get(), isid, 0);
        iscsi_set_timeout(ctx.get(), 10);
        if (iscsi_full_connect_sync(ctx.get(), recording_.portal().c_str(), 0) != 0) {
            ADD_FAILURE() << name << ": " << iscsi_get_error(ctx.get());
            return nullptr;
        }
        for (int i = 0; i < 5; ++i) {
            Task t(iscsi_testunitready_sync(ctx.get(), 0));
            if (t && t->status == SCSI_STATUS_GOOD) {
                break;
            }
        }
        return ctx;
    }

    HttpAnswer api(const std::string& method, const std::string& path,
                   const std::string& body = "") {
        return http_call(console_port_, method, path, token, body);
    }

    // Runs atsarray-replay with `args` (shell words); its standard error apart.
    ReplayRun replay(const std::string& args) {
        const auto err_path = recording_.dir() / "replay.stderr";
        ReplayRun r;
        r.status = run_command_stdout(
            std::string(REPLAY_BINARY) + " " + args + " 2>" + err_path.string(), r.out);
        std::ifstream in(err_path);
        r.err.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
        return r;
    }

    std::filesystem::path write_file(const std::string& name, const std::string& text) {
        const auto path = recording_.dir() / name;
        std::ofstream(path) << text;
        return path;
    }

    uint16_t console_port_;
    DaemonProcess recording_;
};

void write_block(iscsi_context* ctx, uint64_t lba, uint8_t fill) {
    std::vector<uint8_t> data(block_size, fill);
    Task t(iscsi_write16_sync(ctx, 0, lba, data.data(), block_size, block_size, 0, 0, 0, 0, 0));
    ASSERT_TRUE(t && t->status == SCSI_STATUS_GOOD);
}

std::vector<uint8_t> read_block(iscsi_context* ctx, uint64_t lba) {
    Task t(iscsi_read16_sync(ctx, 0, lba, block_size, block_size, 0, 0, 0, 0, 0));
    EXPECT_TRUE(t && t->status == SCSI_STATUS_GOOD);
    return t && t->datain.data != nullptr
               ? std::vector<uint8_t>(t->datain.data, t->datain.data + t->datain.size)
               : std::vector<uint8_t>();
}

// The task of a COMPARE AND WRITE of one block: `expected`, then `next`.
Task compare_and_write(iscsi_context* ctx, uint64_t lba, uint8_t expected, uint8_t next) {
    std::vector<uint8_t> both(2 * block_size, expected);
    std::fill(both.begin() + block_size, both.end(), next);
    return Task(iscsi_compareandwrite_sync(ctx, 0, lba, both.data(), 2 * block_size, block_size, 0,
                                           0, 0, 0, 0));
}

// The recorded workload, 7 commands. Steps are 30 ms apart so the timed replay keeps the order of
// steps on different sessions (one initiator's change before the other's compare).
void run_workload(iscsi_context* a, iscsi_context* b) {
    const auto step = [] { std::this_thread::sleep_for(std::chrono::milliseconds(30)); };
    write_block(a, 10, 0x01);
    step();
    EXPECT_EQ(read_block(b, 10), std::vector<uint8_t>(block_size, 0x01));
    step();
    Task ok = compare_and_write(a, counted_lba, 0x00, 0xa1);
    ASSERT_TRUE(ok);
    EXPECT_EQ(ok->status, SCSI_STATUS_GOOD);
    step();
    write_block(b, counted_lba, 0xb2);  // the other initiator changes the block
    step();
    Task miscompared = compare_and_write(a, counted_lba, 0xa1, 0xa2);
    ASSERT_TRUE(miscompared);
    EXPECT_EQ(miscompared->status, SCSI_STATUS_CHECK_CONDITION);
    EXPECT_EQ(miscompared->sense.key, SCSI_SENSE_MISCOMPARE);
    step();
    // An opcode the target does not support (SPC-4 §4.5.6: INVALID COMMAND OPERATION CODE).
    unsigned char cdb[16] = {0xc0};
    Task invalid(scsi_create_task(16, cdb, SCSI_XFER_NONE, 0));
    ASSERT_EQ(iscsi_scsi_command_sync(b, 0, invalid.get(), nullptr), invalid.get());
    EXPECT_EQ(invalid->status, SCSI_STATUS_CHECK_CONDITION);
    EXPECT_EQ(invalid->sense.key, SCSI_SENSE_ILLEGAL_REQUEST);
    step();
    EXPECT_EQ(read_block(a, counted_lba), std::vector<uint8_t>(block_size, 0xb2));
}

json summary_of(const ReplayRun& r) {
    const json j = json::parse(r.out, nullptr, false);
    EXPECT_TRUE(j.is_object()) << r.out << r.err;
    return j.is_object() ? j["summary"] : json();
}

TEST_F(Replay, IdenticalOnAFreshArrayDivergentOnTheChangedOne) {
    Context a = connect(initiator_a, 1);
    Context b = connect(initiator_b, 2);
    ASSERT_TRUE(a && b);

    const HttpAnswer started = api(
        "POST", "/api/v1/captures",
        json{{"target", target_name}, {"max_commands", 1000}, {"max_mib", 16}, {"max_seconds", 120}}
            .dump());
    ASSERT_EQ(started.status, 201U) << started.body.dump();
    const std::string id = started.body.value("id", "");
    run_workload(a.get(), b.get());
    const HttpAnswer stopped = api("POST", "/api/v1/captures/" + id + "/stop");
    ASSERT_EQ(stopped.status, 200U) << stopped.body.dump();
    const HttpAnswer trace = api("GET", "/api/v1/captures/" + id + "/trace?format=json");
    ASSERT_EQ(trace.status, 200U) << trace.body.dump();
    ASSERT_EQ(trace.body["commands"].size(), workload_commands) << trace.body.dump();
    ASSERT_EQ(trace.body["sessions"].size(), 2U) << trace.body.dump();
    const auto trace_path = write_file("trace.json", trace.body.dump());
    // Logged out: the replay against this daemon logs in as the same initiators and ISIDs.
    a.reset();
    b.reset();

    DaemonProcess fresh(config(free_port()));
    const std::string trace_arg = trace_path.string();
    ReplayRun r = replay(trace_arg + " --portal " + fresh.portal() + " --ordered --json");
    EXPECT_EQ(r.status, 0) << r.out << r.err;
    json s = summary_of(r);
    EXPECT_EQ(s["sent"], workload_commands) << r.out;
    EXPECT_EQ(s["identical"], s["sent"]) << r.out;
    EXPECT_EQ(s["diverged"], 0) << r.out;

    // Timed, on the same array now holding the workload's end state: --seed puts back the images
    // the trace reveals (the counted block's zeros) so it starts as the recording did.
    r = replay(trace_arg + " --portal " + fresh.portal() + " --seed --json");
    EXPECT_EQ(r.status, 0) << r.out << r.err;
    s = summary_of(r);
    EXPECT_EQ(s["sent"], workload_commands) << r.out;
    EXPECT_EQ(s["identical"], s["sent"]) << r.out;
    EXPECT_EQ(s["diverged"], 0) << r.out;

    // The recording array without --seed: the first COMPARE AND WRITE finds the other
    // initiator's image where the recording found zeros.
    r = replay(trace_arg + " --portal " + recording_.portal() + " --ordered");
    EXPECT_EQ(r.status, 1) << r.out << r.err;
    EXPECT_NE(r.out.find("COMPARE AND WRITE lba 100: recorded GOOD, replayed MISCOMPARE at offset "
                         "0"),
              std::string::npos)
        << r.out;
    EXPECT_EQ(r.out.find("diverged 0,"), std::string::npos) << r.out;
    EXPECT_EQ(api("DELETE", "/api/v1/captures/" + id).status, 204U);
}

TEST_F(Replay, ABadTraceOrARefusedLoginIsExitTwo) {
    json trace = {{"format", "atsarray-trace"},
                  {"version", 1},
                  {"id", "c1"},
                  {"started_unix_us", 0},
                  {"ended_unix_us", 0},
                  {"target", target_name},
                  {"initiator", ""},
                  {"stop_reason", "stopped"},
                  {"luns", json::array()},
                  {"sessions", json::array({{{"initiator_name", initiator_a},
                                             {"isid", "0x800000010000"},
                                             {"address", "127.0.0.1:40000"},
                                             {"portal", recording_.portal()},
                                             {"target", target_name},
                                             {"relative_target_port", 1}}})},
                  {"commands", json::array()}};
    // A trace with no commands, but whose session names a target this array does not have.
    json unknown_target = trace;
    unknown_target["sessions"][0]["target"] = "iqn.2026-12.org.atsarray:no-such-target";
    ReplayRun r = replay(write_file("unknown.json", unknown_target.dump()).string() + " --portal " +
                         recording_.portal());
    EXPECT_EQ(r.status, 2) << r.out << r.err;
    EXPECT_NE(
        r.err.find("cannot log in session 0 (" + std::string(initiator_a) + ",0x800000010000)"),
        std::string::npos)
        << r.err;

    // The same trace is fine: nothing to replay, nothing diverged.
    r = replay(write_file("empty.json", trace.dump()).string() + " --portal " +
               recording_.portal());
    EXPECT_EQ(r.status, 0) << r.out << r.err;

    json bad = trace;
    bad["sessions"][0].erase("initiator_name");
    r = replay(write_file("bad.json", bad.dump()).string() + " --portal " + recording_.portal());
    EXPECT_EQ(r.status, 2) << r.out << r.err;
    EXPECT_NE(r.err.find("bad trace"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("initiator_name"), std::string::npos) << r.err;

    r = replay(write_file("not-json.json", "{\"format\": ").string() + " --portal " +
               recording_.portal());
    EXPECT_EQ(r.status, 2) << r.out << r.err;
}

}  // namespace
}  // namespace atsarray::testing
