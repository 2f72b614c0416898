// libFuzzer harness for the PDU reader: arbitrary bytes framed with every digest setting. The
// reader must return a frame inside the buffer, ask for more, or report an error; never read out
// of bounds.
#include <cstddef>
#include <cstdint>
#include <span>

#include "target/iscsi/pdu.hpp"
#include "target/iscsi/pdu_reader.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace atsarray::iscsi;
    if (size < 1) {
        return 0;
    }
    FrameLimits limits;
    limits.header_digest = (data[0] & 1) != 0;
    limits.data_digest = (data[0] & 2) != 0;
    limits.max_data_segment_length = (data[0] & 4) != 0 ? 8192 : 262144;
    std::span<const uint8_t> buf(data + 1, size - 1);
    while (!buf.empty()) {
        PduView pdu;
        std::error_code ec;
        const size_t used = read_frame(buf, limits, pdu, ec);
        if (ec || used == 0) {
            break;
        }
        // Touch every byte the view claims, so ASan sees any overrun.
        volatile uint8_t sink = 0;
        for (uint8_t b : pdu.ahs) {
            sink = static_cast<uint8_t>(sink ^ b);
        }
        for (uint8_t b : pdu.data) {
            sink = static_cast<uint8_t>(sink ^ b);
        }
        uint64_t lun = 0;
        (void)decode_lun(pdu.bhs.lun_field(), lun);
        buf = buf.subspan(used);
    }
    return 0;
}
