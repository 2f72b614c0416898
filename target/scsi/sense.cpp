#include "target/scsi/sense.hpp"

#include <array>
#include <cstddef>

#include "target/scsi/cdb.hpp"

namespace atsarray::scsi {
namespace {

using K = SenseKey;
using S = Status;
using R = SenseReason;

// Index = SenseReason. Codes from SPC-4 Annex D (Table D.1 ASC/ASCQ assignments).
constexpr std::array<SenseEntry, static_cast<size_t>(SenseReason::count)> sense_table{{
    {R::none, S::good, K::no_sense, 0x00, 0x00, "none"},
    {R::no_sense, S::good, K::no_sense, 0x00, 0x00, "NO ADDITIONAL SENSE INFORMATION"},
    {R::invalid_opcode, S::check_condition, K::illegal_request, 0x20, 0x00,
     "INVALID COMMAND OPERATION CODE"},
    {R::invalid_field_in_cdb, S::check_condition, K::illegal_request, 0x24, 0x00,
     "INVALID FIELD IN CDB"},
    {R::invalid_field_in_parameter_list, S::check_condition, K::illegal_request, 0x26, 0x00,
     "INVALID FIELD IN PARAMETER LIST"},
    {R::parameter_list_length_error, S::check_condition, K::illegal_request, 0x1A, 0x00,
     "PARAMETER LIST LENGTH ERROR"},
    {R::parameter_value_invalid, S::check_condition, K::illegal_request, 0x26, 0x02,
     "PARAMETER VALUE INVALID"},
    {R::lba_out_of_range, S::check_condition, K::illegal_request, 0x21, 0x00,
     "LOGICAL BLOCK ADDRESS OUT OF RANGE"},
    {R::logical_unit_not_supported, S::check_condition, K::illegal_request, 0x25, 0x00,
     "LOGICAL UNIT NOT SUPPORTED"},
    {R::logical_unit_not_ready, S::check_condition, K::not_ready, 0x04, 0x00,
     "LOGICAL UNIT NOT READY, CAUSE NOT REPORTABLE"},
    {R::write_protected, S::check_condition, K::data_protect, 0x27, 0x00, "WRITE PROTECTED"},
    {R::medium_error_read, S::check_condition, K::medium_error, 0x11, 0x00,
     "UNRECOVERED READ ERROR"},
    {R::medium_error_write, S::check_condition, K::medium_error, 0x0C, 0x00, "WRITE ERROR"},
    {R::no_space, S::check_condition, K::data_protect, 0x27, 0x07,
     "SPACE ALLOCATION FAILED WRITE PROTECT"},
    {R::power_on_reset, S::check_condition, K::unit_attention, 0x29, 0x00,
     "POWER ON, RESET, OR BUS DEVICE RESET OCCURRED"},
    {R::bus_device_reset, S::check_condition, K::unit_attention, 0x29, 0x03,
     "BUS DEVICE RESET FUNCTION OCCURRED"},
    {R::parameters_changed, S::check_condition, K::unit_attention, 0x2A, 0x00,
     "PARAMETERS CHANGED"},
    {R::mode_parameters_changed, S::check_condition, K::unit_attention, 0x2A, 0x01,
     "MODE PARAMETERS CHANGED"},
    {R::capacity_changed, S::check_condition, K::unit_attention, 0x2A, 0x09,
     "CAPACITY DATA HAS CHANGED"},
    {R::inquiry_data_changed, S::check_condition, K::unit_attention, 0x3F, 0x03,
     "INQUIRY DATA HAS CHANGED"},
    {R::reported_luns_changed, S::check_condition, K::unit_attention, 0x3F, 0x0E,
     "REPORTED LUNS DATA HAS CHANGED"},
    {R::invalid_field_in_command_information_unit, S::check_condition, K::illegal_request, 0x0E,
     0x03, "INVALID FIELD IN COMMAND INFORMATION UNIT"},
    {R::miscompare, S::check_condition, K::miscompare, 0x1D, 0x00,
     "MISCOMPARE DURING VERIFY OPERATION"},
    {R::saving_parameters_not_supported, S::check_condition, K::illegal_request, 0x39, 0x00,
     "SAVING PARAMETERS NOT SUPPORTED"},
    {R::internal_target_failure, S::check_condition, K::hardware_error, 0x44, 0x00,
     "INTERNAL TARGET FAILURE"},
    {R::reservation_conflict, S::reservation_conflict, K::no_sense, 0x00, 0x00,
     "RESERVATION CONFLICT"},
    {R::reservations_preempted, S::check_condition, K::unit_attention, 0x2A, 0x03,
     "RESERVATIONS PREEMPTED"},
    {R::reservations_released, S::check_condition, K::unit_attention, 0x2A, 0x04,
     "RESERVATIONS RELEASED"},
    {R::registrations_preempted, S::check_condition, K::unit_attention, 0x2A, 0x05,
     "REGISTRATIONS PREEMPTED"},
    {R::invalid_release_of_persistent_reservation, S::check_condition, K::illegal_request, 0x26,
     0x04, "INVALID RELEASE OF PERSISTENT RESERVATION"},
    {R::insufficient_registration_resources, S::check_condition, K::illegal_request, 0x55, 0x04,
     "INSUFFICIENT REGISTRATION RESOURCES"},
    {R::busy, S::busy, K::no_sense, 0x00, 0x00, "BUSY"},
    {R::task_set_full, S::task_set_full, K::no_sense, 0x00, 0x00, "TASK SET FULL"},
    {R::task_aborted, S::task_aborted, K::no_sense, 0x00, 0x00, "TASK ABORTED"},
    {R::too_many_target_descriptors, S::check_condition, K::illegal_request, 0x26, 0x06,
     "TOO MANY TARGET DESCRIPTORS"},
    {R::unsupported_target_descriptor_type, S::check_condition, K::illegal_request, 0x26, 0x07,
     "UNSUPPORTED TARGET DESCRIPTOR TYPE CODE"},
    {R::too_many_segment_descriptors, S::check_condition, K::illegal_request, 0x26, 0x08,
     "TOO MANY SEGMENT DESCRIPTORS"},
    {R::unsupported_segment_descriptor_type, S::check_condition, K::illegal_request, 0x26, 0x09,
     "UNSUPPORTED SEGMENT DESCRIPTOR TYPE CODE"},
    {R::operation_in_progress, S::check_condition, K::illegal_request, 0x00, 0x16,
     "OPERATION IN PROGRESS"},
    {R::copy_target_unreachable, S::check_condition, K::copy_aborted, 0x08, 0x04,
     "UNREACHABLE COPY TARGET"},
    {R::copy_aborted, S::check_condition, K::copy_aborted, 0x00, 0x00, "COPY ABORTED"},
    {R::sanitize_in_progress, S::check_condition, K::not_ready, 0x04, 0x1B,
     "LOGICAL UNIT NOT READY, SANITIZE IN PROGRESS"},
    {R::sanitize_command_failed, S::check_condition, K::medium_error, 0x31, 0x03,
     "SANITIZE COMMAND FAILED"},
    {R::medium_not_present, S::check_condition, K::not_ready, 0x3A, 0x00, "MEDIUM NOT PRESENT"},
    {R::medium_removal_prevented, S::check_condition, K::illegal_request, 0x53, 0x02,
     "MEDIUM REMOVAL PREVENTED"},
    {R::alua_transitioning, S::check_condition, K::not_ready, 0x04, 0x0A,
     "LOGICAL UNIT NOT ACCESSIBLE, ASYMMETRIC ACCESS STATE TRANSITION"},
    {R::alua_standby, S::check_condition, K::not_ready, 0x04, 0x0B,
     "LOGICAL UNIT NOT ACCESSIBLE, TARGET PORT IN STANDBY STATE"},
    {R::alua_unavailable, S::check_condition, K::not_ready, 0x04, 0x0C,
     "LOGICAL UNIT NOT ACCESSIBLE, TARGET PORT IN UNAVAILABLE STATE"},
    {R::asymmetric_access_state_changed, S::check_condition, K::unit_attention, 0x2A, 0x06,
     "ASYMMETRIC ACCESS STATE CHANGED"},
}};

constexpr bool table_in_reason_order() {
    for (size_t i = 0; i < sense_table.size(); ++i) {
        if (static_cast<size_t>(sense_table[i].reason) != i) {
            return false;
        }
    }
    return true;
}
static_assert(table_in_reason_order(), "sense_table rows must follow SenseReason order");

// Statuses that carry sense data (SAM-5 §5.3.1: sense accompanies CHECK CONDITION); NO SENSE
// is also built so that REQUEST SENSE can return it as parameter data.
bool has_sense(SenseReason reason) {
    const SenseEntry& e = sense_entry(reason);
    return e.status == Status::check_condition || reason == SenseReason::no_sense;
}

// SENSE KEY SPECIFIC bytes for a field pointer (SPC-4 §4.5.2.4.2 Table 32).
std::array<uint8_t, 3> sense_key_specific(const FieldPointer& field) {
    uint8_t b0 = 0x80;  // SKSV
    if (field.in_cdb) {
        b0 |= 0x40;  // C/D
    }
    if (field.bit) {
        b0 |= 0x08 | (*field.bit & 0x07);  // BPV + BIT POINTER
    }
    return {b0, static_cast<uint8_t>(field.byte >> 8), static_cast<uint8_t>(field.byte)};
}

// SENSE KEY SPECIFIC bytes for a progress indication (SPC-4 §4.5.2.4.4 Table 35).
std::array<uint8_t, 3> sense_key_specific(uint16_t progress) {
    return {0x80, static_cast<uint8_t>(progress >> 8), static_cast<uint8_t>(progress)};
}

// The SENSE KEY SPECIFIC bytes of a sense, if it has them.
std::optional<std::array<uint8_t, 3>> sense_key_specific(const std::optional<FieldPointer>& field,
                                                         std::optional<uint16_t> progress) {
    if (field) {
        return sense_key_specific(*field);
    }
    if (progress) {
        return sense_key_specific(*progress);
    }
    return std::nullopt;
}

}  // namespace

const SenseEntry& sense_entry(SenseReason reason) {
    auto index = static_cast<size_t>(reason);
    if (index >= sense_table.size()) {
        index = static_cast<size_t>(SenseReason::internal_target_failure);
    }
    return sense_table[index];
}

std::string_view to_string(SenseReason reason) {
    return sense_entry(reason).text;
}

SenseData build_sense(const CommandResult& result, SenseFormat format) {
    if (!has_sense(result.reason)) {
        return SenseData{};
    }
    const SenseEntry& e = sense_entry(result.reason);
    return build_sense(e.key, e.asc, e.ascq, format, result.information, result.field,
                       result.progress);
}

SenseData build_sense(SenseKey key, uint8_t asc, uint8_t ascq, SenseFormat format,
                      std::optional<uint64_t> information, std::optional<FieldPointer> field,
                      std::optional<uint16_t> progress) {
    const auto sks = sense_key_specific(field, progress);
    SenseData out;
    auto& b = out.bytes;
    if (format == SenseFormat::fixed) {
        // SPC-4 §4.5.3 Table 26: 18 bytes, ADDITIONAL SENSE LENGTH 10.
        b[0] = 0x70;
        b[2] = static_cast<uint8_t>(key);
        if (information) {
            // Fixed format holds 4 bytes of INFORMATION; VALID only when the value fits.
            if (*information <= 0xFFFFFFFFu) {
                b[0] |= 0x80;
                put_be32(b, 3, static_cast<uint32_t>(*information));
            }
        }
        b[7] = 10;
        b[12] = asc;
        b[13] = ascq;
        if (sks) {
            b[15] = (*sks)[0];
            b[16] = (*sks)[1];
            b[17] = (*sks)[2];
        }
        out.length = 18;
        return out;
    }
    // SPC-4 §4.5.2 Table 13: 8-byte header followed by sense data descriptors.
    b[0] = 0x72;
    b[1] = static_cast<uint8_t>(key);
    b[2] = asc;
    b[3] = ascq;
    size_t at = 8;
    if (information) {
        // Information descriptor, SPC-4 §4.5.2.2 Table 15.
        b[at] = 0x00;
        b[at + 1] = 0x0A;
        b[at + 2] = 0x80;  // VALID
        put_be64(b, at + 4, *information);
        at += 12;
    }
    if (sks) {
        // Sense key specific descriptor, SPC-4 §4.5.2.3 Table 16.
        b[at] = 0x02;
        b[at + 1] = 0x06;
        b[at + 4] = (*sks)[0];
        b[at + 5] = (*sks)[1];
        b[at + 6] = (*sks)[2];
        at += 8;
    }
    b[7] = static_cast<uint8_t>(at - 8);
    out.length = static_cast<uint8_t>(at);
    return out;
}

SenseData build_sense(SenseReason reason, SenseFormat format) {
    return build_sense(CommandResult::fail(reason), format);
}

void apply_result(Command& cmd, const CommandResult& result, SenseFormat format) {
    const SenseEntry& e = sense_entry(result.reason);
    cmd.status = e.status;
    if (e.status == Status::check_condition) {
        cmd.sense = build_sense(result, format);
    } else {
        cmd.sense = SenseData{};
    }
    if (e.status != Status::good && cmd.data_in != nullptr) {
        cmd.data_in->clear();
    }
}

}  // namespace atsarray::scsi
