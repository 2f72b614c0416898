#include <gtest/gtest.h>

#include "target/scsi/command_table.hpp"
#include "tests/unit/scsi/scsi_test_support.hpp"

namespace atsarray::scsi::test {
namespace {

TEST(CommandTable, EveryDescriptorIsFoundByItsCdb) {
    for (const auto& d : all_commands()) {
        std::vector<uint8_t> cdb(16, 0);
        cdb[0] = d.opcode;
        if (d.service_action) {
            cdb[1] = *d.service_action;
        }
        CommandResult err;
        EXPECT_EQ(find_command(cdb, err), &d) << d.name;
    }
}

TEST(CommandTable, UnknownOpcodeIsInvalidOpcode) {
    CommandResult err;
    const std::vector<uint8_t> cdb(16, 0x02);
    EXPECT_EQ(find_command(cdb, err), nullptr);
    EXPECT_EQ(err.reason, SenseReason::invalid_opcode);
}

using CommandTableLun = LunFixture;

TEST_F(CommandTableLun, InvalidOpcode) {
    auto r = exec(cdb16({0xFF}));
    EXPECT_CHECK(r, 0x05, 0x20, 0x00);
    EXPECT_EQ(sks(r), (std::vector<uint8_t>{0, 0, 0}));
}

TEST_F(CommandTableLun, ReservedBitInTestUnitReady) {
    auto r = exec(cdb16({0x00, 0x01}));
    EXPECT_CHECK(r, 0x05, 0x24, 0x00);
    EXPECT_EQ(sks(r), (std::vector<uint8_t>{0xC8, 0x00, 0x01}));
}

TEST_F(CommandTableLun, ReservedBitInRead10GroupByte) {
    auto r = exec(cdb16({0x28, 0, 0, 0, 0, 0, 0x20, 0, 1, 0}));
    EXPECT_CHECK(r, 0x05, 0x24, 0x00);
    EXPECT_EQ(sks(r), (std::vector<uint8_t>{0xCD, 0x00, 0x06}));
}

TEST_F(CommandTableLun, NacaBitIsRejected) {
    auto r = exec(cdb16({0x00, 0, 0, 0, 0, 0x04}));
    EXPECT_CHECK(r, 0x05, 0x24, 0x00);
    EXPECT_EQ(sks(r), (std::vector<uint8_t>{0xCA, 0x00, 0x05}));
}

TEST_F(CommandTableLun, UnknownServiceActionIsInvalidField) {
    auto r = exec(cdb16({0x9E, 0x11, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 32}));
    EXPECT_CHECK(r, 0x05, 0x24, 0x00);
    EXPECT_EQ(sks(r), (std::vector<uint8_t>{0xCC, 0x00, 0x01}));
}

TEST_F(CommandTableLun, BytesPastTheCdbLengthAreNotChecked) {
    // A 10-byte CDB in the 16-byte iSCSI field: bytes 10..15 are padding.
    auto cdb = cdb16({0x00});
    cdb[10] = 0xFF;
    EXPECT_EQ(exec(cdb).status, Status::good);
}

TEST_F(CommandTableLun, UnitAttentionComesBeforeInvalidOpcode) {
    lun->unit_attentions().add_nexus(nexus.id);
    EXPECT_CHECK(exec(cdb16({0xFF})), 0x06, 0x29, 0x00);
    EXPECT_CHECK(exec(cdb16({0xFF})), 0x05, 0x20, 0x00);
}

}  // namespace
}  // namespace atsarray::scsi::test
