#pragma once
// One logical unit (SAM-5): a block store, its identity, its mode parameters and its
// per-nexus unit attentions. Lun::execute() runs the fixed per-command steps (STYLE.md "The
// flow of one command").

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <span>
#include <string>

#include "backend/block_store.hpp"
#include "target/ats/accounting.hpp"
#include "target/ats/event_log.hpp"
#include "target/ats/lock_table.hpp"
#include "target/ats/rate_limit.hpp"
#include "target/fault/fault.hpp"
#include "target/scsi/alua.hpp"
#include "target/scsi/command.hpp"
#include "target/scsi/command_table.hpp"
#include "target/scsi/fault_hooks.hpp"
#include "target/scsi/reservations.hpp"
#include "target/scsi/sanitize.hpp"
#include "target/scsi/sense.hpp"
#include "target/scsi/unit_attention.hpp"

namespace atsarray::forensics {
class FlightRecorder;
class Captures;
}  // namespace atsarray::forensics

namespace atsarray::scsi {

// A value that one thread may change while others read it (the block count of a LUN grown at run
// time): relaxed atomic loads and stores behind a plain value's interface, copyable like one.
template <typename T>
class RunTimeValue {
  public:
    RunTimeValue(T v = T{}) : v_(v) {}  // NOLINT(google-explicit-constructor): a plain value
    RunTimeValue(const RunTimeValue& o) : v_(o.get()) {}
    RunTimeValue& operator=(const RunTimeValue& o) {
        v_.store(o.get(), std::memory_order_relaxed);
        return *this;
    }
    RunTimeValue& operator=(T v) {
        v_.store(v, std::memory_order_relaxed);
        return *this;
    }
    operator T() const { return get(); }  // NOLINT(google-explicit-constructor)
    T get() const { return v_.load(std::memory_order_relaxed); }

  private:
    std::atomic<T> v_;
};

struct LunSettings {
    uint64_t id = 0;  // LUN number, 0..16383 (SAM-5 single level, REPORT LUNS encoding)
    uint32_t block_size = 512;
    RunTimeValue<uint64_t> block_count = 0;  // grows at run time (Lun::grow)
    std::string vendor = "ATSARRAY";         // T10 VENDOR IDENTIFICATION, 8 ASCII max
    std::string product = "VIRTUAL-DISK";    // PRODUCT IDENTIFICATION, 16 ASCII max
    std::string revision = "0001";           // PRODUCT REVISION LEVEL, 4 ASCII max
    std::string serial;                      // VPD 0x80 PRODUCT SERIAL NUMBER
    std::string target_name;                 // iSCSI target name, part of the NAA derivation
    // VPD 0x83 NAA designator as stored with the data (daemon/lun_identity); all zeros: derived
    // from target_name and serial (naa_designator()).
    std::array<uint8_t, 16> naa{};
    bool write_cache = true;  // default WCE of the caching mode page
    bool read_only = false;
    // Removable medium (SPC-4 §6.6.2 RMB): START STOP UNIT LOEJ ejects and loads it. Off by
    // default: ESXi handles removable devices differently and never uses them as datastores.
    bool removable = false;
    // Block Limits VPD (SBC-3 §6.5.3); larger transfers end in INVALID FIELD IN CDB.
    uint32_t max_transfer_bytes = 8u << 20;
    uint32_t optimal_transfer_bytes = 1u << 20;
    // Where persistent reservations are kept when an initiator sets APTPL (SPC-4 §5.13.4);
    // empty: APTPL is not supported (PTPL_C=0) and APTPL=1 is refused.
    std::string state_path;
    // Where an unfinished or failed SANITIZE is kept (SanitizeState); empty: not kept (a memory
    // LUN, whose data does not outlive the process either).
    std::string sanitize_state_path;
    // Where the flight recorder's histories of this LUN are kept across restarts ([ats]
    // recorder_persist; the daemon reads and writes them); empty: not kept.
    std::string forensics_path;
    // SANITIZE OVERWRITE pace (sanitize.cpp): it shares the worker pool and the store with
    // every other LUN's I/O; 0 = as fast as the store goes.
    uint64_t sanitize_overwrite_bytes_per_second = 8u << 20;
};

// Mode parameters the initiator may change (SPC-4 §7.5.7 control page, SBC-3 §6.4.5 caching).
struct ModeState {
    bool write_cache_enabled = true;      // caching page WCE
    bool descriptor_sense = false;        // control page D_SENSE
    bool software_write_protect = false;  // control page SWP (SPC-4 §7.5.8): writes DATA PROTECT
};

// What every LUN of a daemon shares.
struct LunServices {
    // The striped LBA lock table every writer of every LUN goes through (EXTENDED COPY locks
    // blocks of several LUNs at once); a LUN given none gets a table of its own.
    std::shared_ptr<ats::LockTable> locks;
    // Where finished commands are accounted (ATS, latency); nullptr: nowhere.
    std::shared_ptr<ats::Registry> accounting;
    // Where miscompares are reported for the console (as often as the log line); nullptr: not.
    std::shared_ptr<ats::EventLog> events;
    // Fault injection rules (target/fault); nullptr: none, ever.
    std::shared_ptr<fault::Engine> faults;
    // Runs `job` after `delay` without holding a thread meanwhile (fault injection delays);
    // without it a delay rule is ignored.
    std::function<void(std::chrono::milliseconds, std::function<void()>)> schedule_after;
    // The target port groups of the target (SPC-4 §5.16), shared by its LUNs; nullptr: a model
    // of its own with today's single implicit group (single_group_config()).
    std::shared_ptr<TargetPortGroups> port_groups;
    // The ATS flight recorder (issue 16): every ATS and every command on a block one touched;
    // nullptr: none.
    std::shared_ptr<forensics::FlightRecorder> recorder;
    // Captures of whole commands for a trace export (issue 16); nullptr: none, ever.
    std::shared_ptr<forensics::Captures> captures;
};

class Lun : public std::enable_shared_from_this<Lun> {
  public:
    // Runs blocking work (a block-store call) off the caller's thread, e.g. on backend::IoPool.
    using SubmitBlocking = std::function<void(std::function<void()>)>;

