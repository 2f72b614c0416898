// The console's Paths REST calls (issue 14) against the in-process daemon with two target port
// groups and real libiscsi sessions on both paths: the groups as REPORT TARGET PORT GROUPS sees
// them, a host's sessions grouped by the group of their portal with their commands and errors, a
// state set through PATCH reaching the SCSI layer (NOT READY on the standby path, the unit
// attention, RTPG's STATUS CODE), the host's I/O moving to the other group as its last failover,
// and refused calls changing nothing.
#include <gtest/gtest.h>

extern "C" {
#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>
}

#include <chrono>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "tests/integration/http_client.hpp"
#include "tests/integration/in_process_daemon.hpp"
#include "tools/libiscsi_handles.hpp"

namespace atsarray::testing {
namespace {

using initiator::Context;
using initiator::Task;
using nlohmann::json;

constexpr const char* target = "iqn.2026-11.org.atsarray:console-paths";
constexpr const char* host = "iqn.1998-01.com.vmware:esx-paths-1";

class DualControllerConsole {
  public:
    DualControllerConsole()
        : port_b_(free_port()),
          console_port_(free_port()),
          daemon_("[console]\nport = " + std::to_string(console_port_) +
                  "\nkeep_ended_sessions_s = 1\n[[portal]]\naddress = \"127.0.0.1\"\nport = " +
                  std::to_string(port_b_) +
                  "\n[[target_port_group]]\nid = 1\nname = \"controller-a\"\n"
                  "portals = [\"127.0.0.1:@PORT@\"]\nstate = \"active_optimized\"\n"
                  "preferred = true\n[[target_port_group]]\nid = 2\nname = \"controller-b\"\n"
                  "portals = [\"127.0.0.1:" +
                  std::to_string(port_b_) +
                  "\"]\nstate = \"active_non_optimized\"\n[[target]]\nname = \"" + target +
                  "\"\n[[target.lun]]\nid = 0\nbackend = \"memory\"\nsize = \"1MiB\"\n") {}

    std::string path_a() const { return daemon_.portal(); }
    std::string path_b() const { return "127.0.0.1:" + std::to_string(port_b_); }
    HttpAnswer call(const std::string& method, const std::string& path,
                    const std::string& body = "", bool token = true) {
        return http_call(console_port_, method, path,
                         token ? daemon_.daemon().console_token() : std::string(), body);
    }

