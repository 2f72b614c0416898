#pragma once
// Typed views of the Basic Header Segment, one per opcode the target reads or writes (RFC 7143
// §11). Every opcode-specific field has a name here and its offset appears nowhere else, the way
// SPDK's `struct iscsi_bhs_*` name theirs; the wire is big-endian, so a field is an accessor over
// the header bytes rather than a struct member. Request views read a received `Bhs`; response
// builders write an outgoing `TargetBhs` and set its opcode when they are made.

#include <algorithm>
#include <cstdint>
#include <span>

#include "target/iscsi/pdu.hpp"

namespace atsarray::iscsi {

// Byte 1 flag bits, by the PDUs that carry them.
namespace flag {
inline constexpr uint8_t final_bit = 0x80;       // F (RFC 7143 §11.2.1.3)
inline constexpr uint8_t scsi_read = 0x40;       // R, SCSI Command (§11.3.1.1)
inline constexpr uint8_t scsi_write = 0x20;      // W, SCSI Command (§11.3.1.2)
inline constexpr uint8_t text_continue = 0x40;   // C, Text Request/Response (§11.10.2, §11.11.2)
inline constexpr uint8_t login_transit = 0x80;   // T, Login Request/Response (§11.12.1)
inline constexpr uint8_t login_continue = 0x40;  // C, Login Request/Response (§11.12.2)
inline constexpr uint8_t residual_overflow = 0x04;   // O, SCSI Response and Data-In (§11.4.5.2)
inline constexpr uint8_t residual_underflow = 0x02;  // U (§11.4.5.2)
inline constexpr uint8_t data_in_status = 0x01;      // S, Data-In carries status (§11.7.3)
inline constexpr uint8_t function_mask = 0x7f;       // TMF function, Logout reason code
}  // namespace flag

// RFC 7143 §11.14.1 Logout reason codes.
enum class LogoutReason : uint8_t {
    close_session = 0,
    close_connection = 1,
    remove_connection_for_recovery = 2,
};

// RFC 7143 §11.15.1 Logout responses.
enum class LogoutResponse : uint8_t {
    closed = 0,
    cid_not_found = 1,
    recovery_not_supported = 2,
    cleanup_failed = 3,
};

// ---------------------------------------------------------------------------------------------
// Requests (initiator to target)

// SCSI Command (RFC 7143 §11.3).
class ScsiCommandBhs {
  public:
    static constexpr size_t cdb_in_bhs = 16;

    explicit ScsiCommandBhs(const Bhs& bhs) : b_(bhs.data()) {}
    bool read() const { return (b_[1] & flag::scsi_read) != 0; }
    bool write() const { return (b_[1] & flag::scsi_write) != 0; }
    bool final_bit() const { return (b_[1] & flag::final_bit) != 0; }
    uint32_t expected_data_transfer_length() const { return load32(b_ + 20); }
    std::span<const uint8_t, cdb_in_bhs> cdb() const {
        return std::span<const uint8_t, cdb_in_bhs>(b_ + 32, cdb_in_bhs);
    }

  private:
    const uint8_t* b_;
};

// SCSI Data-Out (RFC 7143 §11.7).
class DataOutBhs {
  public:
    explicit DataOutBhs(const Bhs& bhs) : b_(bhs.data()) {}
    uint32_t target_transfer_tag() const { return load32(b_ + bhs_offset::target_transfer_tag); }
    uint32_t data_sn() const { return load32(b_ + 36); }
    uint32_t buffer_offset() const { return load32(b_ + 40); }

  private:
    const uint8_t* b_;
};

// NOP-Out (RFC 7143 §11.18).
class NopOutBhs {
  public:
    explicit NopOutBhs(const Bhs& bhs) : b_(bhs.data()) {}
    uint32_t target_transfer_tag() const { return load32(b_ + bhs_offset::target_transfer_tag); }

  private:
    const uint8_t* b_;
};

// Text Request (RFC 7143 §11.10).
class TextRequestBhs {
  public:
    explicit TextRequestBhs(const Bhs& bhs) : b_(bhs.data()) {}
    bool continue_bit() const { return (b_[1] & flag::text_continue) != 0; }
    uint32_t target_transfer_tag() const { return load32(b_ + bhs_offset::target_transfer_tag); }