    // Throws std::invalid_argument (start-up only) when the settings do not fit the store.
    // Without submit_blocking, or with a store whose blocking() is false, work runs inline.
    Lun(LunSettings settings, std::shared_ptr<backend::BlockStore> store,
        SubmitBlocking submit_blocking = {}, LunServices services = {});
    ~Lun();
    Lun(const Lun&) = delete;
    Lun& operator=(const Lun&) = delete;

    // Runs one command; `done` is called exactly once, possibly on a worker thread or on a thread
    // of a store that completes_async() (CommandDescriptor::start). The Command must stay alive
    // until then. `lun_inventory` (REPORT LUNS) is only read before execute() returns; the
    // two-argument form reports this LUN alone. While a command that accesses the medium waits
    // for its LBA locks or for a worker, execute() leaves cmd.abort set: calling it (task
    // management, I_T nexus loss) makes the command end in TASK ABORTED without executing.
    void execute(Command& cmd, Completion done);
    void execute(Command& cmd, Completion done, std::span<const uint64_t> lun_inventory);

    const LunSettings& settings() const { return settings_; }
    uint64_t id() const { return settings_.id; }
    backend::BlockStore& store() { return *store_; }
    const backend::BlockStore& store() const { return *store_; }

    ModeState mode() const;
    ModeState default_mode() const;
    // Applies MODE SELECT; other nexuses get MODE PARAMETERS CHANGED (SPC-4 §7.5.1).
    void set_mode(const ModeState& mode, uint64_t changed_by_nexus);
    SenseFormat sense_format() const;

    UnitAttentions& unit_attentions() { return unit_attentions_; }
    // ALUA (SPC-4 §5.16): every command is checked against the state of its port's group; a
    // change gives the I_T nexuses ASYMMETRIC ACCESS STATE CHANGED.
    TargetPortGroups& port_groups() { return *port_groups_; }
    Reservations& reservations() { return reservations_; }
    SanitizeState& sanitize_state() { return sanitize_; }
    // Starts again a SANITIZE that the last run left unfinished (SanitizeState keeps it with the
    // data; SBC-4 §4.11), from its stored progress. Once, right after the LUN is made; until it
    // ends, commands get NOT READY, SANITIZE IN PROGRESS. False when there was none.
    bool resume_sanitize();
    // Runs `job` through the blocking-work hook, inline when there is none (SANITIZE chunks,
    // whatever the store's blocking()). Returns false when it ran inline.
    bool submit_blocking(std::function<void()> job);
    bool has_blocking_hook() const { return static_cast<bool>(submit_blocking_); }

    // The target device this LUN belongs to, set once by TargetDevice::add_lun.
    void attach_device(TargetDevice* device) { device_ = device; }
    // Removed from its target while commands may still run (TargetDevice::remove_lun): those
    // finish; when the last of them lets go of the LUN its store is flushed, on the blocking
    // workers when there are any, and closed. The data stays where it is.
    void retire() { retired_.store(true); }
    bool retired() const { return retired_.load(); }
    // True when the medium takes no writes: read_only in the config or SWP in the control page.
    bool write_protected() const;
    // False while a removable medium is ejected (START STOP UNIT LOEJ, SBC-4 §5.25).
    bool medium_present() const { return medium_present_.load(); }
    void set_medium_present(bool present) { medium_present_.store(present); }
    // The LBA lock table this LUN's writers go through, and this LUN's key in it (unique in
    // the process).
    ats::LockTable& lock_table() { return *locks_; }
    uint64_t lock_key() const { return lock_key_; }

    // I_T nexus events and resets, as TargetDevice reports them: unit attentions and
    // reservations both follow them.
    void nexus_added(const Nexus& nexus);
    void nexus_removed(const Nexus& nexus);
    void reset();

