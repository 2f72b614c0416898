// The live configuration's routes (config_routes.cpp, issue 19) against a ConfigControl that
// records its calls: paths, methods, the token, content types, ?force and the answers' shapes.
#include <gtest/gtest.h>

#include "target/iscsi/server_state.hpp"
#include "webui/server/router.hpp"

namespace atsarray::webui {
namespace {

using nlohmann::json;

constexpr const char* test_token = "0123456789abcdef0123";

struct RecordingControl : ConfigControl {
    std::vector<std::string> calls;
    ConfigAnswer next = ConfigAnswer::ok(json::object());

    ConfigAnswer record(std::string call) {
        calls.push_back(std::move(call));
        return next;
    }
    std::string running_config() override {
        calls.emplace_back("running_config");
        return "log_level = \"info\"\n";
    }
    ConfigAnswer save() override { return record("save"); }
    ConfigAnswer add_target(const json& body) override {
        return record("add_target " + body.dump());
    }
    ConfigAnswer remove_target(const std::string& t, bool force) override {
        return record("remove_target " + t + (force ? " force" : ""));
    }
    ConfigAnswer add_lun(const std::string& t, const json& body) override {
        return record("add_lun " + t + " " + body.dump());
    }
    ConfigAnswer grow_lun(const std::string& t, uint64_t lun, const json& body) override {
        return record("grow_lun " + t + " " + std::to_string(lun) + " " + body.dump());
    }
    ConfigAnswer remove_lun(const std::string& t, uint64_t lun, bool force) override {
        return record("remove_lun " + t + " " + std::to_string(lun) + (force ? " force" : ""));
    }
    ConfigAnswer acl(const std::string& t) override { return record("acl " + t); }
    ConfigAnswer add_initiator(const std::string& t, const json& body) override {
        return record("add_initiator " + t + " " + body.dump());
    }
    ConfigAnswer remove_initiator(const std::string& t, const std::string& i, bool force) override {
        return record("remove_initiator " + t + " " + i + (force ? " force" : ""));
    }
    ConfigAnswer chap(const std::string& t) override { return record("chap " + t); }
    ConfigAnswer set_chap(const std::string& t, const json& body) override {
        return record("set_chap " + t + " " + body.dump());
    }
    ConfigAnswer add_portal(const json& body) override {
        return record("add_portal " + body.dump());
    }
    ConfigAnswer remove_portal(const std::string& p, bool force) override {
        return record("remove_portal " + p + (force ? " force" : ""));
    }
};

class ConfigRoutesTest : public ::testing::Test {
  protected:
    HttpResponse send(std::string method, std::string target, std::string body = "",
                      bool token = true, std::string content_type = "application/json") {
        HttpRequest req;
        req.method = std::move(method);
        req.target = std::move(target);
        req.host = "127.0.0.1:8080";
        if (token) {
            req.authorization = std::string("Bearer ") + test_token;
        }
        req.content_type = std::move(content_type);
        req.body = std::move(body);
        return router.handle(req);
    }

    iscsi::ServerState state;
    ats::Registry registry;
    ats::EventLog events;
    ConsoleModel model{state, registry, events};
    RecordingControl control;
    Router router{model, AccessPolicy{test_token, true, {"127.0.0.1:8080"}}, ""};

