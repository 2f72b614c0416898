// The Paths view without sockets (issue 14): the tracker's failovers and ended sessions, the
// target port group REST calls (GET, PATCH and every refused PATCH changing nothing), and the
// ticks' per-initiator list that forgets ended sessions (issue 19).
#include "webui/server/paths.hpp"

#include <gtest/gtest.h>

#include "target/iscsi/server_state.hpp"
#include "target/scsi/target_device.hpp"
#include "webui/server/router.hpp"
#include "webui/server/stream.hpp"

namespace atsarray::webui {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using scsi::AluaState;

constexpr const char* test_token = "0123456789abcdef0123";
constexpr const char* target_name = "iqn.2026-11.org.atsarray:paths";

PathSession session(std::string key, std::string initiator, uint16_t group, uint64_t commands) {
    PathSession s;
    s.key = std::move(key);
    s.target = target_name;
    s.initiator_name = std::move(initiator);
    s.initiator_port = s.initiator_name + ",i,0x400000000001";
    s.group = group;
    s.commands = commands;
    return s;
}

std::vector<PathGroup> two_groups(AluaState a, AluaState b,
                                  std::optional<AluaState> a_pending = std::nullopt) {
    return {{target_name, 1, a, a_pending}, {target_name, 2, b, std::nullopt}};
}

class PathTrackerTest : public ::testing::Test {
  protected:
    void look(const std::vector<PathSession>& live, const std::vector<PathGroup>& groups) {
        now_ += 1s;
        wall_ += 1s;
        tracker_.observe(live, groups, 60s, now_, wall_);
    }

    PathTracker tracker_;
    std::chrono::steady_clock::time_point now_{};
    std::chrono::system_clock::time_point wall_{std::chrono::system_clock::from_time_t(1800000000)};
};

TEST_F(PathTrackerTest, IoMovingToAnotherGroupIsAFailover) {
    const auto groups = two_groups(AluaState::active_optimized, AluaState::active_non_optimized);
    look({session("a", "esx-1", 1, 10), session("b", "esx-1", 2, 0)}, groups);
    look({session("a", "esx-1", 1, 30), session("b", "esx-1", 2, 0)}, groups);
    ASSERT_EQ(tracker_.initiators().size(), 1U);
    const auto& who = tracker_.initiators().at("esx-1");
    EXPECT_EQ(who.io_group.at(target_name), 1);
    EXPECT_FALSE(who.last_failover) << "I/O on its first group is no failover";

    const auto moved_at = wall_ + 1s;
    look({session("a", "esx-1", 1, 30), session("b", "esx-1", 2, 25)}, groups);
    const auto& f = tracker_.initiators().at("esx-1").last_failover;
    ASSERT_TRUE(f);
    EXPECT_EQ(f->reason, "io_moved");
    EXPECT_EQ(f->from_group, 1);
    EXPECT_EQ(f->group, 2);
    EXPECT_EQ(f->time, moved_at);
    // No I/O at all in a look changes nothing.
    look({session("a", "esx-1", 1, 30), session("b", "esx-1", 2, 25)}, groups);
    EXPECT_EQ(tracker_.initiators().at("esx-1").last_failover->time, moved_at);
}

TEST_F(PathTrackerTest, AStateChangeOfAGroupWithASessionIsAFailover) {
    look({session("a", "esx-1", 1, 0), session("c", "esx-2", 2, 0)},
         two_groups(AluaState::active_optimized, AluaState::active_non_optimized));
    look({session("a", "esx-1", 1, 0), session("c", "esx-2", 2, 0)},
         two_groups(AluaState::transitioning, AluaState::active_non_optimized, AluaState::standby));
    const auto& f = tracker_.initiators().at("esx-1").last_failover;
    ASSERT_TRUE(f);
    EXPECT_EQ(f->reason, "state_changed");
    EXPECT_EQ(f->group, 1);
    EXPECT_EQ(f->state, AluaState::transitioning);
    EXPECT_FALSE(tracker_.initiators().at("esx-2").last_failover)
        << "esx-2 has no session in group 1";
}

TEST_F(PathTrackerTest, EndedSessionsStayAWhileThenLeave) {
    const auto groups = two_groups(AluaState::active_optimized, AluaState::active_non_optimized);
    look({session("a", "esx-1", 1, 5), session("b", "esx-1", 2, 0)}, groups);
    look({session("b", "esx-1", 2, 0)}, groups);
    ASSERT_EQ(tracker_.sessions().size(), 2U);
    const PathSession& ended = tracker_.sessions().at("a");
    ASSERT_TRUE(ended.ended);
    EXPECT_EQ(*ended.ended, wall_);
    EXPECT_EQ(ended.commands, 5U) << "an ended session keeps its last counters";
    for (int i = 0; i < 59; ++i) {
        look({session("b", "esx-1", 2, 0)}, groups);
    }
    EXPECT_EQ(tracker_.sessions().count("a"), 1U);
    look({session("b", "esx-1", 2, 0)}, groups);
    EXPECT_EQ(tracker_.sessions().count("a"), 0U) << "gone 60 s after it ended";
    // The initiator leaves with its last session.
    for (int i = 0; i < 61; ++i) {
        look({}, groups);
    }
    EXPECT_TRUE(tracker_.sessions().empty());
    EXPECT_TRUE(tracker_.initiators().empty());
}

TEST(RecentPortsTest, APortLeavesTheTicksAWhileAfterItsLastSession) {
    RecentPorts recent;
    const std::chrono::steady_clock::time_point t0{};
    recent.update({"esx-1,i,0x1", "esx-2,i,0x2"}, 60s, t0);
    EXPECT_TRUE(recent.listed("esx-1,i,0x1"));
    EXPECT_FALSE(recent.listed("never-logged-in,i,0x3"));
    recent.update({"esx-2,i,0x2"}, 60s, t0 + 59s);
    EXPECT_TRUE(recent.listed("esx-1,i,0x1")) << "ended less than 60 s ago";
    recent.update({"esx-2,i,0x2"}, 60s, t0 + 60s);
    EXPECT_FALSE(recent.listed("esx-1,i,0x1"));
    EXPECT_TRUE(recent.listed("esx-2,i,0x2")) << "a live host stays";
}

// A dual-controller target: group 1 (controller-a, 127.0.0.1:3260) active/optimized and
// preferred, group 2 (controller-b, 127.0.0.1:3261) active/non-optimized.
class PortGroupsApiTest : public ::testing::Test {
  protected:
    PortGroupsApiTest() {
        scsi::AluaConfig alua;
        alua.groups = {{1, "controller-a", {1}, AluaState::active_optimized, true},
                       {2, "controller-b", {2}, AluaState::active_non_optimized, false}};
        groups_ = std::make_shared<scsi::TargetPortGroups>(alua);
        iscsi::TargetNode node;
        node.info.name = target_name;
        node.device = std::make_shared<scsi::TargetDevice>(groups_);
        state_.targets.add(std::move(node));
        state_.portals = {{"127.0.0.1:3260", 1}, {"127.0.0.1:3261", 2}};
    }

