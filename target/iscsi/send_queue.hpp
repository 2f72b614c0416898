#pragma once
// The ordered queue of PDUs a connection sends (the Beast examples' write queue): each PDU is
// sealed when queued (data segment length, padding, digests as negotiated at that moment) and
// gathered into one vectored write of up to `max_gather_pdus`. A PDU leaving the queue takes the
// command window as it is then: the CmdSN slot of the request it answers opens, and ExpCmdSN and
// MaxCmdSN are written into its header (RFC 7143 §4.2.2.1: MaxCmdSN moves as answers leave, so a
// peer that does not read gets no new slots). Knows no socket: the connection writes what
// gather() returns and reports back with written().

#include <array>
#include <boost/asio/buffer.hpp>
#include <cstdint>
#include <deque>
#include <span>
#include <vector>

#include "target/iscsi/command_window.hpp"
#include "target/iscsi/pdu.hpp"

namespace atsarray::iscsi {

struct Task;

// A PDU waiting in the send queue. Data either points into a task's buffer (Data-In, kept alive
// until the PDU is written) or is owned by the PDU.
struct OutPdu {
    TargetBhs hdr;
    std::array<uint8_t, 4> header_digest{};
    std::span<const uint8_t> data;
    std::vector<uint8_t> owned;
    std::array<uint8_t, 8> trailer{};  // padding and data digest
    uint8_t trailer_length = 0;
    bool has_header_digest = false;  // decided when queued: digests start after the login
    bool frees_slot = false;         // answers a non-immediate request: its CmdSN slot opens
    Task* release_task = nullptr;    // return this task to the pool once written
};

class SendQueue {
  public:
    static constexpr size_t max_gather_pdus = 64;

    // Digests apply to PDUs sealed from now on (RFC 7143 §13.1: after the last login response).
    void set_digests(bool header, bool data) {
        header_digest_ = header;
        data_digest_ = data;
    }

    // A new PDU at the back; fill its header and data, then seal() it.
    OutPdu& push() { return pdus_.emplace_back(); }
    void seal(OutPdu& pdu);

    bool empty() const { return pdus_.empty(); }
    size_t size() const { return pdus_.size(); }
    // Bytes of the PDUs queued and not yet written (headers, data, padding, digests).
    uint64_t bytes() const { return bytes_; }
    bool writing() const { return writing_ > 0; }
    const OutPdu& at(size_t i) const { return pdus_[i]; }

    // The buffers of the next write (the front PDUs not yet written), marked as being written;
    // their slots open in `window` and they carry its ExpCmdSN and MaxCmdSN.
    const std::vector<boost::asio::const_buffer>& gather(CommandWindow& window);
    // The write of what gather() returned ended: those PDUs leave the queue; `release` gets the
    // task each of them returns to the pool.
    template <typename Release>
    void written(Release&& release) {
        const size_t done = writing_;
        writing_ = 0;
        for (size_t i = 0; i < done && !pdus_.empty(); ++i) {
            bytes_ -= wire_length(pdus_.front());
            if (Task* task = pdus_.front().release_task; task != nullptr) {
                release(task);
            }
            pdus_.pop_front();
        }
    }

  private:
    static uint64_t wire_length(const OutPdu& pdu) {
        return bhs_length + (pdu.has_header_digest ? 4U : 0U) + pdu.data.size() +
               pdu.trailer_length;
    }

    std::deque<OutPdu> pdus_;
    uint64_t bytes_ = 0;
    std::vector<boost::asio::const_buffer> gather_;
    size_t writing_ = 0;  // front PDUs in the write under way
    bool header_digest_ = false;
    bool data_digest_ = false;
};

}  // namespace atsarray::iscsi
