#pragma once
// Framing of received PDUs (RFC 7143 §11.2): BHS, AHS, header digest, data segment, padding,
// data digest. Pure function over a byte buffer so that the fuzzer can drive it directly.

#include <cstdint>
#include <span>
#include <system_error>

#include "target/iscsi/pdu.hpp"

namespace atsarray::iscsi {

struct FrameLimits {
    uint32_t max_data_segment_length = 8192;  // what the target declared (RFC 7143 §13.12)
    bool header_digest = false;
    bool data_digest = false;
};

struct PduView {
    Bhs bhs;
    std::span<const uint8_t> ahs;
    std::span<const uint8_t> data;  // without padding
    bool data_digest_ok = true;     // false: the data digest did not match (RFC 7143 §7.8)
};

// Tries to decode one PDU from the front of `buf`. Returns the number of bytes it occupies (the
// PDU is then in `out`), 0 when more bytes are needed, or 0 with `ec` set when the stream cannot be
// framed any further (oversized data segment, header digest failure): the connection must end.
size_t read_frame(std::span<const uint8_t> buf, const FrameLimits& limits, PduView& out,
                  std::error_code& ec);

// Bytes a PDU with this header occupies on the wire, given the digest settings.
size_t frame_length(const Bhs& bhs, const FrameLimits& limits);

}  // namespace atsarray::iscsi