  private:
    const uint8_t* b_;
};

// Logout Request (RFC 7143 §11.14).
class LogoutRequestBhs {
  public:
    explicit LogoutRequestBhs(const Bhs& bhs) : b_(bhs.data()) {}
    uint8_t reason_code() const { return b_[1] & flag::function_mask; }
    uint16_t cid() const { return load16(b_ + 20); }

  private:
    const uint8_t* b_;
};

// Task Management Function Request (RFC 7143 §11.5).
class TaskManagementBhs {
  public:
    explicit TaskManagementBhs(const Bhs& bhs) : b_(bhs.data()) {}
    TmfFunction function() const { return static_cast<TmfFunction>(b_[1] & flag::function_mask); }
    uint32_t referenced_task_tag() const { return load32(b_ + 20); }
    uint32_t ref_cmd_sn() const { return load32(b_ + 32); }

  private:
    const uint8_t* b_;
};

// Login Request (RFC 7143 §11.12).
class LoginRequestBhs {
  public:
    static constexpr size_t isid_length = 6;

    explicit LoginRequestBhs(const Bhs& bhs) : b_(bhs.data()) {}
    bool transit() const { return (b_[1] & flag::login_transit) != 0; }
    bool continue_bit() const { return (b_[1] & flag::login_continue) != 0; }
    uint8_t csg() const { return static_cast<uint8_t>((b_[1] >> 2) & 3); }
    uint8_t nsg() const { return static_cast<uint8_t>(b_[1] & 3); }
    uint8_t version_max() const { return b_[2]; }
    uint8_t version_min() const { return b_[3]; }
    std::span<const uint8_t, isid_length> isid_bytes() const {
        return std::span<const uint8_t, isid_length>(b_ + 8, isid_length);
    }
    uint64_t isid() const {
        return (static_cast<uint64_t>(load16(b_ + 8)) << 32) | load32(b_ + 10);
    }
    uint16_t tsih() const { return load16(b_ + 14); }
    uint16_t cid() const { return load16(b_ + 20); }

  private:
    const uint8_t* b_;
};

// ---------------------------------------------------------------------------------------------
// Responses (target to initiator). StatSN, ExpCmdSN and MaxCmdSN are filled by the command window
// (TargetBhs::set_sequence), the data segment length when the PDU is queued.

// NOP-In (RFC 7143 §11.19).
class NopInBhs {
  public:
    explicit NopInBhs(TargetBhs& h) : h_(h) {
        h_.set_opcode(Opcode::nop_in);
        h_.set_flags(flag::final_bit);
    }
    void set_target_transfer_tag(uint32_t ttt) {
        store32(&h_.b[bhs_offset::target_transfer_tag], ttt);
    }

  private:
    TargetBhs& h_;
};

// Text Response (RFC 7143 §11.11).
class TextResponseBhs {
  public:
    TextResponseBhs(TargetBhs& h, bool last) : h_(h) {
        h_.set_opcode(Opcode::text_response);
        h_.set_flags(last ? flag::final_bit : flag::text_continue);
    }
    void set_target_transfer_tag(uint32_t ttt) {
        store32(&h_.b[bhs_offset::target_transfer_tag], ttt);
    }

  private:
    TargetBhs& h_;
};

// Logout Response (RFC 7143 §11.15).
class LogoutResponseBhs {
  public:
    LogoutResponseBhs(TargetBhs& h, LogoutResponse response) : h_(h) {
        h_.set_opcode(Opcode::logout_response);
        h_.set_flags(flag::final_bit);
        h_.b[2] = static_cast<uint8_t>(response);
    }
    void set_time2wait(uint16_t seconds) { store16(&h_.b[40], seconds); }
    void set_time2retain(uint16_t seconds) { store16(&h_.b[42], seconds); }

  private:
    TargetBhs& h_;
};

// Reject (RFC 7143 §11.17); the rejected header is the data segment.
class RejectBhs {
  public:
    RejectBhs(TargetBhs& h, RejectReason reason) {
        h.set_opcode(Opcode::reject);
        h.set_flags(flag::final_bit);
        h.b[2] = static_cast<uint8_t>(reason);
        h.set_itt(reserved_tag);
    }
};

// Asynchronous Message (RFC 7143 §11.9).
class AsyncMessageBhs {
  public:
    static constexpr uint8_t event_logout_request = 1;  // §11.9.1 AsyncEvent 1

