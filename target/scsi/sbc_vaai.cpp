// The VAAI block commands and thin provisioning (SBC-4): COMPARE AND WRITE (§5.3, VMware's
// ATS), WRITE SAME(10/16) (§5.50, §5.51), UNMAP (§5.30) and GET LBA STATUS (§5.21).
//
// Lun runs every writer holding the LBA lock table's stripes for its blocks (UNMAP: every
// descriptor's range, unmap_lock_ranges), so the read, compare and write of an ATS are one atomic
// step with respect to every other write to the same blocks, while writes elsewhere go on.

#include <algorithm>
#include <array>
#include <cstring>
#include <vector>

#include <spdlog/spdlog.h>

#include "target/scsi/cdb.hpp"
#include "target/scsi/handlers.hpp"
#include "target/scsi/lun.hpp"
#include "target/scsi/sbc_common.hpp"

namespace atsarray::scsi {

uint32_t optimal_unmap_granularity(const Lun& lun) {
    const uint64_t blocks = lun.store().allocation_unit() / lun.settings().block_size;
    return static_cast<uint32_t>(std::clamp<uint64_t>(blocks, 1, 0xFFFFFFFFu));
}

namespace {

// Writes `block` (one logical block) to every block of [lba, lba + blocks), in pieces of about
// 1 MiB so a long WRITE SAME never needs a buffer of its own size.
CommandResult write_repeated(Lun& lun, uint64_t lba, uint64_t blocks,
                             std::span<const uint8_t> block) {
    const uint64_t bs = lun.settings().block_size;
    const uint64_t piece_blocks = std::max<uint64_t>(1, (uint64_t{1} << 20) / bs);
    std::vector<uint8_t> piece(static_cast<size_t>(std::min(blocks, piece_blocks) * bs));
    for (size_t at = 0; at < piece.size(); at += bs) {
        std::memcpy(piece.data() + at, block.data(), bs);
    }
    // SBC-4 §6.5.5: WCE=0 makes every write write-through; WRITE SAME has no FUA bit.
    const bool stable = !lun.mode().write_cache_enabled;
    for (uint64_t done = 0; done < blocks;) {
        const uint64_t n = std::min(blocks - done, piece_blocks);
        const backend::Status st =
            lun.store().write((lba + done) * bs, std::span(piece).first(n * bs), stable);
        if (CommandResult r = store_result(st, StoreOp::write, lun, lba + done); !r.ok()) {
            return r;
        }
        done += n;
    }
    return CommandResult::good();
}

CommandResult unmap_range(Lun& lun, uint64_t lba, uint64_t blocks) {
    const uint64_t bs = lun.settings().block_size;
    return store_result(lun.store().unmap(lba * bs, blocks * bs), StoreOp::write, lun, lba);
}

// A deallocation is a write: with the write cache off (WCE=0) GOOD means stable, so the store
// makes it so once per command; with WCE=1 it is as volatile as a cached write until
// SYNCHRONIZE CACHE (SBC-4 §4.15, the caching mode page).
CommandResult unmapped_stable(Lun& lun, uint64_t lba) {
    if (lun.mode().write_cache_enabled) {
        return CommandResult::good();
    }
    return store_result(lun.store().flush(), StoreOp::flush, lun, lba);
}

constexpr size_t unmap_header = 8;
constexpr size_t unmap_descriptor = 16;
constexpr size_t lba_status_header = 8;
constexpr size_t lba_status_descriptor = 16;
// GET LBA STATUS answers at most this many descriptors (the initiator asks again from the
// next LBA); it bounds the store queries of one command.
constexpr size_t max_lba_status_descriptors = 64;
// SBC-4 §5.21.2 Table 67: PROVISIONING STATUS.
constexpr uint8_t provisioning_mapped = 0x0;
constexpr uint8_t provisioning_deallocated = 0x1;

}  // namespace

namespace handlers {

// COMPARE AND WRITE, SBC-4 §5.3. The Data-Out buffer holds the verify data (NUMBER OF LOGICAL
// BLOCKS blocks) followed by the write data (as many again).
CommandResult parse_compare_and_write(CommandContext& ctx) {
    std::span<const uint8_t> cdb = ctx.cmd.cdb;
    const LunSettings& s = ctx.lun->settings();
    ctx.cdb.lba = get_be64(cdb, 2);
    ctx.cdb.blocks = cdb[13];
    ctx.cdb.fua = (cdb[1] & 0x08) != 0;
    const uint64_t wanted = 2 * uint64_t{ctx.cdb.blocks} * s.block_size;  // <= 2 x 255 x 64 KiB
    ctx.cmd.data_out_wanted = static_cast<uint32_t>(wanted);
    if ((cdb[1] & 0xE0) != 0) {
        // WRPROTECT: no protection information (SBC-4 §4.22).
        return CommandResult::invalid_cdb_field(1, 7);
    }
    if (ctx.cdb.blocks > max_compare_and_write_blocks) {
        // SBC-4 §5.3: above MAXIMUM COMPARE AND WRITE LENGTH (VPD B0 byte 5).
        return CommandResult::invalid_cdb_field(13, 7);
    }
    if (ctx.cdb.lba > s.block_count || ctx.cdb.blocks > s.block_count - ctx.cdb.lba) {
        return CommandResult::fail(SenseReason::lba_out_of_range);
    }
    if (ctx.cdb.blocks == 0) {
        // SBC-4 §5.3: zero blocks is not an error; nothing is compared or written. Data-Out
        // with it means the length field is wrong (libiscsi sends 2 x 256 blocks of data with
        // the byte wrapped to 0 and expects INVALID FIELD IN CDB, as LIO answers).
        if (ctx.cmd.expected_transfer_length != 0) {
            return CommandResult::invalid_cdb_field(13, 7);
        }
        return CommandResult::good();
    }
    // Both halves must arrive whole: the split between verify and write data is defined only
    // by the CDB, so an Expected Data Transfer Length other than 2 x blocks x block size (which
    // the iSCSI residual rules would otherwise honour for a WRITE) ends the command, as
    // libiscsi's CompareAndWrite.InvalidDataOutSize expects.
    if (ctx.cmd.expected_transfer_length != wanted || ctx.cmd.data_out.size() < wanted) {
        return CommandResult::fail(SenseReason::invalid_field_in_command_information_unit);
    }
    ctx.cdb.data_out_blocks = 2 * ctx.cdb.blocks;
    return CommandResult::good();
}

// Runs under the LBA locks of its blocks: no other write of this process lands between the read
// and the write. A store shared with other gateways (compares_in_store(): RBD) compares and
// writes in one operation of its own, atomic against every process. On a miscompare nothing is
// written and INFORMATION holds the offset of the first differing byte (SBC-4 §5.3; REFERENCES.md
// "Miscompare").
CommandResult execute_compare_and_write(CommandContext& ctx) {
    if (ctx.cdb.blocks == 0) {
        return CommandResult::good();
    }
    Lun& lun = *ctx.lun;
    const size_t length = size_t{ctx.cdb.blocks} * lun.settings().block_size;
    std::span<const uint8_t> verify = ctx.cmd.data_out.first(length);
    std::span<const uint8_t> data = ctx.cmd.data_out.subspan(length, length);
    const uint64_t offset = ctx.cdb.lba * lun.settings().block_size;
    // SBC-4 §6.5.5: WCE=0 makes every write write-through.
    const bool stable = ctx.cdb.fua || !lun.mode().write_cache_enabled;

    uint64_t first_difference = 0;
    if (lun.store().compares_in_store()) {
        const backend::Status st =
            lun.store().compare_and_write(offset, verify, data, stable, first_difference);
        if (st.code != backend::StoreErrc::miscompare) {
            return store_result(st, StoreOp::write, lun, ctx.cdb.lba);
        }
        if (ctx.miscompare_image != nullptr) {
            // What the medium held when it refused (for the console): read after the fact, so
            // another gateway may have changed it since; the offset is the OSD's own.
            std::vector<uint8_t> medium(length);
            if (lun.store().read(offset, medium).ok()) {
                *ctx.miscompare_image = std::move(medium);
            }
        }
    } else {
        // With ctx.nowait (on the I/O thread, under the LBA locks) both the read and the write
        // must go without waiting; either would_block leaves the medium as it was, and the
        // dispatcher runs all of it again on a worker.
        std::vector<uint8_t> medium(length);
        const backend::Status read =
            ctx.nowait ? lun.store().read_nowait(offset, medium) : lun.store().read(offset, medium);
        if (read.code == backend::StoreErrc::would_block) {
            ctx.would_block = true;
            return CommandResult::good();
        }
        if (CommandResult r = store_result(read, StoreOp::read, lun, ctx.cdb.lba); !r.ok()) {
            return r;
        }
        const auto [at, unused] = std::mismatch(medium.begin(), medium.end(), verify.begin());
        if (at == medium.end()) {
            const backend::Status written = ctx.nowait
                                                ? lun.store().write_nowait(offset, data, stable)
                                                : lun.store().write(offset, data, stable);
            if (written.code == backend::StoreErrc::would_block) {
                ctx.would_block = true;
                return CommandResult::good();
            }
            return store_result(written, StoreOp::write, lun, ctx.cdb.lba);
        }
        first_difference = static_cast<uint64_t>(at - medium.begin());
        if (ctx.miscompare_image != nullptr) {
            *ctx.miscompare_image = std::move(medium);
        }
    }
    spdlog::debug("scsi: LUN {} COMPARE AND WRITE at LBA {} miscompares at byte {}", lun.id(),
                  ctx.cdb.lba, first_difference);
    return CommandResult::with_information(SenseReason::miscompare, first_difference);
}

// The same in one asynchronous operation of a store that compares in the medium (rbd): a store
// that does not is compared here on a worker (execute_compare_and_write).
bool start_compare_and_write(CommandContext& ctx, AsyncDone& done) {
    Lun& lun = *ctx.lun;
    if (!lun.store().compares_in_store()) {
        return false;
    }
    if (ctx.cdb.blocks == 0) {
        const AsyncDone now = std::move(done);
        now(CommandResult::good());
        return true;
    }
    const size_t length = size_t{ctx.cdb.blocks} * lun.settings().block_size;
    const uint64_t offset = ctx.cdb.lba * lun.settings().block_size;
    // SBC-4 §6.5.5: WCE=0 makes every write write-through.
    const bool stable = ctx.cdb.fua || !lun.mode().write_cache_enabled;
    lun.store().compare_and_write_async(
        offset, ctx.cmd.data_out.first(length), ctx.cmd.data_out.subspan(length, length), stable,
        [&ctx, offset, length, done = std::move(done)](backend::Status st,
                                                       uint64_t first_difference) mutable {
            Lun& l = *ctx.lun;
            if (st.code != backend::StoreErrc::miscompare) {
                done(store_result(st, StoreOp::write, l, ctx.cdb.lba));
                return;
            }
            spdlog::debug("scsi: LUN {} COMPARE AND WRITE at LBA {} miscompares at byte {}", l.id(),
                          ctx.cdb.lba, first_difference);
            const CommandResult miscompare =
                CommandResult::with_information(SenseReason::miscompare, first_difference);
            if (ctx.miscompare_image == nullptr) {
                done(miscompare);
                return;
            }
            // What the medium held when it refused (for the console), read after the fact as
            // execute_compare_and_write does: one more operation of the store's, started here.
            ctx.miscompare_image->resize(length);
            l.store().read_async(offset, *ctx.miscompare_image,
                                 [&ctx, miscompare, done = std::move(done)](backend::Status read) {
                                     if (!read.ok()) {
                                         ctx.miscompare_image->clear();
                                     }
                                     done(miscompare);
                                 });
        });
    return true;
}

// WRITE SAME(10/16), SBC-4 §5.50/§5.51. Advertised in VPD B0/B2: WSNZ=1 (NUMBER OF LOGICAL
// BLOCKS 0 is an invalid field, never "to the end"), ANC_SUP=0, LBPWS=LBPWS10=1, MAXIMUM WRITE
// SAME LENGTH = max_write_same_blocks.
CommandResult parse_write_same(CommandContext& ctx) {
    std::span<const uint8_t> cdb = ctx.cmd.cdb;
    const LunSettings& s = ctx.lun->settings();
    const bool is16 = ctx.descriptor.cdb_length == 16;
    const uint16_t nolb_at = is16 ? 10 : 7;
    ctx.cdb.lba = is16 ? get_be64(cdb, 2) : get_be32(cdb, 2);
    ctx.cdb.blocks = is16 ? get_be32(cdb, 10) : get_be16(cdb, 7);
    ctx.cdb.unmap = (cdb[1] & 0x08) != 0;
    ctx.cdb.ndob = is16 && (cdb[1] & 0x01) != 0;
    ctx.cmd.data_out_wanted = ctx.cdb.ndob ? 0 : s.block_size;
    if ((cdb[1] & 0xE0) != 0) {
        return CommandResult::invalid_cdb_field(1, 7);  // WRPROTECT
    }
    if ((cdb[1] & 0x10) != 0) {
        return CommandResult::invalid_cdb_field(1, 4);  // ANCHOR with ANC_SUP=0
    }
    if (ctx.cdb.lba >= s.block_count || ctx.cdb.blocks > s.block_count - ctx.cdb.lba) {
        return CommandResult::fail(SenseReason::lba_out_of_range);
    }
    if (ctx.cdb.blocks == 0 || ctx.cdb.blocks > max_write_same_blocks) {
        return CommandResult::invalid_cdb_field(nolb_at, 7);
    }
    if (!ctx.cdb.ndob) {
        // Exactly one logical block of Data-Out (libiscsi WriteSame*.InvalidDataOutSize).
        if (ctx.cmd.expected_transfer_length != s.block_size ||
            ctx.cmd.data_out.size() < s.block_size) {
            return CommandResult::fail(SenseReason::invalid_field_in_command_information_unit);
        }
        ctx.cdb.data_out_blocks = 1;
    }
    return CommandResult::good();
}

// UNMAP=1 deallocates the range whatever the Data-Out block holds (as LIO does and libiscsi's
// WriteSame*.Unmap* tests expect); LBPRZ=1 makes it read back as zeros. NDOB=1 writes zeros.
CommandResult execute_write_same(CommandContext& ctx) {
    Lun& lun = *ctx.lun;
    if (ctx.cdb.unmap) {
        if (CommandResult r = unmap_range(lun, ctx.cdb.lba, ctx.cdb.blocks); !r.ok()) {
            return r;
        }
        return unmapped_stable(lun, ctx.cdb.lba);
    }
    const std::vector<uint8_t> zeros(ctx.cdb.ndob ? lun.settings().block_size : 0, 0);
    std::span<const uint8_t> block = ctx.cdb.ndob
                                         ? std::span<const uint8_t>(zeros)
                                         : ctx.cmd.data_out.first(lun.settings().block_size);
    return write_repeated(lun, ctx.cdb.lba, ctx.cdb.blocks, block);
}

// UNMAP, SBC-4 §5.30. The parameter list is read in execute(); parse() checks the CDB and how
// much of it arrived.
CommandResult parse_unmap(CommandContext& ctx) {
    std::span<const uint8_t> cdb = ctx.cmd.cdb;
    if ((cdb[1] & 0x01) != 0) {
        return CommandResult::invalid_cdb_field(1, 0);  // ANCHOR with ANC_SUP=0
    }
    const uint32_t length = get_be16(cdb, 7);
    ctx.cmd.data_out_wanted = length;
    if (length == 0) {
        // SBC-4 §5.30.1: no parameter data is not an error.
        ctx.cdb.parameter_list_length = 0;
        return CommandResult::good();
    }
    // A shorter EDTL is honoured as a residual overflow; what did not arrive is not parsed.
    const uint32_t take = std::min(length, ctx.cmd.expected_transfer_length);
    if (ctx.cmd.data_out.size() < take) {
        return CommandResult::fail(SenseReason::invalid_field_in_command_information_unit);
    }
    if (take < unmap_header) {
        // SBC-4 §5.30.1: a PARAMETER LIST LENGTH of 1..7 cannot hold the header.
        return CommandResult::fail(SenseReason::parameter_list_length_error);
    }
    ctx.cdb.parameter_list_length = take;
    return CommandResult::good();
}

std::vector<ats::LockRange> unmap_lock_ranges(const CommandContext& ctx) {
    std::vector<ats::LockRange> ranges;
    const uint32_t n = ctx.cdb.parameter_list_length;
    if (n < unmap_header) {
        return ranges;
    }
    std::span<const uint8_t> p = ctx.cmd.data_out.first(n);
    const size_t descriptor_length = get_be16(p, 2);
    const size_t count =
        std::min<size_t>(std::min(descriptor_length, p.size() - unmap_header) / unmap_descriptor,
                         max_unmap_block_descriptors);
    const uint64_t block_count = ctx.lun->settings().block_count;
    for (size_t i = 0; i < count; ++i) {
        const size_t at = unmap_header + i * unmap_descriptor;
        const uint64_t lba = get_be64(p, at);
        const uint32_t blocks = get_be32(p, at + 8);
        if (blocks != 0 && lba < block_count) {
            ranges.push_back(
                {ctx.lun->lock_key(), lba, std::min<uint64_t>(blocks, block_count - lba)});
        }
    }
    return ranges;
}

CommandResult execute_unmap(CommandContext& ctx) {
    if (ctx.cdb.parameter_list_length == 0) {
        return CommandResult::good();
    }
    Lun& lun = *ctx.lun;
    const LunSettings& s = lun.settings();
    std::span<const uint8_t> p = ctx.cmd.data_out.first(ctx.cdb.parameter_list_length);
    // SBC-4 §5.30.2: UNMAP DATA LENGTH (n - 1) and UNMAP BLOCK DESCRIPTOR DATA LENGTH (n - 7)
    // may not claim more than the parameter list holds.
    const size_t data_length = get_be16(p, 0);
    const size_t descriptor_length = get_be16(p, 2);
    if (data_length + 2 > p.size()) {
        return CommandResult::invalid_parameter_field(0, 7);
    }
    if (descriptor_length + unmap_header > p.size()) {
        return CommandResult::invalid_parameter_field(2, 7);
    }
    // An incomplete last descriptor (length not a multiple of 16) is ignored.
    const size_t count = descriptor_length / unmap_descriptor;
    if (count > max_unmap_block_descriptors) {
        return CommandResult::invalid_parameter_field(2, 7);
    }
    // Every descriptor is checked before anything is deallocated.
    uint64_t total = 0;
    for (size_t i = 0; i < count; ++i) {
        const size_t at = unmap_header + i * unmap_descriptor;
        const uint64_t lba = get_be64(p, at);
        const uint32_t blocks = get_be32(p, at + 8);
        if (lba > s.block_count || blocks > s.block_count - lba) {
            return CommandResult::fail(SenseReason::lba_out_of_range);
        }
        total += blocks;
        if (total > max_unmap_lba_count) {
            // SBC-4 §5.30.1: more than MAXIMUM UNMAP LBA COUNT in one command.
            return CommandResult::invalid_parameter_field(static_cast<uint16_t>(at + 8), 7);
        }
    }
    for (size_t i = 0; i < count; ++i) {
        const size_t at = unmap_header + i * unmap_descriptor;
        const uint32_t blocks = get_be32(p, at + 8);
        if (blocks == 0) {
            continue;
        }
        if (CommandResult r = unmap_range(lun, get_be64(p, at), blocks); !r.ok()) {
            return r;
        }
    }
    return unmapped_stable(lun, 0);
}

// GET LBA STATUS, SBC-4 §5.21 (SERVICE ACTION IN(16) 12h). A STARTING LOGICAL BLOCK ADDRESS
// past the last LBA is LBA OUT OF RANGE (REFERENCES.md: tgt answers GOOD there).
CommandResult parse_get_lba_status(CommandContext& ctx) {
    std::span<const uint8_t> cdb = ctx.cmd.cdb;
    ctx.cdb.lba = get_be64(cdb, 2);
    ctx.cdb.allocation_length = get_be32(cdb, 10);
    if (ctx.cdb.lba >= ctx.lun->settings().block_count) {
        return CommandResult::fail(SenseReason::lba_out_of_range);
    }
    return CommandResult::good();
}

// Descriptors from the starting LBA on, one per extent of equal provisioning status, as many
// as the allocation length holds (at most max_lba_status_descriptors). A block that is partly
// allocated counts as mapped.
CommandResult execute_get_lba_status(CommandContext& ctx) {
    Lun& lun = *ctx.lun;
    const uint64_t bs = lun.settings().block_size;
    const uint64_t end = lun.settings().block_count;
    const size_t room =
        ctx.cdb.allocation_length > lba_status_header
            ? (ctx.cdb.allocation_length - lba_status_header) / lba_status_descriptor
            : 0;
    const size_t wanted = std::clamp<size_t>(room, 1, max_lba_status_descriptors);

    struct Extent {
        uint64_t lba;
        uint64_t blocks;
        bool mapped;
    };
    std::vector<Extent> extents;
    uint64_t lba = ctx.cdb.lba;
    // Each query returns a maximal extent, so consecutive ones alternate; the bound only
    // guards against a store that reports in small pieces.
    for (size_t queries = 0; lba < end && queries < 4 * max_lba_status_descriptors; ++queries) {
        bool mapped = true;
        uint64_t bytes = 0;
        const uint64_t limit = std::min<uint64_t>(end - lba, 0xFFFFFFFFu) * bs;
        if (CommandResult r = store_result(
                lun.store().mapped_extent(lba * bs, limit, mapped, bytes), StoreOp::read, lun, lba);
            !r.ok()) {
            return r;
        }
        uint64_t blocks = mapped ? (bytes + bs - 1) / bs : bytes / bs;
        if (blocks == 0) {  // a hole shorter than the rest of this block: the block is mapped
            mapped = true;
            blocks = 1;
        }
        blocks = std::min(blocks, end - lba);
        if (!extents.empty() && extents.back().mapped == mapped &&
            extents.back().blocks + blocks <= 0xFFFFFFFFu) {
            extents.back().blocks += blocks;
        } else {
            if (extents.size() == wanted) {
                break;
            }
            extents.push_back({lba, blocks, mapped});
        }
        lba += blocks;
    }

    std::vector<uint8_t> d(lba_status_header + extents.size() * lba_status_descriptor, 0);
    put_be32(d, 0, static_cast<uint32_t>(d.size() - 4));  // PARAMETER DATA LENGTH
    for (size_t i = 0; i < extents.size(); ++i) {
        const size_t at = lba_status_header + i * lba_status_descriptor;
        put_be64(d, at, extents[i].lba);
        put_be32(d, at + 8, static_cast<uint32_t>(extents[i].blocks));
        d[at + 12] = extents[i].mapped ? provisioning_mapped : provisioning_deallocated;
    }
    set_data_in(ctx.cmd, d, ctx.cdb.allocation_length);
    return CommandResult::good();
}

}  // namespace handlers
}  // namespace atsarray::scsi
