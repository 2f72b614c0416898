// [[target_port_group]] and [alua]: the array's controllers and how their ALUA states behave.

#include <string>

#include <gtest/gtest.h>

#include "target/daemon/config.hpp"
#include "tests/unit/daemon/config_test_support.hpp"

namespace atsarray::daemon {
namespace {

const std::string two_portals =
    "[[portal]]\nport = 3260\n[[portal]]\naddress = \"127.0.0.1\"\nport = 3261\n";

std::string group(int id, const std::string& portals, const std::string& extra = "") {
    return "[[target_port_group]]\nid = " + std::to_string(id) + "\nportals = " + portals + "\n" +
           extra;
}

TEST(ConfigAluaTest, TwoControllers) {
    const DaemonConfig c = parse(
        two_portals +
        group(1, "[\"0.0.0.0:3260\"]", "name = \"controller-a\"\npreferred = true\n") +
        group(7, "[\"127.0.0.1:3261\"]", "state = \"standby\"\n") +
        "[alua]\nexplicit = false\ntransition_time_ms = 2500\nimplicit_transition_time_s = 10\n"
        "non_optimized_delay_ms = 3\n" +
        minimal);
    ASSERT_EQ(c.port_groups.size(), 2u);
    EXPECT_EQ(c.port_groups[0].id, 1);
    EXPECT_EQ(c.port_groups[0].name, "controller-a");
    EXPECT_EQ(c.port_groups[0].state, AluaStateName::active_optimized);
    EXPECT_TRUE(c.port_groups[0].preferred);
    EXPECT_EQ(c.port_groups[0].portals, std::vector<size_t>{0});
    EXPECT_EQ(c.port_groups[1].id, 7);
    EXPECT_EQ(c.port_groups[1].name, "group-7");  // the default name
    EXPECT_EQ(c.port_groups[1].state, AluaStateName::standby);
    EXPECT_EQ(c.port_groups[1].portals, std::vector<size_t>{1});
    EXPECT_EQ(c.portals[0].group, 1);
    EXPECT_EQ(c.portals[1].group, 7);
    EXPECT_FALSE(c.alua.explicit_alua);
    EXPECT_EQ(c.alua.transition_time_ms, 2500u);
    EXPECT_EQ(c.alua.implicit_transition_time_s, 10u);
    EXPECT_EQ(c.alua.non_optimized_delay_ms, 3u);
}

TEST(ConfigAluaTest, WithoutGroupsEveryPortalIsTheImplicitGroup) {
    const DaemonConfig c = parse(two_portals + minimal);
    EXPECT_TRUE(c.port_groups.empty());
    EXPECT_FALSE(c.portals[0].group);
    EXPECT_FALSE(c.portals[1].group);
    EXPECT_CONFIG_ERROR("[alua]\nexplicit = true\n" + minimal,
                        "t.toml: alua: needs [[target_port_group]] entries (without them every "
                        "portal is one implicit group, always active/optimized)");
}

TEST(ConfigAluaTest, AGroupHasPortalsAndEachPortalOneGroup) {
    // A portal in two groups.
    EXPECT_CONFIG_ERROR(two_portals + group(1, "[\"0.0.0.0:3260\", \"127.0.0.1:3261\"]") +
                            group(2, "[\"127.0.0.1:3261\"]") + minimal,
                        "t.toml: target_port_group[1].portals[0]: portal 127.0.0.1:3261 is "
                        "already in target_port_group[0] (a portal belongs to one target port "
                        "group)");
    // A group without portals.
    EXPECT_CONFIG_ERROR(
        two_portals + group(1, "[\"0.0.0.0:3260\", \"127.0.0.1:3261\"]") + group(2, "[]") + minimal,
        "t.toml: target_port_group[1].portals: a target port group needs at least "
        "one portal (0.0.0.0:3260, 127.0.0.1:3261)");
    EXPECT_CONFIG_ERROR(two_portals + "[[target_port_group]]\nid = 1\n" + minimal,
                        "t.toml: target_port_group[0].portals: required key is missing: the "
                        "\"address:port\" of at least one [[portal]] (0.0.0.0:3260, "
                        "127.0.0.1:3261), or remote_portals for another gateway's group");
    // A portal in no group.
    EXPECT_CONFIG_ERROR(two_portals + group(1, "[\"0.0.0.0:3260\"]") + minimal,
                        "t.toml: portal[1]: portal 127.0.0.1:3261 belongs to no "
                        "[[target_port_group]]");
    // A portal that is not a [[portal]], or not address:port at all.
    EXPECT_CONFIG_ERROR(two_portals + group(1, "[\"0.0.0.0:3260\", \"127.0.0.1:3262\"]") + minimal,
                        "t.toml: target_port_group[0].portals[1]: \"127.0.0.1:3262\" is not a "
                        "[[portal]]; the portals are 0.0.0.0:3260, 127.0.0.1:3261");
    EXPECT_CONFIG_ERROR(two_portals + group(1, "[\"controller-a\"]") + minimal,
                        "t.toml: target_port_group[0].portals[0]: not \"address:port\" (e.g. "
                        "\"0.0.0.0:3260\", \"[::]:3260\"): \"controller-a\"");
    EXPECT_CONFIG_ERROR(two_portals + group(1, "\"0.0.0.0:3260\"") + minimal,
                        "t.toml: target_port_group[0].portals: expected an array of "
                        "\"address:port\" strings, got a string");
    // Spelled differently, the same portal: IPv6 in brackets, a non-canonical address.
    const DaemonConfig v6 =
        parse("[[portal]]\naddress = \"::1\"\n" + group(1, "[\"[0:0::1]:3260\"]") + minimal);
    EXPECT_EQ(v6.portals[0].group, 1);
}

TEST(ConfigAluaTest, IdsNamesAndStates) {
    const std::string one = "[[portal]]\n";
    EXPECT_CONFIG_ERROR(one + "[[target_port_group]]\nportals = [\"0.0.0.0:3260\"]\n" + minimal,
                        "t.toml: target_port_group[0].id: required key is missing (1..65535: "
                        "the target port group and the portals' portal group tag)");
    EXPECT_CONFIG_ERROR(one + group(0, "[\"0.0.0.0:3260\"]") + minimal,
                        "t.toml: target_port_group[0].id: must be between 1 and 65535, got 0");
    EXPECT_CONFIG_ERROR(
        two_portals + group(3, "[\"0.0.0.0:3260\"]") + group(3, "[\"127.0.0.1:3261\"]") + minimal,
        "t.toml: target_port_group[1].id: duplicate id 3 (also "
        "target_port_group[0].id)");
    EXPECT_CONFIG_ERROR(two_portals + group(1, "[\"0.0.0.0:3260\"]", "name = \"a\"\n") +
                            group(2, "[\"127.0.0.1:3261\"]", "name = \"a\"\n") + minimal,
                        "t.toml: target_port_group[1].name: duplicate name \"a\"");
    EXPECT_CONFIG_ERROR(
        one + group(1, "[\"0.0.0.0:3260\"]", "state = \"transitioning\"\n") + minimal,
        "t.toml: target_port_group[0].state: must be one of active_optimized, "
        "active_non_optimized, standby, unavailable, got \"transitioning\"");
    EXPECT_CONFIG_ERROR(one + group(1, "[\"0.0.0.0:3260\"]", "owner = \"a\"\n") + minimal,
                        "t.toml: target_port_group[0].owner: unknown key; allowed keys: id, "
                        "name, portals, remote_portals, state, preferred");
    EXPECT_CONFIG_ERROR(one + group(1, "[\"0.0.0.0:3260\"]") +
                            "[alua]\nimplicit_transition_time_s = 256\n" + minimal,
                        "t.toml: alua.implicit_transition_time_s: must be between 0 and 255, got "
                        "256");
}

TEST(ConfigAluaTest, GroupsSetThePortalGroupTags) {
    EXPECT_CONFIG_ERROR("[[portal]]\n" + group(1, "[\"0.0.0.0:3260\"]") +
                            target_with("portal_group_tag = 5", memory_lun()),
                        "t.toml: target[0].portal_group_tag: the target port groups set the "
                        "portal group tags (each portal answers with its group's id); remove it");
}

TEST(ConfigAluaTest, GatewaysOfOneArrayOnRbd) {
    const std::string rbd =
        target_with("", "id = 0\nbackend = \"rbd\"\npool = \"rbd\"\nimage = \"shared\"\n");
    const DaemonConfig c =
        parse("[[portal]]\nport = 3260\n" + group(1, "[\"0.0.0.0:3260\"]", "name = \"gw-a\"\n") +
              "[[target_port_group]]\nid = 2\nname = \"gw-b\"\nremote_portals = "
              "[\"127.0.0.2:3260\"]\nstate = \"standby\"\n" +
              "[alua]\ngateway_heartbeat_ms = 200\ngateway_dead_after_ms = 1000\nfailover = "
              "false\n" +
              rbd);
    ASSERT_EQ(c.port_groups.size(), 2u);
    EXPECT_FALSE(c.port_groups[0].remote());
    EXPECT_TRUE(c.port_groups[1].remote());
    EXPECT_EQ(c.port_groups[1].remote_portals, std::vector<std::string>{"127.0.0.2:3260"});
    EXPECT_TRUE(c.port_groups[1].portals.empty());
    EXPECT_EQ(c.alua.gateway_heartbeat_ms, 200u);
    EXPECT_EQ(c.alua.gateway_dead_after_ms, 1000u);
    EXPECT_FALSE(c.alua.failover);

    const std::string head = "[[portal]]\nport = 3260\n" + group(1, "[\"0.0.0.0:3260\"]");
    // Another gateway's group lives in the cluster: every target needs an rbd LUN.
    EXPECT_CONFIG_ERROR(head + group(2, "[]", "") + minimal,
                        "t.toml: target_port_group[1].portals: a target port group needs at least "
                        "one portal (0.0.0.0:3260)");
    EXPECT_CONFIG_ERROR(
        head + "[[target_port_group]]\nid = 2\nremote_portals = [\"127.0.0.2:3260\"]\n" + minimal,
        "t.toml: target_port_group[1].remote_portals: target iqn.2026-11.org.atsarray:lab has no "
        "rbd LUN: another gateway's group shares its state through an RBD image's records");
    EXPECT_CONFIG_ERROR(
        head + "[[target_port_group]]\nid = 2\nremote_portals = [\"0.0.0.0:3260\"]\n" + rbd,
        "t.toml: target_port_group[1].remote_portals[0]: 0.0.0.0:3260 is a [[portal]] of this "
        "gateway: list it in portals");
    EXPECT_CONFIG_ERROR(
        head + "[alua]\ngateway_heartbeat_ms = 1000\ngateway_dead_after_ms = 1500\n" + rbd,
        "t.toml: alua.gateway_dead_after_ms: must be at least twice "
        "gateway_heartbeat_ms (1000): one late heartbeat must not make a gateway "
        "dead");
}

}  // namespace
}  // namespace atsarray::daemon
