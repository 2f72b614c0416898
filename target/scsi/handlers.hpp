#pragma once
// Private to target/scsi: the parse/execute steps the command table points at.
// spc.cpp: primary commands (SPC-4 §6); mode.cpp: MODE SENSE/SELECT (SPC-4 §6.9-6.12, §7.5);
// sbc.cpp: block commands (SBC-3 §5).

#include "target/scsi/command_table.hpp"

namespace atsarray::scsi::handlers {

// spc.cpp
CommandResult parse_test_unit_ready(CommandContext& ctx);
CommandResult execute_test_unit_ready(CommandContext& ctx);
CommandResult parse_inquiry(CommandContext& ctx);
CommandResult execute_inquiry(CommandContext& ctx);
CommandResult parse_report_luns(CommandContext& ctx);
CommandResult execute_report_luns(CommandContext& ctx);
CommandResult parse_request_sense(CommandContext& ctx);
CommandResult execute_request_sense(CommandContext& ctx);

// mode.cpp
CommandResult parse_mode_sense(CommandContext& ctx);
CommandResult execute_mode_sense(CommandContext& ctx);
CommandResult parse_mode_select(CommandContext& ctx);
CommandResult execute_mode_select(CommandContext& ctx);

// sbc.cpp
CommandResult parse_read_capacity_10(CommandContext& ctx);
CommandResult execute_read_capacity_10(CommandContext& ctx);
CommandResult parse_read_capacity_16(CommandContext& ctx);
CommandResult execute_read_capacity_16(CommandContext& ctx);
CommandResult parse_read(CommandContext& ctx);
CommandResult execute_read(CommandContext& ctx);
CommandResult parse_write(CommandContext& ctx);
CommandResult execute_write(CommandContext& ctx);
CommandResult parse_write_and_verify(CommandContext& ctx);
CommandResult execute_write_and_verify(CommandContext& ctx);
CommandResult parse_verify(CommandContext& ctx);
CommandResult execute_verify(CommandContext& ctx);
CommandResult parse_synchronize_cache(CommandContext& ctx);
CommandResult execute_synchronize_cache(CommandContext& ctx);

}  // namespace atsarray::scsi::handlers
