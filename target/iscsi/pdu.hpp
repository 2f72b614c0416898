#pragma once
// iSCSI PDU layout (RFC 7143 §11): the 48-byte Basic Header Segment, accessors for its fields and
// builders for the PDUs the target sends. Fields are read straight from the header bytes; nothing
// here allocates.

#include <array>
#include <cstdint>
#include <cstring>
#include <span>

namespace atsarray::iscsi {

inline constexpr size_t bhs_length = 48;
inline constexpr uint32_t reserved_tag = 0xffffffff;  // "no task" ITT/TTT value
// MaxRecvDataSegmentLength in force during login, both directions (RFC 7143 §13.12 default).
inline constexpr uint32_t login_max_data_segment_length = 8192;

// RFC 7143 §11.2.1.2 opcodes.
enum class Opcode : uint8_t {
    nop_out = 0x00,
    scsi_command = 0x01,
    task_management_request = 0x02,
    login_request = 0x03,
    text_request = 0x04,
    data_out = 0x05,
    logout_request = 0x06,
    snack_request = 0x10,
    nop_in = 0x20,
    scsi_response = 0x21,
    task_management_response = 0x22,
    login_response = 0x23,
    text_response = 0x24,
    data_in = 0x25,
    logout_response = 0x26,
    r2t = 0x31,
    async_message = 0x32,
    reject = 0x3f,
};

// RFC 7143 §11.17.1 reject reasons.
enum class RejectReason : uint8_t {
    data_digest_error = 0x02,
    snack_reject = 0x03,
    protocol_error = 0x04,
    command_not_supported = 0x05,
    immediate_command_reject = 0x06,
    task_in_progress = 0x07,
    invalid_data_ack = 0x08,
    invalid_pdu_field = 0x09,
    long_operation_reject = 0x0a,
    waiting_for_logout = 0x0c,
};

// RFC 7143 §11.6.1 task management responses.
enum class TmfResponse : uint8_t {
    function_complete = 0,
    task_does_not_exist = 1,
    lun_does_not_exist = 2,
    task_still_allegiant = 3,
    task_allegiance_reassignment_not_supported = 4,
    function_not_supported = 5,
    function_authorization_failed = 6,
    function_rejected = 255,
};

// RFC 7143 §11.5.1 task management function codes.
enum class TmfFunction : uint8_t {
    abort_task = 1,
    abort_task_set = 2,
    clear_aca = 3,
    clear_task_set = 4,
    logical_unit_reset = 5,
    target_warm_reset = 6,
    target_cold_reset = 7,
    task_reassign = 8,
};

inline uint16_t load16(const uint8_t* p) {
    return static_cast<uint16_t>((p[0] << 8) | p[1]);
}
inline uint32_t load24(const uint8_t* p) {
    return (static_cast<uint32_t>(p[0]) << 16) | (static_cast<uint32_t>(p[1]) << 8) | p[2];
}
inline uint32_t load32(const uint8_t* p) {
    return (static_cast<uint32_t>(p[0]) << 24) | (static_cast<uint32_t>(p[1]) << 16) |
           (static_cast<uint32_t>(p[2]) << 8) | p[3];
}
inline uint64_t load64(const uint8_t* p) {
    return (static_cast<uint64_t>(load32(p)) << 32) | load32(p + 4);
}
inline void store16(uint8_t* p, uint16_t v) {
    p[0] = static_cast<uint8_t>(v >> 8);
    p[1] = static_cast<uint8_t>(v);
}
inline void store24(uint8_t* p, uint32_t v) {
    p[0] = static_cast<uint8_t>(v >> 16);
    p[1] = static_cast<uint8_t>(v >> 8);
    p[2] = static_cast<uint8_t>(v);
}
inline void store32(uint8_t* p, uint32_t v) {
    p[0] = static_cast<uint8_t>(v >> 24);
    p[1] = static_cast<uint8_t>(v >> 16);
    p[2] = static_cast<uint8_t>(v >> 8);
    p[3] = static_cast<uint8_t>(v);
}
inline void store64(uint8_t* p, uint64_t v) {
    store32(p, static_cast<uint32_t>(v >> 32));
    store32(p + 4, static_cast<uint32_t>(v));
}

namespace bhs_offset {
inline constexpr size_t total_ahs_length = 4;
inline constexpr size_t data_segment_length = 5;
// Fields at the same place in every PDU that has them (RFC 7143 §11.2.1).
inline constexpr size_t lun = 8;
inline constexpr size_t initiator_task_tag = 16;
inline constexpr size_t target_transfer_tag = 20;
inline constexpr size_t cmd_sn = 24;  // requests
inline constexpr size_t exp_stat_sn = 28;
inline constexpr size_t stat_sn = 24;  // responses
inline constexpr size_t exp_cmd_sn = 28;
inline constexpr size_t max_cmd_sn = 32;
}  // namespace bhs_offset

inline constexpr uint32_t pad4(uint32_t n) {
    return (n + 3U) & ~3U;
}

// A received Basic Header Segment: the fields every request has (RFC 7143 §11.2.1). The fields of
// one opcode are read through its view in bhs.hpp.
class Bhs {
  public:
    Bhs() = default;
    explicit Bhs(const uint8_t* bytes) { std::memcpy(b_.data(), bytes, bhs_length); }

