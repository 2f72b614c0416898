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

constexpr uint32_t kUaExempt = flag_allowed_with_unit_attention | flag_answers_without_lun;
constexpr uint32_t kRead = flag_accesses_medium;
constexpr uint32_t kWrite = flag_accesses_medium | flag_writes_medium;

// CDB usage data per command (SPC-4 §6.35.3). The last byte of every CDB is CONTROL; its NACA
// bit is 0 in the usage data because ACA is not supported (SAM-5 §5.10: NACA=1 then ends in
// INVALID FIELD IN CDB). READ/WRITE byte 1: xxPROTECT (checked in parse), DPO, FUA, FUA_NV
// (SBC-3 READ(10)). GROUP NUMBER (bits 4-0) is accepted and ignored: the SBC-3 grouping
// function is optional and only a hint.
// clang-format off
constexpr std::array kCommands{
    CommandDescriptor{"TEST UNIT READY", 0x00, {}, 6,
        {0x00, 0x00, 0x00, 0x00, 0x00, 0x00},
        D::none, 0, h::parse_test_unit_ready, h::execute_test_unit_ready},
    CommandDescriptor{"REQUEST SENSE", 0x03, {}, 6,
        {0x03, 0x01, 0x00, 0x00, 0xFF, 0x00},
        D::from_device, kUaExempt, h::parse_request_sense, h::execute_request_sense},
    CommandDescriptor{"READ(6)", 0x08, {}, 6,
        {0x08, 0x1F, 0xFF, 0xFF, 0xFF, 0x00},
        D::from_device, kRead, h::parse_read, h::execute_read},
    CommandDescriptor{"WRITE(6)", 0x0A, {}, 6,
        {0x0A, 0x1F, 0xFF, 0xFF, 0xFF, 0x00},
        D::to_device, kWrite, h::parse_write, h::execute_write},
    CommandDescriptor{"INQUIRY", 0x12, {}, 6,
        {0x12, 0x01, 0xFF, 0xFF, 0xFF, 0x00},
        D::from_device, kUaExempt, h::parse_inquiry, h::execute_inquiry},
    CommandDescriptor{"MODE SELECT(6)", 0x15, {}, 6,
        {0x15, 0x11, 0x00, 0x00, 0xFF, 0x00},
        D::to_device, 0, h::parse_mode_select, h::execute_mode_select},
    CommandDescriptor{"MODE SENSE(6)", 0x1A, {}, 6,
        {0x1A, 0x08, 0xFF, 0xFF, 0xFF, 0x00},
        D::from_device, 0, h::parse_mode_sense, h::execute_mode_sense},
    CommandDescriptor{"READ CAPACITY(10)", 0x25, {}, 10,
        {0x25, 0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x00, 0x01, 0x00},
        D::from_device, 0, h::parse_read_capacity_10, h::execute_read_capacity_10},
    CommandDescriptor{"READ(10)", 0x28, {}, 10,
        {0x28, 0xFA, 0xFF, 0xFF, 0xFF, 0xFF, 0x1F, 0xFF, 0xFF, 0x00},
        D::from_device, kRead, h::parse_read, h::execute_read},
    CommandDescriptor{"WRITE(10)", 0x2A, {}, 10,
        {0x2A, 0xFA, 0xFF, 0xFF, 0xFF, 0xFF, 0x1F, 0xFF, 0xFF, 0x00},
        D::to_device, kWrite, h::parse_write, h::execute_write},
    CommandDescriptor{"WRITE AND VERIFY(10)", 0x2E, {}, 10,
        {0x2E, 0xF6, 0xFF, 0xFF, 0xFF, 0xFF, 0x1F, 0xFF, 0xFF, 0x00},
        D::to_device, kWrite, h::parse_write_and_verify, h::execute_write_and_verify},
    CommandDescriptor{"VERIFY(10)", 0x2F, {}, 10,
        {0x2F, 0xF6, 0xFF, 0xFF, 0xFF, 0xFF, 0x1F, 0xFF, 0xFF, 0x00},
        D::to_device, kRead, h::parse_verify, h::execute_verify},
    CommandDescriptor{"SYNCHRONIZE CACHE(10)", 0x35, {}, 10,
        {0x35, 0x06, 0xFF, 0xFF, 0xFF, 0xFF, 0x1F, 0xFF, 0xFF, 0x00},
        D::none, kRead, h::parse_synchronize_cache, h::execute_synchronize_cache},
    CommandDescriptor{"MODE SELECT(10)", 0x55, {}, 10,
        {0x55, 0x11, 0x00, 0x00, 0x00, 0x00, 0x00, 0xFF, 0xFF, 0x00},
        D::to_device, 0, h::parse_mode_select, h::execute_mode_select},
    CommandDescriptor{"MODE SENSE(10)", 0x5A, {}, 10,
        {0x5A, 0x18, 0xFF, 0xFF, 0x00, 0x00, 0x00, 0xFF, 0xFF, 0x00},
        D::from_device, 0, h::parse_mode_sense, h::execute_mode_sense},
    CommandDescriptor{"READ(16)", 0x88, {}, 16,
        {0x88, 0xFA, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
         0xFF, 0xFF, 0xFF, 0xFF, 0x1F, 0x00},
        D::from_device, kRead, h::parse_read, h::execute_read},
    CommandDescriptor{"WRITE(16)", 0x8A, {}, 16,
        {0x8A, 0xFA, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
         0xFF, 0xFF, 0xFF, 0xFF, 0x1F, 0x00},
        D::to_device, kWrite, h::parse_write, h::execute_write},
    CommandDescriptor{"WRITE AND VERIFY(16)", 0x8E, {}, 16,
        {0x8E, 0xF6, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
         0xFF, 0xFF, 0xFF, 0xFF, 0x1F, 0x00},
        D::to_device, kWrite, h::parse_write_and_verify, h::execute_write_and_verify},
    CommandDescriptor{"VERIFY(16)", 0x8F, {}, 16,
        {0x8F, 0xF6, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
         0xFF, 0xFF, 0xFF, 0xFF, 0x1F, 0x00},
        D::to_device, kRead, h::parse_verify, h::execute_verify},
    CommandDescriptor{"SYNCHRONIZE CACHE(16)", 0x91, {}, 16,
        {0x91, 0x06, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
         0xFF, 0xFF, 0xFF, 0xFF, 0x1F, 0x00},
        D::none, kRead, h::parse_synchronize_cache, h::execute_synchronize_cache},
    CommandDescriptor{"READ CAPACITY(16)", 0x9E, 0x10, 16,
        {0x9E, 0x1F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
         0xFF, 0xFF, 0xFF, 0xFF, 0x01, 0x00},
        D::from_device, 0, h::parse_read_capacity_16, h::execute_read_capacity_16},
    CommandDescriptor{"REPORT LUNS", 0xA0, {}, 12,
        {0xA0, 0x00, 0xFF, 0x00, 0x00, 0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x00},
        D::from_device, kUaExempt, h::parse_report_luns, h::execute_report_luns},
    CommandDescriptor{"READ(12)", 0xA8, {}, 12,
        {0xA8, 0xFA, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x1F, 0x00},
        D::from_device, kRead, h::parse_read, h::execute_read},
    CommandDescriptor{"WRITE(12)", 0xAA, {}, 12,
        {0xAA, 0xFA, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x1F, 0x00},
        D::to_device, kWrite, h::parse_write, h::execute_write},
    CommandDescriptor{"WRITE AND VERIFY(12)", 0xAE, {}, 12,
        {0xAE, 0xF6, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x1F, 0x00},
        D::to_device, kWrite, h::parse_write_and_verify, h::execute_write_and_verify},
    CommandDescriptor{"VERIFY(12)", 0xAF, {}, 12,
        {0xAF, 0xF6, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x1F, 0x00},
        D::to_device, kRead, h::parse_verify, h::execute_verify},
};
// clang-format on

