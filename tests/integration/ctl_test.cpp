// atsarrayctl (ctl/) against the real daemon: every read command's table and --json output
// checked against the API's own answer, the error paths a shell user meets (daemon down, wrong
// token, unknown LUN, a token file others can read), faults and notes changing what the API
// shows, and `top` in tmux under an ats-counter load. The live-configuration commands of issue 19
// run against a fake console here (the daemon side is built at the same time): the request each
// sends is checked against prompts/issue19-api.md's contract.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <fstream>
#include <future>
#include <iterator>
#include <regex>
#include <string>
#include <thread>

#include "tests/integration/daemon_process.hpp"
#include "tests/integration/http_client.hpp"
#include "tools/libiscsi_handles.hpp"

namespace atsarray::testing {
namespace {

using nlohmann::json;

constexpr const char* target_name = "iqn.2026-11.org.atsarray:ctl";
constexpr const char* token = "ctl-test-token-0123456789abcdef";

struct CtlRun {
    int status = -1;
    std::string out;
    std::string err;
};

std::string slurp(const std::filesystem::path& path) {
    std::ifstream in(path);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

// Runs atsarrayctl with `args` (shell words), no token in its environment unless `env` sets one.
CtlRun ctl(const std::string& url, const std::string& args, const std::string& env = "") {
    static TempDir scratch;
    const auto err_path = scratch.path() / "stderr";
    CtlRun r;
    r.status = run_command_stdout("env -u ATSARRAY_TOKEN -u ATSARRAY_TOKEN_FILE -u ATSARRAY_URL " +
                                      env + " " + CTL_BINARY + " --url " + url + " " + args +
                                      " 2>" + err_path.string(),
                                  r.out);
    r.err = slurp(err_path);
    return r;
}

class Ctl : public ::testing::Test {
  protected:
    Ctl()
        : console_port_(free_port()),
          daemon_(std::string("[console]\naddress = \"127.0.0.1\"\nport = ") +
                  std::to_string(console_port_) + "\ntoken = \"" + token +
                  "\"\n[fault]\nenabled = true\n"
                  // The whole history of ats_load()'s block (the forensics test reads it).
                  "[ats]\nrecorder_entries = 4096\n[[target]]\nname = \"" +
                  target_name +
                  "\"\n[[target.lun]]\nid = 0\nbackend = \"memory\"\nsize = \"16MiB\"\n"
                  "[[target.lun]]\nid = 1\nbackend = \"memory\"\nsize = \"8MiB\"\n"
                  "block_size = 4096\n") {
        for (int i = 0; i < 200 && !can_connect(console_port_); ++i) {
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
    }

    std::string url() const { return "http://127.0.0.1:" + std::to_string(console_port_); }
    CtlRun run(const std::string& args, const std::string& env = "") const {
        return ctl(url(), args, env);
    }
    json api(const std::string& path) const { return http_call(console_port_, "GET", path).body; }
    json run_json(const std::string& args) const {
        const CtlRun r = run("--json " + args);
        EXPECT_EQ(r.status, 0) << args << ": " << r.err;
        return json::parse(r.out, nullptr, false);
    }

    // ats-counter against the daemon: 3 sessions contending on one block, to completion.
    void ats_load(int increments) const {
        std::string out;
        ASSERT_EQ(run_command(std::string(ATS_COUNTER_BINARY) + " --portal " + daemon_.portal() +
                                  " --target " + target_name +
                                  " --lba 100 --sessions 3 --writers 1 --increments " +
                                  std::to_string(increments) +
                                  " --initiator-prefix iqn.2026-11.org.atsarray:ctl-host",
                              out),
                  0)
            << out;
    }

    // Until ats-counter's sessions are gone (their last commands counted): a bounded wait.
    void settle() const {
        for (int i = 0; i < 250 && !api("/api/v1/sessions").empty(); ++i) {
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
    }

    uint16_t console_port_;
    DaemonProcess daemon_;
};

// A line of `table` that holds every one of `cells` (in order, as whole words).
bool has_row(const std::string& table, const std::vector<std::string>& cells) {
    std::istringstream lines(table);
    for (std::string line; std::getline(lines, line);) {
        std::istringstream words(line);
        std::vector<std::string> seen{std::istream_iterator<std::string>(words), {}};
        size_t at = 0;
        for (const std::string& w : seen) {
            if (at < cells.size() && w == cells[at]) {
                ++at;
            }
        }
        if (at == cells.size()) {
            return true;
        }
    }
    return false;
}

TEST_F(Ctl, StatusTableAndJson) {
    const json o = api("/api/v1/overview");
    const json j = run_json("status");
    for (const char* key : {"version", "started", "targets", "luns", "sessions", "ats"}) {
        EXPECT_EQ(j[key], o[key]) << key;
    }
    const CtlRun r = run("status");
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_TRUE(has_row(r.out, {"targets", "1"})) << r.out;
    EXPECT_TRUE(has_row(r.out, {"luns", "2"})) << r.out;
    EXPECT_TRUE(has_row(r.out, {"version", o["version"].get<std::string>()})) << r.out;
}

TEST_F(Ctl, TargetsAndLuns) {
    const json targets = api("/api/v1/targets");
    EXPECT_EQ(run_json("targets"), targets);
    EXPECT_EQ(run_json(std::string("luns ") + target_name), targets);
    EXPECT_EQ(run_json(std::string("luns ") + target_name + " 1"),
              api(std::string("/api/v1/targets/") + target_name + "/luns/1"));

    CtlRun r = run("targets");
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_TRUE(has_row(r.out, {"NAME", "ALIAS", "TPGT", "LUNS"})) << r.out;
    EXPECT_TRUE(has_row(r.out, {target_name, "0,1"})) << r.out;

    r = run("luns");
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_TRUE(has_row(r.out, {target_name, "0", "16.0", "MiB", "512", "memory"})) << r.out;
    EXPECT_TRUE(has_row(r.out, {target_name, "1", "8.0", "MiB", "4096", "memory"})) << r.out;

    // Unknown LUN: the API's 404 message, exit 1.
    r = run(std::string("luns ") + target_name + " 9");
    EXPECT_EQ(r.status, 1);
    EXPECT_NE(r.err.find(std::string("unknown LUN 9 of target ") + target_name), std::string::npos)
        << r.err;
    r = run("luns iqn.2026-11.org.atsarray:nosuch");
    EXPECT_EQ(r.status, 1);
    EXPECT_NE(r.err.find("unknown target iqn.2026-11.org.atsarray:nosuch"), std::string::npos)
        << r.err;
}

TEST_F(Ctl, SessionsAtsAndPortals) {
    ats_load(300);
    std::string error;
    const initiator::Context session = initiator::login(
        daemon_.portal(), target_name, "iqn.2026-11.org.atsarray:ctl-session", 0, 10, error);
    ASSERT_TRUE(session) << error;
    initiator::Task(iscsi_testunitready_sync(session.get(), 0));  // the power-on unit attention
    // ats-counter's sessions end a moment after it exits, and the TEST UNIT READY leaves "in
    // flight" just after its answer went out: wait for both.
    json sessions = api("/api/v1/sessions");
    for (int i = 0; i < 250 && (sessions.size() != 1 || sessions[0]["commands_in_flight"] != 0);
         ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        sessions = api("/api/v1/sessions");
    }
    ASSERT_EQ(sessions.size(), 1U);
    EXPECT_EQ(run_json("sessions"), sessions);
    CtlRun r = run("sessions");
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_TRUE(has_row(
        r.out, {sessions[0]["tsih"].dump(), target_name, "iqn.2026-11.org.atsarray:ctl-session",
                sessions[0]["isid"].get<std::string>(), sessions[0]["address"].get<std::string>(),
                daemon_.portal()}))
        << r.out;
    const json ats = api("/api/v1/ats");
    EXPECT_EQ(run_json("ats"), ats);
    EXPECT_EQ(run_json("portals list"), api("/api/v1/portals"));

    r = run("ats");
    ASSERT_EQ(r.status, 0) << r.err;
    const json& lun0 = ats["luns"][0];
    EXPECT_TRUE(has_row(r.out, {target_name, "0", std::to_string(lun0["successes"].get<uint64_t>()),
                                std::to_string(lun0["miscompares"].get<uint64_t>())}))
        << r.out;
    for (const json& e : ats["initiators"]) {
        EXPECT_TRUE(
            has_row(r.out, {e["initiator_name"].get<std::string>(), e["address"].get<std::string>(),
                            target_name, "0", std::to_string(e["successes"].get<uint64_t>())}))
            << r.out;
    }
    // Filters keep the API's objects, fewer of them.
    const json one = run_json("ats --initiator 'iqn.2026-11.org.atsarray:ctl-host-1'");
    ASSERT_FALSE(one["initiators"].empty());
    for (const json& e : one["initiators"]) {
        EXPECT_EQ(e["initiator_name"], "iqn.2026-11.org.atsarray:ctl-host-1");
    }
    EXPECT_EQ(run_json(std::string("ats --lun ") + target_name + "/1")["luns"].size(),
              ats["luns"].size() - 1);
    r = run(std::string("ats --lun ") + target_name + "/7");
    EXPECT_EQ(r.status, 1);
    EXPECT_NE(r.err.find("unknown LUN 7"), std::string::npos) << r.err;

    r = run("portals list");
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_TRUE(has_row(r.out, {daemon_.portal()})) << r.out;
}

// The flight recorder (issue 16): the miscompares ats-counter's contention made, with their
// causes, one block's history, and a host log joined with them.
TEST_F(Ctl, ForensicsMiscomparesBlocksAndAHostLogJoin) {
    ats_load(80);
    settle();
    // Until the recorder has explained everything (two polls 100 ms apart agree).
    json answer;
    for (int i = 0; i < 100; ++i) {
        const json before = api("/api/v1/forensics");
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        answer = api("/api/v1/forensics");
        if (!answer["miscompares"].empty() && answer == before) {
            break;
        }
    }
    ASSERT_FALSE(answer["miscompares"].empty()) << answer.dump(2);
    EXPECT_EQ(run_json("forensics")["miscompares"], answer["miscompares"]);
    const json& m = answer["miscompares"][0];
    CtlRun r = run("forensics");
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_TRUE(has_row(r.out, {m["answered"].get<std::string>(), std::string(target_name) + "/0",
                                "100", m["cause"].get<std::string>()}))
        << r.out;
    EXPECT_NE(r.out.find(m["explanation"].get<std::string>()), std::string::npos) << r.out;
    r = run("forensics --cause injected");
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_NE(r.out.find("no miscompare in the recorder's histories with cause injected"),
              std::string::npos)
        << r.out;

    r = run(std::string("forensics block ") + target_name + " 0 100");
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_TRUE(has_row(r.out, {m["seq"].dump(), m["answered"].get<std::string>(), "ats"}))
        << r.out;
    r = run(std::string("forensics block ") + target_name + " 0 5555");
    EXPECT_EQ(r.status, 1);
    EXPECT_NE(r.err.find("no history of LBA 5555"), std::string::npos) << r.err;

    // The miscompared host's vmkernel line at the array's time, offset = LBA x 512.
    const std::string initiator = m["origin"]["initiator_name"].get<std::string>();
    const std::string host = initiator.substr(initiator.rfind(':') + 1);
    TempDir dir;
    const auto log = dir.path() / "vmkernel.log";
    std::ofstream(log) << m["answered"].get<std::string>()
                       << " cpu3:2098765)HBX: 1936: ATS Miscompare detected between test and set "
                          "HB images at offset 51200 on vol 'ds1'.\n";
    const json joined = run_json("forensics join " + log.string() + " --host " + host);
    EXPECT_EQ(joined["counts"]["host_matched"], 1) << joined.dump(2);
    r = run("forensics join " + log.string() + " --host " + host);
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_NE(r.out.find("host events: 1, 1 matched, 0 with no array counterpart"),
              std::string::npos)
        << r.out;
    r = run("forensics join /nonexistent/vmkernel.log");
    EXPECT_EQ(r.status, 2) << r.err;
}

// Captures (issue 16): started, listed, stopped, exported as JSON and pcapng, deleted, with
// atsarrayctl, against what the API says of them.
TEST_F(Ctl, CaptureStartListStopExportDelete) {
    const std::string auth = std::string("ATSARRAY_TOKEN=") + token;
    CtlRun r = run("capture start iqn.2026-11.org.atsarray:nosuch", auth);
    EXPECT_EQ(r.status, 1);
    EXPECT_NE(r.err.find("unknown target iqn.2026-11.org.atsarray:nosuch"), std::string::npos)
        << r.err;
    r = run(std::string("capture start ") + target_name + " --lun 0 --max-mib 1", auth);
    ASSERT_EQ(r.status, 0) << r.err;
    const std::regex started("capture (c[0-9]+) started on ");
    std::smatch m;
    ASSERT_TRUE(std::regex_search(r.out, m, started)) << r.out;
    const std::string id = m[1];
    ats_load(20);
    settle();
    r = run("capture stop " + id, auth);
    ASSERT_EQ(r.status, 0) << r.err;
    const json info = api("/api/v1/captures/" + id);
    EXPECT_FALSE(info["running"].get<bool>());
    // ats-counter's three sessions each read and compare-and-write block 100, 20 times at least
    // (its setup and check sessions come on top).
    EXPECT_GE(info["commands"].get<uint64_t>(), 60U) << info.dump();
    EXPECT_GE(info["sessions"].get<uint64_t>(), 3U) << info.dump();
    EXPECT_EQ(run_json("capture list")["captures"][0], info);
    r = run("capture list");
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_TRUE(has_row(r.out, {id, target_name, "0", "any", "stopped", "(stopped)",
                                info["commands"].dump(), info["sessions"].dump()}))
        << r.out;

    TempDir dir;
    const auto trace = dir.path() / "trace.json";
    r = run("capture export " + id + " --out " + trace.string());
    ASSERT_EQ(r.status, 0) << r.err;
    const json t = json::parse(slurp(trace));
    EXPECT_EQ(t["format"], "atsarray-trace");
    EXPECT_EQ(t["commands"].size(), info["commands"].get<size_t>());
    EXPECT_EQ(t["sessions"].size(), info["sessions"].get<size_t>());
    const auto pcapng = dir.path() / "trace.pcapng";
    r = run("capture export " + id + " --format pcapng --out " + pcapng.string());
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(slurp(pcapng).substr(0, 4), std::string("\x0a\x0d\x0d\x0a", 4));

    r = run("capture delete " + id, auth);
    ASSERT_EQ(r.status, 0) << r.err;
    r = run("capture list");
    EXPECT_NE(r.out.find("no capture"), std::string::npos) << r.out;
    r = run("capture export " + id + " --out " + trace.string());
    EXPECT_EQ(r.status, 1);
    EXPECT_NE(r.err.find("no capture " + id), std::string::npos) << r.err;
}

TEST_F(Ctl, NotesAndEvents) {
    CtlRun r = run("notes add 'ctl test: a lab note'", std::string("ATSARRAY_TOKEN=") + token);
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_NE(r.out.find("note "), std::string::npos);
    const json events = api("/api/v1/events?since=0&limit=200");
    EXPECT_EQ(events["events"].back()["message"], "ctl test: a lab note");
    EXPECT_EQ(run_json("events --since 0"), events);
    r = run("events");
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_TRUE(has_row(r.out, {events["events"].back()["seq"].dump(), "note"})) << r.out;
    EXPECT_NE(r.out.find("ctl test: a lab note"), std::string::npos) << r.out;
    const uint64_t last = events["last_seq"].get<uint64_t>();
    EXPECT_EQ(run_json("events --since " + std::to_string(last - 1) + " --limit 1"),
              api("/api/v1/events?since=" + std::to_string(last - 1) + "&limit=1"));
    // Without a token on loopback: the console's session token, as its page gets it.
    r = run("notes add second");
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(api("/api/v1/events?since=0&limit=200")["events"].back()["message"], "second");
}

TEST_F(Ctl, FaultsChangeWhatTheApiShows) {
    const std::string auth = std::string("ATSARRAY_TOKEN=") + token;
    CtlRun r =
        run("faults add --action false_miscompare --command ats --probability 0.5 "
            "--name ctl-rule --lun 0",
            auth);
    ASSERT_EQ(r.status, 0) << r.err;
    json faults = api("/api/v1/faults");
    ASSERT_EQ(faults["rules"].size(), 1U);
    const json rule = faults["rules"][0];
    EXPECT_EQ(rule["name"], "ctl-rule");
    EXPECT_EQ(rule["probability"], 0.5);
    EXPECT_EQ(rule["lun"], 0);
    EXPECT_EQ(run_json("faults list"), faults);
    const std::string id = rule["id"].dump();
    r = run("faults list");
    EXPECT_TRUE(has_row(r.out, {id, "ctl-rule", "false_miscompare", "yes", "ats"})) << r.out;

    ASSERT_EQ(run("faults disable " + id, auth).status, 0);
    EXPECT_EQ(api("/api/v1/faults/" + id)["enabled"], false);
    ASSERT_EQ(run("faults enable " + id, auth).status, 0);
    EXPECT_EQ(api("/api/v1/faults/" + id)["enabled"], true);
    ASSERT_EQ(run("faults rm " + id, auth).status, 0);
    EXPECT_TRUE(api("/api/v1/faults")["rules"].empty());
    r = run("faults rm " + id, auth);
    EXPECT_EQ(r.status, 1);
    EXPECT_NE(r.err.find("no fault rule " + id), std::string::npos) << r.err;

    r = run("faults preset lost-ats-ack", auth);
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_FALSE(api("/api/v1/faults")["rules"].empty());
    EXPECT_EQ(run_json("faults preset"), api("/api/v1/faults/presets"));
}

TEST_F(Ctl, ErrorPaths) {
    // A wrong token: the API's 401 and the hint.
    CtlRun r = run("--token wrong-token-0123456789 notes add x");
    EXPECT_EQ(r.status, 1);
    EXPECT_NE(r.err.find("access token"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("hint:"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("ATSARRAY_TOKEN"), std::string::npos) << r.err;

    // A token file others can read is refused, as ssh refuses such a key.
    const auto file = daemon_.dir() / "token";
    std::ofstream(file) << token << "\n";
    ::chmod(file.c_str(), 0644);
    r = run("--token-file " + file.string() + " notes add x");
    EXPECT_EQ(r.status, 2);
    EXPECT_NE(r.err.find("readable or writable by group or others (mode 0644)"), std::string::npos)
        << r.err;
    r = run("notes add x", "ATSARRAY_TOKEN_FILE=" + file.string());
    EXPECT_EQ(r.status, 2) << r.err;
    ::chmod(file.c_str(), 0600);
    r = run("--token-file " + file.string() + " notes add from-file");
    EXPECT_EQ(r.status, 0) << r.err;

    // Usage errors are CLI11's, exit 2.
    EXPECT_EQ(run("luns add").status, 2);
    EXPECT_EQ(run("no-such-command").status, 2);

    // The daemon down: exit 3 and what to check.
    daemon_.stop();
    r = run("status");
    EXPECT_EQ(r.status, 3);
    EXPECT_NE(r.err.find("cannot connect to the console at " + url() +
                         ": connection refused \u2014 is atsarray running with [console] "
                         "enabled?"),
              std::string::npos)
        << r.err;
}

// The live-configuration commands against the daemon (issue 19).
TEST_F(Ctl, LiveConfigurationAgainstTheDaemon) {
    const std::string auth = std::string("ATSARRAY_TOKEN=") + token;
    CtlRun r = run("config show", auth);
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_NE(r.out.find(target_name), std::string::npos) << r.out;
    const std::string t = target_name;
    const std::string lun_path = "/api/v1/targets/" + t + "/luns/2";

    r = run("luns add " + t + " 2 --backend memory --size 4MiB", auth);
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_NE(r.out.find("lun 2 added: 4.0 MiB, memory"), std::string::npos) << r.out;
    EXPECT_EQ(run_json("luns " + t + " 2"), api(lun_path));
    r = run("luns add " + t + " 2 --backend memory --size 4MiB", auth);
    EXPECT_EQ(r.status, 1) << "an id that exists: 409";
    ASSERT_EQ(run("luns grow " + t + " 2 8MiB", auth).status, 0);
    EXPECT_EQ(api(lun_path)["size_bytes"], 8U << 20);
    r = run("luns grow " + t + " 2 1MiB", auth);
    EXPECT_EQ(r.status, 1);
    EXPECT_NE(r.err.find("shrinking"), std::string::npos) << r.err;
    ASSERT_EQ(run("luns rm " + t + " 2", auth).status, 0);
    r = run("luns " + t + " 2");
    EXPECT_EQ(r.status, 1);
    EXPECT_NE(r.err.find("unknown LUN 2"), std::string::npos) << r.err;

    ASSERT_EQ(run("acl add " + t + " iqn.2026-11.org.atsarray:ctl-host", auth).status, 0);
    EXPECT_EQ(run_json("acl list " + t)["allowed_initiators"],
              json::array({"iqn.2026-11.org.atsarray:ctl-host"}));
    ASSERT_EQ(run("acl rm " + t + " iqn.2026-11.org.atsarray:ctl-host", auth).status, 0);
    r = run("acl rm " + t + " iqn.2026-11.org.atsarray:ctl-host", auth);
    EXPECT_EQ(r.status, 1) << "not in the list: 404";
    EXPECT_EQ(api("/api/v1/targets/" + t + "/acl")["any_initiator"], true);

    ASSERT_EQ(run("chap set " + t + " --user ctl-user --secret ctl-secret-0123", auth).status, 0);
    EXPECT_EQ(api("/api/v1/targets/" + t + "/chap")["chap_user"], "ctl-user");
    r = run("chap show " + t);
    EXPECT_TRUE(has_row(r.out, {"chap_user", "ctl-user"})) << r.out;
    EXPECT_EQ(r.out.find("ctl-secret-0123"), std::string::npos) << "a secret in an answer";
    ASSERT_EQ(run("chap clear " + t, auth).status, 0);
    EXPECT_TRUE(api("/api/v1/targets/" + t + "/chap")["chap_user"].is_null());

    const std::string second = "iqn.2026-11.org.atsarray:ctl-second";
    r = run("targets add " + second + " --lun id=0,backend=memory,size=1MiB", auth);
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_TRUE(has_row(run("targets").out, {second, "0"}));
    ASSERT_EQ(run("targets rm " + second, auth).status, 0);
    EXPECT_FALSE(has_row(run("targets").out, {second}));

    const std::string portal = "127.0.0.1:" + std::to_string(free_port());
    r = run("portals add " + portal, auth);
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_TRUE(has_row(run("portals list").out, {portal}));
    ASSERT_EQ(run("portals rm " + portal, auth).status, 0);
    EXPECT_FALSE(has_row(run("portals list").out, {portal}));

    r = run("config save", auth);
    ASSERT_EQ(r.status, 0) << r.err;
    const std::string path = std::filesystem::canonical(daemon_.dir() / "atsarray.toml").string();
    EXPECT_NE(r.out.find(" bytes to " + path), std::string::npos) << r.out;
    EXPECT_TRUE(std::filesystem::exists(path + ".bak"));
}

// --- top in tmux ---------------------------------------------------------------------------------

class Tmux {
  public:
    Tmux() : socket_("atsarray-ctl-" + std::to_string(::getpid())) {}
    ~Tmux() { tmux("kill-server"); }
    std::string tmux(const std::string& args) const {
        std::string out;
        run_command("tmux -L " + socket_ + " " + args, out);
        return out;
    }
    std::string screen() const { return tmux("capture-pane -p -t ctl"); }
    // Until `pattern` is on the screen (a bounded wait for the next refresh, not a timing check).
    std::string wait_for(const std::regex& pattern) const {
        std::string s;
        for (int i = 0; i < 150; ++i) {
            s = screen();
            if (std::regex_search(s, pattern)) {
                return s;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
        ADD_FAILURE() << "not on the screen in 15 s:\n" << s;
        return s;
    }

  private:
    std::string socket_;
};

TEST_F(Ctl, TopInTmux) {
    std::string out;
    if (run_command("tmux -V", out) != 0) {
        FAIL() << "tmux is not installed (scripts/test installs it: scripts/lib/common.sh)";
    }
    Tmux tmux;
    const auto dir = daemon_.dir();
    // A shell in an 80x24 terminal: top runs in it, and the shell tells what it left behind.
    tmux.tmux("new-session -d -s ctl -x 80 -y 24 'env -u ATSARRAY_TOKEN sh'");
    const std::string top = std::string(CTL_BINARY) + " --url " + url() + " top";
    tmux.tmux("send-keys -t ctl 'stty -g > " + (dir / "stty.before").string() + "; " + top +
              "; echo top-exit=$?; stty -g > " + (dir / "stty.after").string() + "' Enter");
    tmux.wait_for(std::regex("atsarrayctl top  LUN view"));

    ats_load(2000);
    settle();
    const json overview = api("/api/v1/overview");
    const uint64_t ok = overview["ats"]["successes"].get<uint64_t>();
    const uint64_t miscompares = overview["ats"]["miscompares"].get<uint64_t>();
    // The load is over: the next refresh shows the API's totals exactly.
    std::string s = tmux.wait_for(std::regex("ATS total: " + std::to_string(ok) + " ok, " +
                                             std::to_string(miscompares) + " miscompares"));
    EXPECT_NE(s.find("TARGET/LUN"), std::string::npos) << s;
    EXPECT_TRUE(std::regex_search(s, std::regex(R"(atsarray:ctl/0 +[0-9.]+ +[0-9.]+)"))) << s;
    std::istringstream lines(s);
    for (std::string line; std::getline(lines, line);) {
        EXPECT_LE(line.size(), 80U) << line;
    }

    tmux.tmux("send-keys -t ctl i");
    s = tmux.wait_for(std::regex("initiator view"));
    s = tmux.wait_for(std::regex("ctl-host-2"));
    EXPECT_NE(s.find("INITIATOR"), std::string::npos) << s;
    EXPECT_NE(s.find("ctl-host-0"), std::string::npos) << s;
    EXPECT_NE(s.find("ctl-host-1"), std::string::npos) << s;

    tmux.tmux("send-keys -t ctl h");
    tmux.wait_for(std::regex("q  quit"));
    tmux.tmux("send-keys -t ctl x");  // any key closes the help

    tmux.tmux("send-keys -t ctl q");
    s = tmux.wait_for(std::regex("top-exit=0"));
    EXPECT_EQ(s.find("ATS total:"), std::string::npos) << "the alternate screen is left\n" << s;
    for (int i = 0; i < 50 && slurp(dir / "stty.after").empty(); ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    ASSERT_FALSE(slurp(dir / "stty.before").empty());
    EXPECT_EQ(slurp(dir / "stty.after"), slurp(dir / "stty.before")) << "terminal not restored";

    // A smaller window (SIGWINCH): the view redraws to fit, dropping columns from the right and
    // keeping the header; then Ctrl-C (SIGINT) and SIGTERM each restore the terminal.
    const auto run_again = [&] {
        std::filesystem::remove(dir / "stty.after");
        tmux.tmux("send-keys -t ctl 'clear; " + top + "; echo top-exit=$?; stty -g > " +
                  (dir / "stty.after").string() + "' Enter");
        tmux.wait_for(std::regex("atsarrayctl top  LUN view"));
    };
    const auto restored = [&] {
        tmux.wait_for(std::regex("top-exit=0"));
        for (int i = 0; i < 50 && slurp(dir / "stty.after").empty(); ++i) {
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
        EXPECT_EQ(slurp(dir / "stty.after"), slurp(dir / "stty.before")) << "terminal not restored";
    };
    run_again();
    tmux.tmux("resize-window -t ctl -x 60 -y 12");
    s = tmux.wait_for(std::regex(R"(TARGET/LUN +ATS/s +ATSF/s +AAVG/suc +AAVG/f +MCR%)"));
    std::istringstream narrow(s);
    for (std::string line; std::getline(narrow, line);) {
        EXPECT_LE(line.size(), 60U) << line;
    }
    EXPECT_EQ(s.find("P99"), std::string::npos) << s;
    tmux.tmux("send-keys -t ctl C-c");
    restored();

    run_again();
    const std::string shell = tmux.tmux("display-message -p -t ctl '#{pane_pid}'");
    std::string child;
    run_command("pgrep -P " + shell.substr(0, shell.find('\n')), child);
    const pid_t top_pid = static_cast<pid_t>(std::stol(child));
    ASSERT_GT(top_pid, 0);
    ::kill(top_pid, SIGTERM);
    restored();
}

// --- the live-configuration commands against a fake console -------------------------------------

struct Seen {
    std::string method;
    std::string target;
    std::string authorization;
    std::string content_type;
    std::string body;
};

// One request, answered with `status` and `body`.
class FakeConsole {
  public:
    FakeConsole() : acceptor_(ioc_, {boost::asio::ip::make_address("127.0.0.1"), 0}) {}
    uint16_t port() const { return acceptor_.local_endpoint().port(); }

    std::future<Seen> serve_one(unsigned status, std::string body,
                                std::string content_type = "application/json") {
        return std::async(std::launch::async, [this, status, body, content_type] {
            namespace http = boost::beast::http;
            boost::asio::ip::tcp::socket socket(ioc_);
            acceptor_.accept(socket);
            boost::beast::flat_buffer buffer;
            http::request<http::string_body> req;
            http::read(socket, buffer, req);
            Seen seen{std::string(req.method_string()), std::string(req.target()),
                      std::string(req[http::field::authorization]),
                      std::string(req[http::field::content_type]), req.body()};
            http::response<http::string_body> res(static_cast<http::status>(status), 11);
            res.set(http::field::content_type, content_type);
            res.body() = body;
            res.prepare_payload();
            http::write(socket, res);
            boost::system::error_code ignored;
            socket.shutdown(boost::asio::ip::tcp::socket::shutdown_both, ignored);
            return seen;
        });
    }

  private:
    boost::asio::io_context ioc_;
    boost::asio::ip::tcp::acceptor acceptor_;
};

struct Case {
    std::string args;
    std::string method;
    std::string target;
    json body;  // null: none sent
    unsigned status;
    std::string answer;
    std::string output;  // a piece of stdout (exit 0) or stderr (exit 1)
};

TEST(CtlContract, LiveConfigurationRequests) {
    const std::string t = "/api/v1/targets/iqn.2026-11.org.atsarray:new";
    const std::string lun3 = R"({"id":3,"block_size":4096,"block_count":262144,
        "size_bytes":1073741824,"store":"file","allocated_bytes":0,"write_cache":false,
        "read_only":false})";
    const std::string acl =
        R"({"target":"iqn.2026-11.org.atsarray:new","allowed_initiators":["iqn.a:h1"],
            "any_initiator":false})";
    const std::string chap =
        R"({"target":"iqn.2026-11.org.atsarray:new","chap_user":"u","mutual_chap_user":"m",
            "require_mutual":true})";
    const std::vector<Case> cases = {
        {"targets add iqn.2026-11.org.atsarray:new --alias lab --allow iqn.a:h1 --allow iqn.a:h2 "
         "--chap-user u --chap-secret secret-123456 --lun id=0,backend=memory,size=1GiB "
         "--lun id=1,backend=file,path=lun1.img,size=1048576,write_cache=false,serial=0042",
         "POST",
         "/api/v1/targets",
         {{"name", "iqn.2026-11.org.atsarray:new"},
          {"alias", "lab"},
          {"allowed_initiators", {"iqn.a:h1", "iqn.a:h2"}},
          {"luns",
           {{{"id", 0}, {"backend", "memory"}, {"size", "1GiB"}},
            {{"id", 1},
             {"backend", "file"},
             {"path", "lun1.img"},
             {"size", 1048576},
             {"write_cache", false},
             {"serial", "0042"}}}},
          {"chap", {{"user", "u"}, {"secret", "secret-123456"}}}},
         201,
         R"({"name":"iqn.2026-11.org.atsarray:new","alias":"lab","portal_group_tag":1,
                  "luns":[]})",
         "target iqn.2026-11.org.atsarray:new added"},
        {"targets rm iqn.2026-11.org.atsarray:new --force", "DELETE", t + "?force=true", nullptr,
         200, R"({"target":"iqn.2026-11.org.atsarray:new","sessions_closed":2})",
         "2 sessions closed"},
        {"targets rm iqn.2026-11.org.atsarray:new", "DELETE", t, nullptr, 409,
         R"({"error":{"status":409,"message":"2 sessions are logged in to target )"
         R"(iqn.2026-11.org.atsarray:new; ?force=true logs them out"}})",
         "?force=true logs them out"},
        {"luns add iqn.2026-11.org.atsarray:new 3 --backend file --path /var/lib/x.img "
         "--size 1GiB --block-size 4096 --no-write-cache",
         "POST",
         t + "/luns",
         {{"id", 3},
          {"backend", "file"},
          {"path", "/var/lib/x.img"},
          {"size", "1GiB"},
          {"block_size", 4096},
          {"write_cache", false}},
         201,
         lun3,
         "lun 3 added: 1.0 GiB, file"},
        {"luns add iqn.2026-11.org.atsarray:new 4 --backend memory --size 1048576",
         "POST",
         t + "/luns",
         {{"id", 4}, {"backend", "memory"}, {"size", 1048576}},
         400,
         R"({"error":{"status":400,"message":"lun.size: must be a multiple of block_size"}})",
         "lun.size: must be a multiple of block_size"},
        {"luns grow iqn.2026-11.org.atsarray:new 3 16GiB",
         "PATCH",
         t + "/luns/3",
         {{"size", "16GiB"}},
         200,
         lun3,
         "lun 3 grown"},
        {"luns rm iqn.2026-11.org.atsarray:new 3 --force", "DELETE", t + "/luns/3?force=true",
         nullptr, 200, R"({"target":"iqn.2026-11.org.atsarray:new","lun":3,"sessions":1})",
         "lun 3 removed"},
        {"acl list iqn.2026-11.org.atsarray:new", "GET", t + "/acl", nullptr, 200, acl, "iqn.a:h1"},
        {"acl add iqn.2026-11.org.atsarray:new iqn.a:h1",
         "POST",
         t + "/acl",
         {{"initiator", "iqn.a:h1"}},
         201,
         acl,
         "iqn.a:h1"},
        {"acl rm iqn.2026-11.org.atsarray:new iqn.a:h3 --force", "DELETE",
         t + "/acl/iqn.a:h3?force=true", nullptr, 404,
         R"({"error":{"status":404,"message":"initiator iqn.a:h3 is not in the ACL"}})",
         "initiator iqn.a:h3 is not in the ACL"},
        {"chap show iqn.2026-11.org.atsarray:new", "GET", t + "/chap", nullptr, 200, chap,
         "mutual_chap_user"},
        {"chap set iqn.2026-11.org.atsarray:new --user u --secret s-123456789012 "
         "--mutual-user m --mutual-secret ms-123456789012 --require-mutual",
         "PUT",
         t + "/chap",
         {{"chap", {{"user", "u"}, {"secret", "s-123456789012"}}},
          {"mutual_chap", {{"user", "m"}, {"secret", "ms-123456789012"}}},
          {"require_mutual", true}},
         200,
         chap,
         "require_mutual"},
        {"chap clear iqn.2026-11.org.atsarray:new",
         "PUT",
         t + "/chap",
         {{"chap", nullptr}, {"mutual_chap", nullptr}, {"require_mutual", false}},
         200,
         chap,
         "chap_user"},
        {"portals add 10.0.0.5:3261 --group 2",
         "POST",
         "/api/v1/portals",
         {{"address", "10.0.0.5"}, {"port", 3261}, {"group", 2}},
         201,
         R"({"address":"10.0.0.5:3261","group":2})",
         "portal 10.0.0.5:3261 added"},
        {"portals add 10.0.0.6",
         "POST",
         "/api/v1/portals",
         {{"address", "10.0.0.6"}, {"port", 3260}},
         201,
         R"({"address":"10.0.0.6:3260"})",
         "portal 10.0.0.6:3260 added"},
        {"portals rm 10.0.0.5:3261 --force", "DELETE", "/api/v1/portals/10.0.0.5:3261?force=true",
         nullptr, 200, R"({"portal":"10.0.0.5:3261","sessions_closed":0})",
         "portal 10.0.0.5:3261 removed"},
        {"config save", "POST", "/api/v1/config/save", json::object(), 200,
         R"({"path":"/etc/atsarray/atsarray.toml","bytes":812})",
         "saved 812 bytes to /etc/atsarray/atsarray.toml"},
    };
    for (const Case& c : cases) {
        SCOPED_TRACE(c.args);
        FakeConsole fake;
        auto seen = fake.serve_one(c.status, c.answer);
        const CtlRun r = ctl("http://127.0.0.1:" + std::to_string(fake.port()),
                             std::string("--token ") + token + " " + c.args);
        if (seen.wait_for(std::chrono::seconds(5)) != std::future_status::ready) {
            can_connect(fake.port());  // unblock the accept
            ADD_FAILURE() << "no request: " << r.err;
            continue;
        }
        const Seen s = seen.get();
        EXPECT_EQ(s.method, c.method);
        EXPECT_EQ(s.target, c.target);
        EXPECT_EQ(s.authorization, std::string("Bearer ") + token);
        if (c.body.is_null()) {
            EXPECT_TRUE(s.body.empty()) << s.body;
        } else {
            EXPECT_EQ(s.content_type, "application/json");
            EXPECT_EQ(json::parse(s.body, nullptr, false), c.body);
        }
        const bool ok = c.status < 300;
        EXPECT_EQ(r.status, ok ? 0 : 1) << r.err;
        EXPECT_NE((ok ? r.out : r.err).find(c.output), std::string::npos)
            << "stdout: " << r.out << "\nstderr: " << r.err;
    }

    // config show: the TOML as it comes, the token sent although a GET.
    FakeConsole fake;
    auto seen = fake.serve_one(200, "log_level = \"info\"\n", "text/plain; charset=utf-8");
    const CtlRun r = ctl("http://127.0.0.1:" + std::to_string(fake.port()),
                         std::string("--token ") + token + " config show");
    ASSERT_EQ(seen.wait_for(std::chrono::seconds(5)), std::future_status::ready);
    const Seen s = seen.get();
    EXPECT_EQ(s.target, "/api/v1/config");
    EXPECT_EQ(s.authorization, std::string("Bearer ") + token);
    EXPECT_EQ(r.status, 0);
    EXPECT_EQ(r.out, "log_level = \"info\"\n");
}

}  // namespace
}  // namespace atsarray::testing
