// MAINTENANCE IN reports (SPC-4 §6.35-§6.37): REPORT SUPPORTED OPERATION CODES, REPORT SUPPORTED
// TASK MANAGEMENT FUNCTIONS, REPORT TARGET PORT GROUPS; and MAINTENANCE OUT's SET TARGET PORT
// GROUPS (§6.39), its counterpart.

#include <algorithm>
#include <array>
#include <optional>
#include <span>
#include <vector>

#include "target/scsi/cdb.hpp"
#include "target/scsi/handlers.hpp"
#include "target/scsi/lun.hpp"

namespace atsarray::scsi {
namespace {

// REPORTING OPTIONS (SPC-4 §6.35.1 Table 243).
enum ReportingOptions : uint8_t {
    report_all = 0,
    report_opcode = 1,
    report_opcode_and_service_action = 2,
    report_either = 3,
};

constexpr uint8_t support_standard = 0x03;         // SUPPORT 011b: supported as the standard says
constexpr uint8_t support_not_supported = 0x01;    // SUPPORT 001b
constexpr size_t timeouts_descriptor_length = 12;  // SPC-4 §6.35.4 Table 247

// Appends with resize + copy: GCC 12's -Warray-bounds misreads vector::insert into a vector
// that was just made with a constant size.
void append(std::vector<uint8_t>& d, std::span<const uint8_t> bytes) {
    const size_t at = d.size();
    d.resize(at + bytes.size());
    std::copy(bytes.begin(), bytes.end(), d.begin() + static_cast<std::ptrdiff_t>(at));
}

// The command timeouts descriptor: NOMINAL and RECOMMENDED COMMAND TIMEOUT 0 mean "not
// specified" (SPC-4 §6.35.4): atsarray promises no timing of its own.
void append_timeouts_descriptor(std::vector<uint8_t>& d) {
    std::array<uint8_t, timeouts_descriptor_length> t{};
    put_be16(t, 0, timeouts_descriptor_length - 2);
    append(d, t);
}

bool opcode_has_service_actions(uint8_t opcode) {
    for (const auto& c : all_commands()) {
        if (c.opcode == opcode && c.service_action) {
            return true;
        }
    }
    return false;
}

bool opcode_known(uint8_t opcode) {
    for (const auto& c : all_commands()) {
        if (c.opcode == opcode) {
            return true;
        }
    }
    return false;
}

const CommandDescriptor* find_descriptor(uint8_t opcode, std::optional<uint16_t> service_action) {
    for (const auto& c : all_commands()) {
        if (c.opcode != opcode) {
            continue;
        }
        if (!service_action || (c.service_action && *c.service_action == *service_action)) {
            return &c;
        }
    }
    return nullptr;
}

// All commands parameter data (SPC-4 §6.35.2 Table 244/245), straight from the command table so
// it can never disagree with dispatch.
std::vector<uint8_t> all_commands_data(bool rctd) {
    std::vector<uint8_t> d(4, 0);
    for (const auto& c : all_commands()) {
        std::array<uint8_t, 8> desc{};
        desc[0] = c.opcode;
        put_be16(desc, 2, c.service_action.value_or(0));
        desc[5] = static_cast<uint8_t>((rctd ? 0x02 : 0x00) | (c.service_action ? 0x01 : 0x00));
        put_be16(desc, 6, c.cdb_length);
        append(d, desc);
        if (rctd) {
            append_timeouts_descriptor(d);
        }
    }
    put_be32(d, 0, static_cast<uint32_t>(d.size() - 4));
    return d;
}

// One command parameter data (SPC-4 §6.35.3 Table 246).
std::vector<uint8_t> one_command_data(const CommandDescriptor* c, bool rctd) {
    std::vector<uint8_t> d(4, 0);
    if (c == nullptr) {
        d[1] = support_not_supported;
        return d;
    }
    d[1] = static_cast<uint8_t>((rctd ? 0x80 : 0x00) | support_standard);  // CTDP, SUPPORT
    put_be16(d, 2, c->cdb_length);
    append(d, std::span<const uint8_t>(c->usage).first(c->cdb_length));
    if (rctd) {
        append_timeouts_descriptor(d);
    }
    return d;
}

}  // namespace

namespace handlers {

// REPORT SUPPORTED OPERATION CODES, SPC-4 §6.35.
CommandResult parse_report_supported_opcodes(CommandContext& ctx) {
    std::span<const uint8_t> cdb = ctx.cmd.cdb;
    ctx.cdb.rctd = (cdb[2] & 0x80) != 0;
    ctx.cdb.select_report = cdb[2] & 0x07;
    ctx.cdb.page_code = cdb[3];
    ctx.cdb.requested_service_action = get_be16(cdb, 4);
    ctx.cdb.allocation_length = get_be32(cdb, 6);
    if (ctx.cdb.select_report > report_either) {
        return CommandResult::invalid_cdb_field(2, 2);
    }
    return CommandResult::good();
}

CommandResult execute_report_supported_opcodes(CommandContext& ctx) {
    const uint8_t opcode = ctx.cdb.page_code;
    const uint16_t service_action = ctx.cdb.requested_service_action;
    const bool with_actions = opcode_has_service_actions(opcode);
    std::vector<uint8_t> d;
    switch (ctx.cdb.select_report) {
        case report_all:
            d = all_commands_data(ctx.cdb.rctd);
            break;
        case report_opcode:
            // SPC-4 §6.35.1: 001b for an operation code that has service actions is an error.
            if (with_actions) {
                return CommandResult::invalid_cdb_field(2, 2);
            }
            d = one_command_data(find_descriptor(opcode, std::nullopt), ctx.cdb.rctd);
            break;
        case report_opcode_and_service_action:
            // 010b for an operation code without service actions is an error.
            if (opcode_known(opcode) && !with_actions) {
                return CommandResult::invalid_cdb_field(2, 2);
            }
            d = one_command_data(find_descriptor(opcode, service_action), ctx.cdb.rctd);
            break;
        default:
            // 011b: the service action counts only where the operation code has service actions.
            d = one_command_data(
                find_descriptor(
                    opcode, with_actions ? std::optional<uint16_t>(service_action) : std::nullopt),
                ctx.cdb.rctd);
            break;
    }
    set_data_in(ctx.cmd, d, ctx.cdb.allocation_length);
    return CommandResult::good();
}

// REPORT SUPPORTED TASK MANAGEMENT FUNCTIONS, SPC-4 §6.37: what target/iscsi's task management
// really does (ABORT TASK, ABORT TASK SET, CLEAR TASK SET, LOGICAL UNIT RESET, TARGET WARM/COLD
// RESET); not CLEAR ACA (no ACA), QUERY TASK, QUERY TASK SET, QUERY ASYNCHRONOUS EVENT or I_T
// NEXUS RESET.
CommandResult parse_report_supported_tmfs(CommandContext& ctx) {
    ctx.cdb.rctd = (ctx.cmd.cdb[2] & 0x80) != 0;  // REPTD
    ctx.cdb.allocation_length = get_be32(ctx.cmd.cdb, 6);
    return CommandResult::good();
}

CommandResult execute_report_supported_tmfs(CommandContext& ctx) {
    // Byte 0: ATS, ATSS, CACAS, CTSS, LURS, QTS, TRS, WAKES.
    constexpr uint8_t supported_functions = 0x80 | 0x40 | 0x10 | 0x08 | 0x02;
    std::vector<uint8_t> d(ctx.cdb.rctd ? 16 : 4, 0);
    d[0] = supported_functions;
    if (ctx.cdb.rctd) {
        // SPC-4 §6.37.3 extended format: ADDITIONAL DATA LENGTH 0Ch; TMFTMOV 0, so no
        // timeouts are reported.
        d[3] = 0x0C;
    }
    set_data_in(ctx.cmd, d, ctx.cdb.allocation_length);
    return CommandResult::good();
}

// REPORT TARGET PORT GROUPS, SPC-4 §6.36: built from the LUN's target port groups (alua.hpp),
// the same bytes on every port of a configured model.
CommandResult parse_report_target_port_groups(CommandContext& ctx) {
    ctx.cdb.select_report = ctx.cmd.cdb[1] >> 5;  // PARAMETER DATA FORMAT
    ctx.cdb.allocation_length = get_be32(ctx.cmd.cdb, 6);
    if (ctx.cdb.select_report > 1) {
        return CommandResult::invalid_cdb_field(1, 7);
    }
    return CommandResult::good();
}

CommandResult execute_report_target_port_groups(CommandContext& ctx) {
    const uint16_t port = ctx.cmd.nexus != nullptr ? ctx.cmd.nexus->relative_target_port : 1;
    const auto snapshot = ctx.lun->port_groups().snapshot();
    const auto d = report_target_port_groups_data(*snapshot, ctx.cdb.select_report == 1, port);
    set_data_in(ctx.cmd, d, ctx.cdb.allocation_length);
    return CommandResult::good();
}

// SET TARGET PORT GROUPS, SPC-4 §6.39 (MAINTENANCE OUT, service action 0Ah).
CommandResult parse_set_target_port_groups(CommandContext& ctx) {
    ctx.cdb.parameter_list_length = get_be32(ctx.cmd.cdb, 6);
    ctx.cmd.data_out_wanted = ctx.cdb.parameter_list_length;
    const uint32_t n = ctx.cdb.parameter_list_length;
    if (ctx.cmd.expected_transfer_length < n || ctx.cmd.data_out.size() < n) {
        return CommandResult::fail(SenseReason::invalid_field_in_command_information_unit);
    }
    return CommandResult::good();
}

CommandResult execute_set_target_port_groups(CommandContext& ctx) {
    return ctx.lun->port_groups().set_target_port_groups(
        ctx.cmd.data_out.first(ctx.cdb.parameter_list_length), nexus_id_of(ctx.cmd));
}

}  // namespace handlers
}  // namespace atsarray::scsi
