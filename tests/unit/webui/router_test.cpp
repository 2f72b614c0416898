// The console's router without sockets: the access rules beyond loopback, errors as JSON.
#include "webui/server/router.hpp"

#include <gtest/gtest.h>

#include "target/forensics/capture.hpp"
#include "target/iscsi/server_state.hpp"
#include "target/scsi/target_device.hpp"

namespace atsarray::webui {
namespace {

constexpr const char* test_token = "0123456789abcdef0123";

class RouterTest : public ::testing::Test {
  protected:
    HttpResponse get(const Router& r, std::string target, std::string authorization = "") {
        HttpRequest req;
        req.method = "GET";
        req.target = std::move(target);
        req.host = "192.0.2.1:8080";
        req.authorization = std::move(authorization);
        return r.handle(req);
    }

    // A request with the token on loopback, as the console's own page sends it.
    HttpResponse send(const Router& r, std::string method, std::string target,
                      std::string body = "") {
        HttpRequest req;
        req.method = std::move(method);
        req.target = std::move(target);
        req.host = "127.0.0.1:8080";
        req.authorization = std::string("Bearer ") + test_token;
        req.content_type = "application/json";
        req.body = std::move(body);
        return r.handle(req);
    }

    iscsi::ServerState state;
    ats::Registry registry;
    ats::EventLog events;
    ConsoleModel model{state, registry, events};
};

TEST_F(RouterTest, BeyondLoopbackEveryAnswerWithDataNeedsTheToken) {
    const Router r(model, AccessPolicy{test_token, false, {"192.0.2.1:8080"}}, "");
    for (const char* path : {"/api/v1/overview", "/api/v1/ats", "/metrics", "/api/v1/events"}) {
        EXPECT_EQ(get(r, path).status, 401U) << path;
        EXPECT_EQ(get(r, path, "Bearer wrong").status, 401U) << path;
        EXPECT_EQ(get(r, path, std::string("Bearer ") + test_token).status, 200U) << path;
    }
    // The page's files carry no data: they load, so the page can ask for the token.
    EXPECT_EQ(get(r, "/index.html").status, 404U);  // no static folder in this test
    // And the token is never handed out beyond loopback.
    EXPECT_EQ(get(r, "/api/v1/session-token").status, 403U);
}

TEST_F(RouterTest, OnLoopbackReadsAreOpenAndWritesNeedTheToken) {
    const Router r(model, AccessPolicy{test_token, true, {"127.0.0.1:8080"}}, "");
    EXPECT_EQ(get(r, "/api/v1/overview").status, 200U);
    HttpRequest post;
    post.method = "POST";
    post.target = "/api/v1/events";
    post.content_type = "application/json";
    post.body = R"({"message": "hello"})";
    EXPECT_EQ(r.handle(post).status, 401U);
    post.authorization = std::string("Bearer ") + test_token;
    const HttpResponse created = r.handle(post);
    EXPECT_EQ(created.status, 201U);
    EXPECT_EQ(events.last_seq(), 1U);
    EXPECT_EQ(created.body.find(test_token), std::string::npos);
}

TEST_F(RouterTest, ErrorsAreJsonWithTheirStatus) {
    const Router r(model, AccessPolicy{test_token, true, {}}, "");
    const HttpResponse missing = get(r, "/api/v1/targets/iqn.x/luns/0");
    EXPECT_EQ(missing.status, 404U);
    const auto body = nlohmann::json::parse(missing.body);
    EXPECT_EQ(body["error"]["status"], 404);
    EXPECT_FALSE(body["error"]["message"].get<std::string>().empty());
    EXPECT_EQ(get(r, "/api/v2/overview").status, 404U);
    EXPECT_EQ(get(r, "/api/v1/events?since=x").status, 400U);
    EXPECT_EQ(get(r, "/../etc/passwd").status, 400U);
}

// Found by fuzz_console: a request-target with no path ("?x", which Beast accepts) reached
// static_file() empty, whose substr(1) threw std::out_of_range on the console's thread and
// ended the daemon, without a token even beyond loopback.
TEST_F(RouterTest, ARequestTargetWithoutAPathIsABadRequest) {
    const Router r(model, AccessPolicy{test_token, false, {"192.0.2.1:8080"}}, "");
    for (const char* target : {"?x", "?since=1", "*", "index.html"}) {
        HttpResponse answer;
        ASSERT_NO_THROW(answer = get(r, target)) << target;
        EXPECT_EQ(answer.status, 400U) << target;
    }
}

// Every answer about one rule reads it back from the engine: a rule deleted meanwhile is a 404,
// never a dereferenced empty optional.
TEST_F(RouterTest, FaultRuleAnswersComeFromTheEngine) {
    fault::Engine engine;
    model.faults = &engine;
    const Router r(model, AccessPolicy{test_token, true, {"127.0.0.1:8080"}}, "");
    const HttpResponse created =
        send(r, "POST", "/api/v1/faults", R"({"name": "m", "action": "false_miscompare"})");
    ASSERT_EQ(created.status, 201U) << created.body;
    const auto id = nlohmann::json::parse(created.body)["id"].get<uint64_t>();
    const std::string path = "/api/v1/faults/" + std::to_string(id);
    EXPECT_EQ(send(r, "GET", path).status, 200U);
    const HttpResponse disabled = send(r, "PATCH", path, R"({"enabled": false})");
    EXPECT_EQ(disabled.status, 200U) << disabled.body;
    EXPECT_EQ(nlohmann::json::parse(disabled.body)["id"].get<uint64_t>(), id);
    EXPECT_EQ(send(r, "DELETE", path).status, 200U);
    EXPECT_EQ(send(r, "GET", path).status, 404U);
    EXPECT_EQ(send(r, "PATCH", path, R"({"enabled": true})").status, 404U);

    const HttpResponse preset = send(r, "POST", "/api/v1/faults/presets/esxi-heartbeat-timeout");
    ASSERT_EQ(preset.status, 201U) << preset.body;
    EXPECT_EQ(nlohmann::json::parse(preset.body)["rules"].size(), engine.rules().size());
    EXPECT_EQ(send(r, "POST", "/api/v1/faults/presets/no-such-preset").status, 404U);
}

// Found by fuzz_console: bytes that are not UTF-8 in a request's path, or in an initiator name
// that reaches the event log and the session list from a login, made json::dump() throw on the
// console's thread, which ended the daemon. They are answered, with U+FFFD in their place.
TEST_F(RouterTest, BytesThatAreNotUtf8AreAnsweredAsJson) {
    const Router r(model, AccessPolicy{test_token, false, {"192.0.2.1:8080"}}, "");
    const std::string api_path = std::string("/api/\x8d") + "1/faults";
    for (const std::string& path : {api_path, std::string("/no-such-\xff-page")}) {
        HttpResponse answer;
        ASSERT_NO_THROW(answer = get(r, path, std::string("Bearer ") + test_token)) << path;
        EXPECT_EQ(answer.status, 404U) << path;
        EXPECT_TRUE(nlohmann::json::accept(answer.body)) << answer.body;
    }
    events.add("login", "iqn.2026-11.org.atsarray:\xc3\x28 logged in");
    HttpResponse listed;
    ASSERT_NO_THROW(listed = get(r, "/api/v1/events", std::string("Bearer ") + test_token));
    EXPECT_EQ(listed.status, 200U);
    EXPECT_NE(nlohmann::json::parse(listed.body).dump().find("\xef\xbf\xbd("), std::string::npos)
        << listed.body;
}

// Captures through the API: each refusal names its field, the bounds hold, and a capture's
// life (start, list, stop, export, delete) reads back what the registry keeps.
TEST_F(RouterTest, CapturesAreStartedStoppedExportedAndDeleted) {
    const Router r(model, AccessPolicy{test_token, true, {"127.0.0.1:8080"}}, "");
    EXPECT_EQ(send(r, "GET", "/api/v1/captures").status, 501U);  // this model keeps none
    forensics::Captures captures(2);
    model.captures = &captures;
    iscsi::TargetNode node;
    node.info.name = "iqn.2026-12.org.atsarray:cap";
    node.device = std::make_shared<scsi::TargetDevice>();
    state.targets.add(std::move(node));

    const auto refusal = [&](const std::string& body) {
        const HttpResponse a = send(r, "POST", "/api/v1/captures", body);
        return std::to_string(a.status) + " " +
               nlohmann::json::parse(a.body)["error"]["message"].get<std::string>();
    };
    EXPECT_EQ(refusal("[1]").substr(0, 3), "400");
    EXPECT_EQ(refusal(R"({"lun": 0})").substr(0, 11), "400 target:");
    EXPECT_EQ(refusal(R"({"target": "iqn.nope"})"), "404 unknown target iqn.nope");
    EXPECT_EQ(refusal(R"({"target": "iqn.2026-12.org.atsarray:cap", "lun": 3})").substr(0, 15),
              "404 unknown LUN");
    EXPECT_EQ(
        refusal(R"({"target": "iqn.2026-12.org.atsarray:cap", "max_mib": 4096})").substr(0, 12),
        "400 max_mib:");
    EXPECT_EQ(
        refusal(R"({"target": "iqn.2026-12.org.atsarray:cap", "max_commands": -1})").substr(0, 17),
        "400 max_commands:");
    EXPECT_EQ(
        refusal(R"({"target": "iqn.2026-12.org.atsarray:cap", "maxcommands": 5})").substr(0, 31),
        "400 unknown field \"maxcommands\"");

    HttpRequest no_token;
    no_token.method = "POST";
    no_token.target = "/api/v1/captures";
    no_token.body = R"({"target": "iqn.2026-12.org.atsarray:cap"})";
    EXPECT_EQ(r.handle(no_token).status, 401U);

    const std::string body = R"({"target": "iqn.2026-12.org.atsarray:cap", "max_seconds": 30})";
    const HttpResponse started = send(r, "POST", "/api/v1/captures", body);
    ASSERT_EQ(started.status, 201U) << started.body;
    const auto info = nlohmann::json::parse(started.body);
    const std::string id = info["id"];
    EXPECT_TRUE(info["running"].get<bool>());
    EXPECT_EQ(info["max_seconds"], 30);
    EXPECT_TRUE(info["lun"].is_null());
    EXPECT_TRUE(captures.active());
    ASSERT_EQ(send(r, "POST", "/api/v1/captures", body).status, 201U);
    EXPECT_EQ(send(r, "POST", "/api/v1/captures", body).status, 409U);  // two kept already
    EXPECT_EQ(nlohmann::json::parse(send(r, "GET", "/api/v1/captures").body)["captures"].size(),
              2U);

    const std::string path = "/api/v1/captures/" + id;
    const HttpResponse stopped = send(r, "POST", path + "/stop");
    ASSERT_EQ(stopped.status, 200U);
    EXPECT_EQ(nlohmann::json::parse(stopped.body)["stop_reason"], "stopped");
    EXPECT_EQ(send(r, "GET", path + "/trace?format=xml").status, 400U);
    EXPECT_EQ(send(r, "GET", path + "/trace?from_us=soon").status, 400U);
    const HttpResponse json_trace = send(r, "GET", path + "/trace");
    ASSERT_EQ(json_trace.status, 200U);
    EXPECT_EQ(nlohmann::json::parse(json_trace.body)["format"], "atsarray-trace");
    const HttpResponse pcapng = send(r, "GET", path + "/trace?format=pcapng");
    ASSERT_EQ(pcapng.status, 200U);
    EXPECT_EQ(pcapng.content_type, "application/x-pcapng");
    EXPECT_EQ(pcapng.body.substr(0, 4), std::string("\x0a\x0d\x0d\x0a", 4));  // Section Header
    EXPECT_EQ(send(r, "PUT", path).status, 405U);
    EXPECT_EQ(send(r, "DELETE", path).status, 204U);
    EXPECT_EQ(send(r, "GET", path).status, 404U);
    EXPECT_EQ(send(r, "GET", path + "/trace").status, 404U);
    EXPECT_EQ(send(r, "POST", "/api/v1/captures", body).status, 201U);  // room again
}

}  // namespace
}  // namespace atsarray::webui