    // Grows the LUN at run time (the daemon's SIGHUP reload): the store, then the block count,
    // then the unit attention CAPACITY DATA HAS CHANGED (2A/09, SPC-4 §4.5.6) for every I_T
    // nexus, so that each host reads the capacity again (SBC-4 READ CAPACITY).
    // Shrinking is refused: it would discard acknowledged data.
    [[nodiscard]] backend::Status grow(uint64_t new_block_count);

    // Commands received and not yet answered (esxtop's ACTV for this device).
    uint32_t commands_in_flight() const { return in_flight_.load(std::memory_order_relaxed); }

    // Makes all written data stable (shutdown, target flush).
    [[nodiscard]] backend::Status flush();

  private:
    struct Run;  // one command past its checks (lun.cpp)
    // After the checks and the parse: the fault hook before execute, then dispatch().
    void before_execute(const std::shared_ptr<Run>& run);
    void keep_for_later(Run& run);
    void dispatch(const std::shared_ptr<Run>& run);
    void lock_and_run(const std::shared_ptr<Run>& run);
    void run_step(const std::shared_ptr<Run>& run, bool may_run_inline);
    // CommandDescriptor::start on a store that completes_async(): false when the command goes
    // the worker's way after all.
    bool start_async(const std::shared_ptr<Run>& run);
    void finish_async(Run& run, const CommandResult& result);
    bool enter_async_read();
    void leave_async_read();
    // Whether run_step() tries the command on the calling thread first (run_now with nowait).
    bool tries_without_waiting(const CommandContext& ctx) const;
    // Executes the command and finishes it; with `nowait` (flag_tries_without_waiting, on the
    // transport's thread) returns false instead, having finished nothing, when the store would
    // have waited.
    bool run_now(Run& run, bool nowait);
    CommandResult execute_with_read_barrier(CommandContext& ctx);
    // Every command ends here: the fault hook before status (status and sense), accounting, then
    // `done`, at once or after a fault delay.
    void finish(Run& run, const CommandResult& result);
    static void send_status(Run& run);
    void account(const Run& run, const CommandResult& result);
    // The flight recorder's note of a finished command (lun_forensics.cpp).
    void note_forensics(const Run& run, const CommandResult& result);
    // A running capture's copy of a finished command (lun_forensics.cpp).
    void note_capture(const Run& run, const CommandResult& result);

    LunSettings settings_;
    std::shared_ptr<backend::BlockStore> store_;
    SubmitBlocking submit_blocking_;
    UnitAttentions unit_attentions_;
    std::shared_ptr<TargetPortGroups> port_groups_;
    uint64_t port_groups_listener_ = 0;
    Reservations reservations_;
    TargetDevice* device_ = nullptr;
    std::shared_ptr<ats::LockTable> locks_;
    uint64_t lock_key_;
    std::shared_ptr<ats::Registry> accounting_;
    std::shared_ptr<ats::EventLog> events_;
    std::shared_ptr<forensics::FlightRecorder> recorder_;
    std::shared_ptr<forensics::Captures> captures_;
    FaultHooks faults_;
    ats::RateLimit miscompare_log_{10.0, 20.0};  // lines per second, burst
    mutable std::mutex mode_mutex_;
    // The read barrier: WRITE ATOMIC(16) holds it exclusively, medium reads shared, so no read
    // sees half of an atomic write (SBC-4 §4.29). Writers exclude each other per block through
    // the LBA lock table instead. Taken only inside the blocking work (or inline for a
    // non-blocking store, whose calls are short), never while an I/O thread waits on the store.
    std::shared_mutex read_barrier_;
    // The same barrier for reads started on a store that completes_async(): a shared_mutex
    // cannot be released on the store's completion thread, so such a read counts itself in
    // async_reads_ while in flight and starts only while no atomic writer is announced in
    // atomic_writers_ (else it takes the worker's way and the shared lock); the writer, holding
    // read_barrier_, announces itself and waits for async_reads_ to drain (Dekker: both sides
    // write, then read the other's counter, sequentially consistent).
    const bool store_async_;
    std::atomic<uint32_t> async_reads_{0};
    std::atomic<uint32_t> atomic_writers_{0};
    ModeState mode_;
    SanitizeState sanitize_;
    std::atomic<bool> medium_present_{true};
    std::atomic<bool> retired_{false};
    std::atomic<uint32_t> in_flight_{0};
};

// The NAA IEEE Registered Extended designator (NAA 6, SPC-4 §7.8.6.6.5) of a LUN: 16 bytes,
// derived only from the target name and the unit serial so it is stable across restarts.
std::array<uint8_t, 16> derive_naa_designator(std::string_view target_name,
                                              std::string_view serial);

// The LUN's NAA designator: the stored one, else derived.
std::array<uint8_t, 16> naa_designator(const LunSettings& settings);

uint64_t nexus_id_of(const Command& cmd);

enum class StoreOp : uint8_t { read, write, flush };
// The one mapping of a block-store status to a SCSI failure (STYLE.md "Backend errors").
SenseReason sense_reason_for(const backend::Status& status, StoreOp op);

}  // namespace atsarray::scsi
