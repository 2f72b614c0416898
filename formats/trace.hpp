#pragma once
// A command trace (issue 16, capture and replay): every command one or more initiators sent to a
// LUN for a while, whole (CDB, Data-Out, Data-In, status, sense) and timed, as the array's capture
// kept it (target/forensics/capture.hpp). Exported as JSON (trace_json.hpp) or as pcapng that
// Wireshark's iSCSI dissector reads (pcapng.hpp); replayed against any iSCSI target by
// tools/atsarray_replay, which reports where its outcomes differ from the recording.
//
// Both sides know it: the target writes it, the replayer reads it. Plain data, no behaviour.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace atsarray::trace {

// One I_T nexus of the recording: an iSCSI session of one initiator through one target portal.
struct Session {
    std::string initiator_name;         // IQN
    uint64_t isid = 0;                  // the session's ISID (48 bits)
    std::string address;                // the initiator's "ip:port"
    std::string portal;                 // the target's "ip:port" it reached
    std::string target;                 // target IQN
    uint16_t relative_target_port = 1;  // the path (SPC-4 relative target port identifier)
};

enum class Direction : uint8_t { none, write, read };  // the iSCSI W / R flags

// One command, as the LUN answered it. Times are microseconds since Trace::started_unix_us.
struct Command {
    uint32_t session = 0;  // index into Trace::sessions
    uint64_t lun = 0;
    uint32_t itt = 0;  // iSCSI Initiator Task Tag
    uint32_t cmd_sn = 0;
    std::vector<uint8_t> cdb;
    Direction direction = Direction::none;
    uint32_t expected_transfer_length = 0;  // iSCSI Expected Data Transfer Length
    int64_t arrived_us = 0;                 // the LUN received it
    int64_t answered_us = 0;                // its status was handed to the transport
    // The order commands reached the medium in (got their LBA locks; over every LUN and
    // session); 0 for a command that touched no block.
    uint64_t medium_order = 0;
    uint8_t status = 0;          // SAM status (0 GOOD, 2 CHECK CONDITION, ...)
    std::vector<uint8_t> sense;  // the sense data as sent (fixed or descriptor format)
    // Data-Out as received: kept whole unless the capture's byte budget ran out, then only its
    // length and CRC32C are.
    uint32_t data_out_length = 0;
    uint32_t data_out_crc32c = 0;
    bool data_out_kept = true;
    std::vector<uint8_t> data_out;
    // Data-In as sent: likewise.
    uint32_t data_in_length = 0;
    uint32_t data_in_crc32c = 0;
    bool data_in_kept = true;
    std::vector<uint8_t> data_in;
    // COMPARE AND WRITE that miscompared: the medium's first block (what the host did not expect).
    std::vector<uint8_t> medium_image;
    // How it ended: "good", "check_condition", "miscompare", "injected_miscompare", "aborted",
    // "busy", ...; the fault rule that acted on it; false when the initiator never got the
    // status (dropped by a fault, aborted, connection closed).
    std::string outcome;
    std::string fault_rule;
    bool status_seen = true;
};

struct Lun {
    std::string target;
    uint64_t lun = 0;
    uint32_t block_size = 512;
    uint64_t blocks = 0;  // capacity in blocks when the capture started
};

struct Trace {
    static constexpr int format_version = 1;
    std::string id;  // the capture's id on the array
    int64_t started_unix_us = 0;
    int64_t ended_unix_us = 0;
    // What was asked for: the target, a LUN (nullopt: all of the target's), an initiator (empty:
    // any).
    std::string target;
    std::optional<uint64_t> lun;
    std::string initiator;
    std::string stop_reason;  // "running", "stopped", "max_commands", "max_seconds"
    std::vector<Lun> luns;
    std::vector<Session> sessions;
    std::vector<Command> commands;  // in the order they were answered
};

}  // namespace atsarray::trace
