#pragma once
// SCSI failures as values (STYLE.md "Errors"): every way a command can fail is one SenseReason;
// one constexpr table maps it to status, sense key and additional sense code; the builders here
// are the only code that lays out sense bytes (SPC-4 §4.5).

#include <cstdint>
#include <optional>
#include <string_view>

#include "target/scsi/command.hpp"

namespace atsarray::scsi {

// SPC-4 §4.5.6 Table 27 (sense keys).
enum class SenseKey : uint8_t {
    no_sense = 0x00,
    recovered_error = 0x01,
    not_ready = 0x02,
    medium_error = 0x03,
    hardware_error = 0x04,
    illegal_request = 0x05,
    unit_attention = 0x06,
    data_protect = 0x07,
    copy_aborted = 0x0A,
    aborted_command = 0x0B,
    miscompare = 0x0E,
};

enum class SenseReason : uint8_t {
    none,      // GOOD, no sense
    no_sense,  // NO SENSE, 00/00: what REQUEST SENSE returns when nothing is pending
    invalid_opcode,
    invalid_field_in_cdb,
    invalid_field_in_parameter_list,
    parameter_list_length_error,
    parameter_value_invalid,
    lba_out_of_range,
    logical_unit_not_supported,
    logical_unit_not_ready,
    write_protected,
    medium_error_read,
    medium_error_write,
    no_space,
    power_on_reset,
    bus_device_reset,
    parameters_changed,
    mode_parameters_changed,
    capacity_changed,
    inquiry_data_changed,
    reported_luns_changed,
    invalid_field_in_command_information_unit,
    miscompare,
    saving_parameters_not_supported,
    internal_target_failure,
    reservation_conflict,
    reservations_preempted,
    reservations_released,
    registrations_preempted,
    invalid_release_of_persistent_reservation,
    insufficient_registration_resources,
    busy,
    task_set_full,
    task_aborted,  // TASK ABORTED status (SAM-5 §5.3): a task ended by task management
    // EXTENDED COPY (SPC-4 §6.4): parameter list checks and copy manager failures.
    too_many_target_descriptors,
    unsupported_target_descriptor_type,
    too_many_segment_descriptors,
    unsupported_segment_descriptor_type,
    operation_in_progress,
    copy_target_unreachable,
    copy_aborted,
    // SANITIZE (SBC-4 §4.11): commands refused while it runs or after it failed.
    sanitize_in_progress,
    sanitize_command_failed,
    // Removable medium (LunSettings::removable): ejected by START STOP UNIT LOEJ (SBC-4 §5.25).
    medium_not_present,
    medium_removal_prevented,
    // Asymmetric logical unit access (SPC-4 §5.16): a port of a group in an inaccessible state,
    // and the unit attention after a group's state changed (§5.16.2.6).
    alua_transitioning,
    alua_standby,
    alua_unavailable,
    asymmetric_access_state_changed,
    count,  // not a reason: the table's size
};

struct SenseEntry {
    SenseReason reason;
    Status status;
    SenseKey key;
    uint8_t asc;
    uint8_t ascq;
    std::string_view text;
};

// The one reason -> {status, key, ASC, ASCQ} table (SPC-4 §4.5.6 Table 28, D.2).
const SenseEntry& sense_entry(SenseReason reason);
std::string_view to_string(SenseReason reason);

// SENSE KEY SPECIFIC field pointer for ILLEGAL REQUEST (SPC-4 §4.5.2.4.2): which byte (and,
// optionally, which bit) of the CDB or of the parameter list is in error.
struct FieldPointer {
    bool in_cdb = true;  // C/D bit
    uint16_t byte = 0;
    std::optional<uint8_t> bit;  // BPV + BIT POINTER: the most significant bit of the field
};

// What a command ends with: GOOD (reason none) or a failure with its optional details.
struct CommandResult {
    SenseReason reason = SenseReason::none;
    std::optional<uint64_t> information;  // INFORMATION field (SPC-4 §4.5.2.2, §4.5.3)
    std::optional<FieldPointer> field;
    // PROGRESS INDICATION (SPC-4 §4.5.2.4.4), 0..65535 of the whole operation, for NOT READY
    // while a format or sanitize runs; it takes the SENSE KEY SPECIFIC bytes, so no `field`.
    std::optional<uint16_t> progress;

    bool ok() const { return reason == SenseReason::none; }

    static CommandResult good() { return {}; }
    static CommandResult fail(SenseReason r) { return {r, std::nullopt, std::nullopt}; }
    static CommandResult invalid_cdb_field(uint16_t byte, std::optional<uint8_t> bit = {}) {
        return {SenseReason::invalid_field_in_cdb, std::nullopt, FieldPointer{true, byte, bit}};
    }
    static CommandResult invalid_parameter_field(uint16_t byte, std::optional<uint8_t> bit = {}) {
        return {SenseReason::invalid_field_in_parameter_list, std::nullopt,
                FieldPointer{false, byte, bit}};
    }
    static CommandResult with_information(SenseReason r, uint64_t information) {
        return {r, information, std::nullopt};
    }
    static CommandResult with_progress(SenseReason r, uint16_t progress) {
        return {r, std::nullopt, std::nullopt, progress};
    }
};

enum class SenseFormat : uint8_t { fixed, descriptor };

// Builds sense data in fixed (response code 70h, SPC-4 §4.5.3) or descriptor (72h, SPC-4 §4.5.2)
// format. Reasons without sense (none, busy, ...) give an empty SenseData.
SenseData build_sense(const CommandResult& result, SenseFormat format);
SenseData build_sense(SenseReason reason, SenseFormat format);
// Sense with a key and ASC/ASCQ outside the reason table (fault injection's chosen sense).
SenseData build_sense(SenseKey key, uint8_t asc, uint8_t ascq, SenseFormat format,
                      std::optional<uint64_t> information = std::nullopt,
                      std::optional<FieldPointer> field = std::nullopt,
                      std::optional<uint16_t> progress = std::nullopt);

// Sets cmd.status and cmd.sense from the result; a failure drops any Data-In built so far.
void apply_result(Command& cmd, const CommandResult& result, SenseFormat format);

}  // namespace atsarray::scsi
