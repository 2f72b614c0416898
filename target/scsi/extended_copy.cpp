// EXTENDED COPY(LID1) and RECEIVE COPY RESULTS (SPC-4 §6.4, §6.18): see extended_copy.hpp.

#include "target/scsi/extended_copy.hpp"

#include <algorithm>
#include <bit>
#include <memory>

#include <spdlog/spdlog.h>

#include "target/scsi/cdb.hpp"
#include "target/scsi/handlers.hpp"
#include "target/scsi/lun.hpp"
#include "target/scsi/target_device.hpp"

namespace atsarray::scsi {

bool CopyManager::begin(uint64_t lun, uint64_t nexus, uint8_t list_id) {
    std::lock_guard lock(mutex_);
    return active_.emplace(lun, nexus, list_id).second;
}

void CopyManager::finish(uint64_t lun, uint64_t nexus, uint8_t list_id,
                         std::optional<CopyRecord> record) {
    std::lock_guard lock(mutex_);
    const Key key{lun, nexus, list_id};
    active_.erase(key);
    // A new copy with the same LIST IDENTIFIER replaces what was held (SPC-4 §6.18.1); at most
    // 256 records per LUN and I_T nexus exist.
    if (record) {
        held_[key] = *record;
    } else {
        held_.erase(key);
    }
}

std::optional<CopyRecord> CopyManager::find(uint64_t lun, uint64_t nexus, uint8_t list_id) const {
    std::lock_guard lock(mutex_);
    auto it = held_.find(Key{lun, nexus, list_id});
    if (it == held_.end()) {
        return std::nullopt;
    }
    return it->second;
}

void CopyManager::nexus_removed(uint64_t nexus) {
    std::lock_guard lock(mutex_);
    std::erase_if(held_, [&](const auto& e) { return std::get<1>(e.first) == nexus; });
}

void CopyManager::lun_reset(uint64_t lun) {
    std::lock_guard lock(mutex_);
    std::erase_if(held_, [&](const auto& e) { return std::get<0>(e.first) == lun; });
}

void CopyManager::clear() {
    std::lock_guard lock(mutex_);
    held_.clear();
}

namespace {

using namespace xcopy;

constexpr size_t header_length = 16;  // SPC-4 §6.4.3 Table 107: parameter list header

// LIST ID USAGE (SPC-4 §6.4.3 Table 108).
enum ListIdUsage : uint8_t {
    hold_results = 0,
    reserved_usage = 1,
    discard_results = 2,
    no_list_identifier = 3,
};

// RECEIVE COPY RESULTS service actions (SPC-4 §6.18.1 Table 383).
enum CopyResultsAction : uint8_t {
    copy_status = 0x00,
    receive_data = 0x01,
    operating_parameters = 0x03,
    failed_segment_details = 0x04,
};

// An identification descriptor CSCD descriptor (SPC-4 §6.4.5.4, Table 122).
struct Cscd {
    uint8_t code_set = 0;
    uint8_t association = 0;
    uint8_t designator_type = 0;
    std::span<const uint8_t> designator;
    uint32_t disk_block_length = 0;  // block device specific parameters (SPC-4 §6.4.5.2.2)
};

// A block device to block device segment descriptor (SPC-4 §6.4.6.5, Table 136), resolved.
struct Segment {
    std::shared_ptr<Lun> source;
    std::shared_ptr<Lun> destination;
    uint64_t source_offset = 0;  // bytes
    uint64_t destination_offset = 0;
    uint64_t bytes = 0;
};

CommandResult parameter_field(size_t byte, std::optional<uint8_t> bit = {}) {
    return CommandResult::invalid_parameter_field(static_cast<uint16_t>(byte), bit);
}

// A LUN used without a target device (unit tests) resolves only its own designator.
std::shared_ptr<Lun> resolve(const CommandContext& ctx, const Cscd& c) {
    if (ctx.device != nullptr) {
        return ctx.device->lun_by_designator(c.code_set, c.association, c.designator_type,
                                             c.designator);
    }
    const LunSettings& s = ctx.lun->settings();
    const auto naa = naa_designator(s);
    if (c.code_set == 0x1 && c.association == 0 && c.designator_type == 0x3 &&
        std::equal(naa.begin(), naa.end(), c.designator.begin(), c.designator.end())) {
        if (auto owned = ctx.lun->weak_from_this().lock()) {
            return owned;
        }
        return std::shared_ptr<Lun>(std::shared_ptr<Lun>{}, ctx.lun);
    }
    return nullptr;
}

// Checks one segment against its copy targets (SPC-4 §6.4.6.5): both must be reachable, the
// byte count a whole number of blocks on both, inside both media and within the advertised
// MAXIMUM SEGMENT LENGTH. A copy target failure is COPY ABORTED (SPC-4 §6.4.1).
CommandResult resolve_segment(const CommandContext& ctx, std::span<const uint8_t> d, size_t at,
                              std::span<const Cscd> cscds, Segment& out) {
    const uint16_t src_index = get_be16(d, 4);
    const uint16_t dst_index = get_be16(d, 6);
    if (src_index >= cscds.size() || dst_index >= cscds.size()) {
        return CommandResult::fail(SenseReason::copy_target_unreachable);
    }
    out.source = resolve(ctx, cscds[src_index]);
    out.destination = resolve(ctx, cscds[dst_index]);
    if (!out.source || !out.destination) {
        return CommandResult::fail(SenseReason::copy_target_unreachable);
    }
    const LunSettings& src = out.source->settings();
    const LunSettings& dst = out.destination->settings();
    for (auto [index, settings] : {std::pair{src_index, &src}, std::pair{dst_index, &dst}}) {
        const uint32_t length = cscds[index].disk_block_length;
        if (length != 0 && length != settings->block_size) {
            return CommandResult::fail(SenseReason::copy_aborted);
        }
    }
    const bool destination_count = (d[1] & 0x02) != 0;  // DC
    const uint16_t blocks = get_be16(d, 10);
    out.bytes = uint64_t{blocks} * (destination_count ? dst.block_size : src.block_size);
    if (out.bytes % src.block_size != 0 || out.bytes % dst.block_size != 0) {
        return CommandResult::fail(SenseReason::copy_aborted);
    }
    if (out.bytes > max_segment_length) {
        return parameter_field(at + 10, 7);
    }
    const uint64_t src_lba = get_be64(d, 12);
    const uint64_t dst_lba = get_be64(d, 20);
    const uint64_t src_blocks = out.bytes / src.block_size;
    const uint64_t dst_blocks = out.bytes / dst.block_size;
    if (src_lba > src.block_count || src_blocks > src.block_count - src_lba ||
        dst_lba > dst.block_count || dst_blocks > dst.block_count - dst_lba) {
        return CommandResult::fail(SenseReason::copy_aborted);
    }
    out.source_offset = src_lba * src.block_size;
    out.destination_offset = dst_lba * dst.block_size;
    return CommandResult::good();
}

// Moves one segment in chunks, write-through when the destination's WCE is 0. The dispatcher
// holds the LBA locks of every destination range (extended_copy_lock_ranges) meanwhile. Overlapping
// ranges on one LUN copy backwards when the destination lies above the source, as memmove does.
CommandResult copy_segment(const Segment& s, uint64_t& bytes_done) {
    Lun& src = *s.source;
    Lun& dst = *s.destination;
    if (dst.write_protected()) {
        return CommandResult::fail(SenseReason::write_protected);
    }
    const bool backwards = &src == &dst && s.destination_offset > s.source_offset &&
                           s.destination_offset < s.source_offset + s.bytes;
    const bool stable = !dst.mode().write_cache_enabled;
    std::vector<uint8_t> buffer(static_cast<size_t>(std::min<uint64_t>(copy_chunk_bytes, s.bytes)));
    uint64_t done = 0;
    while (done < s.bytes) {
        const uint64_t step = std::min<uint64_t>(copy_chunk_bytes, s.bytes - done);
        const uint64_t at = backwards ? s.bytes - done - step : done;
        std::span<uint8_t> chunk(buffer.data(), static_cast<size_t>(step));
        if (backend::Status st = src.store().read(s.source_offset + at, chunk); !st.ok()) {
            spdlog::warn("scsi: EXTENDED COPY read of LUN {} at byte {} failed: {}", src.id(),
                         s.source_offset + at, backend::to_string(st));
            return CommandResult::fail(SenseReason::copy_aborted);
        }
        const backend::Status st = dst.store().write(s.destination_offset + at, chunk, stable);
        if (!st.ok()) {
            spdlog::warn("scsi: EXTENDED COPY write of LUN {} at byte {} failed: {}", dst.id(),
                         s.destination_offset + at, backend::to_string(st));
            return CommandResult::fail(SenseReason::copy_aborted);
        }
        done += step;
        bytes_done += step;
    }
    return CommandResult::good();
}

// Validates the parameter list (SPC-4 §6.4.3) in the order libiscsi's ExtendedCopy tests and
// the standard expect: list lengths, descriptor counts, descriptor type codes, then each
// descriptor's fields. Nothing is copied unless every segment resolves.
CommandResult parse_parameter_list(const CommandContext& ctx, std::span<const uint8_t> p,
                                   std::vector<Cscd>& cscds, std::vector<Segment>& segments) {
    if (p.size() < header_length) {
        return CommandResult::fail(SenseReason::parameter_list_length_error);
    }
    if (((p[1] >> 3) & 0x03) == reserved_usage) {
        return parameter_field(1, 4);
    }
    const uint32_t cscd_length = get_be16(p, 2);
    const uint32_t segment_length = get_be32(p, 8);
    const uint32_t inline_length = get_be32(p, 12);
    if (uint64_t{cscd_length} + segment_length > max_descriptor_list_length ||
        header_length + uint64_t{cscd_length} + segment_length + inline_length > p.size() ||
        cscd_length % cscd_descriptor_length != 0) {
        return CommandResult::fail(SenseReason::parameter_list_length_error);
    }
    if (cscd_length / cscd_descriptor_length > max_cscd_descriptors) {
        return CommandResult::fail(SenseReason::too_many_target_descriptors);
    }
    if (inline_length != 0) {
        // MAXIMUM INLINE DATA LENGTH is 0: no segment descriptor type here uses inline data.
        return parameter_field(12, 7);
    }
    for (size_t at = header_length; at < header_length + cscd_length;
         at += cscd_descriptor_length) {
        std::span<const uint8_t> d = p.subspan(at, cscd_descriptor_length);
        if (d[0] != cscd_identification) {
            return CommandResult::fail(SenseReason::unsupported_target_descriptor_type);
        }
        // Byte 1: LU ID TYPE and NUL are obsolete in SPC-4 and ignored; PERIPHERAL DEVICE TYPE
        // must be 00h (block device) for a block to block segment.
        if ((d[1] & 0x1F) != 0) {
            return parameter_field(at + 1, 4);
        }
        const uint8_t designator_length = d[7];
        if (designator_length > 20) {
            return parameter_field(at + 7, 7);
        }
        cscds.push_back(Cscd{
            static_cast<uint8_t>(d[4] & 0x0F), static_cast<uint8_t>((d[5] >> 4) & 0x03),
            static_cast<uint8_t>(d[5] & 0x0F), d.subspan(8, designator_length), get_be24(d, 29)});
    }
    const size_t end = header_length + cscd_length + segment_length;
    size_t count = 0;
    for (size_t at = header_length + cscd_length; at < end;) {
        if (++count > max_segment_descriptors) {
            return CommandResult::fail(SenseReason::too_many_segment_descriptors);
        }
        if (end - at < 4) {
            return CommandResult::fail(SenseReason::parameter_list_length_error);
        }
        if (p[at] != segment_block_to_block) {
            return CommandResult::fail(SenseReason::unsupported_segment_descriptor_type);
        }
        if (get_be16(p, at + 2) != block_to_block_segment_length - 4) {
            return parameter_field(at + 2, 7);
        }
        if (end - at < block_to_block_segment_length) {
            return CommandResult::fail(SenseReason::parameter_list_length_error);
        }
        Segment segment;
        if (CommandResult r = resolve_segment(ctx, p.subspan(at, block_to_block_segment_length), at,
                                              cscds, segment);
            !r.ok()) {
            return r;
        }
        segments.push_back(std::move(segment));
        at += block_to_block_segment_length;
    }
    return CommandResult::good();
}

void append_padded(std::vector<uint8_t>& page, uint16_t type, std::vector<uint8_t> body) {
    // SPC-4 §7.8.17.1: each third-party copy descriptor is a multiple of four bytes long.
    while ((body.size() + 4) % 4 != 0) {
        body.push_back(0);
    }
    std::array<uint8_t, 4> header{};
    put_be16(header, 0, type);
    put_be16(header, 2, static_cast<uint16_t>(body.size()));
    page.insert(page.end(), header.begin(), header.end());
    page.insert(page.end(), body.begin(), body.end());
}

uint8_t log2_of(uint32_t v) {
    return static_cast<uint8_t>(std::bit_width(v) - 1);
}

}  // namespace

std::vector<uint8_t> xcopy::third_party_copy_vpd_page(uint8_t peripheral) {
    std::vector<uint8_t> p{peripheral, 0x8F, 0, 0};
    // Supported Commands (0001h): EXTENDED COPY(LID1) and the RECEIVE COPY RESULTS service
    // actions, as the command table dispatches them.
    append_padded(p, 0x0001,
                  {9, 0x83, 1, 0x00, 0x84, 4, copy_status, receive_data, operating_parameters,
                   failed_segment_details});
    // Parameter Data (0004h, SPC-4 §7.8.17.5).
    std::vector<uint8_t> params(28, 0);
    put_be16(params, 2, max_cscd_descriptors);
    put_be16(params, 4, max_segment_descriptors);
    put_be32(params, 6, max_descriptor_list_length);
    put_be32(params, 10, 0);  // MAXIMUM INLINE DATA LENGTH
    append_padded(p, 0x0004, std::move(params));
    // Supported Descriptors (0008h): the segment and CSCD descriptor type codes.
    append_padded(p, 0x0008, {2, segment_block_to_block, cscd_identification});
    // Supported CSCD Descriptor IDs (000Ch): none of the special CSCD IDs (SPC-4 §6.4.5.1).
    append_padded(p, 0x000C, {0, 0});
    // General Copy Operations (8001h, SPC-4 §7.8.17.9).
    std::vector<uint8_t> general(32, 0);
    put_be32(general, 0, max_concurrent_copies);  // TOTAL CONCURRENT COPIES
    put_be32(general, 4, max_concurrent_copies);  // MAXIMUM IDENTIFIED CONCURRENT COPIES
    put_be32(general, 8, max_segment_length);
    general[12] = log2_of(512);  // DATA SEGMENT GRANULARITY: whole 512-byte blocks at least
    append_padded(p, 0x8001, std::move(general));
    put_be16(p, 2, static_cast<uint16_t>(p.size() - 4));
    return p;
}

namespace handlers {

// EXTENDED COPY(LID1), SPC-4 §6.4.
CommandResult parse_extended_copy(CommandContext& ctx) {
    const uint32_t n = get_be32(ctx.cmd.cdb, 10);
    ctx.cdb.parameter_list_length = n;
    ctx.cmd.data_out_wanted = n;
    if (ctx.cmd.expected_transfer_length < n || ctx.cmd.data_out.size() < n) {
        return CommandResult::fail(SenseReason::invalid_field_in_command_information_unit);
    }
    return CommandResult::good();
}

std::vector<ats::LockRange> extended_copy_lock_ranges(const CommandContext& ctx) {
    std::vector<ats::LockRange> ranges;
    const uint32_t n = ctx.cdb.parameter_list_length;
    std::vector<Cscd> cscds;
    std::vector<Segment> segments;
    if (n == 0 || !parse_parameter_list(ctx, ctx.cmd.data_out.first(n), cscds, segments).ok()) {
        return ranges;
    }
    for (const Segment& s : segments) {
        const uint64_t bs = s.destination->settings().block_size;
        ranges.push_back(
            {s.destination->lock_key(), s.destination_offset / bs, (s.bytes + bs - 1) / bs});
    }
    return ranges;
}

CommandResult execute_extended_copy(CommandContext& ctx) {
    const uint32_t n = ctx.cdb.parameter_list_length;
    if (n == 0) {
        // SPC-4 §6.4.1: a PARAMETER LIST LENGTH of zero is not an error; nothing is copied.
        return CommandResult::good();
    }
    std::span<const uint8_t> p = ctx.cmd.data_out.first(n);
    std::vector<Cscd> cscds;
    std::vector<Segment> segments;
    if (CommandResult r = parse_parameter_list(ctx, p, cscds, segments); !r.ok()) {
        return r;
    }
    const uint8_t list_id = p[0];
    const auto usage = static_cast<ListIdUsage>((p[1] >> 3) & 0x03);
    const uint64_t lun_id = ctx.lun->id();
    const uint64_t nexus = nexus_id_of(ctx.cmd);
    CopyManager* manager = ctx.device != nullptr && usage != no_list_identifier
                               ? &ctx.device->copy_manager()
                               : nullptr;
    if (manager != nullptr && !manager->begin(lun_id, nexus, list_id)) {
        // SPC-4 §6.4.3: the LIST IDENTIFIER of a copy still in progress on this I_T nexus.
        return CommandResult::fail(SenseReason::operation_in_progress);
    }

    CopyRecord record;
    CommandResult result = CommandResult::good();
    for (const Segment& segment : segments) {
        result = copy_segment(segment, record.bytes_transferred);
        if (!result.ok()) {
            break;
        }
        ++record.segments_processed;
    }
    if (manager != nullptr) {
        std::optional<CopyRecord> held;
        if (usage == hold_results) {
            record.copy_manager_status = result.ok() ? 0x01 : 0x02;
            record.command_status = sense_entry(result.reason).status;
            record.sense = build_sense(result, ctx.lun->sense_format());
            held = record;
        }
        manager->finish(lun_id, nexus, list_id, held);
    }
    return result;
}

// RECEIVE COPY RESULTS, SPC-4 §6.18.
CommandResult parse_receive_copy_results(CommandContext& ctx) {
    ctx.cdb.service_action = cdb_service_action(ctx.cmd.cdb);
    ctx.cdb.list_identifier = ctx.cmd.cdb[2];
    ctx.cdb.allocation_length = get_be32(ctx.cmd.cdb, 10);
    return CommandResult::good();
}

CommandResult execute_receive_copy_results(CommandContext& ctx) {
    std::vector<uint8_t> d;
    if (ctx.cdb.service_action == operating_parameters) {
        // SPC-4 §6.18.4 Table 386.
        d.assign(46, 0);
        d[4] = 0x01;  // SNLID: LIST ID USAGE 11b is supported
        put_be16(d, 8, max_cscd_descriptors);
        put_be16(d, 10, max_segment_descriptors);
        put_be32(d, 12, max_descriptor_list_length);
        put_be32(d, 16, max_segment_length);
        // MAXIMUM INLINE DATA LENGTH, HELD DATA LIMIT, MAXIMUM STREAM DEVICE TRANSFER SIZE: 0.
        put_be16(d, 34, max_concurrent_copies);           // TOTAL CONCURRENT COPIES
        d[36] = max_concurrent_copies;                    // MAXIMUM CONCURRENT COPIES
        d[37] = log2_of(ctx.lun->settings().block_size);  // DATA SEGMENT GRANULARITY
        d[43] = 2;                                        // IMPLEMENTED DESCRIPTOR LIST LENGTH
        d[44] = segment_block_to_block;
        d[45] = cscd_identification;
        put_be32(d, 0, static_cast<uint32_t>(d.size() - 4));
        set_data_in(ctx.cmd, d, ctx.cdb.allocation_length);
        return CommandResult::good();
    }
    std::optional<CopyRecord> record;
    if (ctx.device != nullptr) {
        record = ctx.device->copy_manager().find(ctx.lun->id(), nexus_id_of(ctx.cmd),
                                                 ctx.cdb.list_identifier);
    }
    if (!record) {
        // SPC-4 §6.18.2: no copy with this LIST IDENTIFIER is known for the I_T nexus.
        return CommandResult::invalid_cdb_field(2, 7);
    }
    switch (ctx.cdb.service_action) {
        case copy_status: {
            // SPC-4 §6.18.2 Table 384; TRANSFER COUNT UNITS 00h (bytes) or F1h... kept in
            // kibibytes (01h) when the byte count does not fit 32 bits.
            d.assign(12, 0);
            put_be32(d, 0, 8);
            d[4] = record->copy_manager_status;
            put_be16(d, 5, record->segments_processed);
            if (record->bytes_transferred <= 0xFFFFFFFFull) {
                put_be32(d, 8, static_cast<uint32_t>(record->bytes_transferred));
            } else {
                d[7] = 0x01;
                put_be32(d, 8, static_cast<uint32_t>(record->bytes_transferred >> 10));
            }
            break;
        }
        case receive_data:
            // SPC-4 §6.18.3: no segment type here holds data; AVAILABLE DATA 0.
            d.assign(4, 0);
            break;
        default: {
            // FAILED SEGMENT DETAILS, SPC-4 §6.18.5 Table 388.
            const SenseData& sense = record->sense;
            d.assign(60, 0);
            d[56] = static_cast<uint8_t>(record->command_status);
            put_be16(d, 58, sense.length);
            d.insert(d.end(), sense.bytes.begin(), sense.bytes.begin() + sense.length);
            put_be32(d, 0, static_cast<uint32_t>(d.size() - 4));
            break;
        }
    }
    set_data_in(ctx.cmd, d, ctx.cdb.allocation_length);
    return CommandResult::good();
}

}  // namespace handlers
}  // namespace atsarray::scsi
