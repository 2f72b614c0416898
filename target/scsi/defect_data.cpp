// READ DEFECT DATA(10) and (12), SBC-4 §5.16 and §5.17. A virtual disk has no grown or primary
// defects: the answer is an empty list in the format asked for, with PLISTV/GLISTV saying which
// (empty) lists the data holds.

#include <vector>

#include "target/scsi/cdb.hpp"
#include "target/scsi/handlers.hpp"

namespace atsarray::scsi::handlers {
namespace {

// SBC-4 §6.2 Table 226: 111b is the one reserved DEFECT LIST FORMAT.
constexpr uint8_t reserved_defect_list_format = 0x7;

}  // namespace

CommandResult parse_read_defect_data(CommandContext& ctx) {
    std::span<const uint8_t> cdb = ctx.cmd.cdb;
    const bool twelve = cdb[0] == 0xB7;
    const uint16_t flags_byte = twelve ? 1 : 2;
    ctx.cdb.req_plist = (cdb[flags_byte] & 0x10) != 0;
    ctx.cdb.req_glist = (cdb[flags_byte] & 0x08) != 0;
    ctx.cdb.defect_list_format = cdb[flags_byte] & 0x07;
    ctx.cdb.allocation_length = twelve ? get_be32(cdb, 6) : get_be16(cdb, 7);
    if (ctx.cdb.defect_list_format == reserved_defect_list_format) {
        return CommandResult::invalid_cdb_field(flags_byte, 2);
    }
    return CommandResult::good();
}

CommandResult execute_read_defect_data(CommandContext& ctx) {
    const bool twelve = ctx.cmd.cdb[0] == 0xB7;
    // Parameter data header: (10) 4 bytes, DEFECT LIST LENGTH in bytes 2-3; (12) 8 bytes,
    // GENERATION CODE in bytes 2-3 (0: not supported), DEFECT LIST LENGTH in bytes 4-7.
    std::vector<uint8_t> d(twelve ? 8 : 4, 0);
    d[1] = static_cast<uint8_t>((ctx.cdb.req_plist ? 0x10 : 0) | (ctx.cdb.req_glist ? 0x08 : 0) |
                                ctx.cdb.defect_list_format);
    set_data_in(ctx.cmd, d, ctx.cdb.allocation_length);
    return CommandResult::good();
}

}  // namespace atsarray::scsi::handlers
