#pragma once
// Private to target/scsi: the parse/execute steps the command table points at.
// spc.cpp: primary commands (SPC-4 §6); mode.cpp: MODE SENSE/SELECT (SPC-4 §6.9-6.12, §7.5);
// sbc.cpp: block commands (SBC-3 §5); sbc_vaai.cpp: COMPARE AND WRITE, WRITE SAME, UNMAP, GET
// LBA STATUS (SBC-4); sbc_extra.cpp: ORWRITE, PRE-FETCH (SBC-4); persistent_reserve.cpp:
// PERSISTENT RESERVE IN/OUT (SPC-4 §6.15-6.16); reserve_release.cpp: RESERVE/RELEASE(6/10)
// (SPC-2 §7.21-7.24).

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
bool start_read(CommandContext& ctx, AsyncDone& done);
CommandResult parse_write(CommandContext& ctx);
CommandResult execute_write(CommandContext& ctx);
bool start_write(CommandContext& ctx, AsyncDone& done);
CommandResult parse_write_and_verify(CommandContext& ctx);
CommandResult execute_write_and_verify(CommandContext& ctx);
CommandResult parse_verify(CommandContext& ctx);
CommandResult execute_verify(CommandContext& ctx);
CommandResult parse_synchronize_cache(CommandContext& ctx);
CommandResult execute_synchronize_cache(CommandContext& ctx);
bool start_synchronize_cache(CommandContext& ctx, AsyncDone& done);

// sbc_vaai.cpp
CommandResult parse_compare_and_write(CommandContext& ctx);
CommandResult execute_compare_and_write(CommandContext& ctx);
bool start_compare_and_write(CommandContext& ctx, AsyncDone& done);
CommandResult parse_write_same(CommandContext& ctx);
CommandResult execute_write_same(CommandContext& ctx);
CommandResult parse_unmap(CommandContext& ctx);
CommandResult execute_unmap(CommandContext& ctx);
std::vector<ats::LockRange> unmap_lock_ranges(const CommandContext& ctx);
CommandResult parse_get_lba_status(CommandContext& ctx);
CommandResult execute_get_lba_status(CommandContext& ctx);

// sbc_atomic.cpp
CommandResult parse_write_atomic(CommandContext& ctx);
CommandResult execute_write_atomic(CommandContext& ctx);

// sbc_extra.cpp
CommandResult execute_orwrite(CommandContext& ctx);
CommandResult parse_prefetch(CommandContext& ctx);
CommandResult execute_prefetch(CommandContext& ctx);

// persistent_reserve.cpp
CommandResult parse_persistent_reserve_in(CommandContext& ctx);
CommandResult execute_persistent_reserve_in(CommandContext& ctx);
CommandResult parse_persistent_reserve_out(CommandContext& ctx);
CommandResult execute_persistent_reserve_out(CommandContext& ctx);

// reserve_release.cpp
CommandResult parse_reserve_release(CommandContext& ctx);
CommandResult execute_reserve(CommandContext& ctx);
CommandResult execute_release(CommandContext& ctx);

// report.cpp: REPORT SUPPORTED OPERATION CODES, REPORT SUPPORTED TASK MANAGEMENT FUNCTIONS,
// REPORT and SET TARGET PORT GROUPS (SPC-4 §6.35, §6.36, §6.37, §6.39)
CommandResult parse_report_supported_opcodes(CommandContext& ctx);
CommandResult execute_report_supported_opcodes(CommandContext& ctx);
CommandResult parse_report_supported_tmfs(CommandContext& ctx);
CommandResult execute_report_supported_tmfs(CommandContext& ctx);
CommandResult parse_report_target_port_groups(CommandContext& ctx);
CommandResult execute_report_target_port_groups(CommandContext& ctx);
CommandResult parse_set_target_port_groups(CommandContext& ctx);
CommandResult execute_set_target_port_groups(CommandContext& ctx);

// medium.cpp: START STOP UNIT, PREVENT ALLOW MEDIUM REMOVAL (SBC-4 §5.25, §5.13)
CommandResult parse_start_stop_unit(CommandContext& ctx);
CommandResult execute_start_stop_unit(CommandContext& ctx);
CommandResult parse_prevent_allow(CommandContext& ctx);
CommandResult execute_prevent_allow(CommandContext& ctx);

// sanitize.cpp: SANITIZE (SBC-4 §5.30)
CommandResult parse_sanitize(CommandContext& ctx);
CommandResult execute_sanitize(CommandContext& ctx);

// defect_data.cpp: READ DEFECT DATA(10/12) (SBC-4 §5.16, §5.17)
CommandResult parse_read_defect_data(CommandContext& ctx);
CommandResult execute_read_defect_data(CommandContext& ctx);

// extended_copy.cpp: EXTENDED COPY (LID1), RECEIVE COPY RESULTS (SPC-4 §6.4, §6.18)
CommandResult parse_extended_copy(CommandContext& ctx);
CommandResult execute_extended_copy(CommandContext& ctx);
std::vector<ats::LockRange> extended_copy_lock_ranges(const CommandContext& ctx);
CommandResult parse_receive_copy_results(CommandContext& ctx);
CommandResult execute_receive_copy_results(CommandContext& ctx);

}  // namespace atsarray::scsi::handlers
