// The live configuration (issue 19) on the real daemon: a LUN added through the API while a
// libiscsi session runs I/O on another, announced once (REPORTED LUNS DATA HAS CHANGED), serving
// I/O at once, kept by `config save` across a restart; grow and remove with sessions logged in;
// refused changes that change nothing.
#include <gtest/gtest.h>

extern "C" {
#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>
}

#include <atomic>
#include <filesystem>
#include <functional>
#include <memory>
#include <random>
#include <thread>
#include <vector>

#include "tests/integration/daemon_process.hpp"
#include "tests/integration/http_client.hpp"
#include "tools/libiscsi_handles.hpp"

namespace atsarray::testing {
namespace {

using initiator::Context;
using initiator::create_context;
using initiator::Task;
using nlohmann::json;

constexpr const char* target_name = "iqn.2026-11.org.atsarray:live";
constexpr const char* initiator = "iqn.2026-11.org.atsarray:live-initiator";
constexpr const char* token = "live-config-token-0123456789";
constexpr uint32_t block_size = 512;
constexpr int reported_luns_changed = 0x3f0e;  // ASC/ASCQ 3F/0E (SPC-4 §6.33)

std::string config(uint16_t console_port) {
    return "[console]\nport = " + std::to_string(console_port) + "\ntoken = \"" + token +
           "\"\n[[target]]\nname = \"" + target_name +
           "\"\n[[target.lun]]\nid = 0\nbackend = \"file\"\npath = \"lun0.img\"\n"
           "size = \"4MiB\"\n";
}

Context login(const DaemonProcess& d) {
    Context ctx = create_context(initiator);
    iscsi_set_targetname(ctx.get(), target_name);
    iscsi_set_session_type(ctx.get(), ISCSI_SESSION_NORMAL);
    iscsi_set_noautoreconnect(ctx.get(), 1);
    iscsi_set_timeout(ctx.get(), 10);
    if (iscsi_full_connect_sync(ctx.get(), d.portal().c_str(), 0) != 0) {
        ADD_FAILURE() << iscsi_get_error(ctx.get()) << "\n" << d.log();
        return nullptr;
    }
    return ctx;
}

std::vector<uint8_t> pattern(size_t n, uint32_t seed) {
    std::vector<uint8_t> v(n);
    std::mt19937 rng(seed);
    for (auto& b : v) {
        b = static_cast<uint8_t>(rng());
    }
    return v;
}

// What an initiator does with a unit attention: it notes it and sends the command again, once.
struct Outcomes {
    int reported_luns_changed = 0;
    int capacity_changed = 0;
    int other_unit_attentions = 0;
    int failures = 0;
    std::string last_failure;
};

Task with_retry(iscsi_context* ctx, const std::function<scsi_task*()>& issue, Outcomes& o) {
    for (int attempt = 0; attempt < 2; ++attempt) {
        Task t(issue());
        if (t != nullptr && t->status == SCSI_STATUS_CHECK_CONDITION &&
            t->sense.key == SCSI_SENSE_UNIT_ATTENTION && attempt == 0) {
            if (t->sense.ascq == reported_luns_changed) {
                ++o.reported_luns_changed;
            } else if (t->sense.ascq == SCSI_SENSE_ASCQ_CAPACITY_DATA_HAS_CHANGED) {
                ++o.capacity_changed;
            } else {
                ++o.other_unit_attentions;
            }
            continue;
        }
        if (t == nullptr || t->status != SCSI_STATUS_GOOD) {
            ++o.failures;
            o.last_failure = t == nullptr ? iscsi_get_error(ctx)
                                          : "status " + std::to_string(t->status) + " sense " +
                                                std::to_string(t->sense.key) + "/" +
                                                std::to_string(t->sense.ascq);
            return nullptr;
        }
        return t;
    }
    return nullptr;
}

bool write_read(iscsi_context* ctx, int lun, uint64_t lba, uint32_t seed, Outcomes& o) {
    auto data = pattern(8 * block_size, seed);
    if (!with_retry(
            ctx,
            [&] {
                return iscsi_write16_sync(ctx, lun, lba, data.data(),
                                          static_cast<uint32_t>(data.size()), block_size, 0, 0, 0,
                                          0, 0);
            },
            o)) {
        return false;
    }
    Task r = with_retry(
        ctx,
        [&] { return iscsi_read16_sync(ctx, lun, lba, 8 * block_size, block_size, 0, 0, 0, 0, 0); },
        o);
    if (!r || std::vector<uint8_t>(r->datain.data, r->datain.data + r->datain.size) != data) {
        ++o.failures;
        o.last_failure = "read back differs on lun " + std::to_string(lun);
        return false;
    }
    return true;
}

std::vector<uint16_t> report_luns(iscsi_context* ctx, Outcomes& o) {
    Task t = with_retry(
        ctx, [&] { return iscsi_reportluns_sync(ctx, 0, 4096); }, o);
    std::vector<uint16_t> ids;
    if (!t) {
        return ids;
    }
    const auto* list = static_cast<scsi_reportluns_list*>(scsi_datain_unmarshall(t.get()));
    for (uint32_t i = 0; list != nullptr && i < list->num; ++i) {
        ids.push_back(list->luns[i]);
    }
    return ids;
}

class LiveConfigTest : public ::testing::Test {
  protected:
    void SetUp() override {
        console_port_ = free_port();
        daemon_ = std::make_unique<DaemonProcess>(config(console_port_));
    }
    HttpAnswer call(const std::string& method, const std::string& path,
                    const std::string& body = "") {
        return http_call(console_port_, method, path, token, body);
    }
    std::string lun_body(int id, const std::string& image, const std::string& extra = "") {
        return R"({"id": )" + std::to_string(id) + R"(, "backend": "file", "path": ")" + image +
               R"(", "size": "1MiB")" + extra + "}";
    }

    uint16_t console_port_ = 0;
    std::unique_ptr<DaemonProcess> daemon_;
};