constexpr bool table_is_consistent() {
    for (const auto& d : kCommands) {
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
              "kCommands: usage[0] must be the opcode, bytes past the CDB 0");

// The 256-slot lookup (tgt usr/sbc.c style): the index of the first descriptor for an opcode,
// -1 (INVALID COMMAND OPERATION CODE) by default.
constexpr std::array<int16_t, 256> kSlots = [] {
    std::array<int16_t, 256> slots{};
    slots.fill(-1);
    for (size_t i = 0; i < kCommands.size(); ++i) {
        if (slots[kCommands[i].opcode] < 0) {
            slots[kCommands[i].opcode] = static_cast<int16_t>(i);
        }
    }
    return slots;
}();

}  // namespace

std::span<const CommandDescriptor> all_commands() {
    return kCommands;
}

const CommandDescriptor* find_command(std::span<const uint8_t> cdb, CommandResult& error) {
    if (cdb.empty() || kSlots[cdb[0]] < 0) {
        error = CommandResult::fail(SenseReason::invalid_opcode);
        return nullptr;
    }
    const CommandDescriptor& first = kCommands[static_cast<size_t>(kSlots[cdb[0]])];
    if (!first.service_action) {
        return &first;
    }
    if (cdb.size() >= 2) {
        for (const auto& d : kCommands) {
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
