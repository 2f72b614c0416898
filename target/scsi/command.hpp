#pragma once
// The SCSI command as the transport hands it to the SCSI layer (SAM-5 "execute command"
// procedure call). The transport (target/iscsi) fills the inputs, the SCSI layer fills the
// outputs and calls the completion exactly once. Neither side knows the other's internals.

#include <array>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

namespace atsarray::scsi {

// SAM-5 status codes.
enum class Status : uint8_t {
    good = 0x00,
    check_condition = 0x02,
    condition_met = 0x04,
    busy = 0x08,
    reservation_conflict = 0x18,
    task_set_full = 0x28,
    aca_active = 0x30,
    task_aborted = 0x40,
};

enum class DataDirection : uint8_t { none, to_device, from_device };

// I_T nexus identity (the I_T nexus of SAM-5); stable for the life of an iSCSI session.
struct Nexus {
    uint64_t id = 0;             // unique per nexus in this process
    std::string initiator_name;  // iSCSI initiator name (IQN/EUI/NAA)
    std::string initiator_port;  // "iqn...,i,0x<ISID>" (RFC 7143's iSCSI initiator port name)
    std::string peer_address;    // "ip:port", for logs and the console
    uint16_t relative_target_port = 1;
    std::string local_address;  // the target's "ip:port" the session reached (its portal)
    uint64_t isid = 0;          // the initiator's ISID (48 bits)
};

// Sense data as built by sense.hpp; at most 252 bytes (SPC-4 §4.5.1).
struct SenseData {
    std::array<uint8_t, 252> bytes{};
    uint8_t length = 0;
    std::span<const uint8_t> view() const { return {bytes.data(), length}; }
};

struct Command {
    // Inputs from the transport.
    std::span<const uint8_t> cdb;  // 6..260 bytes
    uint64_t lun = 0;              // the LUN as a number (SAM-5 single level, 0..16383)
    const Nexus* nexus = nullptr;
    uint32_t itt = 0;     // the transport's task tag (iSCSI Initiator Task Tag), for the records
    uint32_t cmd_sn = 0;  // and its command number (CmdSN)
    uint32_t expected_transfer_length = 0;          // iSCSI Expected Data Transfer Length
    DataDirection direction = DataDirection::none;  // what the transport's R/W flags said
    std::span<const uint8_t> data_out;              // all Data-Out the transport received (writes)

    // Outputs of the SCSI layer.
    Status status = Status::good;
    SenseData sense;
    std::vector<uint8_t>* data_in = nullptr;  // transport-owned buffer, handler resizes and fills

    // For the transport's residual calculation: how many bytes the command wanted to move in
    // its data-out direction (transfer length x block size); 0 when none.
    uint32_t data_out_wanted = 0;

    // Set by the SCSI layer, while it executes the command, for work that outlives an aborted
    // command (SANITIZE: SBC-4 §4.11.3, the sanitize operation goes on). The transport calls it
    // when it aborts the command in execution; the completion then follows without waiting for
    // the work.
    std::function<void()> abort;

    // Set by fault injection (target/fault): the transport sends no response at all (the
    // initiator times out and aborts), or closes the connection instead of answering.
    bool drop_status = false;
    bool drop_connection = false;
};

// Called exactly once per executed command, on any thread.
using Completion = std::function<void(Command&)>;

}  // namespace atsarray::scsi