TEST_F(LiveConfigTest, LunAddedWhileIoRunsIsAnnouncedOnceServesAndSurvivesARestart) {
    Context ctx = login(*daemon_);
    ASSERT_NE(ctx, nullptr);
    Outcomes io;
    std::atomic<bool> stop{false};
    std::atomic<int> rounds{0};
    std::thread runner([&] {
        uint32_t seed = 1;
        while (!stop.load() && io.failures == 0) {
            write_read(ctx.get(), 0, (seed * 64) % 8000, seed, io);
            ++seed;
            ++rounds;
        }
    });
    while (rounds.load() < 20) {
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    const HttpAnswer added = call("POST", std::string("/api/v1/targets/") + target_name + "/luns",
                                  lun_body(1, "lun1.img"));
    ASSERT_EQ(added.status, 201U) << added.body.dump() << daemon_->log();
    EXPECT_EQ(added.body["id"], 1);
    const int after_add = rounds.load();
    while (rounds.load() < after_add + 20) {
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    stop.store(true);
    runner.join();
    EXPECT_EQ(io.failures, 0) << io.last_failure;
    EXPECT_EQ(io.reported_luns_changed, 1);
    EXPECT_EQ(io.other_unit_attentions, 0);

    // The new LUN: listed, and it serves I/O (it has no unit attention of its own).
    Outcomes check;
    EXPECT_EQ(report_luns(ctx.get(), check), (std::vector<uint16_t>{0, 1}));
    EXPECT_TRUE(write_read(ctx.get(), 1, 100, 4242, check)) << check.last_failure;
    EXPECT_EQ(check.reported_luns_changed + check.other_unit_attentions, 0);

    // ATS accounting counts it (COMPARE AND WRITE of one block, SBC-4 §5.3).
    ASSERT_TRUE(write_read(ctx.get(), 1, 300, 77, check)) << check.last_failure;
    std::vector<uint8_t> ats = pattern(8 * block_size, 77);
    ats.resize(block_size);
    const auto replacement = pattern(block_size, 78);
    ats.insert(ats.end(), replacement.begin(), replacement.end());
    Task cw = with_retry(
        ctx.get(),
        [&] {
            return iscsi_compareandwrite_sync(ctx.get(), 1, 300, ats.data(),
                                              static_cast<uint32_t>(ats.size()), block_size, 0, 0,
                                              0, 0, 0);
        },
        check);
    ASSERT_NE(cw, nullptr) << check.last_failure;
    const HttpAnswer counters = call("GET", "/api/v1/ats");
    bool counted = false;
    for (const json& l : counters.body["luns"]) {
        counted = counted || (l["lun"] == 1 && l["successes"] == 1);
    }
    EXPECT_TRUE(counted) << counters.body.dump();

    // The console sees it; the change is an event of kind "config".
    EXPECT_EQ(call("GET", std::string("/api/v1/targets/") + target_name + "/luns/1").status, 200U);
    bool event = false;
    const HttpAnswer events = call("GET", "/api/v1/events");
    for (const json& e : events.body["events"]) {
        event = event || (e["kind"] == "config" &&
                          e["message"].get<std::string>().find("lun 1 added") != std::string::npos);
    }
    EXPECT_TRUE(event);

    const HttpAnswer saved = call("POST", "/api/v1/config/save");
    ASSERT_EQ(saved.status, 200U) << saved.body.dump();
    EXPECT_EQ(saved.body["path"], (daemon_->dir() / "atsarray.toml").string());
    EXPECT_GT(saved.body["bytes"].get<uint64_t>(), 0U);
    EXPECT_TRUE(std::filesystem::exists(daemon_->dir() / "atsarray.toml.bak"));
    EXPECT_EQ(iscsi_logout_sync(ctx.get()), 0);
    ctx.reset();

    // A restart reads the saved file: LUN 1 is there with its data.
    EXPECT_EQ(daemon_->stop(), 0);
    daemon_->start();
    Context again = login(*daemon_);
    ASSERT_NE(again, nullptr);
    Outcomes after;
    EXPECT_EQ(report_luns(again.get(), after), (std::vector<uint16_t>{0, 1}));
    Task r = with_retry(
        again.get(),
        [&] {
            return iscsi_read16_sync(again.get(), 1, 100, 8 * block_size, block_size, 0, 0, 0, 0,
                                     0);
        },
        after);
    ASSERT_NE(r, nullptr) << after.last_failure;
    EXPECT_EQ(std::vector<uint8_t>(r->datain.data, r->datain.data + r->datain.size),
              pattern(8 * block_size, 4242));
    EXPECT_EQ(iscsi_logout_sync(again.get()), 0);
}

TEST_F(LiveConfigTest, RefusedChangesChangeNothingGrowAndRemoveWithASession) {
    Context ctx = login(*daemon_);
    ASSERT_NE(ctx, nullptr);
    const std::string luns = std::string("/api/v1/targets/") + target_name + "/luns";
    const json before = call("GET", "/api/v1/targets").body;

    const HttpAnswer bad = call("POST", luns, lun_body(2, "lun2.img", R"(, "block_size": 1000)"));
    EXPECT_EQ(bad.status, 400U);
    EXPECT_EQ(bad.body["error"]["message"].get<std::string>().rfind("lun.block_size: must be", 0),
              0U)
        << bad.body.dump();
    EXPECT_FALSE(std::filesystem::exists(daemon_->dir() / "lun2.img"));
    EXPECT_EQ(call("POST", luns, lun_body(0, "other.img")).status, 409U);
    EXPECT_EQ(
        call("POST", "/api/v1/targets/iqn.2026-11.org.atsarray:nope/luns", lun_body(2, "lun2.img"))
            .status,
        404U);
    EXPECT_EQ(call("PATCH", luns + "/0", R"({"size": "1MiB"})").status, 409U);
    EXPECT_EQ(call("PATCH", luns + "/7", R"({"size": "8MiB"})").status, 404U);
    EXPECT_EQ(call("DELETE", luns + "/0").status, 409U);
    EXPECT_EQ(call("GET", "/api/v1/targets").body, before);

    // Grow: CAPACITY DATA HAS CHANGED for the session, the new size in READ CAPACITY.
    ASSERT_EQ(call("PATCH", luns + "/0", R"({"size": "8MiB"})").status, 200U);
    Outcomes o;
    Task cap = with_retry(
        ctx.get(), [&] { return iscsi_readcapacity16_sync(ctx.get(), 0); }, o);
    ASSERT_NE(cap, nullptr) << o.last_failure;
    EXPECT_EQ(o.capacity_changed, 1);
    const auto* rc16 = static_cast<scsi_readcapacity16*>(scsi_datain_unmarshall(cap.get()));
    ASSERT_NE(rc16, nullptr);
    EXPECT_EQ(rc16->returned_lba + 1, 8ULL * 1024 * 1024 / block_size);

    // Remove with the session logged in: only with force; later commands to it are refused.
    ASSERT_EQ(call("POST", luns, lun_body(3, "lun3.img")).status, 201U);
    const HttpAnswer refused = call("DELETE", luns + "/3");
    EXPECT_EQ(refused.status, 409U);
    EXPECT_NE(refused.body["error"]["message"].get<std::string>().find("force=true"),
              std::string::npos);
    const HttpAnswer removed = call("DELETE", luns + "/3?force=true");
    ASSERT_EQ(removed.status, 200U) << removed.body.dump();
    EXPECT_EQ(removed.body["sessions"], 1);
    Task gone(iscsi_testunitready_sync(ctx.get(), 3));
    ASSERT_NE(gone, nullptr);
    EXPECT_EQ(gone->status, SCSI_STATUS_CHECK_CONDITION);
    EXPECT_EQ(gone->sense.ascq, SCSI_SENSE_ASCQ_LOGICAL_UNIT_NOT_SUPPORTED);
    EXPECT_TRUE(std::filesystem::exists(daemon_->dir() / "lun3.img"));  // the data stays
    EXPECT_EQ(iscsi_logout_sync(ctx.get()), 0);
}

// Logs in to `target` through `portal` as `name`; nullptr when refused.
Context login_as(const std::string& portal, const std::string& target, const std::string& name,
                 const char* chap_user = nullptr, const char* chap_secret = nullptr) {
    Context ctx = create_context(name);
    iscsi_set_targetname(ctx.get(), target.c_str());
    iscsi_set_session_type(ctx.get(), ISCSI_SESSION_NORMAL);
    iscsi_set_noautoreconnect(ctx.get(), 1);
    iscsi_set_timeout(ctx.get(), 10);
    if (chap_user != nullptr) {
        iscsi_set_initiator_username_pwd(ctx.get(), chap_user, chap_secret);
    }
    if (iscsi_full_connect_sync(ctx.get(), portal.c_str(), 0) != 0) {
        return nullptr;
    }
    return ctx;
}

TEST_F(LiveConfigTest, TargetsAclAndChapChangeForNewLogins) {
    const std::string second = "iqn.2026-11.org.atsarray:second";
    const std::string other = "iqn.2026-11.org.atsarray:other-initiator";
    const HttpAnswer added =
        call("POST", "/api/v1/targets",
             R"({"name": ")" + second + R"(", "allowed_initiators": [")" + initiator +
                 R"("], "luns": [{"id": 0, "backend": "memory", "size": "1MiB"}]})");
    ASSERT_EQ(added.status, 201U) << added.body.dump();
    EXPECT_EQ(added.body["name"], second);
    EXPECT_EQ(added.body["luns"].size(), 1U);
    EXPECT_EQ(
        call("POST", "/api/v1/targets", R"({"name": ")" + second + R"(", "luns": []})").status,
        409U);
    const HttpAnswer no_luns =
        call("POST", "/api/v1/targets", R"({"name": "iqn.2026-11.org.atsarray:third"})");
    EXPECT_EQ(no_luns.status, 400U);
    EXPECT_EQ(no_luns.body["error"]["message"].get<std::string>().rfind("luns: ", 0), 0U)
        << no_luns.body.dump();

    // The ACL: the listed initiator only; another one once added; its session stays after.
    Context first = login_as(daemon_->portal(), second, initiator);
    ASSERT_NE(first, nullptr) << daemon_->log();
    EXPECT_EQ(login_as(daemon_->portal(), second, other), nullptr);
    const HttpAnswer acl =
        call("POST", "/api/v1/targets/" + second + "/acl", R"({"initiator": ")" + other + R"("})");
    ASSERT_EQ(acl.status, 201U) << acl.body.dump();
    EXPECT_EQ(acl.body["allowed_initiators"].size(), 2U);
    EXPECT_EQ(
        call("POST", "/api/v1/targets/" + second + "/acl", R"({"initiator": ")" + other + R"("})")
            .status,
        409U);
    Context other_session = login_as(daemon_->portal(), second, other);
    ASSERT_NE(other_session, nullptr);
    const HttpAnswer removed = call("DELETE", "/api/v1/targets/" + second + "/acl/" + other);
    ASSERT_EQ(removed.status, 200U) << removed.body.dump();
    EXPECT_EQ(call("DELETE", "/api/v1/targets/" + second + "/acl/" + other).status, 404U);
    Task still(iscsi_testunitready_sync(other_session.get(), 0));
    ASSERT_NE(still, nullptr);
    EXPECT_EQ(still->status, SCSI_STATUS_GOOD);
    EXPECT_EQ(login_as(daemon_->portal(), second, other), nullptr);

    // CHAP: validated as the file's [target.chap]; new logins must authenticate.
    const std::string chap = "/api/v1/targets/" + second + "/chap";
    const HttpAnswer short_secret = call("PUT", chap, R"({"chap": {"user": "u", "secret": "x"}})");
    EXPECT_EQ(short_secret.status, 400U);
    EXPECT_EQ(short_secret.body["error"]["message"].get<std::string>().rfind("chap.secret: ", 0),
              0U)
        << short_secret.body.dump();
    const HttpAnswer set =
        call("PUT", chap, R"({"chap": {"user": "esx", "secret": "a-long-secret-1"}})");
    ASSERT_EQ(set.status, 200U) << set.body.dump();
    EXPECT_EQ(set.body["chap_user"], "esx");
    EXPECT_EQ(set.body.dump().find("a-long-secret-1"), std::string::npos);
    EXPECT_EQ(login_as(daemon_->portal(), second, initiator), nullptr);
    EXPECT_NE(login_as(daemon_->portal(), second, initiator, "esx", "a-long-secret-1"), nullptr);

    // Removal: refused while sessions are logged in, then with force they are logged out.
    EXPECT_EQ(call("DELETE", "/api/v1/targets/" + second).status, 409U);
    const HttpAnswer gone = call("DELETE", "/api/v1/targets/" + second + "?force=true");
    ASSERT_EQ(gone.status, 200U) << gone.body.dump();
    EXPECT_GE(gone.body["sessions_closed"].get<int>(), 2);
    EXPECT_EQ(call("GET", "/api/v1/targets/" + second + "/acl").status, 404U);
    EXPECT_EQ(login_as(daemon_->portal(), second, initiator, "esx", "a-long-secret-1"), nullptr);
    EXPECT_EQ(call("GET", "/api/v1/targets").body.size(), 1U);
}

