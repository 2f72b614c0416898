// tools/iscsi_wire: the bytes the raw-socket tools put on the wire and read back.
#include "tools/iscsi_wire/wire.hpp"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <string_view>

namespace atsarray::wire {
namespace {

TEST(IscsiWire, Crc32cMatchesTheKnownValues) {
    // The CRC-32C check value, and RFC 3720 Appendix B.4: 32 bytes of zeros.
    constexpr std::string_view check = "123456789";
    EXPECT_EQ(crc32c({reinterpret_cast<const uint8_t*>(check.data()), check.size()}), 0xE3069283U);
    const std::array<uint8_t, 32> zeros{};
    EXPECT_EQ(crc32c(zeros), 0x8A9136AAU);
}

TEST(IscsiWire, FieldsAreBigEndian) {
    Bytes b(8, 0);
    put32(b, 1, 0x01020304);
    put24(b, 5, 0x0A0B0C);
    EXPECT_EQ(b, (Bytes{0, 1, 2, 3, 4, 0x0A, 0x0B, 0x0C}));
    EXPECT_EQ(get32(b, 1), 0x01020304U);
    EXPECT_EQ(get24(b, 5), 0x0A0B0CU);
}

TEST(IscsiWire, SerialArithmeticWraps) {
    EXPECT_TRUE(serial_lt(0xFFFFFFFFU, 0));
    EXPECT_FALSE(serial_lt(0, 0xFFFFFFFFU));
    EXPECT_FALSE(serial_lt(7, 7));
}

TEST(IscsiWire, TextKeysAreFoundByTheWholeKey) {
    const Bytes keys = text_keys({"MaxRecvDataSegmentLength=8192", "Max=1", "Empty="});
    EXPECT_EQ(keys.size(), 30U + 6U + 7U);
    EXPECT_EQ(text_value(keys, "MaxRecvDataSegmentLength"), "8192");
    EXPECT_EQ(text_value(keys, "Max"), "1");
    EXPECT_EQ(text_value(keys, "MaxRecv"), "");
    EXPECT_EQ(text_value(keys, "Empty"), "");
}

TEST(IscsiWire, SerializePadsAndAddsLittleEndianDigests) {
    Pdu p;
    p.header[0] = op::nop_out | immediate;
    p.data = {1, 2, 3, 4, 5};
    const Bytes bytes = serialize(p, {.header = true, .data = true});
    ASSERT_EQ(bytes.size(), 48U + 4U + 8U + 4U);
    EXPECT_EQ(wire_length(bytes, {.header = true, .data = true}), bytes.size());
    EXPECT_EQ(get24(bytes, 5), 5U);
    const uint32_t header_crc = crc32c(std::span(bytes).first(48));
    EXPECT_EQ(bytes[48], static_cast<uint8_t>(header_crc));
    EXPECT_EQ(bytes[51], static_cast<uint8_t>(header_crc >> 24));
    EXPECT_EQ(bytes[52 + 5], 0);  // padding
    const uint32_t data_crc = crc32c(std::span(bytes).subspan(52, 8));
    EXPECT_EQ(bytes[60], static_cast<uint8_t>(data_crc));
    EXPECT_EQ(serialize(p).size(), 48U + 8U);
    EXPECT_EQ(wire_length(serialize(Pdu{}), {.header = false, .data = true}), 48U);
}

class IscsiWireSocket : public ::testing::Test {
  protected:
    void SetUp() override { ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds_), 0); }
    void TearDown() override {
        for (int fd : fds_) {
            if (fd >= 0) {
                ::close(fd);
            }
        }
    }
    int fds_[2] = {-1, -1};
};

TEST_F(IscsiWireSocket, ReadPduSkipsAhsPaddingAndDigests) {
    Pdu p;
    p.header[0] = op::text;
    p.data = {'a', '=', 'b'};
    Bytes bytes = serialize(p, {.header = true, .data = true});
    // An AHS of one word between the BHS and the header digest.
    bytes[4] = 1;
    bytes.insert(bytes.begin() + 48, {9, 9, 9, 9});
    ASSERT_TRUE(write_all(fds_[0], bytes));
    ASSERT_TRUE(write_all(fds_[0], serialize(Pdu{}, {.header = true, .data = true})));
    const auto deadline = Clock::now() + std::chrono::seconds(5);
    const auto got = read_pdu(fds_[1], deadline, {.header = true, .data = true});
    ASSERT_TRUE(got);
    EXPECT_EQ(got->opcode(), op::text);
    EXPECT_EQ(got->data, p.data);
    const auto next = read_pdu(fds_[1], deadline, {.header = true, .data = true});
    ASSERT_TRUE(next);
    EXPECT_TRUE(next->data.empty());
}

TEST_F(IscsiWireSocket, ReadPduEndsAtTheDeadlineOrTheClose) {
    EXPECT_FALSE(read_pdu(fds_[1], Clock::now() + std::chrono::milliseconds(20)));
    const Bytes half(20, 0);
    ASSERT_TRUE(write_all(fds_[0], half));
    ::close(fds_[0]);
    fds_[0] = -1;
    EXPECT_FALSE(read_pdu(fds_[1], Clock::now() + std::chrono::seconds(5)));
}

}  // namespace
}  // namespace atsarray::wire
