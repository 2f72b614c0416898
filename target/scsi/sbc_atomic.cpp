// WRITE ATOMIC(16), SBC-4 §5.48 and §4.29: a WRITE(16) whose logical blocks every other command
// sees either all old or all new. Like every writer it holds the LBA locks of its blocks, so no
// other write interleaves; its descriptor's flag_atomic_to_reads makes Lun also hold the LUN's
// read barrier exclusively, which every medium read holds shared, so no read sees half of it.
// Not atomic across a power loss: the store's write is one pwrite.

#include <algorithm>
#include <cstdint>

#include "target/scsi/cdb.hpp"
#include "target/scsi/handlers.hpp"
#include "target/scsi/lun.hpp"
#include "target/scsi/sbc_common.hpp"

namespace atsarray::scsi {

uint32_t max_atomic_transfer_length(const LunSettings& s) {
    // Any range is atomic under the exclusive medium lock, so the only limit is the one every
    // write has (MAXIMUM TRANSFER LENGTH); libiscsi's WriteAtomic16.VPD requires it to be no
    // larger. The CDB field is 16 bits wide.
    return std::min<uint32_t>(s.max_transfer_bytes / s.block_size, 0xFFFF);
}

namespace handlers {

// CDB (SBC-4 §5.48 Table 88): byte 1 WRPROTECT, DPO, FUA; bytes 2-9 LOGICAL BLOCK ADDRESS;
// bytes 10-11 ATOMIC BOUNDARY; bytes 12-13 TRANSFER LENGTH; byte 14 GROUP NUMBER.
CommandResult parse_write_atomic(CommandContext& ctx) {
    std::span<const uint8_t> cdb = ctx.cmd.cdb;
    const LunSettings& s = ctx.lun->settings();
    ctx.cdb.lba = get_be64(cdb, 2);
    ctx.cdb.blocks = get_be16(cdb, 12);
    ctx.cdb.fua = (cdb[1] & 0x08) != 0;
    // Set before any check: the transport's residual count needs data_out_wanted.
    const CommandResult data = decode_data_out(ctx, ctx.cdb.blocks);
    // WRPROTECT: no protection information (SBC-4 §4.22), so any nonzero value is invalid.
    if ((cdb[1] & 0xE0) != 0) {
        return CommandResult::invalid_cdb_field(1, 7);
    }
    // ATOMIC BOUNDARY: VPD B0 reports MAXIMUM ATOMIC BOUNDARY SIZE 0, so a nonzero boundary is
    // an invalid field (SBC-4 §5.48).
    if (get_be16(cdb, 10) != 0) {
        return CommandResult::invalid_cdb_field(10, 7);
    }
    // SBC-4 §5.48: TRANSFER LENGTH above MAXIMUM ATOMIC TRANSFER LENGTH is an invalid field.
    // ATOMIC ALIGNMENT and ATOMIC TRANSFER LENGTH GRANULARITY are reported as 0 (no
    // requirement), so no LBA or length is misaligned.
    if (ctx.cdb.blocks > max_atomic_transfer_length(s)) {
        return CommandResult::invalid_cdb_field(12, 7);
    }
    if (ctx.cdb.lba > s.block_count || ctx.cdb.blocks > s.block_count - ctx.cdb.lba) {
        return CommandResult::fail(SenseReason::lba_out_of_range);
    }
    return data;
}

CommandResult execute_write_atomic(CommandContext& ctx) {
    if (ctx.cdb.data_out_bytes == 0) {
        return CommandResult::good();
    }
    // One store write: under the exclusive lock nothing observes the range between its blocks.
    return write_blocks(ctx, ctx.cdb.fua);
}

}  // namespace handlers
}  // namespace atsarray::scsi
