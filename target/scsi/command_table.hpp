#pragma once
// The command table (STYLE.md: LIO's one descriptor per opcode, tgt's 256-slot table whose
// default is INVALID COMMAND OPERATION CODE). A descriptor names the CDB size, the CDB usage data
// (SPC-4 §6.35.3: a 1 bit for every CDB bit the device server looks at; every other bit is
// reserved and must be zero), the data direction, the flags the dispatcher acts on, and two
// steps: parse() validates and decodes the CDB only; execute() does the work.
// Adding a command = adding one entry to command_descriptors in command_table.cpp plus its two
// functions.

#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "target/ats/lock_table.hpp"
#include "target/scsi/command.hpp"
#include "target/scsi/sense.hpp"

namespace atsarray::scsi {

class Lun;
class TargetDevice;
struct LunSettings;
struct CommandDescriptor;

// Flags the dispatcher (Lun::execute and TargetDevice) acts on; handlers never test them.
enum CommandFlag : uint32_t {
    // SAM-5 §5.14 / SPC-4 §5.14: INQUIRY, REPORT LUNS and REQUEST SENSE neither report nor
    // clear a pending unit attention (REQUEST SENSE returns it as data, REPORT LUNS clears
    // REPORTED LUNS DATA HAS CHANGED).
    flag_allowed_with_unit_attention = 1u << 0,
    // SAM-5 incorrect LUN selection; SPC-4 §6.6, §6.39, §6.33: answered for a LUN that does not
    // exist.
    flag_answers_without_lun = 1u << 1,
    // Changes the medium: DATA PROTECT / WRITE PROTECTED on a read-only LUN; runs holding the
    // LBA lock table's stripes for the blocks it writes (CommandDescriptor::lock_ranges).
    flag_writes_medium = 1u << 2,
    // Calls the block store: runs through the LUN's blocking-work hook when the store blocks
    // (unless CommandDescriptor::start starts it on a store that completes_async()).
    flag_accesses_medium = 1u << 3,
    // SPC-4 §5.13.1 Table 53, SBC-3 §4.17 Table 13: "Allowed" in every column, whatever
    // persistent reservation another I_T nexus holds.
    flag_allowed_with_reservation = 1u << 4,
    // A medium read in those tables: allowed under the Write Exclusive types for an I_T nexus
    // without access, a conflict under the Exclusive Access types.
    flag_reads_medium = 1u << 5,
    // May save or read LUN state kept outside the process (the APTPL file, or the persistent
    // reservation record several gateways share): runs through the blocking-work hook when the
    // LUN keeps such state.
    flag_saves_state = 1u << 6,
    // Reads never see part of it (WRITE ATOMIC(16), SBC-4 §4.29): runs holding the LUN's read
    // barrier exclusively while every medium read holds it shared. Writers exclude each other
    // through the LBA lock table, not through this.
    flag_atomic_to_reads = 1u << 7,
    // Reaches the block stores of other LUNs of the target (EXTENDED COPY): always runs through
    // the blocking-work hook, whether or not this LUN's own store blocks.
    flag_reaches_other_luns = 1u << 8,
    // SBC-4 §4.11.3: still answered while a sanitize operation is in progress (INQUIRY, REPORT
    // LUNS, REQUEST SENSE); every other command gets NOT READY, SANITIZE IN PROGRESS.
    flag_allowed_during_sanitize = 1u << 12,
    // execute() may outlive the call (SANITIZE with IMMED 0): it either returns a failure, or
    // returns GOOD after arranging for ctx.complete to be called exactly once.
    flag_completes_later = 1u << 13,
    // Needs the medium: on a removable LUN whose medium is ejected (START STOP UNIT LOEJ, SBC-4
    // §5.25) it ends in NOT READY, MEDIUM NOT PRESENT. INQUIRY, REPORT LUNS, REQUEST SENSE, MODE
    // SENSE, PREVENT ALLOW MEDIUM REMOVAL and START STOP UNIT work without a medium.
    flag_needs_medium = 1u << 14,
    // COMPARE AND WRITE: accounted as ATS (successes, miscompares, latency; target/ats).
    flag_compare_and_write = 1u << 15,
    // A plain medium read or write whose handler honours CommandContext::nowait: first tried on
    // the transport's thread with the store's read_nowait() / write_nowait() (cached data, a
    // write into memory), handed to the blocking-work hook only when that would wait.
    flag_tries_without_waiting = 1u << 16,
};

// What parse() decodes from the CDB (and from the transport's expected transfer length) for
// execute(). One struct for every command keeps handlers free of CDB offsets in execute().
struct DecodedCdb {
    uint64_t lba = 0;
    uint32_t blocks = 0;             // TRANSFER LENGTH / VERIFICATION LENGTH / NUMBER OF BLOCKS
    uint32_t data_out_blocks = 0;    // whole blocks whose data the command consumes (EDTL rules)
    uint32_t data_out_bytes = 0;     // bytes a WRITE stores: may end in a partial block
    uint32_t allocation_length = 0;  // data-in commands
    uint32_t parameter_list_length = 0;
    uint8_t page_code = 0;
    uint8_t subpage_code = 0;
    uint8_t page_control = 0;
    uint8_t select_report = 0;
    bool fua = false;
    bool evpd = false;
    bool dbd = false;
    bool llbaa = false;
    bool desc = false;
    bool save_pages = false;
    uint8_t bytchk = 0;
    uint8_t service_action = 0;  // PERSISTENT RESERVE IN/OUT
    uint8_t pr_type = 0;         // PERSISTENT RESERVE OUT TYPE
    bool unmap = false;          // WRITE SAME UNMAP bit
    bool ndob = false;           // WRITE SAME(16) NO DATA-OUT BUFFER
    // REPORT SUPPORTED OPERATION CODES (SPC-4 §6.35): REQUESTED OPERATION CODE is page_code,
    // REPORTING OPTIONS select_report.
    uint16_t requested_service_action = 0;
    bool rctd = false;
    uint8_t list_identifier = 0;  // RECEIVE COPY RESULTS
    uint8_t power_condition = 0;  // START STOP UNIT
    bool start = false;           // START STOP UNIT START
    bool no_flush = false;        // START STOP UNIT NO_FLUSH
    bool load_eject = false;      // START STOP UNIT LOEJ (removable LUNs only)
    bool prevent = false;         // PREVENT ALLOW MEDIUM REMOVAL
    bool immed = false;           // SANITIZE IMMED
    bool ause = false;            // SANITIZE AUSE
    // READ DEFECT DATA: REQ_PLIST, REQ_GLIST, DEFECT LIST FORMAT.
    bool req_plist = false;
    bool req_glist = false;
    uint8_t defect_list_format = 0;
};

struct CommandContext {
    Command& cmd;
    const CommandDescriptor& descriptor;
    Lun* lun = nullptr;  // nullptr: the addressed LUN does not exist (flag_answers_without_lun)
    // LUN numbers of the target device, for REPORT LUNS; valid only while execute() runs inline.
    std::span<const uint64_t> lun_inventory;
    // Identity answered in standard INQUIRY for a LUN that does not exist; may be nullptr.
    const LunSettings* identity = nullptr;
    DecodedCdb cdb;
    // The target device the LUN belongs to (other LUNs for EXTENDED COPY, per-nexus medium
    // state); nullptr for a LUN used on its own (unit tests).
    TargetDevice* device = nullptr;
    // Set by the dispatcher for flag_completes_later commands only.
    std::function<void(const CommandResult&)> complete;
    // COMPARE AND WRITE: where the handler leaves what the medium held when it miscompares
    // (the accounting's hot-block images); nullptr when nobody wants it.
    std::vector<uint8_t>* miscompare_image = nullptr;
    // flag_tries_without_waiting: read or write without waiting for the medium
    // (BlockStore::read_nowait, write_nowait);
    // when the store would wait, the handler sets would_block and the dispatcher runs it again
    // with nowait off on a worker.
    bool nowait = false;
    bool would_block = false;
};

using ParseFn = CommandResult (*)(CommandContext&);
using ExecuteFn = CommandResult (*)(CommandContext&);
// The blocks a writer changes, after parse(): for commands whose ranges are in the parameter
// data (UNMAP descriptors, EXTENDED COPY destinations). Without one, a flag_writes_medium
// command locks [cdb.lba, cdb.lba + cdb.blocks). Ranges of a list that does not parse are
// left out: execute() then fails on it before writing anything.
using LockRangesFn = std::vector<ats::LockRange> (*)(const CommandContext&);
// The completion of a command that start() began.
using AsyncDone = std::function<void(const CommandResult&)>;
// A command that is a single block-store operation, started without waiting when the LUN's store
// completes_async() (BlockStore): the dispatcher calls it in place of execute(), on the thread it
// is on (an I/O thread), under the same LBA locks, which stay held until `done`. It returns
// false, leaving `done` untouched, when the command cannot run that way on this store (the
// dispatcher then runs execute() on a worker); else true, having taken `done`, which is called
// exactly once: by the store's completion, or inline when no store call is needed.
using StartFn = bool (*)(CommandContext&, AsyncDone&);

struct CommandDescriptor {
    std::string_view name;
    uint8_t opcode = 0;
    std::optional<uint8_t> service_action;  // for 0x9E, 0xA3, ... (SPC-4 §4.2.5.1)
    uint8_t cdb_length = 0;
    std::array<uint8_t, 16> usage{};  // CDB usage data; [0] is the opcode itself
    DataDirection direction = DataDirection::none;
    uint32_t flags = 0;
    ParseFn parse = nullptr;
    ExecuteFn execute = nullptr;
    LockRangesFn lock_ranges = nullptr;
    StartFn start = nullptr;  // nullptr: execute() only

    bool has(CommandFlag f) const { return (flags & f) != 0; }
};

// Every descriptor, in table order (REPORT SUPPORTED OPERATION CODES will walk this).
std::span<const CommandDescriptor> all_commands();

// The descriptor for a CDB. nullptr with `error` set when none matches: INVALID COMMAND
// OPERATION CODE for an unknown opcode, INVALID FIELD IN CDB (pointing at SERVICE ACTION) for an
// unknown service action of a known opcode.
const CommandDescriptor* find_command(std::span<const uint8_t> cdb, CommandResult& error);

// The fixed first steps for a found descriptor: CDB size, reserved bits (INVALID FIELD IN CDB
// with a field pointer at the most significant offending bit), then parse().
CommandResult prepare_command(CommandContext& ctx);
// execute(), with any exception turned into INTERNAL TARGET FAILURE (bad input never crashes).
CommandResult execute_command(CommandContext& ctx);

// Puts `natural` (the command's full parameter data) into cmd.data_in, truncated to the
// allocation length (SPC-4 §4.2.5.6); the transport truncates further to EDTL.
void set_data_in(Command& cmd, std::span<const uint8_t> natural, uint32_t allocation_length);

}  // namespace atsarray::scsi
