// atsarray-replay's command-line pieces (tools/replay/options.hpp) and the ISID a replayed
// session logs in with (tools/replay/session.hpp: libiscsi sets ISIDs by type).
#include <gtest/gtest.h>

#include <stdexcept>

#include "tools/replay/options.hpp"
#include "tools/replay/session.hpp"

namespace atsarray::replay {
namespace {

TEST(ReplayOptions, LunMap) {
    const auto map = parse_lun_map({"0=3", "2=0"});
    EXPECT_EQ(map, (std::map<uint64_t, uint64_t>{{0, 3}, {2, 0}}));
    EXPECT_THROW(parse_lun_map({"0"}), std::invalid_argument);
    EXPECT_THROW(parse_lun_map({"a=1"}), std::invalid_argument);
    EXPECT_THROW(parse_lun_map({"1="}), std::invalid_argument);
    Options o;
    o.lun_map = map;
    EXPECT_EQ(o.map_lun(0), 3U);
    EXPECT_EQ(o.map_lun(1), 1U);
}

TEST(ReplayOptions, PortalGetsIscsisPort) {
    EXPECT_EQ(portal_with_port("10.0.0.5"), "10.0.0.5:3260");
    EXPECT_EQ(portal_with_port("10.0.0.5:3261"), "10.0.0.5:3261");
    EXPECT_EQ(portal_with_port("array.lab"), "array.lab:3260");
    EXPECT_EQ(portal_with_port("[fd00::5]"), "[fd00::5]:3260");
    EXPECT_EQ(portal_with_port("[fd00::5]:3261"), "[fd00::5]:3261");
}

TEST(ReplaySession, IsidByType) {
    initiator::Context ctx = initiator::create_context("iqn.2026-12.org.test:isid");
    ASSERT_TRUE(ctx);
    // OUI (00b), Random (10b) and EN (01b) with their 6 reserved bits clear: exact.
    EXPECT_EQ(set_isid(ctx.get(), 0x00123456789aULL), 0x00123456789aULL);
    EXPECT_EQ(set_isid(ctx.get(), 0x3f123456789aULL), 0x3f123456789aULL);
    EXPECT_EQ(set_isid(ctx.get(), 0x800000012345ULL), 0x800000012345ULL);
    EXPECT_EQ(set_isid(ctx.get(), 0x40abcdef0102ULL), 0x40abcdef0102ULL);
    // Bits libiscsi cannot set: the nearest of the type.
    EXPECT_EQ(set_isid(ctx.get(), 0x850000012345ULL), 0x800000012345ULL);
    EXPECT_EQ(set_isid(ctx.get(), 0xc00000000001ULL), 0xc00000000000ULL);
}

TEST(ReplaySession, Label) {
    trace::Session s;
    s.initiator_name = "iqn.2026-12.org.test:a";
    s.isid = 0x800000012345ULL;
    EXPECT_EQ(session_label(s), "iqn.2026-12.org.test:a,0x800000012345");
}

}  // namespace
}  // namespace atsarray::replay
