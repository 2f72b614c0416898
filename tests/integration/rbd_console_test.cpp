// The console's view of an rbd LUN (issue 15: "the console shows, per rbd LUN, the cluster
// health it sees, each gateway, and OSD latency"), against two real gateway processes exporting
// one image on the cluster of the ceph_cluster fixture: the `rbd` object of
// GET /api/v1/targets/{target}/luns/{id} (webui/API.md) on each gateway's console names the
// image, the cluster's health (HEALTH_OK or HEALTH_WARN), the OSDs with latency figures, this
// gateway's heartbeat write latency and both gateways; a gateway SIGKILLed turns dead on the
// other's console. And a standalone daemon whose own cluster stops: its console answers at once,
// "unreachable: ..." once the queries ran into the LUN's timeout_s, never a hung request.

#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/integration/ceph_cluster.hpp"
#include "tests/integration/daemon_process.hpp"
#include "tests/integration/http_client.hpp"

namespace atsarray::testing {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::steady_clock;

constexpr const char* target_name = "iqn.2026-12.org.atsarray:console";
constexpr const char* lun_path = "/api/v1/targets/iqn.2026-12.org.atsarray:console/luns/0";

std::string lun_section(const std::string& image, const std::string& ceph_conf, int timeout_s) {
    return "[[target]]\nname = \"" + std::string(target_name) +
           "\"\n\n[[target.lun]]\nid = 0\nbackend = \"rbd\"\npool = \"rbd\"\nimage = \"" + image +
           "\"\nceph_conf = \"" + ceph_conf + "\"\ncreate = true\nsize = \"16MiB\"\n" +
           "block_size = 512\ntimeout_s = " + std::to_string(timeout_s) + "\n";
}

// The console section (DaemonProcess writes the portal).
std::string console_section(uint16_t console) {
    return "[console]\naddress = \"127.0.0.1\"\nport = " + std::to_string(console) + "\n\n";
}

// Gateway `own` (1 or 2) of the two-gateway array: group 1 active/optimized and preferred on
// `port_a`, group 2 active/non-optimized on `port_b`.
std::string gateway_config(uint16_t own, uint16_t port_a, uint16_t port_b, uint16_t console,
                           const std::string& image, const std::string& ceph_conf) {
    std::string body = console_section(console);
    for (const uint16_t group : {1, 2}) {
        const uint16_t port = group == 1 ? port_a : port_b;
        body +=
            "[[target_port_group]]\nid = " + std::to_string(group) + "\nname = \"gateway-" +
            (group == 1 ? "a" : "b") + "\"\n" + (group == own ? "portals" : "remote_portals") +
            " = [\"127.0.0.1:" + std::to_string(port) + "\"]\nstate = \"" +
            (group == 1 ? "active_optimized\"\npreferred = true\n" : "active_non_optimized\"\n") +
            "\n";
    }
    body +=
        "[alua]\ngateway_heartbeat_ms = 200\ngateway_dead_after_ms = 1000\nfailover = false\n\n";
    return body + lun_section(image, ceph_conf, 20);
}

// GET `path` of the console on `port` until `done(answer)` holds (true) or `limit` passed (false,
// `last` keeps the last answer).
bool wait_for(uint16_t port, const std::string& path, const std::function<bool(const json&)>& done,
              json& last, std::chrono::seconds limit = std::chrono::seconds(60)) {
    const auto deadline = steady_clock::now() + limit;
    while (steady_clock::now() < deadline) {
        // The daemon listens on its portal before its console starts (Daemon::run): a first call
        // may find no console yet (connection refused), which is "not yet", as a wrong answer is.
        try {
            const HttpAnswer answer = http_call(port, "GET", path);
            last = answer.body;
            if (answer.status == 200 && done(answer.body)) {
                return true;
            }
        } catch (const boost::system::system_error& e) {
            last = json{{"error", e.what()}};
        }
        std::this_thread::sleep_for(milliseconds(200));
    }
    return false;
}

const json* gateway_row(const json& lun, int group) {
    for (const json& g : lun["rbd"]["gateways"]) {
        if (g["group"] == group) {
            return &g;
        }
    }
    return nullptr;
}

// Ready: the cluster answered, some OSD has a write latency (the gateways' beats are writes), the
// heartbeat has samples and both gateways are seen alive.
bool ready(const json& lun) {
    if (!lun.contains("rbd")) {
        return false;
    }
    const json& rbd = lun["rbd"];
    bool write_latency = false;
    for (const json& osd : rbd["osd_latency"]["osds"]) {
        write_latency = write_latency || osd["write_latency_ms"].is_number();
    }
    const json* a = gateway_row(lun, 1);
    const json* b = gateway_row(lun, 2);
    return rbd["cluster"]["state"] == "ok" && write_latency &&
           rbd["osd_latency"]["heartbeat"].is_object() &&
           rbd["osd_latency"]["heartbeat"]["samples"].get<int>() > 0 && a != nullptr &&
           b != nullptr && (*a)["alive"] == true && (*b)["alive"] == true;
}

class RbdConsoleTest : public ::testing::Test {
  protected:
    void SetUp() override {
        conf_ = ceph_conf_path();
        if (conf_.empty()) {
            GTEST_SKIP() << "no Ceph cluster: set CEPH_CONF or run under ctest (fixture "
                            "ceph_cluster)";
        }
    }

