// RESERVE(6/10) and RELEASE(6/10) with SPC-2 semantics (SPC-2 §7.21-§7.24): the logical unit
// is reserved by one I_T nexus. ESXi falls back to them when ATS is off. Whether a command
// conflicts is decided in Reservations::check() before these run.

#include "target/scsi/handlers.hpp"
#include "target/scsi/lun.hpp"

namespace atsarray::scsi::handlers {
namespace {

constexpr uint8_t third_party = 0x10;  // 3RDPTY, byte 1 of all four CDBs

bool is_ten_byte(const CommandContext& ctx) {
    return ctx.descriptor.cdb_length == 10;
}

}  // namespace

// Third-party reservations, the obsolete extent reservations of RESERVE(6) and the LONGID
// parameter list of RESERVE(10) are not supported: INVALID FIELD IN CDB.
CommandResult parse_reserve_release(CommandContext& ctx) {
    const uint8_t b1 = ctx.cmd.cdb[1];
    if ((b1 & third_party) != 0) {
        return CommandResult::invalid_cdb_field(1, 4);
    }
    const uint8_t other = is_ten_byte(ctx) ? 0x02 : 0x01;  // LONGID / EXTENT
    if ((b1 & other) != 0) {
        return CommandResult::invalid_cdb_field(1, is_ten_byte(ctx) ? 1 : 0);
    }
    return CommandResult::good();
}

CommandResult execute_reserve(CommandContext& ctx) {
    return ctx.lun->reservations().reserve(ctx.cmd.nexus);
}

CommandResult execute_release(CommandContext& ctx) {
    ctx.lun->reservations().release(ctx.cmd.nexus);
    return CommandResult::good();
}

}  // namespace atsarray::scsi::handlers
