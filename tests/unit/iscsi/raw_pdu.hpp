#pragma once
// Raw PDUs for the connection parts' tests: bytes laid out by hand at the offsets RFC 7143 §11
// gives, so the tests check the typed views against the RFC rather than against themselves.

#include <gtest/gtest.h>

#include <cstdint>
#include <string_view>
#include <system_error>
#include <vector>

#include "target/iscsi/pdu.hpp"
#include "target/iscsi/pdu_reader.hpp"
#include "target/iscsi/send_queue.hpp"

namespace atsarray::iscsi::test {

class RawPdu {
  public:
    explicit RawPdu(uint8_t opcode, uint8_t flags = 0x80) : bytes_(bhs_length, 0) {
        bytes_[0] = opcode;
        bytes_[1] = flags;
    }
    RawPdu& immediate() {
        bytes_[0] |= 0x40;
        return *this;
    }
    RawPdu& u8(size_t offset, uint8_t v) {
        bytes_[offset] = v;
        return *this;
    }
    RawPdu& u16(size_t offset, uint16_t v) {
        store16(&bytes_[offset], v);
        return *this;
    }
    RawPdu& u32(size_t offset, uint32_t v) {
        store32(&bytes_[offset], v);
        return *this;
    }
    RawPdu& itt(uint32_t v) { return u32(16, v); }
    RawPdu& cmd_sn(uint32_t v) { return u32(24, v); }
    RawPdu& ahs(std::vector<uint8_t> ahs) {
        ahs_ = std::move(ahs);
        return *this;
    }
    RawPdu& data(std::vector<uint8_t> d) {
        data_ = std::move(d);
        return *this;
    }
    RawPdu& text(std::string_view keys) {
        data_.assign(keys.begin(), keys.end());
        return *this;
    }

    // The bytes on the wire (no digests), and the PduView read_frame makes of them.
    std::vector<uint8_t> wire() const {
        std::vector<uint8_t> b = bytes_;
        b[4] = static_cast<uint8_t>(ahs_.size() / 4);
        store24(&b[5], static_cast<uint32_t>(data_.size()));
        b.insert(b.end(), ahs_.begin(), ahs_.end());
        b.insert(b.end(), data_.begin(), data_.end());
        b.resize(b.size() + (pad4(static_cast<uint32_t>(data_.size())) - data_.size()), 0);
        return b;
    }
    PduView view() {
        wire_ = wire();
        PduView view;
        std::error_code ec;
        FrameLimits limits;
        limits.max_data_segment_length = 1U << 24;
        EXPECT_EQ(read_frame(wire_, limits, view, ec), wire_.size());
        EXPECT_FALSE(ec);
        return view;
    }

  private:
    std::vector<uint8_t> bytes_;
    std::vector<uint8_t> ahs_;
    std::vector<uint8_t> data_;
    std::vector<uint8_t> wire_;  // what view() points into
};

// A sent PDU's header field, read at its RFC offset.
inline uint8_t byte_at(const OutPdu& pdu, size_t offset) {
    return pdu.hdr.b[offset];
}
inline uint16_t u16_at(const OutPdu& pdu, size_t offset) {
    return load16(&pdu.hdr.b[offset]);
}
inline uint32_t u32_at(const OutPdu& pdu, size_t offset) {
    return load32(&pdu.hdr.b[offset]);
}
inline uint8_t opcode_of(const OutPdu& pdu) {
    return pdu.hdr.b[0] & 0x3f;
}
inline uint32_t stat_sn_of(const OutPdu& pdu) {
    return u32_at(pdu, 24);
}
inline uint32_t exp_cmd_sn_of(const OutPdu& pdu) {
    return u32_at(pdu, 28);
}
inline uint32_t max_cmd_sn_of(const OutPdu& pdu) {
    return u32_at(pdu, 32);
}

}  // namespace atsarray::iscsi::test
