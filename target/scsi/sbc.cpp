// Block commands (SBC-3 §5): READ CAPACITY(10/16), READ/WRITE(6/10/12/16), WRITE AND
// VERIFY(10/12/16), VERIFY(10/12/16), SYNCHRONIZE CACHE(10/16).

#include <algorithm>
#include <array>
#include <cstring>
#include <limits>

#include <spdlog/spdlog.h>

#include "target/scsi/cdb.hpp"
#include "target/scsi/handlers.hpp"
#include "target/scsi/lun.hpp"
#include "target/scsi/sbc_common.hpp"

namespace atsarray::scsi {

SenseReason sense_reason_for(const backend::Status& status, StoreOp op) {
    switch (status.code) {
        case backend::StoreErrc::ok:
            return SenseReason::none;
        case backend::StoreErrc::out_of_range:
            return SenseReason::lba_out_of_range;
        case backend::StoreErrc::io_error:
            return op == StoreOp::read ? SenseReason::medium_error_read
                                       : SenseReason::medium_error_write;
        case backend::StoreErrc::no_space:
            // SBC-3 thin provisioning: space allocation failed.
            return SenseReason::no_space;
        case backend::StoreErrc::read_only:
            return SenseReason::write_protected;
        case backend::StoreErrc::busy:
            // The medium did not answer in its time (a cluster operation timed out): BUSY
            // (SAM-5 §5.3.1) makes the host retry later instead of failing the I/O.
            return SenseReason::busy;
        case backend::StoreErrc::miscompare:
            return SenseReason::miscompare;  // compare_and_write() only; it carries the offset
        case backend::StoreErrc::would_block:
            break;  // read/write_nowait() only; the dispatcher retries off its thread, never
                    // answers it
    }
    return SenseReason::internal_target_failure;
}

namespace {

// Byte offset of TRANSFER LENGTH per CDB size (SBC-3 §5.7-§5.10, §5.32-§5.35).
size_t transfer_length_offset(size_t cdb_length) {
    switch (cdb_length) {
        case 6:
            return 4;
        case 10:
            return 7;
        case 12:
            return 6;
        default:
            return 10;
    }
}

}  // namespace

// The helpers below are shared with sbc_vaai.cpp and sbc_extra.cpp (sbc_common.hpp).

CommandResult store_result(const backend::Status& status, StoreOp op, const Lun& lun,
                           uint64_t lba) {
    const SenseReason reason = sense_reason_for(status, op);
    if (reason == SenseReason::none) {
        return CommandResult::good();
    }
    spdlog::warn("scsi: LUN {} store {} at LBA {} failed: {}", lun.id(),
                 op == StoreOp::read ? "read" : (op == StoreOp::write ? "write" : "flush"), lba,
                 backend::to_string(status));
    if (reason == SenseReason::medium_error_read || reason == SenseReason::medium_error_write) {
        // SBC-3 / SPC-4 §4.5.2.2: INFORMATION holds the (first) LBA of the failed access.
        return CommandResult::with_information(reason, lba);
    }
    return CommandResult::fail(reason);
}

// Decodes LBA and TRANSFER LENGTH, the xxPROTECT field, and checks them against the LUN's
// capacity and its MAXIMUM TRANSFER LENGTH.
CommandResult decode_block_range(CommandContext& ctx, bool has_protect_field) {
    std::span<const uint8_t> cdb = ctx.cmd.cdb;
    const size_t len = ctx.descriptor.cdb_length;
    const LunSettings& s = ctx.lun->settings();
    const LbaRange r = cdb_lba_range(cdb, len);
    ctx.cdb.lba = r.lba;
    ctx.cdb.blocks = r.blocks;
    if (len == 6) {
        // SBC-3 §5.7/§5.30: TRANSFER LENGTH 0 in a 6-byte CDB means 256 blocks.
        if (ctx.cdb.blocks == 0) {
            ctx.cdb.blocks = 256;
        }
    } else {
        ctx.cdb.fua = (cdb[1] & 0x08) != 0;
        // RDPROTECT/WRPROTECT/VRPROTECT: no protection information (SBC-3 §4.18), so any
        // nonzero value is an invalid field.
        if (has_protect_field && (cdb[1] & 0xE0) != 0) {
            return CommandResult::invalid_cdb_field(1, 7);
        }
    }
    if (ctx.cdb.blocks > s.max_transfer_bytes / s.block_size) {
        // SBC-3 §6.5.3: a transfer above MAXIMUM TRANSFER LENGTH is an invalid field.
        return CommandResult::invalid_cdb_field(static_cast<uint16_t>(transfer_length_offset(len)),
                                                7);
    }
    if (ctx.cdb.lba > s.block_count || ctx.cdb.blocks > s.block_count - ctx.cdb.lba) {
        return CommandResult::fail(SenseReason::lba_out_of_range);
    }
    return CommandResult::good();
}

// The iSCSI residual rules for Data-Out (RFC 7143 §11.4.5 residual overflow/underflow, libiscsi
// iSCSIResiduals: "if iSCSI EDTL < SCSI TL then we only write iSCSI EDTL amount of data"): with
// an Expected Data Transfer Length below the CDB's, exactly the EDTL bytes are written, the last
// block possibly in part, and the transport reports the overflow. With a larger EDTL only the
// CDB's length is used (underflow).
CommandResult decode_data_out(CommandContext& ctx, uint32_t blocks) {
    Command& cmd = ctx.cmd;
    const uint64_t block_size = ctx.lun->settings().block_size;
    const uint64_t wanted = uint64_t{blocks} * block_size;
    cmd.data_out_wanted =
        static_cast<uint32_t>(std::min<uint64_t>(wanted, std::numeric_limits<uint32_t>::max()));
    const uint64_t take = std::min<uint64_t>(wanted, cmd.expected_transfer_length);
    if (cmd.data_out.size() < take) {
        return CommandResult::fail(SenseReason::invalid_field_in_command_information_unit);
    }
    ctx.cdb.data_out_blocks = static_cast<uint32_t>(take / block_size);
    ctx.cdb.data_out_bytes = static_cast<uint32_t>(take);
    return CommandResult::good();
}

// Writes the command's data_out_bytes of Data-Out at its LBA.
CommandResult write_blocks(CommandContext& ctx, bool fua) {
    Lun& lun = *ctx.lun;
    const uint64_t bs = lun.settings().block_size;
    const size_t bytes = ctx.cdb.data_out_bytes;
    // SBC-3 §6.4.5: WCE=0 makes every write write-through.
    const bool stable = fua || !lun.mode().write_cache_enabled;
    const uint64_t offset = ctx.cdb.lba * bs;
    const std::span<const uint8_t> data = ctx.cmd.data_out.first(bytes);
    if (ctx.nowait) {
        const backend::Status st = lun.store().write_nowait(offset, data, stable);
        if (st.code == backend::StoreErrc::would_block) {
            ctx.would_block = true;
            return CommandResult::good();
        }
        return store_result(st, StoreOp::write, lun, ctx.cdb.lba);
    }
    const backend::Status st = lun.store().write(offset, data, stable);
    return store_result(st, StoreOp::write, lun, ctx.cdb.lba);
}

// Compares Data-Out with the medium (SBC-3 §5.32 VERIFY BYTCHK): MISCOMPARE with INFORMATION
// = offset of the first differing byte in the Data-Out buffer. `repeat_one_block`: BYTCHK 11b
// (SBC-4 VERIFY) compares one Data-Out block against every block in the range.
CommandResult compare_blocks(CommandContext& ctx, uint32_t blocks, bool repeat_one_block) {
    Lun& lun = *ctx.lun;
    const uint64_t bs = lun.settings().block_size;
    std::vector<uint8_t> medium(static_cast<size_t>(blocks * bs));
    const backend::Status st = lun.store().read(ctx.cdb.lba * bs, medium);
    if (CommandResult r = store_result(st, StoreOp::read, lun, ctx.cdb.lba); !r.ok()) {
        return r;
    }
    for (size_t i = 0; i < medium.size(); ++i) {
        const size_t from = repeat_one_block ? i % bs : i;
        if (medium[i] != ctx.cmd.data_out[from]) {
            return CommandResult::with_information(SenseReason::miscompare, i);
        }
    }
    return CommandResult::good();
}

namespace handlers {

// READ CAPACITY(10), SBC-3 §5.15.
CommandResult parse_read_capacity_10(CommandContext& ctx) {
    std::span<const uint8_t> cdb = ctx.cmd.cdb;
    // SBC-3 §5.15.1: with PMI 0 the LOGICAL BLOCK ADDRESS must be 0.
    if ((cdb[8] & 0x01) == 0 && get_be32(cdb, 2) != 0) {
        return CommandResult::invalid_cdb_field(2, 7);
    }
    return CommandResult::good();
}

CommandResult execute_read_capacity_10(CommandContext& ctx) {
    const LunSettings& s = ctx.lun->settings();
    std::array<uint8_t, 8> d{};
    const uint64_t last = s.block_count - 1;
    // SBC-3 §5.15.2: FFFFFFFFh tells the initiator to use READ CAPACITY(16).
    put_be32(d, 0, last > 0xFFFFFFFEull ? 0xFFFFFFFFu : static_cast<uint32_t>(last));
    put_be32(d, 4, s.block_size);
    set_data_in(ctx.cmd, d, static_cast<uint32_t>(d.size()));
    return CommandResult::good();
}

// READ CAPACITY(16), SBC-3 §5.16.
CommandResult parse_read_capacity_16(CommandContext& ctx) {
    std::span<const uint8_t> cdb = ctx.cmd.cdb;
    ctx.cdb.allocation_length = get_be32(cdb, 10);
    if ((cdb[14] & 0x01) == 0 && get_be64(cdb, 2) != 0) {
        return CommandResult::invalid_cdb_field(2, 7);
    }
    return CommandResult::good();
}

CommandResult execute_read_capacity_16(CommandContext& ctx) {
    const LunSettings& s = ctx.lun->settings();
    std::array<uint8_t, 32> d{};
    put_be64(d, 0, s.block_count - 1);
    put_be32(d, 8, s.block_size);
    // Byte 12 P_TYPE/PROT_EN 0; byte 13 LOGICAL BLOCKS PER PHYSICAL BLOCK EXPONENT 0 (libiscsi's
    // GetLBAStatus.UnmapSingle assumes 0: with 2^n blocks per physical block it expects a
    // descriptor at an LBA other than the one asked for); byte 14 LBPME (thin provisioning:
    // UNMAP, WRITE SAME with UNMAP, GET LBA STATUS; VPD B2) and LBPRZ (unmapped blocks read
    // zeros: BlockStore::unmap guarantees it); LOWEST ALIGNED LBA 0.
    d[14] = 0x80 | 0x40;
    set_data_in(ctx.cmd, d, ctx.cdb.allocation_length);
    return CommandResult::good();
}

// READ(6/10/12/16), SBC-3 §5.7-§5.10.
CommandResult parse_read(CommandContext& ctx) {
    return decode_block_range(ctx, true);
}

CommandResult execute_read(CommandContext& ctx) {
    Lun& lun = *ctx.lun;
    const uint64_t bs = lun.settings().block_size;
    if (ctx.cmd.data_in == nullptr) {
        return CommandResult::fail(SenseReason::internal_target_failure);
    }
    ctx.cmd.data_in->resize(static_cast<size_t>(ctx.cdb.blocks * bs));
    if (ctx.cdb.blocks == 0) {
        return CommandResult::good();
    }
    if (ctx.nowait) {
        const backend::Status st = lun.store().read_nowait(ctx.cdb.lba * bs, *ctx.cmd.data_in);
        if (st.code == backend::StoreErrc::would_block) {
            ctx.would_block = true;
            return CommandResult::good();
        }
        return store_result(st, StoreOp::read, lun, ctx.cdb.lba);
    }
    const backend::Status st = lun.store().read(ctx.cdb.lba * bs, *ctx.cmd.data_in);
    return store_result(st, StoreOp::read, lun, ctx.cdb.lba);
}

// The same on a store that completes_async(): the data lands in data_in before `done`.
bool start_read(CommandContext& ctx, AsyncDone& done) {
    if (ctx.cmd.data_in == nullptr || ctx.cdb.blocks == 0) {
        const AsyncDone now = std::move(done);
        now(execute_read(ctx));
        return true;
    }
    Lun& lun = *ctx.lun;
    const uint64_t bs = lun.settings().block_size;
    ctx.cmd.data_in->resize(static_cast<size_t>(ctx.cdb.blocks * bs));
    lun.store().read_async(ctx.cdb.lba * bs, *ctx.cmd.data_in,
                           [&ctx, done = std::move(done)](backend::Status st) {
                               done(store_result(st, StoreOp::read, *ctx.lun, ctx.cdb.lba));
                           });
    return true;
}

// WRITE(6/10/12/16), SBC-3 §5.32-§5.35.
// data_out is set even when the CDB is rejected: the transport's residual count needs it.
CommandResult parse_write(CommandContext& ctx) {
    const CommandResult range = decode_block_range(ctx, true);
    const CommandResult data = decode_data_out(ctx, ctx.cdb.blocks);
    return range.ok() ? data : range;
}

CommandResult execute_write(CommandContext& ctx) {
    if (ctx.cdb.data_out_bytes == 0) {
        return CommandResult::good();
    }
    return write_blocks(ctx, ctx.cdb.fua);
}

bool start_write(CommandContext& ctx, AsyncDone& done) {
    if (ctx.cdb.data_out_bytes == 0) {
        const AsyncDone now = std::move(done);
        now(CommandResult::good());
        return true;
    }
    Lun& lun = *ctx.lun;
    const uint64_t bs = lun.settings().block_size;
    // SBC-3 §6.4.5: WCE=0 makes every write write-through.
    const bool stable = ctx.cdb.fua || !lun.mode().write_cache_enabled;
    lun.store().write_async(ctx.cdb.lba * bs, ctx.cmd.data_out.first(ctx.cdb.data_out_bytes),
                            stable, [&ctx, done = std::move(done)](backend::Status st) {
                                done(store_result(st, StoreOp::write, *ctx.lun, ctx.cdb.lba));
                            });
    return true;
}

// WRITE AND VERIFY(10/12/16), SBC-3 §5.36-§5.38. BYTCHK 0: write, and the verify medium read
// is implied by writing through (FUA). BYTCHK 1: write, then compare the medium.
CommandResult parse_write_and_verify(CommandContext& ctx) {
    ctx.cdb.bytchk = (ctx.cmd.cdb[1] >> 1) & 0x03;
    CommandResult range = decode_block_range(ctx, true);
    ctx.cdb.fua = true;
    CommandResult data = decode_data_out(ctx, ctx.cdb.blocks);
    if (!range.ok()) {
        return range;
    }
    if (ctx.cdb.bytchk > 1) {
        return CommandResult::invalid_cdb_field(1, 2);
    }
    return data;
}

CommandResult execute_write_and_verify(CommandContext& ctx) {
    if (ctx.cdb.data_out_blocks == 0) {
        return CommandResult::good();
    }
    if (CommandResult r = write_blocks(ctx, true); !r.ok()) {
        return r;
    }
    if (ctx.cdb.bytchk == 1) {
        return compare_blocks(ctx, ctx.cdb.data_out_blocks, false);
    }
    return CommandResult::good();
}

// VERIFY(10/12/16), SBC-3 §5.29-§5.31 (SBC-4 BYTCHK 2 bits).
CommandResult parse_verify(CommandContext& ctx) {
    ctx.cdb.bytchk = (ctx.cmd.cdb[1] >> 1) & 0x03;
    if (ctx.cdb.bytchk == 2) {
        return CommandResult::invalid_cdb_field(1, 2);
    }
    CommandResult range = decode_block_range(ctx, true);
    CommandResult data = CommandResult::good();
    if (ctx.cdb.bytchk == 1) {
        data = decode_data_out(ctx, ctx.cdb.blocks);
    } else if (ctx.cdb.bytchk == 3) {
        data = decode_data_out(ctx, ctx.cdb.blocks == 0 ? 0 : 1);
    }
    if (!range.ok()) {
        return range;
    }
    return data;
}

CommandResult execute_verify(CommandContext& ctx) {
    if (ctx.cdb.blocks == 0) {
        return CommandResult::good();
    }
    switch (ctx.cdb.bytchk) {
        case 1:
            return compare_blocks(ctx, ctx.cdb.data_out_blocks, false);
        case 3:
            if (ctx.cdb.data_out_blocks == 0) {
                return CommandResult::good();
            }
            return compare_blocks(ctx, ctx.cdb.blocks, true);
        default: {
            // BYTCHK 0: the medium is verified by reading it.
            Lun& lun = *ctx.lun;
            const uint64_t bs = lun.settings().block_size;
            std::vector<uint8_t> medium(static_cast<size_t>(ctx.cdb.blocks * bs));
            return store_result(lun.store().read(ctx.cdb.lba * bs, medium), StoreOp::read, lun,
                                ctx.cdb.lba);
        }
    }
}

// SYNCHRONIZE CACHE(10/16), SBC-3 §5.22-§5.23. IMMED is accepted; GOOD is sent after the
// flush either way, which IMMED permits.
CommandResult parse_synchronize_cache(CommandContext& ctx) {
    const LunSettings& s = ctx.lun->settings();
    const LbaRange r = cdb_lba_range(ctx.cmd.cdb, ctx.descriptor.cdb_length);
    ctx.cdb.lba = r.lba;
    ctx.cdb.blocks = r.blocks;  // 0: to the end of the medium
    if (r.lba > s.block_count || r.blocks > s.block_count - r.lba) {
        return CommandResult::fail(SenseReason::lba_out_of_range);
    }
    return CommandResult::good();
}

CommandResult execute_synchronize_cache(CommandContext& ctx) {
    Lun& lun = *ctx.lun;
    return store_result(lun.store().flush(), StoreOp::flush, lun, ctx.cdb.lba);
}

bool start_synchronize_cache(CommandContext& ctx, AsyncDone& done) {
    ctx.lun->store().flush_async([&ctx, done = std::move(done)](backend::Status st) {
        done(store_result(st, StoreOp::flush, *ctx.lun, ctx.cdb.lba));
    });
    return true;
}

}  // namespace handlers
}  // namespace atsarray::scsi