    const uint8_t* data() const { return b_.data(); }
    uint8_t* data() { return b_.data(); }

    Opcode opcode() const { return static_cast<Opcode>(b_[0] & 0x3f); }
    bool immediate() const { return (b_[0] & 0x40) != 0; }
    bool final_bit() const { return (b_[1] & 0x80) != 0; }
    uint8_t flags() const { return b_[1]; }
    uint8_t total_ahs_length() const {
        return b_[bhs_offset::total_ahs_length];
    }  // in 4-byte words
    uint32_t data_segment_length() const { return load24(&b_[bhs_offset::data_segment_length]); }
    uint64_t lun_field() const { return load64(&b_[bhs_offset::lun]); }
    uint32_t initiator_task_tag() const { return load32(&b_[bhs_offset::initiator_task_tag]); }

    // Fields common to initiator requests that carry them.
    uint32_t cmd_sn() const { return load32(&b_[bhs_offset::cmd_sn]); }
    uint32_t exp_stat_sn() const { return load32(&b_[bhs_offset::exp_stat_sn]); }

  private:
    std::array<uint8_t, bhs_length> b_{};
};

// SAM-5 §4.7 LUN field decoding: peripheral device (00b) and flat space (01b) addressing of the
// first level. Returns false for other address methods or non-zero lower levels.
bool decode_lun(uint64_t field, uint64_t& lun);
uint64_t encode_lun(uint64_t lun);

// Header of a PDU the target sends: the fields every PDU has; the opcode's builder in bhs.hpp sets
// the rest. Target PDUs never carry AHS.
struct TargetBhs {
    std::array<uint8_t, bhs_length> b{};

    void set_opcode(Opcode op) { b[0] = static_cast<uint8_t>(op); }
    void set_flags(uint8_t f) { b[1] = f; }
    void set_data_segment_length(uint32_t n) { store24(&b[bhs_offset::data_segment_length], n); }
    void set_lun_field(uint64_t v) { store64(&b[bhs_offset::lun], v); }
    void set_itt(uint32_t v) { store32(&b[bhs_offset::initiator_task_tag], v); }
    uint32_t stat_sn() const { return load32(&b[bhs_offset::stat_sn]); }
    // StatSN, ExpCmdSN, MaxCmdSN sit at 24/28/32 in every response PDU that has them.
    void set_sequence(uint32_t stat_sn, uint32_t exp_cmd_sn, uint32_t max_cmd_sn) {
        store32(&b[bhs_offset::stat_sn], stat_sn);
        store32(&b[bhs_offset::exp_cmd_sn], exp_cmd_sn);
        store32(&b[bhs_offset::max_cmd_sn], max_cmd_sn);
    }
};

}  // namespace atsarray::iscsi
