// Medium handling: START STOP UNIT (SBC-4 §5.25) and PREVENT ALLOW MEDIUM REMOVAL (SBC-4
// §5.13). A LUN is a non-removable disk (RMB=0) unless LunSettings::removable: then LOEJ ejects
// and loads the medium and PREVENT keeps it in. SANITIZE (SBC-4 §5.30) is in sanitize.cpp.

#include "target/scsi/cdb.hpp"
#include "target/scsi/handlers.hpp"
#include "target/scsi/lun.hpp"
#include "target/scsi/target_device.hpp"

namespace atsarray::scsi {
namespace {

// POWER CONDITION values (SBC-4 §5.25 Table 104) and the POWER CONDITION MODIFIER each allows.
bool power_condition_valid(uint8_t condition, uint8_t modifier) {
    switch (condition) {
        case 0x0:  // START_VALID
        case 0x1:  // ACTIVE
        case 0x7:  // LU_CONTROL
            return modifier == 0;
        case 0x2:  // IDLE: IDLE_A, IDLE_B, IDLE_C
        case 0xA:  // FORCE_IDLE_0
            return modifier <= 2;
        case 0x3:  // STANDBY: STANDBY_Z, STANDBY_Y
        case 0xB:  // FORCE_STANDBY_0
            return modifier <= 1;
        default:
            return false;
    }
}

}  // namespace

namespace handlers {

// START STOP UNIT, SBC-4 §5.25. The medium never really spins down: START and the power
// conditions are accepted. A stop with NO_FLUSH 0 writes the cache to the medium first (SBC-4
// §5.25: the device server performs a synchronize cache operation). LOEJ (counted only with
// POWER CONDITION 0h) ejects (START 0) or loads (START 1) a removable medium; on a non-removable
// one it is an invalid field, as LIO answers.
CommandResult parse_start_stop_unit(CommandContext& ctx) {
    std::span<const uint8_t> cdb = ctx.cmd.cdb;
    const uint8_t modifier = cdb[3] & 0x0F;
    ctx.cdb.power_condition = cdb[4] >> 4;
    ctx.cdb.no_flush = (cdb[4] & 0x04) != 0;
    ctx.cdb.start = (cdb[4] & 0x01) != 0;
    const bool load_eject = (cdb[4] & 0x02) != 0;
    if (!power_condition_valid(ctx.cdb.power_condition, 0)) {
        return CommandResult::invalid_cdb_field(4, 7);
    }
    if (!power_condition_valid(ctx.cdb.power_condition, modifier)) {
        return CommandResult::invalid_cdb_field(3, 3);
    }
    ctx.cdb.load_eject = ctx.cdb.power_condition == 0 && load_eject;
    if (ctx.cdb.load_eject && !ctx.lun->settings().removable) {
        return CommandResult::invalid_cdb_field(4, 1);
    }
    return CommandResult::good();
}

CommandResult execute_start_stop_unit(CommandContext& ctx) {
    // SBC-4 §5.25: the medium stays in while any I_T nexus prevents its removal (MEDIUM REMOVAL
    // PREVENTED). A load is refused the same way, as libiscsi PreventAllow.Eject expects (MMC-6
    // §6.39: a prevented tray is neither opened nor closed).
    if (ctx.cdb.load_eject && ctx.device != nullptr &&
        ctx.device->medium_removal_prevented(ctx.lun->id())) {
        return CommandResult::fail(SenseReason::medium_removal_prevented);
    }
    const bool stop = ctx.cdb.power_condition == 0 && !ctx.cdb.start;
    if (stop && !ctx.cdb.no_flush && ctx.lun->medium_present()) {
        const backend::Status st = ctx.lun->flush();
        if (!st.ok()) {
            return CommandResult::fail(sense_reason_for(st, StoreOp::flush));
        }
    }
    if (ctx.cdb.load_eject) {
        ctx.lun->set_medium_present(ctx.cdb.start);
    }
    return CommandResult::good();
}

// PREVENT ALLOW MEDIUM REMOVAL, SBC-4 §5.13: PREVENT 00b allows, 01b prevents removal for this
// I_T nexus; 10b/11b (medium changer) are obsolete for a disk. The state is kept per I_T nexus
// in the target device and ends with the nexus, a LOGICAL UNIT RESET or a TARGET RESET.
CommandResult parse_prevent_allow(CommandContext& ctx) {
    const uint8_t prevent = ctx.cmd.cdb[4] & 0x03;
    if (prevent > 1) {
        return CommandResult::invalid_cdb_field(4, 1);
    }
    ctx.cdb.prevent = prevent == 1;
    return CommandResult::good();
}

CommandResult execute_prevent_allow(CommandContext& ctx) {
    if (ctx.device != nullptr) {
        ctx.device->set_medium_removal_prevented(ctx.lun->id(), nexus_id_of(ctx.cmd),
                                                 ctx.cdb.prevent);
    }
    return CommandResult::good();
}

}  // namespace handlers
}  // namespace atsarray::scsi
