// More block commands (SBC-4): ORWRITE(16) (§5.9) and PRE-FETCH(10/16) (§5.11, §5.12).

#include <algorithm>
#include <vector>

#include "target/scsi/cdb.hpp"
#include "target/scsi/handlers.hpp"
#include "target/scsi/lun.hpp"
#include "target/scsi/sbc_common.hpp"

namespace atsarray::scsi::handlers {

// ORWRITE(16), SBC-4 §5.9: the medium becomes medium OR Data-Out. With the BMOP field of the
// 32-byte form absent this is the plain OR operation; ORPROTECT must be 0. Transfer length,
// EDTL and capacity rules are those of WRITE(16), so it parses with parse_write. Runs under the
// exclusive medium lock, so the read-OR-write is atomic with respect to every other write.

CommandResult execute_orwrite(CommandContext& ctx) {
    if (ctx.cdb.data_out_blocks == 0) {
        return CommandResult::good();
    }
    Lun& lun = *ctx.lun;
    const uint64_t bs = lun.settings().block_size;
    std::vector<uint8_t> medium(static_cast<size_t>(ctx.cdb.data_out_blocks * bs));
    if (CommandResult r = store_result(lun.store().read(ctx.cdb.lba * bs, medium), StoreOp::read,
                                       lun, ctx.cdb.lba);
        !r.ok()) {
        return r;
    }
    std::span<const uint8_t> in = ctx.cmd.data_out;
    for (size_t i = 0; i < medium.size(); ++i) {
        medium[i] |= in[i];
    }
    const bool stable = ctx.cdb.fua || !lun.mode().write_cache_enabled;
    return store_result(lun.store().write(ctx.cdb.lba * bs, medium, stable), StoreOp::write, lun,
                        ctx.cdb.lba);
}

// PRE-FETCH(10/16), SBC-4 §5.11/§5.12. The LBA range is checked (PREFETCH LENGTH 0: to the last
// LBA); there is no target cache to load, so the answer is GOOD ("the cache cannot hold the
// blocks"), never CONDITION MET, with or without IMMED.
CommandResult parse_prefetch(CommandContext& ctx) {
    const LunSettings& s = ctx.lun->settings();
    const LbaRange r = cdb_lba_range(ctx.cmd.cdb, ctx.descriptor.cdb_length);
    ctx.cdb.lba = r.lba;
    ctx.cdb.blocks = r.blocks;
    if (r.lba > s.block_count || r.blocks > s.block_count - r.lba) {
        return CommandResult::fail(SenseReason::lba_out_of_range);
    }
    return CommandResult::good();
}

CommandResult execute_prefetch(CommandContext&) {
    return CommandResult::good();
}

}  // namespace atsarray::scsi::handlers
