#include "target/iscsi/pdu_reader.hpp"

#include "target/iscsi/digest.hpp"
#include "target/iscsi/errors.hpp"

namespace atsarray::iscsi {

size_t frame_length(const Bhs& bhs, const FrameLimits& limits) {
    const uint32_t dsl = bhs.data_segment_length();
    size_t n = bhs_length + static_cast<size_t>(bhs.total_ahs_length()) * 4;
    if (limits.header_digest) {
        n += 4;
    }
    n += pad4(dsl);
    if (limits.data_digest && dsl > 0) {
        n += 4;
    }
    return n;
}

size_t read_frame(std::span<const uint8_t> buf, const FrameLimits& limits, PduView& out,
                  std::error_code& ec) {
    ec.clear();
    if (buf.size() < bhs_length) {
        return 0;
    }
    const Bhs bhs(buf.data());
    const size_t ahs_bytes = static_cast<size_t>(bhs.total_ahs_length()) * 4;
    const uint32_t dsl = bhs.data_segment_length();
    // Checked before the header digest: a length we would never accept must not make us wait
    // for megabytes (RFC 7143 §13.12 binds the sender to our MaxRecvDataSegmentLength).
    if (dsl > limits.max_data_segment_length) {
        ec = make_error_code(Errc::pdu_data_too_long);
        return 0;
    }
    const size_t total = frame_length(bhs, limits);
    if (buf.size() < total) {
        return 0;
    }
    size_t pos = bhs_length + ahs_bytes;
    if (limits.header_digest) {
        const uint32_t expected = crc32c(buf.subspan(0, pos));
        if (load_digest(buf.data() + pos) != expected) {
            ec = make_error_code(Errc::pdu_header_digest);
            return 0;
        }
        pos += 4;
    }
    out.bhs = bhs;
    out.ahs = buf.subspan(bhs_length, ahs_bytes);
    out.data = buf.subspan(pos, dsl);
    out.data_digest_ok = true;
    if (limits.data_digest && dsl > 0) {
        const uint32_t expected = crc32c(buf.subspan(pos, pad4(dsl)));
        out.data_digest_ok = load_digest(buf.data() + pos + pad4(dsl)) == expected;
    }
    return total;
}

}  // namespace atsarray::iscsi
