#pragma once
// Private to target/scsi: the block-command steps shared by sbc.cpp, sbc_vaai.cpp and
// sbc_extra.cpp (decoding LBA ranges and Data-Out, store calls, compares).

#include <cstdint>

#include "backend/block_store.hpp"
#include "target/scsi/command_table.hpp"
#include "target/scsi/lun.hpp"

namespace atsarray::scsi {

// A block-store status as the command's result; medium errors carry the LBA in INFORMATION.
CommandResult store_result(const backend::Status& status, StoreOp op, const Lun& lun, uint64_t lba);

// Decodes LBA and TRANSFER LENGTH (and FUA) of a READ/WRITE-family CDB, checks the xxPROTECT
// field when it has one, MAXIMUM TRANSFER LENGTH and the LUN's capacity.
CommandResult decode_block_range(CommandContext& ctx, bool has_protect_field);

// Applies the iSCSI residual rules to a command that moves `blocks` blocks of Data-Out; sets
// cmd.data_out_wanted and ctx.cdb.data_out_blocks.
CommandResult decode_data_out(CommandContext& ctx, uint32_t blocks);

// Writes the first ctx.cdb.data_out_blocks blocks of Data-Out at ctx.cdb.lba.
CommandResult write_blocks(CommandContext& ctx, bool fua);

// Compares Data-Out with the medium at ctx.cdb.lba: MISCOMPARE with INFORMATION = offset of the
// first differing byte. `repeat_one_block`: one Data-Out block against every block.
CommandResult compare_blocks(CommandContext& ctx, uint32_t blocks, bool repeat_one_block);

}  // namespace atsarray::scsi

namespace atsarray::scsi {

// What the VAAI and thin-provisioning commands accept, and so what the Block Limits VPD page
// (SBC-4 §6.6.4) advertises: spc.cpp reports exactly these values.
// MAXIMUM COMPARE AND WRITE LENGTH: LIO and tcmu-runner report 1 and ESXi sends 1-block ATS
// (REFERENCES.md); the handler itself works for any count up to 255.
inline constexpr uint8_t max_compare_and_write_blocks = 1;
// MAXIMUM UNMAP LBA COUNT (a whole UNMAP command) and MAXIMUM UNMAP BLOCK DESCRIPTOR COUNT;
// libiscsi's BlockLimits test calls an explicit limit above 1M blocks insane.
inline constexpr uint32_t max_unmap_lba_count = 1u << 20;
inline constexpr uint32_t max_unmap_block_descriptors = 256;
// MAXIMUM WRITE SAME LENGTH in blocks: LIO's 0xFFFF. libiscsi's WriteSame16.Unmap writes
// 65536 blocks with one WRITE(16) (beyond MAXIMUM TRANSFER LENGTH) when the limit allows a
// 65536-block WRITE SAME, and expects INVALID FIELD IN CDB for that WRITE SAME otherwise.
inline constexpr uint32_t max_write_same_blocks = 0xFFFF;
// OPTIMAL UNMAP GRANULARITY: the store's allocation unit in blocks, at least 1.
uint32_t optimal_unmap_granularity(const Lun& lun);
// MAXIMUM ATOMIC TRANSFER LENGTH in blocks (WRITE ATOMIC(16), sbc_atomic.cpp).
uint32_t max_atomic_transfer_length(const LunSettings& s);

}  // namespace atsarray::scsi
