// PERSISTENT RESERVE IN (SPC-4 §6.15) and PERSISTENT RESERVE OUT (SPC-4 §6.16). The rules
// themselves live in Reservations; these handlers decode the CDB and parameter list and lay out
// the parameter data.

#include <vector>

#include "target/scsi/cdb.hpp"
#include "target/scsi/handlers.hpp"
#include "target/scsi/lun.hpp"

namespace atsarray::scsi {
namespace {

enum PrInAction : uint8_t {
    read_keys = 0x0,
    read_reservation = 0x1,
    report_capabilities = 0x2,
    read_full_status = 0x3,
};

constexpr size_t pr_out_parameter_list_length = 24;  // SPC-4 §6.16.3, all but REGISTER AND MOVE

// SCOPE LU_SCOPE (0h) and TYPE in one byte, as READ RESERVATION and READ FULL STATUS report it.
uint8_t scope_type(PrType type) {
    return static_cast<uint8_t>(type);
}

// The key READ RESERVATION reports: the holder's, or 0 for the all-registrants types
// (SPC-4 §6.15.3.3).
uint64_t reservation_key_of(const PrSnapshot& s) {
    const PrType t = s.reservation->type;
    if (t == PrType::write_exclusive_all_registrants ||
        t == PrType::exclusive_access_all_registrants) {
        return 0;
    }
    for (const PrRegistration& r : s.registrations) {
        if (r.nexus == s.reservation->holder) {
            return r.key;
        }
    }
    return 0;
}

bool holds(const PrSnapshot& s, const PrRegistration& r) {
    if (!s.reservation) {
        return false;
    }
    const PrType t = s.reservation->type;
    return t == PrType::write_exclusive_all_registrants ||
           t == PrType::exclusive_access_all_registrants || r.nexus == s.reservation->holder;
}

// iSCSI TransportID, format 01b (SPC-4 §7.6.4.6 Table 508): the initiator port name
// "<iSCSI name>,i,0x<ISID>", NUL terminated, padded to a multiple of four, at least 20 bytes.
std::vector<uint8_t> iscsi_transport_id(const std::string& initiator_port) {
    size_t name_length = initiator_port.size() + 1;
    name_length = (name_length + 3) & ~size_t{3};
    if (name_length < 20) {
        name_length = 20;
    }
    std::vector<uint8_t> id(4 + name_length, 0);
    id[0] = 0x40 | 0x05;  // FORMAT CODE 01b, PROTOCOL IDENTIFIER iSCSI (5h)
    put_be16(id, 2, static_cast<uint16_t>(name_length));
    std::copy(initiator_port.begin(), initiator_port.end(), id.begin() + 4);
    return id;
}

std::vector<uint8_t> read_keys_data(const PrSnapshot& s) {
    std::vector<uint8_t> d(8 + 8 * s.registrations.size(), 0);
    put_be32(d, 0, s.generation);
    put_be32(d, 4, static_cast<uint32_t>(8 * s.registrations.size()));
    for (size_t i = 0; i < s.registrations.size(); ++i) {
        put_be64(d, 8 + 8 * i, s.registrations[i].key);
    }
    return d;
}

std::vector<uint8_t> read_reservation_data(const PrSnapshot& s) {
    std::vector<uint8_t> d(s.reservation ? 24 : 8, 0);
    put_be32(d, 0, s.generation);
    if (s.reservation) {
        put_be32(d, 4, 16);
        put_be64(d, 8, reservation_key_of(s));
        d[21] = scope_type(s.reservation->type);
    }
    return d;
}

std::vector<uint8_t> report_capabilities_data(bool persist_supported, const PrSnapshot& s) {
    // SPC-4 §6.15.4 Table 205.
    std::vector<uint8_t> d(8, 0);
    put_be16(d, 0, 8);
    // CRH=1: RESERVE/RELEASE follow SPC-3 §5.6.3; SIP_C=0, ATP_C=0; PTPL_C when the LUN has a
    // place to keep the state (a state file, or the records shared by several gateways, which
    // keep it whatever APTPL says).
    d[2] = 0x10 | (persist_supported ? 0x01 : 0x00);
    d[3] = 0x80 | (s.aptpl ? 0x01 : 0x00);  // TMV=1, ALLOW COMMANDS 000b, PTPL_A
    // PERSISTENT RESERVATION TYPE MASK: WR_EX_AR, EX_AC_RO, WR_EX_RO, EX_AC, WR_EX; EX_AC_AR.
    d[4] = 0x80 | 0x40 | 0x20 | 0x08 | 0x02;
    d[5] = 0x01;
    return d;
}

std::vector<uint8_t> read_full_status_data(const PrSnapshot& s) {
    // SPC-4 §6.15.5 Tables 207-208.
    std::vector<uint8_t> d(8, 0);
    put_be32(d, 0, s.generation);
    for (const PrRegistration& r : s.registrations) {
        const std::vector<uint8_t> transport_id = iscsi_transport_id(r.nexus.initiator_port);
        std::vector<uint8_t> desc(24, 0);
        put_be64(desc, 0, r.key);
        if (holds(s, r)) {
            desc[12] = 0x01;  // R_HOLDER
            desc[13] = scope_type(s.reservation->type);
        }
        put_be16(desc, 18, r.nexus.relative_target_port);
        put_be32(desc, 20, static_cast<uint32_t>(transport_id.size()));
        d.insert(d.end(), desc.begin(), desc.end());
        d.insert(d.end(), transport_id.begin(), transport_id.end());
    }
    put_be32(d, 4, static_cast<uint32_t>(d.size() - 8));
    return d;
}

bool is_register_action(PrOutAction a) {
    return a == PrOutAction::register_key || a == PrOutAction::register_and_ignore_existing_key;
}

}  // namespace

namespace handlers {

CommandResult parse_persistent_reserve_in(CommandContext& ctx) {
    ctx.cdb.service_action = ctx.cmd.cdb[1] & 0x1F;
    ctx.cdb.allocation_length = get_be16(ctx.cmd.cdb, 7);
    if (ctx.cdb.service_action > read_full_status) {
        return CommandResult::invalid_cdb_field(1, 4);
    }
    return CommandResult::good();
}

CommandResult execute_persistent_reserve_in(CommandContext& ctx) {
    // Several gateways: the state another gateway changed a moment ago, not only what its
    // notice has brought here so far.
    if (CommandResult fresh = ctx.lun->reservations().refresh(); !fresh.ok()) {
        return fresh;
    }
    const PrSnapshot s = ctx.lun->reservations().snapshot();
    std::vector<uint8_t> d;
    switch (ctx.cdb.service_action) {
        case read_keys:
            d = read_keys_data(s);
            break;
        case read_reservation:
            d = read_reservation_data(s);
            break;
        case report_capabilities:
            d = report_capabilities_data(ctx.lun->reservations().persist_supported(), s);
            break;
        default:
            d = read_full_status_data(s);
            break;
    }
    set_data_in(ctx.cmd, d, ctx.cdb.allocation_length);
    return CommandResult::good();
}

CommandResult parse_persistent_reserve_out(CommandContext& ctx) {
    std::span<const uint8_t> cdb = ctx.cmd.cdb;
    ctx.cdb.service_action = cdb[1] & 0x1F;
    ctx.cdb.pr_type = cdb[2] & 0x0F;
    ctx.cdb.parameter_list_length = get_be32(cdb, 5);
    ctx.cmd.data_out_wanted = ctx.cdb.parameter_list_length;
    const auto action = static_cast<PrOutAction>(ctx.cdb.service_action);
    // REGISTER AND MOVE (7h) is not implemented: an unsupported service action.
    if (ctx.cdb.service_action >= static_cast<uint8_t>(PrOutAction::register_and_move)) {
        return CommandResult::invalid_cdb_field(1, 4);
    }
    const bool uses_type = action == PrOutAction::reserve || action == PrOutAction::release ||
                           action == PrOutAction::preempt ||
                           action == PrOutAction::preempt_and_abort;
    if (uses_type) {
        // SPC-4 §6.16.2: only LU_SCOPE exists; TYPE must be one of Table 212.
        if ((cdb[2] >> 4) != 0) {
            return CommandResult::invalid_cdb_field(2, 7);
        }
        if (!is_valid_pr_type(ctx.cdb.pr_type)) {
            return CommandResult::invalid_cdb_field(2, 3);
        }
    }
    const uint32_t n = ctx.cdb.parameter_list_length;
    if (n != pr_out_parameter_list_length) {
        return CommandResult::fail(SenseReason::parameter_list_length_error);
    }
    if (ctx.cmd.expected_transfer_length < n || ctx.cmd.data_out.size() < n) {
        return CommandResult::fail(SenseReason::invalid_field_in_command_information_unit);
    }
    const uint8_t flags = ctx.cmd.data_out[20];
    // SPC-4 §6.16.3: SPEC_I_PT with SIP_C=0, ALL_TG_PT with ATP_C=0 and APTPL with PTPL_C=0 are
    // invalid fields in the parameter list.
    if ((flags & 0x08) != 0) {
        return CommandResult::invalid_parameter_field(20, 3);
    }
    if (is_register_action(action)) {
        if ((flags & 0x04) != 0) {
            return CommandResult::invalid_parameter_field(20, 2);
        }
        if ((flags & 0x01) != 0 && !ctx.lun->reservations().persist_supported()) {
            return CommandResult::invalid_parameter_field(20, 0);
        }
    }
    return CommandResult::good();
}

// PREEMPT AND ABORT changes the reservation exactly as PREEMPT does; aborting the preempted
// I_T nexuses' tasks (SPC-4 §5.13.11.4.5) belongs to the transport and is not done yet.
CommandResult execute_persistent_reserve_out(CommandContext& ctx) {
    std::span<const uint8_t> p = ctx.cmd.data_out.first(pr_out_parameter_list_length);
    PrOutParameters params;
    params.reservation_key = get_be64(p, 0);
    params.service_action_reservation_key = get_be64(p, 8);
    params.aptpl = (p[20] & 0x01) != 0;
    Lun& lun = *ctx.lun;
    Reservations& reservations = lun.reservations();
    const PrOutcome outcome = reservations.persistent_reserve_out(
        ctx.cmd.nexus, static_cast<PrOutAction>(ctx.cdb.service_action),
        static_cast<PrType>(ctx.cdb.pr_type), params);
    for (const auto& [nexus_id, reason] : outcome.unit_attentions) {
        lun.unit_attentions().queue(nexus_id, reason);
    }
    if (outcome.state_changed && !reservations.save()) {
        return CommandResult::fail(SenseReason::internal_target_failure);
    }
    return outcome.result;
}

}  // namespace handlers
}  // namespace atsarray::scsi
