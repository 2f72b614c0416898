// Primary commands (SPC-4 §6): TEST UNIT READY, INQUIRY with its VPD pages, REPORT LUNS,
// REQUEST SENSE.

#include <algorithm>
#include <array>
#include <string_view>
#include <vector>

#include "target/scsi/cdb.hpp"
#include "target/scsi/extended_copy.hpp"
#include "target/scsi/handlers.hpp"
#include "target/scsi/lun.hpp"
#include "target/scsi/sbc_common.hpp"

namespace atsarray::scsi {
namespace {

constexpr uint8_t peripheral_direct_access = 0x00;
// SPC-4 §6.6.2: PERIPHERAL QUALIFIER 011b, PERIPHERAL DEVICE TYPE 1Fh: no logical unit here.
constexpr uint8_t peripheral_no_lun = 0x7F;

// SPC-4 §6.6.2: version descriptors (SAM-5, iSCSI, SPC-4, SBC-3; "no version
// claimed" codes).
constexpr std::array<uint16_t, 4> version_descriptors{0x00A0, 0x0960, 0x0460, 0x04C0};

// atsarray has no IEEE company ID of its own; the designator uses the one LIO uses for its
// NAA designators (0x001405) so initiators see the familiar shape. Only this constant and
// derive_naa_designator() define the NAA value.
constexpr uint32_t ieee_company_id = 0x001405;

enum VpdPage : uint8_t {
    vpd_supported_pages = 0x00,
    vpd_unit_serial_number = 0x80,
    vpd_device_identification = 0x83,
    vpd_extended_inquiry_data = 0x86,
    vpd_third_party_copy = 0x8F,
    vpd_block_limits = 0xB0,
    vpd_block_device_characteristics = 0xB1,
    vpd_logical_block_provisioning = 0xB2,
};
// Ascending page code order (SPC-4 §7.8.13).
constexpr std::array<uint8_t, 8> vpd_pages{vpd_supported_pages,
                                           vpd_unit_serial_number,
                                           vpd_device_identification,
                                           vpd_extended_inquiry_data,
                                           vpd_third_party_copy,
                                           vpd_block_limits,
                                           vpd_block_device_characteristics,
                                           vpd_logical_block_provisioning};

// FNV-1a, 64 bit: stable across builds and platforms (std::hash is not).
uint64_t fnv1a64(std::string_view a, std::string_view b, uint64_t basis) {
    uint64_t h = basis;
    auto mix = [&h](std::string_view s) {
        for (char c : s) {
            h ^= static_cast<uint8_t>(c);
            h *= 0x100000001B3ull;
        }
    };
    mix(a);
    mix(std::string_view("\0", 1));
    mix(b);
    return h;
}

// TPGS 01b (implicit ALUA only): what a LUN number that does not exist reports.
constexpr uint8_t tpgs_implicit = 0x1;

std::vector<uint8_t> standard_inquiry(const LunSettings* identity, uint8_t peripheral,
                                      uint8_t tpgs) {
    // SPC-4 §6.6.2 Table 140: 36 bytes, vendor specific to byte 55, version descriptors at
    // 58..73 (eight slots, four used).
    std::vector<uint8_t> d(74, 0);
    d[0] = peripheral;
    if (peripheral == peripheral_direct_access && identity != nullptr && identity->removable) {
        d[1] = 0x80;  // RMB
    }
    d[2] = 0x06;  // VERSION: SPC-4
    d[3] = 0x12;  // HISUP, RESPONSE DATA FORMAT 2
    d[4] = static_cast<uint8_t>(d.size() - 5);
    // TPGS: 01b implicit asymmetric access only (the single implicit target port group), 11b
    // implicit and explicit (SET TARGET PORT GROUPS) once target port groups are configured;
    // 3PC: EXTENDED COPY(LID1) (SPC-4 §6.6.2).
    d[5] = static_cast<uint8_t>((tpgs & 0x3) << 4) | 0x08;
    d[7] = 0x02;  // CMDQUE (SAM-5 task management: full queuing model)
    put_ascii(d, 8, 8, identity != nullptr ? std::string_view(identity->vendor) : "");
    put_ascii(d, 16, 16, identity != nullptr ? std::string_view(identity->product) : "");
    put_ascii(d, 32, 4, identity != nullptr ? std::string_view(identity->revision) : "");
    for (size_t i = 0; i < version_descriptors.size(); ++i) {
        put_be16(d, 58 + 2 * i, version_descriptors[i]);
    }
    return d;
}

void append_designator(std::vector<uint8_t>& page, uint8_t protocol_and_code_set,
                       uint8_t piv_association_type, std::span<const uint8_t> designator) {
    // SPC-4 §7.8.6.1: designation descriptor header.
    page.push_back(protocol_and_code_set);
    page.push_back(piv_association_type);
    page.push_back(0);
    page.push_back(static_cast<uint8_t>(designator.size()));
    page.insert(page.end(), designator.begin(), designator.end());
}

std::vector<uint8_t> vpd_page(Lun& lun, const Command& cmd, uint8_t page_code) {
    const LunSettings& s = lun.settings();
    std::vector<uint8_t> p{peripheral_direct_access, page_code, 0, 0};
    switch (page_code) {
        case vpd_supported_pages:
            // SPC-4 §7.8.13.
            p.insert(p.end(), vpd_pages.begin(), vpd_pages.end());
            break;
        case vpd_unit_serial_number: {
            // SPC-4 §7.8.15.
            // resize + copy rather than insert: GCC 12 misreads the latter under -fsanitize=thread
            // (-Warray-bounds on the 4-byte header).
            const std::string_view serial = std::string_view(s.serial).substr(0, 252);
            p.resize(4 + serial.size());
            std::copy(serial.begin(), serial.end(), p.begin() + 4);
            break;
        }
        case vpd_device_identification: {
            // SPC-4 §7.8.6.
            // NAA, binary, logical unit association (SPC-4 §7.8.6.6.5).
            const auto naa = naa_designator(s);
            append_designator(p, 0x01, 0x03, naa);
            // T10 vendor ID based, ASCII (SPC-4 §7.8.6.4): vendor (8, padded) + serial.
            std::vector<uint8_t> t10(8);
            put_ascii(t10, 0, 8, s.vendor);
            t10.insert(t10.end(), s.serial.begin(),
                       s.serial.begin() + std::min<size_t>(s.serial.size(), 200));
            append_designator(p, 0x02, 0x01, t10);
            // Relative target port (SPC-4 §7.8.6.7) and target port group (§7.8.6.8) of the
            // port the command came in on: iSCSI protocol identifier (5h) with PIV=1, association
            // target port (01b). The group designator is left out for a port no group holds.
            std::array<uint8_t, 4> port{};
            const uint16_t rtp = cmd.nexus != nullptr ? cmd.nexus->relative_target_port : 1;
            put_be16(port, 2, rtp);
            append_designator(p, 0x51, 0x94, port);
            if (const auto group_id = lun.port_groups().group_of_port(rtp)) {
                std::array<uint8_t, 4> group{};
                put_be16(group, 2, *group_id);
                append_designator(p, 0x51, 0x95, group);
            }
            break;
        }
        case vpd_extended_inquiry_data:
            // SPC-4 §7.8.7: page length 3Ch. SIMPSUP (simple task attribute); V_SUP when a
            // volatile write cache exists (SYNCHRONIZE CACHE makes it stable); LUICLR: a unit
            // attention is cleared for the I_T nexus that receives it only.
            p.resize(64, 0);
            p[5] = 0x01;
            p[6] = s.write_cache ? 0x01 : 0x00;
            p[7] = 0x01;
            break;
        case vpd_third_party_copy:
            p = xcopy::third_party_copy_vpd_page(peripheral_direct_access);
            break;
        case vpd_block_limits: {
            // SBC-4 §6.6.4: page length 3Ch. Every limit is what the handlers enforce
            // (sbc_common.hpp; REFERENCES.md: advertise ATS honestly).
            p.resize(64, 0);
            p[4] = 0x01;  // WSNZ: WRITE SAME with NUMBER OF LOGICAL BLOCKS 0 is rejected
            p[5] = max_compare_and_write_blocks;  // MAXIMUM COMPARE AND WRITE LENGTH
            put_be16(p, 6, 1);                    // OPTIMAL TRANSFER LENGTH GRANULARITY
            put_be32(p, 8, s.max_transfer_bytes / s.block_size);
            put_be32(p, 12, std::max<uint32_t>(1, s.optimal_transfer_bytes / s.block_size));
            put_be32(p, 20, max_unmap_lba_count);          // MAXIMUM UNMAP LBA COUNT
            put_be32(p, 24, max_unmap_block_descriptors);  // MAXIMUM UNMAP BLOCK DESCRIPTOR COUNT
            // OPTIMAL UNMAP GRANULARITY: the store's allocation unit. UGAVALID 0: unmapping
            // works at any LBA (partial units are zeroed).
            put_be32(p, 28, optimal_unmap_granularity(lun));
            put_be64(p, 36, max_write_same_blocks);  // MAXIMUM WRITE SAME LENGTH
            // MAXIMUM ATOMIC TRANSFER LENGTH; ATOMIC ALIGNMENT, ATOMIC TRANSFER LENGTH
            // GRANULARITY and the ATOMIC BOUNDARY limits 0: any range is atomic (sbc_atomic.cpp).
            put_be32(p, 44, max_atomic_transfer_length(s));
            break;
        }
        case vpd_logical_block_provisioning:
            // SBC-4 §6.6.6: LBPU (UNMAP), LBPWS (WRITE SAME(16) with UNMAP), LBPWS10, LBPRZ 001b
            // (deallocated blocks read zeros), ANC_SUP 0, DP 0; PROVISIONING TYPE 010b (thin).
            p.resize(8, 0);
            p[5] = 0x80 | 0x40 | 0x20 | (0x1 << 2);
            p[6] = 0x02;
            break;
        case vpd_block_device_characteristics:
            // SBC-3 §6.5.2: MEDIUM ROTATION RATE 0001h = non-rotating medium. SBC-4 §6.6.2:
            // WABEREQ 01b: after SANITIZE BLOCK ERASE, reads succeed (unmapped blocks, zeros).
            p.resize(64, 0);
            put_be16(p, 4, 0x0001);
            p[7] = 0x40;
            break;
        default:
            break;
    }
    put_be16(p, 2, static_cast<uint16_t>(p.size() - 4));
    return p;
}

bool vpd_page_supported(uint8_t page_code) {
    return std::find(vpd_pages.begin(), vpd_pages.end(), page_code) != vpd_pages.end();
}

// SAM-5 LUN structure: single level LUN, peripheral device addressing below 256, flat space
// addressing (01b) for 256..16383.
std::array<uint8_t, 8> encode_lun(uint64_t lun) {
    std::array<uint8_t, 8> out{};
    if (lun < 256) {
        out[1] = static_cast<uint8_t>(lun);
    } else {
        out[0] = static_cast<uint8_t>(0x40 | ((lun >> 8) & 0x3F));
        out[1] = static_cast<uint8_t>(lun);
    }
    return out;
}

}  // namespace

std::array<uint8_t, 16> derive_naa_designator(std::string_view target_name,
                                              std::string_view serial) {
    // NAA 6 layout (SPC-4 §7.8.6.6.5): NAA(4) | IEEE COMPANY ID(24) |
    // VENDOR SPECIFIC IDENTIFIER(36) | VENDOR SPECIFIC IDENTIFIER EXTENSION(64).
    const uint64_t h1 = fnv1a64(target_name, serial, 0xCBF29CE484222325ull);
    const uint64_t h2 = fnv1a64(target_name, serial, h1 ^ 0x9E3779B97F4A7C15ull);
    std::array<uint8_t, 16> d{};
    const uint64_t high =
        (uint64_t{0x6} << 60) | (uint64_t{ieee_company_id} << 36) | (h1 & 0xFFFFFFFFFull);
    put_be64(d, 0, high);
    put_be64(d, 8, h2);
    return d;
}

namespace handlers {

CommandResult parse_test_unit_ready(CommandContext&) {
    return CommandResult::good();
}
CommandResult execute_test_unit_ready(CommandContext&) {
    return CommandResult::good();
}

// INQUIRY, SPC-4 §6.6.
CommandResult parse_inquiry(CommandContext& ctx) {
    std::span<const uint8_t> cdb = ctx.cmd.cdb;
    ctx.cdb.evpd = (cdb[1] & 0x01) != 0;
    ctx.cdb.page_code = cdb[2];
    ctx.cdb.allocation_length = get_be16(cdb, 3);
    if (!ctx.cdb.evpd && ctx.cdb.page_code != 0) {
        // SPC-4 §6.6.1: PAGE CODE must be zero when EVPD is zero.
        return CommandResult::invalid_cdb_field(2, 7);
    }
    return CommandResult::good();
}

CommandResult execute_inquiry(CommandContext& ctx) {
    if (ctx.lun == nullptr) {
        if (ctx.cdb.evpd) {
            return CommandResult::fail(SenseReason::logical_unit_not_supported);
        }
        set_data_in(ctx.cmd, standard_inquiry(ctx.identity, peripheral_no_lun, tpgs_implicit),
                    ctx.cdb.allocation_length);
        return CommandResult::good();
    }
    if (!ctx.cdb.evpd) {
        set_data_in(ctx.cmd,
                    standard_inquiry(&ctx.lun->settings(), peripheral_direct_access,
                                     ctx.lun->port_groups().tpgs()),
                    ctx.cdb.allocation_length);
        return CommandResult::good();
    }
    if (!vpd_page_supported(ctx.cdb.page_code)) {
        return CommandResult::invalid_cdb_field(2, 7);
    }
    set_data_in(ctx.cmd, vpd_page(*ctx.lun, ctx.cmd, ctx.cdb.page_code), ctx.cdb.allocation_length);
    return CommandResult::good();
}

// REPORT LUNS, SPC-4 §6.33.
CommandResult parse_report_luns(CommandContext& ctx) {
    std::span<const uint8_t> cdb = ctx.cmd.cdb;
    ctx.cdb.select_report = cdb[2];
    ctx.cdb.allocation_length = get_be32(cdb, 6);
    if (ctx.cdb.select_report > 0x02) {
        return CommandResult::invalid_cdb_field(2, 7);
    }
    if (ctx.cdb.allocation_length < 16) {
        // SPC-4 §6.33: an ALLOCATION LENGTH below 16 is an invalid field.
        return CommandResult::invalid_cdb_field(6, 7);
    }
    return CommandResult::good();
}

CommandResult execute_report_luns(CommandContext& ctx) {
    std::vector<uint8_t> d(8, 0);
    // SELECT REPORT 01h asks for well known logical units only; there are none.
    if (ctx.cdb.select_report != 0x01) {
        for (uint64_t id : ctx.lun_inventory) {
            const auto lun = encode_lun(id);
            d.insert(d.end(), lun.begin(), lun.end());
        }
    }
    put_be32(d, 0, static_cast<uint32_t>(d.size() - 8));
    set_data_in(ctx.cmd, d, ctx.cdb.allocation_length);
    if (ctx.lun != nullptr) {
        // SPC-4 §6.33: REPORT LUNS clears REPORTED LUNS DATA HAS CHANGED for this nexus.
        ctx.lun->unit_attentions().clear(nexus_id_of(ctx.cmd), SenseReason::reported_luns_changed);
    }
    return CommandResult::good();
}

namespace {

// What TEST UNIT READY would end in on the command's port, for its group's ALUA state.
CommandResult alua_state_as_sense(CommandContext& ctx) {
    static constexpr std::array<uint8_t, 6> test_unit_ready{};
    const uint16_t port = ctx.cmd.nexus != nullptr ? ctx.cmd.nexus->relative_target_port : 1;
    return alua_check(ctx.lun->port_groups().state_of_port(port), test_unit_ready);
}

}  // namespace

// REQUEST SENSE, SPC-4 §6.39: returns (and clears) a pending unit attention as parameter
// data with GOOD status; NO SENSE when nothing is pending.
CommandResult parse_request_sense(CommandContext& ctx) {
    ctx.cdb.desc = (ctx.cmd.cdb[1] & 0x01) != 0;
    ctx.cdb.allocation_length = ctx.cmd.cdb[4];
    return CommandResult::good();
}

CommandResult execute_request_sense(CommandContext& ctx) {
    CommandResult reported = CommandResult::fail(SenseReason::no_sense);
    if (ctx.lun == nullptr) {
        // SPC-4 §6.39: for a LUN that does not exist, LOGICAL UNIT NOT SUPPORTED as data.
        reported = CommandResult::fail(SenseReason::logical_unit_not_supported);
    } else if (auto ua = ctx.lun->unit_attentions().take(nexus_id_of(ctx.cmd))) {
        reported = CommandResult::fail(*ua);
    } else if (ctx.lun->sanitize_state().in_progress()) {
        // SBC-4 §4.11.3: REQUEST SENSE reports the sanitize operation in progress, with its
        // PROGRESS INDICATION (SPC-4 §4.5.2.4.4).
        reported = CommandResult::with_progress(SenseReason::sanitize_in_progress,
                                                ctx.lun->sanitize_state().progress());
    } else if (CommandResult state = alua_state_as_sense(ctx); !state.ok()) {
        // SPC-4 §5.16.2.4: a port in standby, unavailable or transitioning reports why TEST UNIT
        // READY would fail, as pollable sense.
        reported = state;
    }
    const SenseData sense =
        build_sense(reported, ctx.cdb.desc ? SenseFormat::descriptor : SenseFormat::fixed);
    set_data_in(ctx.cmd, sense.view(), ctx.cdb.allocation_length);
    return CommandResult::good();
}

}  // namespace handlers
}  // namespace atsarray::scsi
