#include "target/iscsi/send_queue.hpp"

#include "target/iscsi/digest.hpp"

namespace atsarray::iscsi {

void SendQueue::seal(OutPdu& pdu) {
    if (!pdu.owned.empty()) {
        pdu.data = pdu.owned;
    }
    const auto length = static_cast<uint32_t>(pdu.data.size());
    pdu.hdr.set_data_segment_length(length);
    // The header digest is computed in gather(), once the header has its final window.
    pdu.has_header_digest = header_digest_;
    const uint32_t padding = pad4(length) - length;
    pdu.trailer_length = static_cast<uint8_t>(padding);
    if (data_digest_ && length > 0) {
        Crc32c crc;
        crc.update(pdu.data);
        crc.update(std::span<const uint8_t>(pdu.trailer.data(), padding));  // zero padding
        store_digest(pdu.trailer.data() + padding, crc.value());
        pdu.trailer_length = static_cast<uint8_t>(padding + 4);
    }
    bytes_ += wire_length(pdu);
}

const std::vector<boost::asio::const_buffer>& SendQueue::gather(CommandWindow& window) {
    gather_.clear();
    size_t count = 0;
    for (auto it = pdus_.begin(); it != pdus_.end() && count < max_gather_pdus; ++it, ++count) {
        if (it->frees_slot) {
            window.release_slot(false);
        }
        window.refresh(it->hdr);
        if (it->has_header_digest) {
            store_digest(it->header_digest.data(), crc32c(it->hdr.b));
        }
        gather_.emplace_back(it->hdr.b.data(), it->hdr.b.size());
        if (it->has_header_digest) {
            gather_.emplace_back(it->header_digest.data(), it->header_digest.size());
        }
        if (!it->data.empty()) {
            gather_.emplace_back(it->data.data(), it->data.size());
        }
        if (it->trailer_length > 0) {
            gather_.emplace_back(it->trailer.data(), it->trailer_length);
        }
    }
    writing_ = count;
    return gather_;
}

}  // namespace atsarray::iscsi
