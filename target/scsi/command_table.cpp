#include "target/scsi/command_table.hpp"

#include <algorithm>
#include <bit>
#include <exception>

#include <spdlog/spdlog.h>

#include "target/scsi/cdb.hpp"
#include "target/scsi/handlers.hpp"

namespace atsarray::scsi {
namespace {

namespace h = handlers;
using D = DataDirection;

// Reservation columns (SPC-4 §5.13.1 Table 53, SBC-3 §4.17 Table 13): flags_allowed commands pass
// any persistent reservation, flags_read ones are medium reads; everything else conflicts for an
// I_T nexus without access.
constexpr uint32_t flags_allowed = flag_allowed_with_reservation;
constexpr uint32_t flags_ua_exempt = flag_allowed_with_unit_attention | flag_answers_without_lun |
                                     flags_allowed | flag_allowed_during_sanitize;
constexpr uint32_t flags_read = flag_accesses_medium | flag_reads_medium | flag_needs_medium;
constexpr uint32_t flags_plain_read = flags_read | flag_tries_without_waiting;
constexpr uint32_t flags_sync = flag_accesses_medium | flag_needs_medium;
constexpr uint32_t flags_write = flag_accesses_medium | flag_writes_medium | flag_needs_medium;
constexpr uint32_t flags_plain_write = flags_write | flag_tries_without_waiting;
// WRITE ATOMIC: the LUN's read barrier exclusively (Lun), so no read sees half of it.
constexpr uint32_t flags_atomic_write = flags_write | flag_atomic_to_reads;
// SANITIZE OVERWRITE / BLOCK ERASE: change the whole medium, run on the blocking-work hook in
// chunks and complete when done (sanitize.cpp).
constexpr uint32_t flags_sanitize = flag_writes_medium | flag_completes_later;

// CDB usage data per command (SPC-4 §6.35.3). The last byte of every CDB is CONTROL; its NACA
// bit is 0 in the usage data because ACA is not supported (SAM-5 §5.10: NACA=1 then ends in
// INVALID FIELD IN CDB). READ/WRITE byte 1: xxPROTECT (checked in parse), DPO, FUA, FUA_NV
// (SBC-3 READ(10)). GROUP NUMBER (bits 4-0) is accepted and ignored: the SBC-3 grouping
// function is optional and only a hint.
// clang-format off
constexpr std::array command_descriptors{
    CommandDescriptor{"TEST UNIT READY", 0x00, {}, 6,
        {0x00, 0x00, 0x00, 0x00, 0x00, 0x00},
        D::none, flags_allowed | flag_needs_medium, h::parse_test_unit_ready,
        h::execute_test_unit_ready},
    CommandDescriptor{"REQUEST SENSE", 0x03, {}, 6,
        {0x03, 0x01, 0x00, 0x00, 0xFF, 0x00},
        D::from_device, flags_ua_exempt, h::parse_request_sense, h::execute_request_sense},
    CommandDescriptor{"READ(6)", 0x08, {}, 6,
        {0x08, 0x1F, 0xFF, 0xFF, 0xFF, 0x00},
        D::from_device, flags_plain_read, h::parse_read, h::execute_read,
        nullptr, h::start_read},
    CommandDescriptor{"WRITE(6)", 0x0A, {}, 6,
        {0x0A, 0x1F, 0xFF, 0xFF, 0xFF, 0x00},
        D::to_device, flags_plain_write, h::parse_write, h::execute_write,
        nullptr, h::start_write},
    CommandDescriptor{"INQUIRY", 0x12, {}, 6,
        {0x12, 0x01, 0xFF, 0xFF, 0xFF, 0x00},
        D::from_device, flags_ua_exempt, h::parse_inquiry, h::execute_inquiry},
    CommandDescriptor{"MODE SELECT(6)", 0x15, {}, 6,
        {0x15, 0x11, 0x00, 0x00, 0xFF, 0x00},
        D::to_device, 0, h::parse_mode_select, h::execute_mode_select},
    // RESERVE/RELEASE: byte 1 3RDPTY and EXTENT (6) / LONGID (10) are rejected in parse; the
    // third-party and extent bytes are obsolete and ignored (SPC-2 §7.21-§7.24).
    CommandDescriptor{"RESERVE(6)", 0x16, {}, 6,
        {0x16, 0x1F, 0xFF, 0xFF, 0xFF, 0x00},
        D::none, 0, h::parse_reserve_release, h::execute_reserve},
    CommandDescriptor{"RELEASE(6)", 0x17, {}, 6,
        {0x17, 0x1F, 0xFF, 0xFF, 0xFF, 0x00},
        D::none, 0, h::parse_reserve_release, h::execute_release},
    CommandDescriptor{"MODE SENSE(6)", 0x1A, {}, 6,
        {0x1A, 0x08, 0xFF, 0xFF, 0xFF, 0x00},
        D::from_device, 0, h::parse_mode_sense, h::execute_mode_sense},
    // START STOP UNIT (SBC-4 §5.25): IMMED; POWER CONDITION MODIFIER; POWER CONDITION, NO_FLUSH,
    // LOEJ, START. Stopping flushes the cache, so it goes through the blocking-work hook.
    CommandDescriptor{"START STOP UNIT", 0x1B, {}, 6,
        {0x1B, 0x01, 0x00, 0x0F, 0xF7, 0x00},
        D::none, flag_accesses_medium, h::parse_start_stop_unit, h::execute_start_stop_unit},
    CommandDescriptor{"PREVENT ALLOW MEDIUM REMOVAL", 0x1E, {}, 6,
        {0x1E, 0x00, 0x00, 0x00, 0x03, 0x00},
        D::none, 0, h::parse_prevent_allow, h::execute_prevent_allow},
    CommandDescriptor{"READ CAPACITY(10)", 0x25, {}, 10,
        {0x25, 0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x00, 0x01, 0x00},
        D::from_device, flags_allowed | flag_needs_medium, h::parse_read_capacity_10,
        h::execute_read_capacity_10},
    CommandDescriptor{"READ(10)", 0x28, {}, 10,
        {0x28, 0xFA, 0xFF, 0xFF, 0xFF, 0xFF, 0x1F, 0xFF, 0xFF, 0x00},
        D::from_device, flags_plain_read, h::parse_read, h::execute_read,
        nullptr, h::start_read},
    CommandDescriptor{"WRITE(10)", 0x2A, {}, 10,
        {0x2A, 0xFA, 0xFF, 0xFF, 0xFF, 0xFF, 0x1F, 0xFF, 0xFF, 0x00},
        D::to_device, flags_plain_write, h::parse_write, h::execute_write,
        nullptr, h::start_write},
    CommandDescriptor{"WRITE AND VERIFY(10)", 0x2E, {}, 10,
        {0x2E, 0xF6, 0xFF, 0xFF, 0xFF, 0xFF, 0x1F, 0xFF, 0xFF, 0x00},
        D::to_device, flags_write, h::parse_write_and_verify, h::execute_write_and_verify},
    CommandDescriptor{"VERIFY(10)", 0x2F, {}, 10,
        {0x2F, 0xF6, 0xFF, 0xFF, 0xFF, 0xFF, 0x1F, 0xFF, 0xFF, 0x00},
        D::to_device, flags_read, h::parse_verify, h::execute_verify},
    CommandDescriptor{"PRE-FETCH(10)", 0x34, {}, 10,
        {0x34, 0x02, 0xFF, 0xFF, 0xFF, 0xFF, 0x1F, 0xFF, 0xFF, 0x00},
        D::none, flag_reads_medium | flag_needs_medium, h::parse_prefetch, h::execute_prefetch},
    CommandDescriptor{"SYNCHRONIZE CACHE(10)", 0x35, {}, 10,
        {0x35, 0x06, 0xFF, 0xFF, 0xFF, 0xFF, 0x1F, 0xFF, 0xFF, 0x00},
        D::none, flags_sync, h::parse_synchronize_cache,
        h::execute_synchronize_cache, nullptr, h::start_synchronize_cache},
    // READ DEFECT DATA(10) (SBC-4 §5.16): REQ_PLIST, REQ_GLIST, DEFECT LIST FORMAT; ALLOCATION
    // LENGTH.
    CommandDescriptor{"READ DEFECT DATA(10)", 0x37, {}, 10,
        {0x37, 0x00, 0x1F, 0x00, 0x00, 0x00, 0x00, 0xFF, 0xFF, 0x00},
        D::from_device, flag_reads_medium | flag_needs_medium, h::parse_read_defect_data,
        h::execute_read_defect_data},
    CommandDescriptor{"WRITE SAME(10)", 0x41, {}, 10,
        {0x41, 0xF8, 0xFF, 0xFF, 0xFF, 0xFF, 0x1F, 0xFF, 0xFF, 0x00},
        D::to_device, flags_write, h::parse_write_same, h::execute_write_same},
    CommandDescriptor{"UNMAP", 0x42, {}, 10,
        {0x42, 0x01, 0x00, 0x00, 0x00, 0x00, 0x1F, 0xFF, 0xFF, 0x00},
        D::to_device, flags_write, h::parse_unmap, h::execute_unmap, h::unmap_lock_ranges},
    // SANITIZE (SBC-4 §5.30): byte 1 IMMED, AUSE, SERVICE ACTION; PARAMETER LIST LENGTH.
    // CRYPTOGRAPHIC ERASE (03h) has no entry: not supported (sanitize.cpp).
    CommandDescriptor{"SANITIZE OVERWRITE", 0x48, 0x01, 10,
        {0x48, 0xBF, 0x00, 0x00, 0x00, 0x00, 0x00, 0xFF, 0xFF, 0x00},
        D::to_device, flags_sanitize, h::parse_sanitize, h::execute_sanitize},
    CommandDescriptor{"SANITIZE BLOCK ERASE", 0x48, 0x02, 10,
        {0x48, 0xBF, 0x00, 0x00, 0x00, 0x00, 0x00, 0xFF, 0xFF, 0x00},
        D::none, flags_sanitize, h::parse_sanitize, h::execute_sanitize},
    CommandDescriptor{"SANITIZE EXIT FAILURE MODE", 0x48, 0x1F, 10,
        {0x48, 0xBF, 0x00, 0x00, 0x00, 0x00, 0x00, 0xFF, 0xFF, 0x00},
        D::none, 0, h::parse_sanitize, h::execute_sanitize},
    CommandDescriptor{"MODE SELECT(10)", 0x55, {}, 10,
        {0x55, 0x11, 0x00, 0x00, 0x00, 0x00, 0x00, 0xFF, 0xFF, 0x00},
        D::to_device, 0, h::parse_mode_select, h::execute_mode_select},
    CommandDescriptor{"RESERVE(10)", 0x56, {}, 10,
        {0x56, 0x13, 0xFF, 0xFF, 0x00, 0x00, 0x00, 0xFF, 0xFF, 0x00},
        D::none, 0, h::parse_reserve_release, h::execute_reserve},
    CommandDescriptor{"RELEASE(10)", 0x57, {}, 10,
        {0x57, 0x13, 0xFF, 0xFF, 0x00, 0x00, 0x00, 0xFF, 0xFF, 0x00},
        D::none, 0, h::parse_reserve_release, h::execute_release},
    CommandDescriptor{"MODE SENSE(10)", 0x5A, {}, 10,
        {0x5A, 0x18, 0xFF, 0xFF, 0x00, 0x00, 0x00, 0xFF, 0xFF, 0x00},
        D::from_device, 0, h::parse_mode_sense, h::execute_mode_sense},
    // PERSISTENT RESERVE IN/OUT pass the conflict check; the service actions apply SPC-4 §5.13
    // themselves. The service action is checked in parse (INVALID FIELD IN CDB). Both go to the
    // blocking-work hook when the state is kept (flag_saves_state): with several gateways even
    // PERSISTENT RESERVE IN reads the shared record first.
    CommandDescriptor{"PERSISTENT RESERVE IN", 0x5E, {}, 10,
        {0x5E, 0x1F, 0x00, 0x00, 0x00, 0x00, 0x00, 0xFF, 0xFF, 0x00},
        D::from_device, flags_allowed | flag_saves_state, h::parse_persistent_reserve_in,
        h::execute_persistent_reserve_in},
    CommandDescriptor{"PERSISTENT RESERVE OUT", 0x5F, {}, 10,
        {0x5F, 0x1F, 0xFF, 0x00, 0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0x00},
        D::to_device, flags_allowed | flag_saves_state, h::parse_persistent_reserve_out,
        h::execute_persistent_reserve_out},
    // EXTENDED COPY(LID1) (SPC-4 §6.4): the copy reaches other LUNs' stores; it runs holding the
    // LBA locks of every destination range, and checks each destination's write protection
    // per segment (extended_copy.cpp).
    CommandDescriptor{"EXTENDED COPY(LID1)", 0x83, 0x00, 16,
        {0x83, 0x1F, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
         0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x00},
        D::to_device, flag_accesses_medium | flag_reaches_other_luns, h::parse_extended_copy,
        h::execute_extended_copy, h::extended_copy_lock_ranges},
    // RECEIVE COPY RESULTS (SPC-4 §6.18): LIST IDENTIFIER, ALLOCATION LENGTH.
    CommandDescriptor{"RECEIVE COPY STATUS(LID1)", 0x84, 0x00, 16,
        {0x84, 0x1F, 0xFF, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
         0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x00},
        D::from_device, 0, h::parse_receive_copy_results, h::execute_receive_copy_results},
    CommandDescriptor{"RECEIVE COPY DATA(LID1)", 0x84, 0x01, 16,
        {0x84, 0x1F, 0xFF, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
         0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x00},
        D::from_device, 0, h::parse_receive_copy_results, h::execute_receive_copy_results},
    CommandDescriptor{"RECEIVE COPY OPERATING PARAMETERS", 0x84, 0x03, 16,
        {0x84, 0x1F, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
         0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x00},
        D::from_device, 0, h::parse_receive_copy_results, h::execute_receive_copy_results},
    CommandDescriptor{"RECEIVE COPY FAILURE DETAILS(LID1)", 0x84, 0x04, 16,
        {0x84, 0x1F, 0xFF, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
         0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x00},
        D::from_device, 0, h::parse_receive_copy_results, h::execute_receive_copy_results},
    CommandDescriptor{"READ(16)", 0x88, {}, 16,
        {0x88, 0xFA, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
         0xFF, 0xFF, 0xFF, 0xFF, 0x1F, 0x00},
        D::from_device, flags_plain_read, h::parse_read, h::execute_read,
        nullptr, h::start_read},
    CommandDescriptor{"COMPARE AND WRITE", 0x89, {}, 16,
        {0x89, 0xFA, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
         0x00, 0x00, 0x00, 0xFF, 0x1F, 0x00},
        D::to_device, flags_plain_write | flag_compare_and_write, h::parse_compare_and_write,
        h::execute_compare_and_write, nullptr, h::start_compare_and_write},
    CommandDescriptor{"WRITE(16)", 0x8A, {}, 16,
        {0x8A, 0xFA, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
         0xFF, 0xFF, 0xFF, 0xFF, 0x1F, 0x00},
        D::to_device, flags_plain_write, h::parse_write, h::execute_write,
        nullptr, h::start_write},
    CommandDescriptor{"ORWRITE(16)", 0x8B, {}, 16,
        {0x8B, 0xFA, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
         0xFF, 0xFF, 0xFF, 0xFF, 0x1F, 0x00},
        D::to_device, flags_write, h::parse_write, h::execute_orwrite},
    CommandDescriptor{"WRITE AND VERIFY(16)", 0x8E, {}, 16,
        {0x8E, 0xF6, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
         0xFF, 0xFF, 0xFF, 0xFF, 0x1F, 0x00},
        D::to_device, flags_write, h::parse_write_and_verify, h::execute_write_and_verify},
    CommandDescriptor{"VERIFY(16)", 0x8F, {}, 16,
        {0x8F, 0xF6, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
         0xFF, 0xFF, 0xFF, 0xFF, 0x1F, 0x00},
        D::to_device, flags_read, h::parse_verify, h::execute_verify},
    CommandDescriptor{"PRE-FETCH(16)", 0x90, {}, 16,
        {0x90, 0x02, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
         0xFF, 0xFF, 0xFF, 0xFF, 0x1F, 0x00},
        D::none, flag_reads_medium | flag_needs_medium, h::parse_prefetch, h::execute_prefetch},
    CommandDescriptor{"SYNCHRONIZE CACHE(16)", 0x91, {}, 16,
        {0x91, 0x06, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
         0xFF, 0xFF, 0xFF, 0xFF, 0x1F, 0x00},
        D::none, flags_sync, h::parse_synchronize_cache,
        h::execute_synchronize_cache, nullptr, h::start_synchronize_cache},
    CommandDescriptor{"WRITE SAME(16)", 0x93, {}, 16,
        {0x93, 0xF9, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
         0xFF, 0xFF, 0xFF, 0xFF, 0x1F, 0x00},
        D::to_device, flags_write, h::parse_write_same, h::execute_write_same},
    // WRITE ATOMIC(16) (SBC-4 §5.48): byte 1 WRPROTECT, DPO, FUA; bytes 10-11 ATOMIC BOUNDARY
    // (nonzero rejected in parse); bytes 12-13 TRANSFER LENGTH.
    CommandDescriptor{"WRITE ATOMIC(16)", 0x9C, {}, 16,
        {0x9C, 0xF8, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
         0xFF, 0xFF, 0xFF, 0xFF, 0x1F, 0x00},
        D::to_device, flags_atomic_write, h::parse_write_atomic, h::execute_write_atomic},
    CommandDescriptor{"READ CAPACITY(16)", 0x9E, 0x10, 16,
        {0x9E, 0x1F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
         0xFF, 0xFF, 0xFF, 0xFF, 0x01, 0x00},
        D::from_device, flags_allowed | flag_needs_medium, h::parse_read_capacity_16,
        h::execute_read_capacity_16},
    CommandDescriptor{"GET LBA STATUS", 0x9E, 0x12, 16,
        {0x9E, 0x1F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
         0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x00},
        D::from_device, flags_read, h::parse_get_lba_status, h::execute_get_lba_status},
    CommandDescriptor{"REPORT LUNS", 0xA0, {}, 12,
        {0xA0, 0x00, 0xFF, 0x00, 0x00, 0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x00},
        D::from_device, flags_ua_exempt, h::parse_report_luns, h::execute_report_luns},
    // MAINTENANCE IN (0xA3) service actions, SPC-4 §6.35-§6.37. Byte 1 of REPORT TARGET PORT
    // GROUPS also holds PARAMETER DATA FORMAT; byte 2 of the others RCTD/REPORTING OPTIONS and
    // REPTD.
    CommandDescriptor{"REPORT TARGET PORT GROUPS", 0xA3, 0x0A, 12,
        {0xA3, 0xFF, 0x00, 0x00, 0x00, 0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x00},
        D::from_device, flags_allowed, h::parse_report_target_port_groups,
        h::execute_report_target_port_groups},
    CommandDescriptor{"REPORT SUPPORTED OPERATION CODES", 0xA3, 0x0C, 12,
        {0xA3, 0x1F, 0x87, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x00},
        D::from_device, flags_allowed, h::parse_report_supported_opcodes,
        h::execute_report_supported_opcodes},
    CommandDescriptor{"REPORT SUPPORTED TASK MANAGEMENT FUNCTIONS", 0xA3, 0x0D, 12,
        {0xA3, 0x1F, 0x80, 0x00, 0x00, 0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x00},
        D::from_device, flags_allowed, h::parse_report_supported_tmfs,
        h::execute_report_supported_tmfs},
    // MAINTENANCE OUT (0xA4): SET TARGET PORT GROUPS (SPC-4 §6.39), PARAMETER LIST LENGTH.
    // Under a persistent reservation it conflicts for an I_T nexus without access, as in LIO.
    CommandDescriptor{"SET TARGET PORT GROUPS", 0xA4, 0x0A, 12,
        {0xA4, 0x1F, 0x00, 0x00, 0x00, 0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x00},
        D::to_device, 0, h::parse_set_target_port_groups, h::execute_set_target_port_groups},
    CommandDescriptor{"READ(12)", 0xA8, {}, 12,
        {0xA8, 0xFA, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x1F, 0x00},
        D::from_device, flags_plain_read, h::parse_read, h::execute_read,
        nullptr, h::start_read},
    CommandDescriptor{"WRITE(12)", 0xAA, {}, 12,
        {0xAA, 0xFA, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x1F, 0x00},
        D::to_device, flags_plain_write, h::parse_write, h::execute_write,
        nullptr, h::start_write},
    CommandDescriptor{"WRITE AND VERIFY(12)", 0xAE, {}, 12,
        {0xAE, 0xF6, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x1F, 0x00},
        D::to_device, flags_write, h::parse_write_and_verify, h::execute_write_and_verify},
    CommandDescriptor{"VERIFY(12)", 0xAF, {}, 12,
        {0xAF, 0xF6, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x1F, 0x00},
        D::to_device, flags_read, h::parse_verify, h::execute_verify},
    // READ DEFECT DATA(12) (SBC-4 §5.17): REQ_PLIST, REQ_GLIST, DEFECT LIST FORMAT; ADDRESS
    // DESCRIPTOR INDEX; ALLOCATION LENGTH.
    CommandDescriptor{"READ DEFECT DATA(12)", 0xB7, {}, 12,
        {0xB7, 0x1F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x00},
        D::from_device, flag_reads_medium | flag_needs_medium, h::parse_read_defect_data,
        h::execute_read_defect_data},
};
// clang-format on

constexpr bool table_is_consistent() {
    for (const auto& d : command_descriptors) {
        if (d.usage[0] != d.opcode || d.cdb_length < 6 || d.cdb_length > d.usage.size()) {
            return false;
        }
        for (size_t i = d.cdb_length; i < d.usage.size(); ++i) {
            if (d.usage[i] != 0) {
                return false;
            }
        }
    }
    return true;
}
static_assert(table_is_consistent(),
              "command_descriptors: usage[0] must be the opcode, bytes past the CDB 0");

// The 256-slot lookup (tgt usr/sbc.c style): the index of the first descriptor for an opcode,
// -1 (INVALID COMMAND OPERATION CODE) by default.
constexpr std::array<int16_t, 256> opcode_slots = [] {
    std::array<int16_t, 256> slots{};
    slots.fill(-1);
    for (size_t i = 0; i < command_descriptors.size(); ++i) {
        if (slots[command_descriptors[i].opcode] < 0) {
            slots[command_descriptors[i].opcode] = static_cast<int16_t>(i);
        }
    }
    return slots;
}();

}  // namespace

std::span<const CommandDescriptor> all_commands() {
    return command_descriptors;
}

const CommandDescriptor* find_command(std::span<const uint8_t> cdb, CommandResult& error) {
    if (cdb.empty() || opcode_slots[cdb[0]] < 0) {
        error = CommandResult::fail(SenseReason::invalid_opcode);
        return nullptr;
    }
    const CommandDescriptor& first = command_descriptors[static_cast<size_t>(opcode_slots[cdb[0]])];
    if (!first.service_action) {
        return &first;
    }
    if (cdb.size() >= 2) {
        for (const auto& d : command_descriptors) {
            if (d.opcode == cdb[0] && d.service_action == cdb_service_action(cdb)) {
                return &d;
            }
        }
    }
    // SPC-4 §4.2.5.1: an unsupported service action of a supported opcode is an invalid field.
    error = CommandResult::invalid_cdb_field(1, 4);
    return nullptr;
}

CommandResult prepare_command(CommandContext& ctx) {
    const CommandDescriptor& d = ctx.descriptor;
    std::span<const uint8_t> cdb = ctx.cmd.cdb;
    if (cdb.size() < d.cdb_length) {
        return CommandResult::fail(SenseReason::invalid_field_in_cdb);
    }
    // SPC-4 §4.2.5 / §6.35.3: a reserved bit set ends in INVALID FIELD IN CDB; the field
    // pointer names the byte and its most significant offending bit.
    for (size_t i = 1; i < d.cdb_length; ++i) {
        const uint8_t stray = cdb[i] & static_cast<uint8_t>(~d.usage[i]);
        if (stray != 0) {
            const auto bit = static_cast<uint8_t>(std::bit_width(unsigned{stray}) - 1);
            return CommandResult::invalid_cdb_field(static_cast<uint16_t>(i), bit);
        }
    }
    try {
        return d.parse(ctx);
    } catch (const std::exception& e) {
        spdlog::error("scsi: parsing {} failed with an exception: {}", d.name, e.what());
        return CommandResult::fail(SenseReason::internal_target_failure);
    }
}

CommandResult execute_command(CommandContext& ctx) {
    try {
        return ctx.descriptor.execute(ctx);
    } catch (const std::exception& e) {
        spdlog::error("scsi: {} failed with an exception: {}", ctx.descriptor.name, e.what());
        return CommandResult::fail(SenseReason::internal_target_failure);
    }
}

void set_data_in(Command& cmd, std::span<const uint8_t> natural, uint32_t allocation_length) {
    if (cmd.data_in == nullptr) {
        return;
    }
    const size_t n = std::min<size_t>(natural.size(), allocation_length);
    cmd.data_in->assign(natural.begin(), natural.begin() + static_cast<std::ptrdiff_t>(n));
}

}  // namespace atsarray::scsi