    AsyncMessageBhs(TargetBhs& h, uint8_t async_event) : h_(h) {
        h_.set_opcode(Opcode::async_message);
        h_.set_flags(flag::final_bit);
        h_.set_itt(reserved_tag);
        store32(&h_.b[bhs_offset::target_transfer_tag], reserved_tag);
        h_.b[36] = async_event;
    }
    // Parameter3 of a logout request: seconds the initiator has to log out (§11.9.1).
    void set_parameter3(uint16_t v) { store16(&h_.b[42], v); }

  private:
    TargetBhs& h_;
};

// Task Management Function Response (RFC 7143 §11.6).
class TmfResponseBhs {
  public:
    TmfResponseBhs(TargetBhs& h, TmfResponse response) {
        h.set_opcode(Opcode::task_management_response);
        h.set_flags(flag::final_bit);
        h.b[2] = static_cast<uint8_t>(response);
    }
};

// Ready To Transfer (RFC 7143 §11.8).
class R2tBhs {
  public:
    explicit R2tBhs(TargetBhs& h) : h_(h) {
        h_.set_opcode(Opcode::r2t);
        h_.set_flags(flag::final_bit);
    }
    void set_target_transfer_tag(uint32_t ttt) {
        store32(&h_.b[bhs_offset::target_transfer_tag], ttt);
    }
    void set_r2t_sn(uint32_t sn) { store32(&h_.b[36], sn); }
    void set_buffer_offset(uint32_t offset) { store32(&h_.b[40], offset); }
    void set_desired_data_transfer_length(uint32_t n) { store32(&h_.b[44], n); }

  private:
    TargetBhs& h_;
};

// SCSI Data-In (RFC 7143 §11.7).
class DataInBhs {
  public:
    explicit DataInBhs(TargetBhs& h) : h_(h) {
        h_.set_opcode(Opcode::data_in);
        store32(&h_.b[bhs_offset::target_transfer_tag], reserved_tag);
    }
    // F, and with the status collapsed into this PDU (§11.7.4) S, O/U and the status byte.
    void set_flags(uint8_t flags) { h_.set_flags(flags); }
    void set_status(uint8_t status) { h_.b[3] = status; }
    void set_data_sn(uint32_t sn) { store32(&h_.b[36], sn); }
    void set_buffer_offset(uint32_t offset) { store32(&h_.b[40], offset); }
    void set_residual_count(uint32_t n) { store32(&h_.b[44], n); }
    // Without the S bit StatSN is reserved (§11.7.3); ExpCmdSN and MaxCmdSN are still valid.
    void clear_stat_sn() { store32(&h_.b[bhs_offset::stat_sn], 0); }

  private:
    TargetBhs& h_;
};

// SCSI Response (RFC 7143 §11.4).
class ScsiResponseBhs {
  public:
    static constexpr uint8_t command_completed_at_target = 0x00;  // §11.4.3

    explicit ScsiResponseBhs(TargetBhs& h) : h_(h) {
        h_.set_opcode(Opcode::scsi_response);
        h_.b[2] = command_completed_at_target;
    }
    // F is always set; O/U as the residual says (§11.4.5).
    void set_residual_flags(uint8_t flags) {
        h_.set_flags(static_cast<uint8_t>(flag::final_bit | flags));
    }
    void set_status(uint8_t status) { h_.b[3] = status; }
    void set_exp_data_sn(uint32_t sn) { store32(&h_.b[36], sn); }
    void set_residual_count(uint32_t n) { store32(&h_.b[44], n); }

  private:
    TargetBhs& h_;
};

// Login Response (RFC 7143 §11.13).
class LoginResponseBhs {
  public:
    LoginResponseBhs(TargetBhs& h, uint8_t csg, uint8_t nsg, bool transit) : h_(h) {
        h_.set_opcode(Opcode::login_response);
        uint8_t flags = static_cast<uint8_t>((csg << 2) | nsg);
        if (transit) {
            flags |= flag::login_transit;
        }
        h_.set_flags(flags);
        h_.b[2] = 0x00;  // Version-max (§11.13.2)
        h_.b[3] = 0x00;  // Version-active (§11.13.3)
    }
    void set_isid(std::span<const uint8_t, LoginRequestBhs::isid_length> isid) {
        std::copy(isid.begin(), isid.end(), h_.b.begin() + 8);
    }
    void set_tsih(uint16_t tsih) { store16(&h_.b[14], tsih); }
    void set_status(uint8_t status_class, uint8_t status_detail) {
        h_.b[36] = status_class;
        h_.b[37] = status_detail;
    }

  private:
    TargetBhs& h_;
};

}  // namespace atsarray::iscsi