    void TearDown() override {
        processes_.clear();
        for (const auto& [conf, image] : images_) {
            remove_gateway_image(conf, image);
        }
    }

    std::string image(const std::string& conf, const std::string& tag) {
        std::string name = "console-" + tag + "-" + std::to_string(::getpid());
        images_.emplace_back(conf, name);
        return name;
    }

    DaemonProcess* start(const std::string& config, uint16_t port) {
        processes_.push_back(
            std::make_unique<DaemonProcess>(port, config, DaemonProcess::Start::spawn_only));
        DaemonProcess* p = processes_.back().get();
        if (!p->wait_listening(milliseconds(60000))) {
            ADD_FAILURE() << "the daemon on port " << port << " did not start:\n" << p->log();
            return nullptr;
        }
        return p;
    }

    std::string conf_;
    std::vector<std::pair<std::string, std::string>> images_;
    std::vector<std::unique_ptr<DaemonProcess>> processes_;
};

TEST_F(RbdConsoleTest, EachGatewaysConsoleShowsTheClusterBothGatewaysAndOsdLatency) {
    const uint16_t port_a = free_port();
    const uint16_t port_b = free_port();
    const uint16_t console_a = free_port();
    const uint16_t console_b = free_port();
    ASSERT_EQ(std::set<uint16_t>({port_a, port_b, console_a, console_b}).size(), 4u);
    const std::string name = image(conf_, "pair");
    DaemonProcess* a = start(gateway_config(1, port_a, port_b, console_a, name, conf_), port_a);
    ASSERT_NE(a, nullptr);
    DaemonProcess* b = start(gateway_config(2, port_a, port_b, console_b, name, conf_), port_b);
    ASSERT_NE(b, nullptr);

    for (const uint16_t console : {console_a, console_b}) {
        const int own = console == console_a ? 1 : 2;
        json lun;
        ASSERT_TRUE(wait_for(console, lun_path, ready, lun))
            << "gateway " << own
            << "'s console never showed the cluster and both gateways: " << lun.dump(2) << "\n"
            << (own == 1 ? a : b)->log();
        const json& rbd = lun["rbd"];
        EXPECT_EQ(lun["store"], "rbd");
        EXPECT_EQ(rbd["pool"], "rbd");
        EXPECT_EQ(rbd["image"], name);
        EXPECT_FALSE(rbd["image_id"].get<std::string>().empty());
        EXPECT_EQ(rbd["object_size"], 4194304);

        const json& cluster = rbd["cluster"];
        EXPECT_TRUE(cluster["health"] == "HEALTH_OK" || cluster["health"] == "HEALTH_WARN")
            << cluster.dump();
        EXPECT_TRUE(cluster["error"].is_null());
        EXPECT_EQ(cluster["fsid"].get<std::string>().size(), 36u) << cluster.dump();
        EXPECT_GE(cluster["osds"]["up"].get<int>(), 1);
        EXPECT_GE(cluster["osds"]["in"].get<int>(), 1);
        EXPECT_TRUE(cluster["checks"].is_array());
        EXPECT_TRUE(cluster["refreshed_ms_ago"].is_number());

        // Every OSD listed with its latency fields; up OSDs answered their perf dump.
        const json& latency = rbd["osd_latency"];
        ASSERT_FALSE(latency["osds"].empty());
        for (const json& osd : latency["osds"]) {
            EXPECT_TRUE(osd["id"].is_number_integer());
            EXPECT_TRUE(osd["write_latency_ms"].is_number() || osd["write_latency_ms"].is_null());
            EXPECT_FALSE(osd.contains("error")) << osd.dump();
            // Without a manager `osd perf` is not asked; with one it has numbers.
            EXPECT_EQ(osd["commit_latency_ms"].is_number(), cluster["manager"].get<bool>());
        }
        const json& heartbeat = latency["heartbeat"];
        EXPECT_TRUE(heartbeat["last_ms"].is_number());
        EXPECT_TRUE(heartbeat["p50_ms"].is_number());
        EXPECT_TRUE(heartbeat["p99_ms"].is_number());
        EXPECT_TRUE(heartbeat["max_ms"].is_number());
        EXPECT_LE(heartbeat["p50_ms"].get<double>(), heartbeat["max_ms"].get<double>());
        EXPECT_GE(heartbeat["rounds"].get<int>(), heartbeat["samples"].get<int>());

        // Both gateways, this one marked, with their portals, states and beats.
        ASSERT_EQ(rbd["gateways"].size(), 2u) << rbd["gateways"].dump();
        for (const int group : {1, 2}) {
            const json& g = *gateway_row(lun, group);
            EXPECT_EQ(g["name"], group == 1 ? "gateway-a" : "gateway-b");
            EXPECT_EQ(g["portals"],
                      json::array({"127.0.0.1:" + std::to_string(group == 1 ? port_a : port_b)}));
            EXPECT_EQ(g["state"], group == 1 ? "active_optimized" : "active_non_optimized");
            EXPECT_EQ(g["shared_state"], g["state"]);
            EXPECT_EQ(g["this_gateway"], group == own);
            EXPECT_TRUE(g["last_beat_age_ms"].is_number_integer());
            EXPECT_NE(g["description"].get<std::string>().find(group == 1 ? "gateway-a pid"
                                                                          : "gateway-b pid"),
                      std::string::npos);
        }
    }

    // The same object in the target list.
    const HttpAnswer targets = http_call(console_a, "GET", "/api/v1/targets");
    ASSERT_EQ(targets.status, 200u);
    EXPECT_TRUE(targets.body[0]["luns"][0].contains("rbd"));
    // Unknown LUNs and bad ids: 404 and 400 with a sentence.
    const HttpAnswer unknown =
        http_call(console_a, "GET", "/api/v1/targets/iqn.2026-12.org.atsarray:console/luns/7");
    EXPECT_EQ(unknown.status, 404u);
    EXPECT_EQ(unknown.body["error"]["message"],
              "unknown LUN 7 of target iqn.2026-12.org.atsarray:console");
    EXPECT_EQ(http_call(console_a, "GET", "/api/v1/targets/nope/luns/0").status, 404u);
    EXPECT_EQ(http_call(console_a, "GET", "/api/v1/targets/x/luns/zero").status, 400u);

    // Gateway B dies: A's console shows it dead (dead_after 1 s) while the cluster stays fine.
    b->stop(SIGKILL);
    json lun;
    EXPECT_TRUE(wait_for(
        console_a, lun_path,
        [](const json& l) {
            const json* row = l.contains("rbd") ? gateway_row(l, 2) : nullptr;
            return row != nullptr && (*row)["alive"] == false &&
                   l["rbd"]["cluster"]["state"] == "ok";
        },
        lun))
        << lun.dump(2);
}

// An rbd LUN added through the live configuration (issue 19) gets the same panel as one in the
// config file at start; once removed it has none, and its image's refresher is stopped.
TEST_F(RbdConsoleTest, AnRbdLunAddedLiveIsShownAndLeavesWithItsRemoval) {
    const uint16_t port = free_port();
    const uint16_t console = free_port();
    const std::string token = "rbd-console-token-0123456789";
    const std::string name = image(conf_, "live");
    const std::string config =
        "[console]\naddress = \"127.0.0.1\"\nport = " + std::to_string(console) + "\ntoken = \"" +
        token + "\"\n\n[[target]]\nname = \"" + target_name +
        "\"\n\n[[target.lun]]\nid = 0\nbackend = \"memory\"\n"
        "size = \"1MiB\"\n";
    DaemonProcess* daemon = start(config, port);
    ASSERT_NE(daemon, nullptr);
    const std::string luns = std::string("/api/v1/targets/") + target_name + "/luns";
    json lun;
    ASSERT_TRUE(wait_for(
        console, luns + "/0", [](const json& l) { return !l.contains("rbd"); }, lun))
        << lun.dump(2);

    const json body = {{"id", 1},         {"backend", "rbd"},   {"pool", "rbd"},
                       {"image", name},   {"ceph_conf", conf_}, {"create", true},
                       {"size", "16MiB"}, {"timeout_s", 20}};
    const HttpAnswer added = http_call(console, "POST", luns, token, body.dump());
    ASSERT_EQ(added.status, 201U) << added.body.dump() << "\n" << daemon->log();
    ASSERT_TRUE(wait_for(
        console, luns + "/1",
        [](const json& l) { return l.contains("rbd") && l["rbd"]["cluster"]["state"] == "ok"; },
        lun))
        << lun.dump(2) << "\n"
        << daemon->log();
    EXPECT_EQ(lun["rbd"]["image"], name);
    EXPECT_GE(lun["rbd"]["cluster"]["osds"]["up"].get<int>(), 1);

    const HttpAnswer removed = http_call(console, "DELETE", luns + "/1", token);
    ASSERT_EQ(removed.status, 200U) << removed.body.dump();
    EXPECT_EQ(http_call(console, "GET", luns + "/1").status, 404U);
    // Added again: a fresh panel, not the removed LUN's.
    ASSERT_EQ(http_call(console, "POST", luns, token, body.dump()).status, 201U);
    ASSERT_TRUE(wait_for(
        console, luns + "/1",
        [](const json& l) { return l.contains("rbd") && l["rbd"]["cluster"]["state"] == "ok"; },
        lun))
        << lun.dump(2);
}

// A standalone daemon on a cluster of its own (scripts/ceph-cluster) that then stops: the console
// keeps answering, and says "unreachable: ..." once a query ran into timeout_s.
TEST_F(RbdConsoleTest, AClusterThatStopsIsShownUnreachableAndTheConsoleStillAnswers) {
    TempDir cluster_dir;
    const std::string script = std::string(ATSARRAY_SOURCE_DIR) + "/scripts/ceph-cluster";
    std::string output;
    ASSERT_EQ(run_command(script + " start " + cluster_dir.path().string() + " 2>&1", output), 0)
        << output;
    const std::string conf = (cluster_dir.path() / "ceph.conf").string();
    struct StopCluster {
        std::string command;
        ~StopCluster() {
            std::string ignored;
            run_command(command, ignored);
        }
    } stop_cluster{script + " stop " + cluster_dir.path().string() + " 2>&1"};

    const uint16_t port = free_port();
    const uint16_t console = free_port();
    DaemonProcess* daemon =
        start(console_section(console) + lun_section("console-lonely", conf, 3), port);
    ASSERT_NE(daemon, nullptr);
    json lun;
    ASSERT_TRUE(wait_for(
        console, lun_path,
        [](const json& l) { return l.contains("rbd") && l["rbd"]["cluster"]["state"] == "ok"; },
        lun))
        << lun.dump(2);
    EXPECT_TRUE(lun["rbd"]["gateways"].empty());
    EXPECT_TRUE(lun["rbd"]["osd_latency"]["heartbeat"].is_null());

    ASSERT_EQ(run_command(stop_cluster.command, output), 0) << output;
    ASSERT_TRUE(wait_for(
        console, lun_path,
        [](const json& l) {
            return l.contains("rbd") && l["rbd"]["cluster"]["state"] == "unreachable";
        },
        lun))
        << lun.dump(2) << "\n"
        << daemon->log();
    const json& cluster = lun["rbd"]["cluster"];
    std::cout << "# the console says: " << cluster["error"].dump() << "\n";
    EXPECT_TRUE(cluster["health"].is_null());
    EXPECT_EQ(cluster["error"].get<std::string>().rfind("unreachable: ", 0), 0u) << cluster.dump();
    // The console answers every request meanwhile (each GET above returned; one more).
    EXPECT_EQ(http_call(console, "GET", "/api/v1/overview").status, 200u);
}

}  // namespace
}  // namespace atsarray::testing