namespace atsarray::webui {
namespace {

TEST(MetricsTest, RefusedConnectionsAndFailedAcceptsAreCounted) {
    iscsi::ServerState state;
    ats::Registry registry;
    ats::EventLog events;
    ConsoleModel model{state, registry, events};
    state.connection_limits.set_limits(100, 1);
    const auto admitted = state.connection_limits.admit("192.0.2.1:3260", "198.51.100.7");
    const auto refused = state.connection_limits.admit("192.0.2.1:3260", "198.51.100.7");
    ASSERT_TRUE(refused.refused());
    state.failed_accepts = 3;
    const Router r(model, AccessPolicy{test_token, true, {"127.0.0.1:8080"}}, "");
    HttpRequest req;
    req.method = "GET";
    req.target = "/metrics";
    req.host = "127.0.0.1:8080";
    const HttpResponse res = r.handle(req);
    ASSERT_EQ(res.status, 200U);
    EXPECT_NE(res.body.find("atsarray_connections_refused_total{limit=\"initiator\"} 1\n"),
              std::string::npos)
        << res.body;
    EXPECT_NE(res.body.find("atsarray_connections_refused_total{limit=\"portal\"} 0\n"),
              std::string::npos);
    EXPECT_NE(res.body.find("atsarray_accept_failures_total 3\n"), std::string::npos);
}

}  // namespace
}  // namespace atsarray::webui