TEST_F(LiveConfigTest, PortalsAddedAndRemoved) {
    const uint16_t port = free_port();
    const std::string address = "127.0.0.1:" + std::to_string(port);
    const std::string body = R"({"address": "127.0.0.1", "port": )" + std::to_string(port) + "}";
    const HttpAnswer added = call("POST", "/api/v1/portals", body);
    ASSERT_EQ(added.status, 201U) << added.body.dump() << daemon_->log();
    EXPECT_EQ(added.body["address"], address);
    EXPECT_EQ(call("POST", "/api/v1/portals", body).status, 409U);
    EXPECT_EQ(call("POST", "/api/v1/portals", R"({"address": "no-ip", "port": 3260})").status,
              400U);
    EXPECT_EQ(call("GET", "/api/v1/portals").body.size(), 2U);
    Context ctx = login_as(address, target_name, initiator);
    ASSERT_NE(ctx, nullptr);
    EXPECT_EQ(call("DELETE", "/api/v1/portals/" + address).status, 409U);
    const HttpAnswer removed = call("DELETE", "/api/v1/portals/" + address + "?force=true");
    ASSERT_EQ(removed.status, 200U) << removed.body.dump();
    EXPECT_EQ(removed.body["sessions_closed"], 1);
    EXPECT_FALSE(can_connect(port));
    EXPECT_EQ(call("GET", "/api/v1/portals").body.size(), 1U);
    EXPECT_EQ(call("DELETE", "/api/v1/portals/" + address).status, 404U);
    EXPECT_EQ(call("DELETE", "/api/v1/portals/" + daemon_->portal()).status, 409U);  // the last
}

}  // namespace
}  // namespace atsarray::testing
