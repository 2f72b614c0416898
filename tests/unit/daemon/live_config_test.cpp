// The live configuration (target/daemon/live_config, issue 19) without sockets: changes validated
// by the config file's parser with its messages, refused changes that change nothing (the running
// configuration's text, the targets, the events), and what succeeds written back.

#include "target/daemon/live_config.hpp"

#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>
#include <unistd.h>

#include "target/iscsi/server_state.hpp"
#include "target/scsi/target_device.hpp"

namespace atsarray::daemon {
namespace {

using nlohmann::json;

constexpr const char* target = "iqn.2026-11.org.atsarray:unit";

class LiveConfigUnit : public ::testing::Test {
  protected:
    void SetUp() override {
        dir = std::filesystem::temp_directory_path() /
              ("atsarray-live-" + std::to_string(::getpid()) + "-" +
               ::testing::UnitTest::GetInstance()->current_test_info()->name());
        std::filesystem::create_directories(dir);
        const auto file = dir / "atsarray.toml";
        std::ofstream(file) << "[[target]]\nname = \"" << target
                            << "\"\n[[target.lun]]\nid = 0\nbackend = \"memory\"\n"
                               "size = \"1MiB\"\n";
        config = load_config(file.string());
        auto device = std::make_shared<scsi::TargetDevice>();
        for (const LunConfig& lc : config.targets[0].luns) {
            device->add_lun(lc.id, factory.make(config.targets[0], lc, nullptr), false);
        }
        iscsi::TargetNode node;
        node.info.name = target;
        node.device = device;
        state.targets.add(std::move(node));
        live =
            std::make_unique<LiveConfig>(LiveConfig::Context{config, state, factory, luns, events});
    }
    void TearDown() override {
        live.reset();
        std::filesystem::remove_all(dir);
    }

    // The answer's status, and nothing changed when it is a refusal.
    unsigned refused(const webui::ConfigAnswer& a, const std::string& before) {
        EXPECT_EQ(live->running_config(), before) << a.message;
        EXPECT_EQ(events->last_seq(), 0U) << a.message;
        EXPECT_EQ(state.targets.node(target)->device->lun_ids(), (std::vector<uint64_t>{0}));
        return a.status;
    }

