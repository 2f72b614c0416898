#pragma once
// iSCSI wire basics for the initiator-side tools that speak iSCSI over a plain socket
// (atsarray-chaos, net-fuzz): big-endian fields, a PDU as header and data segment, CRC32C
// digests, text keys, and reading and writing PDUs with a deadline. Nothing here knows the
// target: tools/ sees only tools/ (cmake/check_layers.py).

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace atsarray::wire {

using Bytes = std::vector<uint8_t>;
using Clock = std::chrono::steady_clock;

// RFC 7143 §11: opcodes (initiator: request, target: response) and the BHS flag bits.
namespace op {
constexpr uint8_t nop_out = 0x00;
constexpr uint8_t scsi_command = 0x01;
constexpr uint8_t task_management = 0x02;
constexpr uint8_t login = 0x03;
constexpr uint8_t text = 0x04;
constexpr uint8_t data_out = 0x05;
constexpr uint8_t logout = 0x06;
constexpr uint8_t nop_in = 0x20;
constexpr uint8_t scsi_response = 0x21;
constexpr uint8_t login_response = 0x23;
constexpr uint8_t data_in = 0x25;
constexpr uint8_t logout_response = 0x26;
constexpr uint8_t r2t = 0x31;
constexpr uint8_t reject = 0x3f;
}  // namespace op
constexpr uint8_t immediate = 0x40;  // byte 0: I
constexpr uint8_t final_bit = 0x80;  // byte 1: F (T in a Login Request)
constexpr uint32_t reserved_tag = 0xffffffff;
constexpr size_t bhs_length = 48;

// Big-endian fields at a byte offset (RFC 7143 §11.1: network byte order).
void put32(std::span<uint8_t> b, size_t at, uint32_t v);
void put24(std::span<uint8_t> b, size_t at, uint32_t v);
uint32_t get32(std::span<const uint8_t> b, size_t at);
uint32_t get24(std::span<const uint8_t> b, size_t at);

// Serial number arithmetic (RFC 1982, 32 bits): a < b.
inline bool serial_lt(uint32_t a, uint32_t b) {
    return a != b && static_cast<int32_t>(b - a) > 0;
}

// One PDU without AHS, digests or padding: the 48-byte BHS and the data segment.
struct Pdu {
    Bytes header = Bytes(bhs_length, 0);
    Bytes data;
    uint8_t opcode() const { return header[0] & 0x3f; }
    uint32_t itt() const { return get32(header, 16); }
};

// Which digests the connection negotiated (RFC 7143 §13.1); none during login.
struct Digests {
    bool header = false;
    bool data = false;
};

// CRC32C (Castagnoli), as iSCSI's digests (RFC 7143 §13.1).
uint32_t crc32c(std::span<const uint8_t> bytes);
// A digest as it travels: the CRC's bytes little-endian (as libiscsi and Linux send it).
void put_digest(std::span<uint8_t> b, size_t at, uint32_t crc);

// The bytes on the wire: BHS (DataSegmentLength set from the data), header digest, data padded
// to 4 bytes, data digest.
Bytes serialize(const Pdu& p, Digests digests = {});
// How many bytes the PDU whose BHS starts `bhs` takes on the wire, AHS and digests included.
size_t wire_length(std::span<const uint8_t> bhs, Digests digests);

// A login or text data segment: "key=value" pairs, each ended by a NUL (RFC 7143 §6.1).
Bytes text_keys(std::initializer_list<std::string_view> pairs);
// The value of `key` in such a segment, or empty.
std::string text_value(std::span<const uint8_t> data, std::string_view key);

// A TCP connection to host:port (TCP_NODELAY, close-on-exec); -1 and a sentence in `error`.
int connect_to(const std::string& host, uint16_t port, std::string& error);
// Sends all of `bytes`; false when the peer closed or stopped reading (SO_SNDTIMEO).
bool write_all(int fd, std::span<const uint8_t> bytes);
// Reads one PDU by `deadline`: BHS, AHS (dropped), header digest, data segment, padding and data
// digest (digests read, not checked). nullopt on a timeout or a closed connection.
std::optional<Pdu> read_pdu(int fd, Clock::time_point deadline, Digests digests = {});

}  // namespace atsarray::wire