  private:
    uint16_t port_b_;
    uint16_t console_port_;
    InProcessDaemon daemon_;
};

Context login(const std::string& portal) {
    std::string error;
    Context ctx = initiator::login(portal, target, host, 0, 10, error);
    EXPECT_TRUE(ctx) << portal << ": " << error;
    return ctx;
}

// Status, then sense key and ASC/ASCQ of a CHECK CONDITION.
std::tuple<int, int, int> test_unit_ready(const Context& ctx) {
    Task t(iscsi_testunitready_sync(ctx.get(), 0));
    if (!t) {
        return {-1, -1, -1};
    }
    const bool check = t->status == SCSI_STATUS_CHECK_CONDITION;
    return {t->status, check ? static_cast<int>(t->sense.key) : -1,
            check ? static_cast<int>(t->sense.ascq) : -1};
}

bool read_ok(const Context& ctx) {
    Task t(iscsi_read16_sync(ctx.get(), 0, 0, 512, 512, 0, 0, 0, 0, 0));
    return t && t->status == SCSI_STATUS_GOOD;
}

void clear_unit_attention(const Context& ctx) {
    for (int i = 0; i < 3 && std::get<0>(test_unit_ready(ctx)) != SCSI_STATUS_GOOD; ++i) {
    }
}

const std::string groups_path = std::string("/api/v1/targets/") + target + "/port-groups";

// The host's entry in GET /api/v1/paths, and its path through `group`.
json host_entry(const json& paths) {
    for (const json& i : paths["initiators"]) {
        if (i["initiator_name"] == host) {
            return i;
        }
    }
    return nullptr;
}
json path_of(const json& entry, int group) {
    for (const json& p : entry["paths"]) {
        if (p["target"] == target && p["group"] == group) {
            return p;
        }
    }
    return nullptr;
}

TEST(ConsolePaths, GroupsAreListedAsTheTargetHasThem) {
    DualControllerConsole array;
    const HttpAnswer r = array.call("GET", groups_path);
    ASSERT_EQ(r.status, 200U) << r.body.dump();
    ASSERT_EQ(r.body["groups"].size(), 2U);
    EXPECT_EQ(r.body["groups"][0]["name"], "controller-a");
    EXPECT_EQ(r.body["groups"][0]["state"], "active_optimized");
    EXPECT_EQ(r.body["groups"][0]["portals"], json::array({array.path_a()}));
    EXPECT_EQ(r.body["groups"][1]["state"], "active_non_optimized");
    EXPECT_EQ(r.body["groups"][1]["portals"], json::array({array.path_b()}));
    EXPECT_EQ(array.call("GET", groups_path + "/2").body["name"], "controller-b");
    EXPECT_EQ(array.call("GET", groups_path + "/3").status, 404U);
    EXPECT_EQ(array.call("GET", "/api/v1/targets/iqn.2026-11.org.none:x/port-groups").status, 404U);
}

TEST(ConsolePaths, AFailoverFromTheConsoleReachesTheHostAndIsItsLastFailover) {
    DualControllerConsole array;
    Context a = login(array.path_a());
    Context b = login(array.path_b());
    ASSERT_TRUE(a && b);
    clear_unit_attention(a);
    clear_unit_attention(b);
    for (int i = 0; i < 5; ++i) {
        ASSERT_TRUE(read_ok(a));
    }
    HttpAnswer paths = array.call("GET", "/api/v1/paths");
    ASSERT_EQ(paths.status, 200U);
    json entry = host_entry(paths.body);
    ASSERT_FALSE(entry.is_null()) << paths.body.dump();
    json on_a = path_of(entry, 1);
    ASSERT_EQ(on_a["sessions"].size(), 1U) << entry.dump();
    EXPECT_EQ(on_a["state"], "active_optimized");
    EXPECT_EQ(on_a["sessions"][0]["portal"], array.path_a());
    EXPECT_GE(on_a["sessions"][0]["commands"].get<uint64_t>(), 5U);
    ASSERT_EQ(path_of(entry, 2)["sessions"].size(), 1U);

    // Controller A goes to standby from the console: an implicit change (STATUS CODE 02h).
    const HttpAnswer changed = array.call("PATCH", groups_path + "/1", R"({"state": "standby"})");
    ASSERT_EQ(changed.status, 200U) << changed.body.dump();
    EXPECT_EQ(changed.body["state"], "standby");
    EXPECT_EQ(changed.body["status_code"], 2);
    // Every nexus hears of it, then path A answers NOT READY, ASYMMETRIC ACCESS STATE IS STANDBY.
    EXPECT_EQ(test_unit_ready(a), std::make_tuple(SCSI_STATUS_CHECK_CONDITION, 0x6, 0x2A06));
    EXPECT_FALSE(read_ok(a));
    EXPECT_EQ(test_unit_ready(b), std::make_tuple(SCSI_STATUS_CHECK_CONDITION, 0x6, 0x2A06));
    for (int i = 0; i < 5; ++i) {
        ASSERT_TRUE(read_ok(b));
    }
    paths = array.call("GET", "/api/v1/paths");
    entry = host_entry(paths.body);
    ASSERT_FALSE(entry["last_failover"].is_null()) << entry.dump();
    EXPECT_EQ(entry["last_failover"]["reason"], "io_moved") << entry.dump();
    EXPECT_EQ(entry["last_failover"]["from_group"], 1);
    EXPECT_EQ(entry["last_failover"]["group"], 2);
    EXPECT_EQ(path_of(entry, 2)["carries_io"], true);
    on_a = path_of(entry, 1);
    EXPECT_EQ(on_a["state"], "standby");
    // The unit attention and the refused READ on path A are its errors.
    EXPECT_GE(on_a["sessions"][0]["errors"].get<uint64_t>(), 2U) << on_a.dump();

    // The session list names each session's portal and group too.
    const HttpAnswer sessions = array.call("GET", "/api/v1/sessions");
    ASSERT_EQ(sessions.body.size(), 2U);
    for (const json& s : sessions.body) {
        EXPECT_EQ(s["group"], s["portal"] == array.path_a() ? 1 : 2) << s.dump();
    }
}

TEST(ConsolePaths, RefusedChangesChangeNothing) {
    DualControllerConsole array;
    EXPECT_EQ(array.call("PATCH", groups_path + "/1", R"({"state": "standby"})", false).status,
              401U);
    EXPECT_EQ(array.call("PATCH", groups_path + "/7", R"({"state": "standby"})").status, 404U);
    EXPECT_EQ(array
                  .call("PATCH", "/api/v1/targets/iqn.2026-11.org.none:x/port-groups/1",
                        R"({"state": "standby"})")
                  .status,
              404U);
    const HttpAnswer bad = array.call("PATCH", groups_path + "/1", R"({"state": "asleep"})");
    EXPECT_EQ(bad.status, 400U);
    EXPECT_NE(bad.body["error"]["message"].get<std::string>().find("active_optimized"),
              std::string::npos);
    EXPECT_EQ(array.call("PATCH", groups_path + "/1", "{oops").status, 400U);
    EXPECT_EQ(
        array.call("PATCH", groups_path + "/1", R"({"state": "standby", "transition_ms": "5"})")
            .status,
        400U);
    const HttpAnswer now = array.call("GET", groups_path);
    EXPECT_EQ(now.body["groups"][0]["state"], "active_optimized");
    EXPECT_EQ(now.body["groups"][0]["status"], "none");
    EXPECT_EQ(now.body["groups"][1]["state"], "active_non_optimized");
}

TEST(ConsolePaths, AnEndedSessionLeavesThePathsAfterAWhile) {
    DualControllerConsole array;
    {
        Context a = login(array.path_a());
        ASSERT_TRUE(a);
        ASSERT_FALSE(host_entry(array.call("GET", "/api/v1/paths").body).is_null());
    }
    // Logged out: listed as ended for keep_ended_sessions_s (1 s here), then gone.
    json entry;
    for (int i = 0; i < 100; ++i) {
        entry = host_entry(array.call("GET", "/api/v1/paths").body);
        if (!entry.is_null() && !path_of(entry, 1)["sessions"][0]["ended"].is_null()) {
            break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    ASSERT_FALSE(entry.is_null());
    EXPECT_TRUE(path_of(entry, 1)["sessions"][0]["ended"].is_string()) << entry.dump();
    for (int i = 0; i < 300 && !entry.is_null(); ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        entry = host_entry(array.call("GET", "/api/v1/paths").body);
    }
    EXPECT_TRUE(entry.is_null()) << entry.dump();
}

}  // namespace
}  // namespace atsarray::testing
