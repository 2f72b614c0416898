// --seed's choice of images (tools/replay/seed.hpp): per block, the first command in medium order
// that reveals its content decides (a COMPARE AND WRITE's compare image when it succeeded, its
// medium image when it miscompared, a kept READ's data); a block written first needs no seed.
#include <gtest/gtest.h>

#include "tests/unit/tools/replay_commands.hpp"
#include "tools/replay/seed.hpp"

namespace atsarray::replay {
namespace {

using namespace testing;

trace::Trace trace_of(std::vector<trace::Command> commands) {
    trace::Trace t;
    t.luns.push_back({"iqn.2026-12.org.atsarray:replay", 0, block, 1024});
    t.sessions.push_back({"iqn.2026-12.org.test:a", 0x800000000001ULL, "", "", "", 1});
    t.commands = std::move(commands);
    return t;
}

TEST(ReplaySeed, SuccessfulCompareAndWriteRevealsItsCompareImage) {
    const std::vector<SeedBlock> seeds = seed_blocks(trace_of({ats(7, 0x11, 0x22, 1)}));
    ASSERT_EQ(seeds.size(), 1U);
    EXPECT_EQ(seeds[0].lun, 0U);
    EXPECT_EQ(seeds[0].lba, 7U);
    EXPECT_EQ(seeds[0].image, filled(0x11));
}

TEST(ReplaySeed, MiscomparedCompareAndWriteRevealsTheMediumImage) {
    const std::vector<SeedBlock> seeds =
        seed_blocks(trace_of({ats_miscompared(7, 0x11, 0x22, 0x33, 1)}));
    ASSERT_EQ(seeds.size(), 1U);
    EXPECT_EQ(seeds[0].image, filled(0x33));
}

TEST(ReplaySeed, InjectedMiscompareRevealsNothing) {
    trace::Command c = ats_miscompared(7, 0x11, 0x22, 0x33, 1);
    c.outcome = "injected_miscompare";
    EXPECT_TRUE(seed_blocks(trace_of({c})).empty());
}

TEST(ReplaySeed, KeptReadRevealsEachBlock) {
    std::vector<uint8_t> data = filled(0x44);
    const std::vector<uint8_t> second = filled(0x55);
    data.insert(data.end(), second.begin(), second.end());
    const std::vector<SeedBlock> seeds = seed_blocks(trace_of({read16(10, data, 1)}));
    ASSERT_EQ(seeds.size(), 2U);
    EXPECT_EQ(seeds[0].lba, 10U);
    EXPECT_EQ(seeds[0].image, filled(0x44));
    EXPECT_EQ(seeds[1].lba, 11U);
    EXPECT_EQ(seeds[1].image, filled(0x55));
}

TEST(ReplaySeed, ReadNotKeptOrFailedRevealsNothing) {
    trace::Command not_kept = read16(10, filled(0x44), 1);
    not_kept.data_in_kept = false;
    not_kept.data_in.clear();
    trace::Command failed = read16(11, filled(0x44), 2);
    failed.status = 0x02;
    failed.sense = fixed_sense(0x03, 0x11, 0x00);
    EXPECT_TRUE(seed_blocks(trace_of({not_kept, failed})).empty());
}

TEST(ReplaySeed, WrittenFirstNeedsNoSeed) {
    EXPECT_TRUE(seed_blocks(trace_of({write16(3, filled(0x66), 1), read16(3, filled(0x66), 2),
                                      ats(3, 0x66, 0x77, 3)}))
                    .empty());
}

TEST(ReplaySeed, AFailedWriteSettlesNothing) {
    trace::Command w = write16(3, filled(0x66), 1);
    w.status = 0x18;  // RESERVATION CONFLICT: the block kept its content
    const std::vector<SeedBlock> seeds = seed_blocks(trace_of({w, read16(3, filled(0x01), 2)}));
    ASSERT_EQ(seeds.size(), 1U);
    EXPECT_EQ(seeds[0].image, filled(0x01));
}

TEST(ReplaySeed, MediumOrderDecidesNotTheTracesOrder) {
    // Answered first but reached the medium second: the read saw what the ATS left.
    const std::vector<SeedBlock> seeds =
        seed_blocks(trace_of({read16(5, filled(0x22), 2), ats(5, 0x11, 0x22, 1)}));
    ASSERT_EQ(seeds.size(), 1U);
    EXPECT_EQ(seeds[0].image, filled(0x11));
}

TEST(ReplaySeed, OneSeedPerBlockPerLun) {
    trace::Command other_lun = ats(5, 0x99, 0x98, 3);
    other_lun.lun = 1;
    const std::vector<SeedBlock> seeds =
        seed_blocks(trace_of({ats(5, 0x11, 0x22, 1), read16(5, filled(0x22), 2), other_lun}));
    ASSERT_EQ(seeds.size(), 2U);
    EXPECT_EQ(seeds[0].image, filled(0x11));
    EXPECT_EQ(seeds[1].lun, 1U);
    EXPECT_EQ(seeds[1].image, filled(0x99));
}

}  // namespace
}  // namespace atsarray::replay
