// The PDU codec and framing: serial arithmetic, LUN encoding, frame lengths, digests, and every
// way a frame can be short or wrong.
#include <gtest/gtest.h>

#include <vector>

#include "target/iscsi/digest.hpp"
#include "target/iscsi/errors.hpp"
#include "target/iscsi/pdu.hpp"
#include "target/iscsi/pdu_reader.hpp"
#include "target/iscsi/serial.hpp"

namespace atsarray::iscsi {
namespace {

TEST(Serial, ComparesAcrossTheWrap) {
    EXPECT_TRUE(serial_lt(1, 2));
    EXPECT_TRUE(serial_lt(0xfffffff0U, 5));  // 5 follows 0xfffffff0 after the wrap
    EXPECT_TRUE(serial_gt(5, 0xfffffff0U));
    EXPECT_FALSE(serial_lt(7, 7));
    EXPECT_FALSE(serial_gt(7, 7));
    // 2^31 apart: undefined in RFC 1982, neither less nor greater here.
    EXPECT_FALSE(serial_lt(0, 0x80000000U));
    EXPECT_FALSE(serial_gt(0, 0x80000000U));
}

TEST(Serial, CommandWindow) {
    EXPECT_TRUE(in_window(10, 10, 10));
    EXPECT_TRUE(in_window(12, 10, 20));
    EXPECT_FALSE(in_window(9, 10, 20));   // below ExpCmdSN: ignored
    EXPECT_FALSE(in_window(21, 10, 20));  // above MaxCmdSN: ignored
    EXPECT_TRUE(in_window(2, 0xfffffffeU, 5));
    EXPECT_FALSE(in_window(0xfffffffdU, 0xfffffffeU, 5));
}

TEST(Lun, PeripheralAndFlatAddressing) {
    uint64_t lun = 99;
    ASSERT_TRUE(decode_lun(0, lun));
    EXPECT_EQ(lun, 0U);
    ASSERT_TRUE(decode_lun(0x0005000000000000ULL, lun));
    EXPECT_EQ(lun, 5U);
    ASSERT_TRUE(decode_lun(0x412c000000000000ULL, lun));  // flat space 300
    EXPECT_EQ(lun, 300U);
    EXPECT_EQ(encode_lun(5), 0x0005000000000000ULL);
    EXPECT_EQ(encode_lun(300), 0x412c000000000000ULL);
    EXPECT_FALSE(decode_lun(0x0005000100000000ULL, lun));  // second level
    EXPECT_FALSE(decode_lun(0x8005000000000000ULL, lun));  // logical unit addressing
    EXPECT_FALSE(decode_lun(0x0105000000000000ULL, lun));  // bus 1
}

std::vector<uint8_t> make_pdu(uint8_t opcode, uint32_t dsl, uint8_t ahs_words = 0) {
    std::vector<uint8_t> b(bhs_length + ahs_words * 4U, 0);
    b[0] = opcode;
    b[4] = ahs_words;
    store24(&b[5], dsl);
    store32(&b[16], 0xabcd);
    b.resize(b.size() + pad4(dsl), 0x5a);
    for (uint32_t i = dsl; i < pad4(dsl); ++i) {
        b[bhs_length + ahs_words * 4U + i] = 0;
    }
    return b;
}

TEST(Frame, NeedsTheWholePdu) {
    FrameLimits limits;
    auto b = make_pdu(0x01, 10);
    ASSERT_EQ(b.size(), 48U + 12U);
    PduView pdu;
    std::error_code ec;
    for (size_t n = 0; n < b.size(); ++n) {
        EXPECT_EQ(read_frame({b.data(), n}, limits, pdu, ec), 0U) << n;
        EXPECT_FALSE(ec);
    }
    EXPECT_EQ(read_frame(b, limits, pdu, ec), b.size());
    EXPECT_EQ(pdu.bhs.opcode(), Opcode::scsi_command);
    EXPECT_EQ(pdu.bhs.initiator_task_tag(), 0xabcdU);
    EXPECT_EQ(pdu.data.size(), 10U);  // padding excluded
}

TEST(Frame, AhsIsSeparated) {
    FrameLimits limits;
    auto b = make_pdu(0x01, 4, 2);
    PduView pdu;
    std::error_code ec;
    ASSERT_EQ(read_frame(b, limits, pdu, ec), b.size());
    EXPECT_EQ(pdu.ahs.size(), 8U);
    EXPECT_EQ(pdu.data.size(), 4U);
}

TEST(Frame, OversizedDataSegmentIsAnErrorWithoutWaiting) {
    FrameLimits limits;
    limits.max_data_segment_length = 8192;
    auto b = make_pdu(0x01, 0);
    store24(&b[5], 8193);
    PduView pdu;
    std::error_code ec;
    EXPECT_EQ(read_frame(b, limits, pdu, ec), 0U);
    EXPECT_EQ(ec, make_error_code(Errc::pdu_data_too_long));
}

TEST(Frame, HeaderDigestIsChecked) {
    FrameLimits limits;
    limits.header_digest = true;
    auto b = make_pdu(0x00, 0);
    b.insert(b.begin() + 48, 4, 0);
    store_digest(&b[48], crc32c({b.data(), 48}));
    PduView pdu;
    std::error_code ec;
    EXPECT_EQ(read_frame(b, limits, pdu, ec), 52U);
    EXPECT_FALSE(ec);
    b[20] ^= 1;  // a flipped header bit
    EXPECT_EQ(read_frame(b, limits, pdu, ec), 0U);
    EXPECT_EQ(ec, make_error_code(Errc::pdu_header_digest));
}

TEST(Frame, DataDigestCoversThePadding) {
    FrameLimits limits;
    limits.data_digest = true;
    auto b = make_pdu(0x05, 5);  // 5 data bytes + 3 zero pad
    const uint32_t crc = crc32c({b.data() + 48, 8});
    b.resize(b.size() + 4);
    store_digest(&b[56], crc);
    PduView pdu;
    std::error_code ec;
    ASSERT_EQ(read_frame(b, limits, pdu, ec), 60U);
    EXPECT_TRUE(pdu.data_digest_ok);
    b[50] ^= 0x80;
    ASSERT_EQ(read_frame(b, limits, pdu, ec), 60U);
    EXPECT_FALSE(pdu.data_digest_ok);  // framed, but the caller must reject it
}

TEST(Frame, NoDataDigestForAnEmptySegment) {
    FrameLimits limits;
    limits.data_digest = true;
    auto b = make_pdu(0x00, 0);
    PduView pdu;
    std::error_code ec;
    EXPECT_EQ(read_frame(b, limits, pdu, ec), 48U);
}

TEST(Frame, Rfc3720ReadCommandVectorDigest) {
    // RFC 3720 Appendix B.4: the iSCSI read command PDU header has CRC32C 0xd9963a56.
    const uint8_t header[48] = {0x01, 0xc0, 0, 0, 0, 0, 0,    0, 0,    0, 0, 0,    0, 0, 0, 0,
                                0x14, 0,    0, 0, 0, 0, 0x04, 0, 0,    0, 0, 0x14, 0, 0, 0, 0x18,
                                0x28, 0,    0, 0, 0, 0, 0,    0, 0x02, 0, 0, 0,    0, 0, 0, 0};
    EXPECT_EQ(crc32c({header, 48}), 0xd9963a56U);
}

}  // namespace
}  // namespace atsarray::iscsi
