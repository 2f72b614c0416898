// MODE SENSE(6/10) and MODE SELECT(6/10) (SPC-4 §6.9-§6.12) with the mode pages this LUN has:
// caching (SBC-3 §6.4.5), control (SPC-4 §7.5.7), informational exceptions control
// (SPC-4 §7.5). Saved values are not implemented (no persistent mode pages).

#include <algorithm>
#include <array>
#include <bit>
#include <vector>

#include "target/scsi/cdb.hpp"
#include "target/scsi/handlers.hpp"
#include "target/scsi/lun.hpp"

namespace atsarray::scsi {
namespace {

enum PageControl : uint8_t { pc_current = 0, pc_changeable = 1, pc_default = 2, pc_saved = 3 };

constexpr uint8_t all_pages = 0x3F;
constexpr uint8_t all_subpages = 0xFF;

// One mode page: its code, its full size (header included) and how its bytes are made.
// `mask` = true yields the changeable-values bit mask (SPC-4 §6.11, PC 01b).
struct ModePageDef {
    uint8_t code;
    uint8_t size;
    void (*fill)(std::span<uint8_t> page, const ModeState& values, bool mask);
    void (*apply)(std::span<const uint8_t> page, ModeState& values);
};

void fill_caching(std::span<uint8_t> p, const ModeState& v, bool mask) {
    if (mask || v.write_cache_enabled) {
        p[2] |= 0x04;  // WCE
    }
}
void apply_caching(std::span<const uint8_t> p, ModeState& v) {
    v.write_cache_enabled = (p[2] & 0x04) != 0;
}

void fill_control(std::span<uint8_t> p, const ModeState& v, bool mask) {
    if (mask || v.descriptor_sense) {
        p[2] |= 0x04;  // D_SENSE
    }
    if (!mask) {
        p[3] = 0x10;  // QUEUE ALGORITHM MODIFIER 1: unrestricted reordering allowed
    }
    if (mask || v.software_write_protect) {
        p[4] |= 0x08;  // SWP (SPC-4 §7.5.8): the medium is write protected while set
    }
}
void apply_control(std::span<const uint8_t> p, ModeState& v) {
    v.descriptor_sense = (p[2] & 0x04) != 0;
    v.software_write_protect = (p[4] & 0x08) != 0;
}

void fill_informational_exceptions(std::span<uint8_t> p, const ModeState&, bool mask) {
    if (!mask) {
        p[2] = 0x08;  // DEXCPT: no informational exception reporting
    }
}
void apply_nothing(std::span<const uint8_t>, ModeState&) {}

// In ascending page code order: MODE SENSE with page 3Fh returns them so (SPC-4 §6.11.1).
constexpr std::array<ModePageDef, 3> mode_pages{{
    {0x08, 20, fill_caching, apply_caching},
    {0x0A, 12, fill_control, apply_control},
    {0x1C, 12, fill_informational_exceptions, apply_nothing},
}};

const ModePageDef* find_page(uint8_t code) {
    for (const auto& d : mode_pages) {
        if (d.code == code) {
            return &d;
        }
    }
    return nullptr;
}

std::vector<uint8_t> build_page(const ModePageDef& def, const ModeState& values, bool mask) {
    std::vector<uint8_t> p(def.size, 0);
    p[0] = def.code;  // PS 0: saving is not supported
    p[1] = static_cast<uint8_t>(def.size - 2);
    def.fill(p, values, mask);
    return p;
}

bool is_ten_byte(const CommandContext& ctx) {
    return ctx.descriptor.cdb_length == 10;
}

uint8_t highest_bit(uint8_t v) {
    return static_cast<uint8_t>(std::bit_width(unsigned{v}) - 1);
}

}  // namespace

namespace handlers {

CommandResult parse_mode_sense(CommandContext& ctx) {
    std::span<const uint8_t> cdb = ctx.cmd.cdb;
    ctx.cdb.dbd = (cdb[1] & 0x08) != 0;
    ctx.cdb.llbaa = (cdb[1] & 0x10) != 0;
    ctx.cdb.page_control = cdb[2] >> 6;
    ctx.cdb.page_code = cdb[2] & 0x3F;
    ctx.cdb.subpage_code = cdb[3];
    ctx.cdb.allocation_length = is_ten_byte(ctx) ? get_be16(cdb, 7) : cdb[4];
    if (ctx.cdb.page_control == pc_saved) {
        // SPC-4 §6.11 (PC 11b): saved values are not implemented.
        return CommandResult::fail(SenseReason::saving_parameters_not_supported);
    }
    if (ctx.cdb.page_code != all_pages && find_page(ctx.cdb.page_code) == nullptr) {
        return CommandResult::invalid_cdb_field(2, 5);
    }
    // Only subpage 00h pages exist; FFh asks for all subpages of the page(s).
    if (ctx.cdb.subpage_code != 0x00 && ctx.cdb.subpage_code != all_subpages) {
        return CommandResult::invalid_cdb_field(3, 7);
    }
    return CommandResult::good();
}

CommandResult execute_mode_sense(CommandContext& ctx) {
    const Lun& lun = *ctx.lun;
    const LunSettings& s = lun.settings();
    const bool ten = is_ten_byte(ctx);
    const bool long_lba = ten && ctx.cdb.llbaa;

    std::vector<uint8_t> d(ten ? 8 : 4, 0);
    // SBC-3 §6.4.1: device-specific parameter WP and DPOFUA (DPO and FUA supported).
    const uint8_t device_specific =
        static_cast<uint8_t>((lun.write_protected() ? 0x80 : 0x00) | 0x10);
    if (!ctx.cdb.dbd) {
        // SBC-3 §6.4.2: block descriptor with the number of blocks and the block length.
        if (long_lba) {
            std::array<uint8_t, 16> bd{};
            put_be64(bd, 0, s.block_count);
            put_be32(bd, 12, s.block_size);
            d.insert(d.end(), bd.begin(), bd.end());
        } else {
            std::array<uint8_t, 8> bd{};
            put_be32(bd, 0, static_cast<uint32_t>(std::min<uint64_t>(s.block_count, 0xFFFFFFFF)));
            put_be24(bd, 5, s.block_size);
            d.insert(d.end(), bd.begin(), bd.end());
        }
    }
    const size_t block_descriptor_length = d.size() - (ten ? 8 : 4);

    const bool mask = ctx.cdb.page_control == pc_changeable;
    const ModeState values = ctx.cdb.page_control == pc_default ? lun.default_mode() : lun.mode();
    for (const auto& def : mode_pages) {
        if (ctx.cdb.page_code == all_pages || ctx.cdb.page_code == def.code) {
            const auto page = build_page(def, values, mask);
            d.insert(d.end(), page.begin(), page.end());
        }
    }

    if (ten) {
        put_be16(d, 0, static_cast<uint16_t>(d.size() - 2));
        d[3] = device_specific;
        d[4] = long_lba ? 0x01 : 0x00;  // LONGLBA
        put_be16(d, 6, static_cast<uint16_t>(block_descriptor_length));
    } else {
        d[0] = static_cast<uint8_t>(d.size() - 1);
        d[2] = device_specific;
        d[3] = static_cast<uint8_t>(block_descriptor_length);
    }
    set_data_in(ctx.cmd, d, ctx.cdb.allocation_length);
    return CommandResult::good();
}

CommandResult parse_mode_select(CommandContext& ctx) {
    std::span<const uint8_t> cdb = ctx.cmd.cdb;
    const bool page_format = (cdb[1] & 0x10) != 0;
    ctx.cdb.save_pages = (cdb[1] & 0x01) != 0;
    ctx.cdb.parameter_list_length = is_ten_byte(ctx) ? get_be16(cdb, 7) : cdb[4];
    ctx.cmd.data_out_wanted = ctx.cdb.parameter_list_length;
    if (ctx.cdb.save_pages) {
        // SPC-4 §6.9.1: SP=1 without saved pages is an invalid field.
        return CommandResult::invalid_cdb_field(1, 0);
    }
    if (!page_format && ctx.cdb.parameter_list_length > 0) {
        // Only the page format of SPC-4 §7.5 is understood (PF=1).
        return CommandResult::invalid_cdb_field(1, 4);
    }
    const uint32_t n = ctx.cdb.parameter_list_length;
    if (ctx.cmd.expected_transfer_length < n || ctx.cmd.data_out.size() < n) {
        return CommandResult::fail(SenseReason::invalid_field_in_command_information_unit);
    }
    return CommandResult::good();
}

CommandResult execute_mode_select(CommandContext& ctx) {
    Lun& lun = *ctx.lun;
    const LunSettings& s = lun.settings();
    const bool ten = is_ten_byte(ctx);
    const size_t n = ctx.cdb.parameter_list_length;
    if (n == 0) {
        return CommandResult::good();
    }
    std::span<const uint8_t> p = ctx.cmd.data_out.first(n);
    const size_t header = ten ? 8 : 4;
    if (n < header) {
        return CommandResult::fail(SenseReason::parameter_list_length_error);
    }
    // SPC-4 §7.5.5 mode parameter header; MODE DATA LENGTH is reserved in MODE SELECT.
    const size_t medium_type_at = ten ? 2 : 1;
    if (p[medium_type_at] != 0) {
        return CommandResult::invalid_parameter_field(static_cast<uint16_t>(medium_type_at), 7);
    }
    const bool long_lba = ten && (p[4] & 0x01) != 0;
    const size_t bd_length = ten ? get_be16(p, 6) : p[3];
    const size_t bd_length_at = ten ? 6 : 3;
    const size_t expected_bd = long_lba ? 16 : 8;
    if (bd_length != 0 && bd_length != expected_bd) {
        return CommandResult::invalid_parameter_field(static_cast<uint16_t>(bd_length_at), 7);
    }
    if (header + bd_length > n) {
        return CommandResult::fail(SenseReason::parameter_list_length_error);
    }
    if (bd_length != 0) {
        // SBC-3 §6.4.2: the block count may be 0 (no change) or the current one; the block
        // length cannot be changed.
        const size_t at = header;
        const uint64_t blocks = long_lba ? get_be64(p, at) : get_be32(p, at);
        const uint32_t length = long_lba ? get_be32(p, at + 12) : get_be24(p, at + 5);
        const uint64_t current =
            long_lba ? s.block_count.get() : std::min<uint64_t>(s.block_count, 0xFFFFFFFF);
        if (blocks != 0 && blocks != current) {
            return CommandResult::invalid_parameter_field(static_cast<uint16_t>(at), 7);
        }
        const size_t length_at = long_lba ? at + 12 : at + 5;
        if (length != s.block_size) {
            return CommandResult::invalid_parameter_field(static_cast<uint16_t>(length_at), 7);
        }
    }

    const ModeState current = lun.mode();
    ModeState next = current;
    size_t at = header + bd_length;
    while (at < n) {
        if (n - at < 2) {
            return CommandResult::fail(SenseReason::parameter_list_length_error);
        }
        if ((p[at] & 0x40) != 0) {
            // SPF: no subpages exist.
            return CommandResult::invalid_parameter_field(static_cast<uint16_t>(at), 6);
        }
        const ModePageDef* def = find_page(p[at] & 0x3F);
        if (def == nullptr) {
            return CommandResult::invalid_parameter_field(static_cast<uint16_t>(at), 5);
        }
        if (p[at + 1] != def->size - 2) {
            return CommandResult::invalid_parameter_field(static_cast<uint16_t>(at + 1), 7);
        }
        if (n - at < def->size) {
            return CommandResult::fail(SenseReason::parameter_list_length_error);
        }
        // SPC-4 §6.9.1: a bit that is not changeable must keep its current value.
        std::span<const uint8_t> page = p.subspan(at, def->size);
        const auto now = build_page(*def, current, false);
        const auto changeable = build_page(*def, current, true);
        for (size_t i = 2; i < def->size; ++i) {
            const auto diff = static_cast<uint8_t>((page[i] ^ now[i]) & ~changeable[i]);
            if (diff != 0) {
                return CommandResult::invalid_parameter_field(static_cast<uint16_t>(at + i),
                                                              highest_bit(diff));
            }
        }
        def->apply(page, next);
        at += def->size;
    }
    lun.set_mode(next, nexus_id_of(ctx.cmd));
    return CommandResult::good();
}

}  // namespace handlers
}  // namespace atsarray::scsi