    std::filesystem::path dir;
    DaemonConfig config;
    iscsi::ServerState state;
    LunFactory factory{config, {}, {}, nullptr};
    LunList luns;
    std::shared_ptr<ats::EventLog> events = std::make_shared<ats::EventLog>();
    std::unique_ptr<LiveConfig> live;
    scsi::Nexus nexus{7, "iqn.2026-11.org.atsarray:host", "iqn.2026-11.org.atsarray:host,i,0x1",
                      "127.0.0.1:1", 1};
};

TEST_F(LiveConfigUnit, RefusedChangesChangeNothing) {
    const std::string before = live->running_config();
    const auto bad = live->add_lun(
        target, json{{"id", 1}, {"backend", "memory"}, {"size", "1MiB"}, {"block_size", 1000}});
    EXPECT_EQ(refused(bad, before), 400U);
    EXPECT_EQ(bad.message, "lun.block_size: must be 512 or 4096, got 1000");
    const auto unknown_key =
        live->add_lun(target, json{{"id", 1}, {"backend", "memory"}, {"size", 1}, {"colour", 1}});
    EXPECT_EQ(refused(unknown_key, before), 400U);
    EXPECT_EQ(unknown_key.message.rfind("lun.colour: unknown key", 0), 0U) << unknown_key.message;
    EXPECT_EQ(refused(live->add_lun(target, json{{"id", 1}, {"backend", "memory"}}), before), 400U);
    EXPECT_EQ(refused(live->add_lun(target, json{{"id", 1}, {"size", nullptr}}), before), 400U);
    EXPECT_EQ(
        refused(live->add_lun(target, json{{"id", 0}, {"backend", "memory"}, {"size", "1MiB"}}),
                before),
        409U);
    EXPECT_EQ(refused(live->add_lun("iqn.2026-11.org.atsarray:none",
                                    json{{"id", 1}, {"backend", "memory"}, {"size", "1MiB"}}),
                      before),
              404U);
    const auto shrink = live->grow_lun(target, 0, json{{"size", "512KiB"}});
    EXPECT_EQ(refused(shrink, before), 409U);
    EXPECT_NE(shrink.message.find("would discard data"), std::string::npos);
    EXPECT_EQ(refused(live->grow_lun(target, 0, json{{"size", 1000}}), before), 400U);
    EXPECT_EQ(refused(live->grow_lun(target, 3, json{{"size", "2MiB"}}), before), 404U);
    // The target's last LUN: the file's rule (at least one [[target.lun]]).
    EXPECT_EQ(refused(live->remove_lun(target, 0, true), before), 409U);
    state.targets.node(target)->device->nexus_added(nexus);
    ASSERT_EQ(
        live->add_lun(target, json{{"id", 1}, {"backend", "memory"}, {"size", "1MiB"}}).status,
        201U);
    const std::string with_two = live->running_config();
    const uint64_t seq = events->last_seq();
    const auto busy = live->remove_lun(target, 1, false);
    EXPECT_EQ(busy.status, 409U);
    EXPECT_NE(busy.message.find("?force=true"), std::string::npos);
    EXPECT_EQ(live->running_config(), with_two);
    EXPECT_EQ(events->last_seq(), seq);
    EXPECT_EQ(live->add_target(json{{"name", target}, {"luns", json::array()}}).status, 409U);
    const auto bad_initiator = live->add_initiator(target, json{{"initiator", "not an iqn"}});
    EXPECT_EQ(bad_initiator.status, 400U);
    EXPECT_EQ(bad_initiator.message.rfind("initiator: ", 0), 0U) << bad_initiator.message;
    const auto short_secret =
        live->set_chap(target, json{{"chap", {{"user", "u"}, {"secret", "short"}}}});
    EXPECT_EQ(short_secret.status, 400U);
    EXPECT_EQ(short_secret.message.rfind("chap.secret: must be 12 to 255 bytes", 0), 0U)
        << short_secret.message;
    EXPECT_EQ(live->running_config(), with_two);
    EXPECT_EQ(events->last_seq(), seq);
}

TEST_F(LiveConfigUnit, ChangesAreEventsAndTheRunningConfigurationReadsBack) {
    ASSERT_EQ(
        live->add_lun(target,
                      json{{"id", 4}, {"backend", "file"}, {"path", "four.img"}, {"size", "1MiB"}})
            .status,
        201U);
    EXPECT_TRUE(std::filesystem::exists(dir / "four.img"));  // relative to the config's folder
    ASSERT_EQ(live->grow_lun(target, 4, json{{"size", "2MiB"}}).status, 200U);
    EXPECT_EQ(state.targets.node(target)->device->lun(4)->settings().block_count, 4096U);
    ASSERT_EQ(
        live->add_initiator(target, json{{"initiator", "iqn.1998-01.com.vmware:esx1"}}).status,
        201U);
    ASSERT_EQ(live->set_chap(target, json{{"chap", {{"user", "esx"}, {"secret", "a-long-secret"}}}})
                  .status,
              200U);
    EXPECT_EQ(state.targets.find(target)->chap->user, "esx");
    EXPECT_EQ(state.targets.find(target)->allowed_initiators,
              (std::vector<std::string>{"iqn.1998-01.com.vmware:esx1"}));
    const std::string text = live->running_config();
    const DaemonConfig again = parse_config(text, "again.toml", "/");
    ASSERT_EQ(again.targets[0].luns.size(), 2U);
    EXPECT_EQ(again.targets[0].luns[1].path, (dir / "four.img").string());
    EXPECT_EQ(again.targets[0].luns[1].size_bytes, 2U << 20);
    ASSERT_TRUE(again.targets[0].chap);
    EXPECT_EQ(again.targets[0].chap->secret, "a-long-secret");
    const auto saved = live->save();
    ASSERT_EQ(saved.status, 200U) << saved.message;
    EXPECT_EQ(load_config((dir / "atsarray.toml").string()).targets[0].luns.size(), 2U);
    EXPECT_TRUE(std::filesystem::exists(dir / "atsarray.toml.bak"));
    const auto removed = live->remove_lun(target, 4, false);
    ASSERT_EQ(removed.status, 200U) << removed.message;
    size_t config_events = 0;
    for (const ats::Event& e : events->since(0, 100)) {
        config_events += e.kind == "config" ? 1 : 0;
    }
    EXPECT_EQ(config_events, 6U);  // add, grow, acl, chap, save, remove
}

// `config save` writes the fault rules as they are now: one added through the API (the engine),
// one disabled there, none of those the daemon started with that were removed.
TEST_F(LiveConfigUnit, SavedConfigurationHoldsTheFaultRulesOfNow) {
    auto engine = std::make_shared<fault::Engine>();
    fault::RuleSpec slow;
    slow.name = "slow-heartbeats";
    slow.action = fault::Action::delay;
    slow.delay_ms = 900;
    fault::RuleSpec gone = slow;
    gone.name = "removed-rule";
    std::string error;
    const uint64_t slow_id = engine->add(slow, error);
    const uint64_t gone_id = engine->add(gone, error);
    ASSERT_TRUE(error.empty()) << error;
    config.fault.enabled = true;
    config.fault.rules = {slow, gone};
    fault::RuleSpec busy;
    busy.name = "busy-array";
    busy.action = fault::Action::status;
    ASSERT_NE(engine->add(busy, error), 0U) << error;
    ASSERT_TRUE(engine->set_enabled(slow_id, false));
    ASSERT_TRUE(engine->remove(gone_id));
    live = std::make_unique<LiveConfig>(
        LiveConfig::Context{config, state, factory, luns, events, engine});
    ASSERT_EQ(live->save().status, 200U);
    const DaemonConfig saved = load_config((dir / "atsarray.toml").string());
    ASSERT_TRUE(saved.fault.enabled);
    ASSERT_EQ(saved.fault.rules.size(), 2U);
    EXPECT_EQ(saved.fault.rules[0].name, "slow-heartbeats");
    EXPECT_FALSE(saved.fault.rules[0].enabled);
    EXPECT_EQ(saved.fault.rules[0].delay_ms, 900U);
    EXPECT_EQ(saved.fault.rules[1].name, "busy-array");
    EXPECT_EQ(saved.fault.rules[1].action, fault::Action::status);
}

TEST(JsonToTomlTest, ValuesTheFileCannotHoldAreNamed) {
    toml::table out;
    std::string error;
    EXPECT_FALSE(json_to_toml(json{{"a", nullptr}}, "", out, "lun", error));
    EXPECT_EQ(error, "lun.a: null is not a value (leave the key out)");
    EXPECT_FALSE(json_to_toml(json(18446744073709551615ULL), "lun", out, "size", error));
    EXPECT_EQ(error, "lun.size: 18446744073709551615 is too large");
    ASSERT_TRUE(
        json_to_toml(json{{"list", {"a", "b"}}, {"n", 3}, {"f", 0.5}}, "", out, "x", error));
    EXPECT_EQ(out["x"]["list"][1].value<std::string>(), "b");
    EXPECT_EQ(out["x"]["n"].value<int64_t>(), 3);
}

}  // namespace
}  // namespace atsarray::daemon