    HttpResponse call(std::string method, std::string target, std::string body = "",
                      bool token = true) {
        HttpRequest req;
        req.method = std::move(method);
        req.target = std::move(target);
        req.host = "127.0.0.1:8080";
        if (token) {
            req.authorization = std::string("Bearer ") + test_token;
        }
        req.content_type = "application/json";
        req.body = std::move(body);
        return router_.handle(req);
    }

    std::string group_path(const std::string& id) const {
        return std::string("/api/v1/targets/") + target_name + "/port-groups/" + id;
    }

    iscsi::ServerState state_;
    ats::Registry registry_;
    ats::EventLog events_;
    ConsoleModel model_{state_, registry_, events_};
    std::shared_ptr<scsi::TargetPortGroups> groups_;
    Router router_{model_, AccessPolicy{test_token, true, {"127.0.0.1:8080"}}, ""};
};

TEST_F(PortGroupsApiTest, GetListsEveryGroupWithItsStateAndPortals) {
    const HttpResponse r =
        call("GET", std::string("/api/v1/targets/") + target_name + "/port-groups");
    ASSERT_EQ(r.status, 200U) << r.body;
    const json j = json::parse(r.body);
    EXPECT_EQ(j["target"], target_name);
    EXPECT_EQ(j["explicit_alua"], true);
    ASSERT_EQ(j["groups"].size(), 2U);
    const json& a = j["groups"][0];
    EXPECT_EQ(a["id"], 1);
    EXPECT_EQ(a["name"], "controller-a");
    EXPECT_EQ(a["state"], "active_optimized");
    EXPECT_EQ(a["status"], "none");
    EXPECT_EQ(a["status_code"], 0);
    EXPECT_TRUE(a["pending_state"].is_null());
    EXPECT_EQ(a["preferred"], true);
    EXPECT_EQ(a["portals"], json::array({"127.0.0.1:3260"}));
    EXPECT_EQ(j["groups"][1]["state"], "active_non_optimized");
    EXPECT_EQ(j["groups"][1]["portals"], json::array({"127.0.0.1:3261"}));
    EXPECT_EQ(a["supported_states"].size(), 5U);

    EXPECT_EQ(call("GET", group_path("2")).status, 200U);
    EXPECT_EQ(call("GET", group_path("3")).status, 404U);
    EXPECT_EQ(call("GET", "/api/v1/targets/iqn.none:x/port-groups").status, 404U);
}

TEST_F(PortGroupsApiTest, PatchPutsTheGroupInTheStateAsAnImplicitChange) {
    const HttpResponse r = call("PATCH", group_path("1"), R"({"state": "standby"})");
    ASSERT_EQ(r.status, 200U) << r.body;
    const json j = json::parse(r.body);
    EXPECT_EQ(j["state"], "standby");
    EXPECT_EQ(j["status"], "altered_by_implicit_behavior");
    EXPECT_EQ(j["status_code"], 2);
    const auto snap = groups_->snapshot();
    EXPECT_EQ(snap->group(1)->state, AluaState::standby);
    EXPECT_EQ(snap->group(1)->status, scsi::AluaStatus::altered_by_implicit_behavior);
    const auto logged = events_.since(0, 10);
    ASSERT_EQ(logged.size(), 1U);
    EXPECT_EQ(logged[0].kind, "alua");
    EXPECT_EQ(logged[0].target, target_name);

    // Through transitioning: the group shows where it goes and when.
    const HttpResponse t =
        call("PATCH", group_path("2"), R"({"state": "active_optimized", "transition_ms": 60000})");
    ASSERT_EQ(t.status, 200U) << t.body;
    const json k = json::parse(t.body);
    EXPECT_EQ(k["state"], "transitioning");
    EXPECT_EQ(k["pending_state"], "active_optimized");
    EXPECT_TRUE(k["transition_ends"].is_string());
}

TEST_F(PortGroupsApiTest, RefusedPatchesChangeNothing) {
    struct Case {
        std::string id;
        std::string body;
        bool token;
        unsigned status;
    };
    const std::vector<Case> cases = {
        {"1", R"({"state": "standby"})", false, 401},
        {"9", R"({"state": "standby"})", true, 404},
        {"x", R"({"state": "standby"})", true, 400},
        {"0", R"({"state": "standby"})", true, 400},
        {"1", "{not json", true, 400},
        {"1", R"({"state": "offline"})", true, 400},
        {"1", R"({"state": "transitioning"})", true, 400},
        {"1", R"({"state": 2})", true, 400},
        {"1", R"({})", true, 400},
        {"1", R"(["standby"])", true, 400},
        {"1", R"({"state": "standby", "transition_ms": -1})", true, 400},
        {"1", R"({"state": "standby", "transition_ms": 1.5})", true, 400},
        {"1", R"({"state": "standby", "transition_ms": 600001})", true, 400},
        {"1", R"({"state": "standby", "delay": 1})", true, 400},
    };
    for (const Case& c : cases) {
        const HttpResponse r = call("PATCH", group_path(c.id), c.body, c.token);
        EXPECT_EQ(r.status, c.status) << c.id << " " << c.body << ": " << r.body;
        const json j = json::parse(r.body);
        EXPECT_EQ(j["error"]["status"], c.status);
        EXPECT_FALSE(j["error"]["message"].get<std::string>().empty());
    }
    EXPECT_EQ(
        call("PATCH", "/api/v1/targets/iqn.none:x/port-groups/1", R"({"state": "standby"})").status,
        404U);
    EXPECT_EQ(call("POST", group_path("1"), R"({"state": "standby"})").status, 405U);
    const auto snap = groups_->snapshot();
    EXPECT_EQ(snap->group(1)->state, AluaState::active_optimized);
    EXPECT_EQ(snap->group(1)->status, scsi::AluaStatus::none);
    EXPECT_EQ(snap->group(2)->state, AluaState::active_non_optimized);
    EXPECT_EQ(events_.last_seq(), 0U);
}

TEST_F(PortGroupsApiTest, AGroupIsNotPutInAStateItDoesNotSupport) {
    // The single implicit group of a target without [[target_port_group]] supports only
    // active/optimized.
    iscsi::ServerState state;
    iscsi::TargetNode node;
    node.info.name = "iqn.2026-11.org.atsarray:single";
    node.device = std::make_shared<scsi::TargetDevice>();
    state.targets.add(std::move(node));
    state.portals = {{"127.0.0.1:3260", std::nullopt}};
    ConsoleModel model{state, registry_, events_};
    const Router r(model, AccessPolicy{test_token, true, {"127.0.0.1:8080"}}, "");
    HttpRequest req;
    req.method = "PATCH";
    req.target = "/api/v1/targets/iqn.2026-11.org.atsarray:single/port-groups/1";
    req.authorization = std::string("Bearer ") + test_token;
    req.content_type = "application/json";
    req.body = R"({"state": "standby"})";
    const HttpResponse refused = r.handle(req);
    EXPECT_EQ(refused.status, 400U) << refused.body;
    req.method = "GET";
    const json g = json::parse(r.handle(req).body);
    EXPECT_EQ(g["state"], "active_optimized");
    EXPECT_EQ(g["portals"], json::array({"127.0.0.1:3260"}));
}

TEST_F(PortGroupsApiTest, PathsListTheTargetsGroups) {
    const HttpResponse r = call("GET", "/api/v1/paths");
    ASSERT_EQ(r.status, 200U) << r.body;
    const json j = json::parse(r.body);
    EXPECT_EQ(j["keep_ended_s"], 60);
    ASSERT_EQ(j["targets"].size(), 1U);
    EXPECT_EQ(j["targets"][0]["groups"].size(), 2U);
    EXPECT_TRUE(j["initiators"].empty());
}

}  // namespace
}  // namespace atsarray::webui
