#include "target/iscsi/digest.hpp"

#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <vector>

namespace atsarray::iscsi {
namespace {

// RFC 3720 Appendix B.4 lists the CRC as it appears on the wire.
void expect_wire(uint32_t crc, std::array<uint8_t, 4> wire) {
    std::array<uint8_t, 4> stored{};
    store_digest(stored.data(), crc);
    EXPECT_EQ(stored, wire);
    EXPECT_EQ(load_digest(wire.data()), crc);
}

TEST(Crc32c, ThirtyTwoZeros) {
    std::vector<uint8_t> data(32, 0x00);
    EXPECT_EQ(crc32c(data), 0x8a9136aau);
    expect_wire(crc32c(data), {0xaa, 0x36, 0x91, 0x8a});
}

TEST(Crc32c, ThirtyTwoOnes) {
    std::vector<uint8_t> data(32, 0xff);
    EXPECT_EQ(crc32c(data), 0x62a8ab43u);
    expect_wire(crc32c(data), {0x43, 0xab, 0xa8, 0x62});
}

TEST(Crc32c, Ascending) {
    std::vector<uint8_t> data(32);
    for (std::size_t i = 0; i < data.size(); ++i) {
        data[i] = static_cast<uint8_t>(i);
    }
    EXPECT_EQ(crc32c(data), 0x46dd794eu);
    expect_wire(crc32c(data), {0x4e, 0x79, 0xdd, 0x46});
}

TEST(Crc32c, Descending) {
    std::vector<uint8_t> data(32);
    for (std::size_t i = 0; i < data.size(); ++i) {
        data[i] = static_cast<uint8_t>(31 - i);
    }
    EXPECT_EQ(crc32c(data), 0x113fdb5cu);
    expect_wire(crc32c(data), {0x5c, 0xdb, 0x3f, 0x11});
}

TEST(Crc32c, IscsiReadCommandPdu) {
    const std::vector<uint8_t> pdu = {
        0x01, 0xc0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00,
        0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x18, 0x28, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    };
    EXPECT_EQ(crc32c(pdu), 0xd9963a56u);
    expect_wire(crc32c(pdu), {0x56, 0x3a, 0x96, 0xd9});
}

TEST(Crc32c, IncrementalEqualsOneShot) {
    std::vector<uint8_t> data(1000);
    for (std::size_t i = 0; i < data.size(); ++i) {
        data[i] = static_cast<uint8_t>(i * 7 + 3);
    }
    for (std::size_t split : {0u, 1u, 3u, 500u, 999u, 1000u}) {
        Crc32c crc;
        crc.update(std::span<const uint8_t>(data).first(split));
        crc.update(std::span<const uint8_t>(data).subspan(split));
        EXPECT_EQ(crc.value(), crc32c(data)) << split;
    }
    Crc32c crc;
    crc.update(data);
    crc.reset();
    EXPECT_EQ(crc.value(), crc32c({}));
    EXPECT_EQ(crc32c({}), 0u);
}

}  // namespace
}  // namespace atsarray::iscsi
