#include <gtest/gtest.h>

#include "tests/unit/scsi/scsi_test_support.hpp"

namespace atsarray::scsi::test {
namespace {

using Mode = LunFixture;

std::vector<uint8_t> caching_page(bool wce) {
    std::vector<uint8_t> p(20, 0);
    p[0] = 0x08;
    p[1] = 0x12;
    p[2] = wce ? 0x04 : 0x00;
    return p;
}

std::vector<uint8_t> control_page(bool d_sense, bool mask = false) {
    std::vector<uint8_t> p(12, 0);
    p[0] = 0x0A;
    p[1] = 0x0A;
    p[2] = d_sense ? 0x04 : 0x00;
    p[3] = mask ? 0x00 : 0x10;
    p[4] = mask ? 0x08 : 0x00;  // SWP is changeable
    return p;
}

std::vector<uint8_t> ie_page(bool mask = false) {
    std::vector<uint8_t> p(12, 0);
    p[0] = 0x1C;
    p[1] = 0x0A;
    p[2] = mask ? 0x00 : 0x08;
    return p;
}

std::vector<uint8_t> concat(std::initializer_list<std::vector<uint8_t>> parts) {
    std::vector<uint8_t> out;
    for (const auto& p : parts) {
        out.insert(out.end(), p.begin(), p.end());
    }
    return out;
}

const std::vector<uint8_t> block_descriptor{0, 0, 0x04, 0x00, 0, 0, 0x02, 0x00};

TEST_F(Mode, Sense6AllPagesCurrent) {
    auto r = exec(cdb16({0x1A, 0, 0x3F, 0, 0xFF, 0}));
    ASSERT_EQ(r.status, Status::good);
    const auto expected = concat(
        {{55, 0, 0x10, 8}, block_descriptor, caching_page(true), control_page(false), ie_page()});
    EXPECT_EQ(r.data, expected);
}

TEST_F(Mode, Sense6Changeable) {
    auto r = exec(cdb16({0x1A, 0, 0x7F, 0, 0xFF, 0}));
    ASSERT_EQ(r.status, Status::good);
    const auto expected = concat({{55, 0, 0x10, 8},
                                  block_descriptor,
                                  caching_page(true),
                                  control_page(true, true),
                                  ie_page(true)});
    EXPECT_EQ(r.data, expected);
}

TEST_F(Mode, Sense6DefaultAndSaved) {
    auto r = exec(cdb16({0x1A, 0, 0x88, 0, 0xFF, 0}));
    EXPECT_EQ(r.data, concat({{31, 0, 0x10, 8}, block_descriptor, caching_page(true)}));
    EXPECT_CHECK(exec(cdb16({0x1A, 0, 0xC8, 0, 0xFF, 0})), 0x05, 0x39, 0x00);
}

TEST_F(Mode, Sense6DbdAndSubpages) {
    auto r = exec(cdb16({0x1A, 0x08, 0x08, 0, 0xFF, 0}));
    EXPECT_EQ(r.data, concat({{23, 0, 0x10, 0}, caching_page(true)}));
    auto all = exec(cdb16({0x1A, 0x08, 0x3F, 0xFF, 0xFF, 0}));
    EXPECT_EQ(all.data.size(), 48u);
    auto bad_sub = exec(cdb16({0x1A, 0, 0x08, 0x01, 0xFF, 0}));
    EXPECT_CHECK(bad_sub, 0x05, 0x24, 0x00);
    EXPECT_EQ(sks(bad_sub), (std::vector<uint8_t>{0xCF, 0x00, 0x03}));
    auto bad_page = exec(cdb16({0x1A, 0, 0x01, 0, 0xFF, 0}));
    EXPECT_CHECK(bad_page, 0x05, 0x24, 0x00);
    EXPECT_EQ(sks(bad_page), (std::vector<uint8_t>{0xCD, 0x00, 0x02}));
}

TEST_F(Mode, Sense6AllocationLengthTruncates) {
    auto r = exec(cdb16({0x1A, 0, 0x3F, 0, 4, 0}));
    EXPECT_EQ(r.data, (std::vector<uint8_t>{55, 0, 0x10, 8}));
}

TEST_F(Mode, Sense10WithLongLba) {
    auto r = exec(cdb16({0x5A, 0x10, 0x0A, 0, 0, 0, 0, 0, 0xFF, 0}));
    std::vector<uint8_t> bd(16, 0);
    bd[6] = 0x04;
    bd[14] = 0x02;
    EXPECT_EQ(r.data, concat({{0, 34, 0, 0x10, 0x01, 0, 0, 16}, bd, control_page(false)}));
    auto short_bd = exec(cdb16({0x5A, 0, 0x0A, 0, 0, 0, 0, 0, 0xFF, 0}));
    EXPECT_EQ(short_bd.data,
              concat({{0, 26, 0, 0x10, 0x00, 0, 0, 8}, block_descriptor, control_page(false)}));
}

TEST_F(Mode, WriteProtectBit) {
    auto s = default_settings();
    s.read_only = true;
    make_lun(s);
    auto r = exec(cdb16({0x1A, 0x08, 0x08, 0, 0xFF, 0}));
    EXPECT_EQ(r.data[2], 0x90);
}

TEST_F(Mode, SelectChangesWriteCacheAndSenseShowsIt) {
    const auto params = concat({{0, 0, 0, 0}, caching_page(false)});
    auto sel = exec(cdb16({0x15, 0x10, 0, 0, 24, 0}), params);
    EXPECT_EQ(sel.status, Status::good);
    EXPECT_EQ(sel.data_out_wanted, 24u);
    auto r = exec(cdb16({0x1A, 0x08, 0x08, 0, 0xFF, 0}));
    EXPECT_EQ(r.data, concat({{23, 0, 0x10, 0}, caching_page(false)}));
    // The default is unchanged; writes are now write-through.
    auto def = exec(cdb16({0x1A, 0x08, 0x88, 0, 0xFF, 0}));
    EXPECT_EQ(def.data, concat({{23, 0, 0x10, 0}, caching_page(true)}));
    EXPECT_EQ(exec(cdb16({0x2A, 0, 0, 0, 0, 0, 0, 0, 1, 0}), pattern(512, 0)).status, Status::good);
    EXPECT_TRUE(store->last_fua);
}

TEST_F(Mode, Select10WithBlockDescriptor) {
    const auto params = concat({{0, 0, 0, 0, 0, 0, 0, 8}, block_descriptor, caching_page(false)});
    auto sel = exec(cdb16({0x55, 0x10, 0, 0, 0, 0, 0, 0, 36, 0}), params);
    EXPECT_EQ(sel.status, Status::good);
    EXPECT_FALSE(lun->mode().write_cache_enabled);
}

TEST_F(Mode, SelectRejectsBlockLengthChange) {
    auto bd = block_descriptor;
    bd[6] = 0x10;  // 4096
    const auto params = concat({{0, 0, 0, 8}, bd});
    auto sel = exec(cdb16({0x15, 0x10, 0, 0, 12, 0}), params);
    EXPECT_CHECK(sel, 0x05, 0x26, 0x00);
    EXPECT_EQ(sks(sel), (std::vector<uint8_t>{0x8F, 0x00, 0x09}));
}

TEST_F(Mode, SelectRejectsUnchangeableBits) {
    auto page = caching_page(true);
    page[2] |= 0x01;  // RCD is not changeable
    auto sel = exec(cdb16({0x15, 0x10, 0, 0, 24, 0}), concat({{0, 0, 0, 0}, page}));
    EXPECT_CHECK(sel, 0x05, 0x26, 0x00);
    EXPECT_EQ(sks(sel), (std::vector<uint8_t>{0x88, 0x00, 0x06}));
    EXPECT_TRUE(lun->mode().write_cache_enabled);
}

TEST_F(Mode, SelectRejectsUnknownPageAndBadLength) {
    std::vector<uint8_t> params{0, 0, 0, 0, 0x01, 0x0A, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    auto r = exec(cdb16({0x15, 0x10, 0, 0, 16, 0}), params);
    EXPECT_CHECK(r, 0x05, 0x26, 0x00);
    EXPECT_EQ(sks(r), (std::vector<uint8_t>{0x8D, 0x00, 0x04}));
    auto page = caching_page(true);
    page[1] = 0x10;
    r = exec(cdb16({0x15, 0x10, 0, 0, 24, 0}), concat({{0, 0, 0, 0}, page}));
    EXPECT_CHECK(r, 0x05, 0x26, 0x00);
    EXPECT_EQ(sks(r), (std::vector<uint8_t>{0x8F, 0x00, 0x05}));
    // A page cut short by the parameter list length.
    r = exec(cdb16({0x15, 0x10, 0, 0, 10, 0}), concat({{0, 0, 0, 0}, caching_page(true)}));
    EXPECT_CHECK(r, 0x05, 0x1A, 0x00);
}

TEST_F(Mode, SelectCdbChecks) {
    auto sp = exec(cdb16({0x15, 0x11, 0, 0, 24, 0}), concat({{0, 0, 0, 0}, caching_page(true)}));
    EXPECT_CHECK(sp, 0x05, 0x24, 0x00);
    EXPECT_EQ(sks(sp), (std::vector<uint8_t>{0xC8, 0x00, 0x01}));
    auto no_pf = exec(cdb16({0x15, 0x00, 0, 0, 24, 0}), concat({{0, 0, 0, 0}, caching_page(true)}));
    EXPECT_CHECK(no_pf, 0x05, 0x24, 0x00);
    EXPECT_EQ(exec(cdb16({0x15, 0x10, 0, 0, 0, 0})).status, Status::good);
}

TEST_F(Mode, DescriptorSenseAfterSettingDSense) {
    const auto params = concat({{0, 0, 0, 0}, control_page(true)});
    ASSERT_EQ(exec(cdb16({0x15, 0x10, 0, 0, 16, 0}), params).status, Status::good);
    auto r = exec(cdb16({0x00, 0x01}));
    EXPECT_EQ(r.status, Status::check_condition);
    EXPECT_EQ(r.sense, (std::vector<uint8_t>{0x72, 0x05, 0x24, 0x00, 0, 0, 0, 0x08, 0x02, 0x06, 0,
                                             0, 0xC8, 0x00, 0x01, 0}));
}

TEST_F(Mode, OtherNexusGetsModeParametersChanged) {
    Nexus other{8, "iqn.test:other", "iqn.test:other,i,0x2", "127.0.0.1:2", 1};
    lun->unit_attentions().add_nexus(nexus.id);
    lun->unit_attentions().add_nexus(other.id);
    EXPECT_CHECK(exec(cdb16({0x00})), 0x06, 0x29, 0x00);
    Request tur{cdb16({0x00}), 0, &other, std::nullopt, {}};
    EXPECT_CHECK(run(*lun, tur), 0x06, 0x29, 0x00);

    const auto params = concat({{0, 0, 0, 0}, caching_page(false)});
    ASSERT_EQ(exec(cdb16({0x15, 0x10, 0, 0, 24, 0}), params).status, Status::good);
    EXPECT_EQ(exec(cdb16({0x00})).status, Status::good);
    EXPECT_CHECK(run(*lun, tur), 0x06, 0x2A, 0x01);
    EXPECT_EQ(run(*lun, tur).status, Status::good);
}

}  // namespace
}  // namespace atsarray::scsi::test