    void SetUp() override { model.config = &control; }
};

TEST_F(ConfigRoutesTest, RunningConfigNeedsTheTokenEvenOnLoopback) {
    EXPECT_EQ(send("GET", "/api/v1/config", "", false).status, 401U);
    const HttpResponse r = send("GET", "/api/v1/config");
    EXPECT_EQ(r.status, 200U);
    EXPECT_EQ(r.content_type, "text/plain; charset=utf-8");
    EXPECT_EQ(r.body, "log_level = \"info\"\n");
}

TEST_F(ConfigRoutesTest, SaveTakesNoBodyOrAnEmptyObject) {
    EXPECT_EQ(send("POST", "/api/v1/config/save", "", true, "").status, 200U);
    EXPECT_EQ(send("POST", "/api/v1/config/save", "{}").status, 200U);
    EXPECT_EQ(send("POST", "/api/v1/config/save", R"({"x":1})").status, 400U);
    EXPECT_EQ(send("POST", "/api/v1/config/save", "", false).status, 401U);
    EXPECT_EQ(send("GET", "/api/v1/config/save").status, 405U);
    EXPECT_EQ(control.calls, (std::vector<std::string>{"save", "save"}));
}

TEST_F(ConfigRoutesTest, ChangesNeedTheTokenAndJson) {
    EXPECT_EQ(send("POST", "/api/v1/targets/iqn.x/luns", R"({"id":1})", false).status, 401U);
    EXPECT_EQ(send("POST", "/api/v1/targets/iqn.x/luns", R"({"id":1})", true, "text/plain").status,
              415U);
    EXPECT_EQ(send("POST", "/api/v1/targets/iqn.x/luns", "[1]").status, 400U);
    EXPECT_EQ(send("POST", "/api/v1/targets/iqn.x/luns", "{").status, 400U);
    EXPECT_TRUE(control.calls.empty());
}

TEST_F(ConfigRoutesTest, EveryRouteReachesItsCall) {
    control.next = ConfigAnswer::ok(json{{"done", true}});
    send("POST", "/api/v1/targets", R"({"name":"iqn.y"})");
    send("DELETE", "/api/v1/targets/iqn.y?force=true");
    send("POST", "/api/v1/targets/iqn.y/luns", R"({"id":2})");
    send("PATCH", "/api/v1/targets/iqn.y/luns/2", R"({"size":"2GiB"})");
    send("DELETE", "/api/v1/targets/iqn.y/luns/2");
    send("GET", "/api/v1/targets/iqn.y/acl");
    send("POST", "/api/v1/targets/iqn.y/acl", R"({"initiator":"iqn.i"})");
    send("DELETE", "/api/v1/targets/iqn.y/acl/iqn.i?force=1");
    send("GET", "/api/v1/targets/iqn.y/chap");
    send("PUT", "/api/v1/targets/iqn.y/chap", R"({"chap":null})");
    send("POST", "/api/v1/portals", R"({"address":"127.0.0.1","port":3270})");
    send("DELETE", "/api/v1/portals/127.0.0.1:3270");
    EXPECT_EQ(
        control.calls,
        (std::vector<std::string>{
            R"(add_target {"name":"iqn.y"})", "remove_target iqn.y force",
            R"(add_lun iqn.y {"id":2})", R"(grow_lun iqn.y 2 {"size":"2GiB"})",
            "remove_lun iqn.y 2", "acl iqn.y", R"(add_initiator iqn.y {"initiator":"iqn.i"})",
            "remove_initiator iqn.y iqn.i force", "chap iqn.y", R"(set_chap iqn.y {"chap":null})",
            R"(add_portal {"address":"127.0.0.1","port":3270})", "remove_portal 127.0.0.1:3270"}));
}

TEST_F(ConfigRoutesTest, RefusalsKeepTheirStatusAndMessage) {
    control.next = ConfigAnswer::fail(409, "target iqn.y has 1 session(s) logged in");
    const HttpResponse r = send("DELETE", "/api/v1/targets/iqn.y/luns/2");
    EXPECT_EQ(r.status, 409U);
    const json body = json::parse(r.body);
    EXPECT_EQ(body["error"]["status"], 409);
    EXPECT_EQ(body["error"]["message"], "target iqn.y has 1 session(s) logged in");
    EXPECT_EQ(send("PATCH", "/api/v1/targets/iqn.y/luns/x", R"({"size":1})").status, 400U);
}

TEST_F(ConfigRoutesTest, ReadsStayWhereTheyWere) {
    // GET /targets, /portals and /targets/{t}/luns/{id} are Router::api's, open on loopback.
    EXPECT_EQ(send("GET", "/api/v1/targets", "", false).status, 200U);
    EXPECT_EQ(send("GET", "/api/v1/portals", "", false).status, 200U);
    EXPECT_EQ(send("GET", "/api/v1/targets/iqn.x/luns/0", "", false).status, 404U);
    EXPECT_TRUE(control.calls.empty());
}

TEST_F(ConfigRoutesTest, WithoutLiveConfigurationThe501) {
    model.config = nullptr;
    EXPECT_EQ(send("POST", "/api/v1/config/save", "{}").status, 501U);
}

}  // namespace
}  // namespace atsarray::webui
