#pragma once
// The reservation state of one logical unit: persistent reservations (SPC-4 §5.13) and the
// SPC-2 RESERVE/RELEASE reservation (SPC-2 §5.5.1, kept for ESXi's fallback when ATS is off),
// with the rules that decide which commands conflict with them.
//
// Persistent reservations belong to an I_T nexus named by the initiator port name and the
// relative target port (SPC-4 §5.13.1), not to a live session: a registration survives the
// session that made it, and a new session of the same initiator port finds it again. The SPC-2
// reservation belongs to one live I_T nexus (Nexus::id) and ends with it.
// Thread-safe: commands on different connections reach the same LUN concurrently.
//
// Several gateways (use_shared_records()): the persistent reservation state lives in one record
// of the medium's SharedRecords (RBD: the image's records object), so that a reservation made
// through gateway 1 is enforced by gateway 2. The relative target port of an I_T nexus is its
// gateway's target port group id (Nexus::relative_target_port, PortalInfo), unique among the
// gateways of an image, so (initiator port, relative target port) names one I_T nexus across
// the whole array (SPC-4 §5.13.1) and a registration made through one gateway is not taken for
// one made through another. Every PERSISTENT RESERVE OUT is a read-modify-write of the record
// with write_if (retried on a conflict, at most max_write_attempts times); the record's writer
// notifies the other gateways and waits (bounded) for them to acknowledge, and each refreshes
// its local copy before acknowledging, so the command's GOOD means every live gateway already
// enforces the new state. Regular commands are checked against the local copy only: a gateway
// that did not acknowledge within the notify timeout (overloaded, partitioned) checks against
// the previous state until its notice or its next refresh arrives. PERSISTENT RESERVE IN reads
// the record first. Unit attentions for I_T nexuses of other gateways travel in the record (the
// last few PERSISTENT RESERVE OUT's, `unit-attention` lines) and are queued by the gateway that
// has the nexus. The SPC-2 reservation stays local to each gateway.

#include <atomic>
#include <cstdint>
#include <functional>
#include <iosfwd>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "backend/shared_records.hpp"
#include "target/scsi/command.hpp"
#include "target/scsi/sense.hpp"

namespace atsarray::scsi {

struct CommandDescriptor;

// SPC-4 §6.16.4 Table 212: persistent reservation TYPE codes.
enum class PrType : uint8_t {
    write_exclusive = 0x1,
    exclusive_access = 0x3,
    write_exclusive_registrants_only = 0x5,
    exclusive_access_registrants_only = 0x6,
    write_exclusive_all_registrants = 0x7,
    exclusive_access_all_registrants = 0x8,
};
bool is_valid_pr_type(uint8_t type);

// An I_T nexus as persistent reservations name it (SPC-4 §5.13.1).
struct PrNexus {
    std::string initiator_port;  // "iqn...,i,0x<ISID>"
    uint16_t relative_target_port = 1;

    friend bool operator==(const PrNexus&, const PrNexus&) = default;
};
PrNexus pr_nexus_of(const Nexus* nexus);

struct PrRegistration {
    PrNexus nexus;
    uint64_t key = 0;
};

struct PersistentReservation {
    PrType type = PrType::write_exclusive;
    // The holder for the single-holder types; unused for the all-registrants types, whose
    // holders are every registrant (SPC-4 §5.13.10).
    PrNexus holder;
};

// A copy of the state, for PERSISTENT RESERVE IN and for tests.
struct PrSnapshot {
    uint32_t generation = 0;
    std::vector<PrRegistration> registrations;  // in registration order
    std::optional<PersistentReservation> reservation;
    bool aptpl = false;
};

// A unit attention established by a PERSISTENT RESERVE OUT for an I_T nexus, as the shared
// record carries it to the gateway that has the nexus.
struct PrUnitAttention {
    uint64_t sequence = 0;  // PrState::ua_sequence of the command that established it
    SenseReason reason = SenseReason::none;
    PrNexus nexus;
};

// What the state file and the shared record hold.
struct PrState {
    uint32_t generation = 0;
    std::vector<PrRegistration> registrations;
    std::optional<PersistentReservation> reservation;
    bool aptpl = false;
    // Shared record only: the unit attentions of the last few PERSISTENT RESERVE OUT commands
    // that established some, numbered by ua_sequence.
    uint64_t ua_sequence = 0;
    std::vector<PrUnitAttention> unit_attentions;
};
// The text form (one item a line, readable in `rados listomapvals`); `shared`: with the APTPL
// and unit attention lines of the shared record (the state file implies APTPL 1).
std::string serialize_pr_state(const PrState& state, bool shared);
// nullopt when the text is not a state of this version; `error` says which line.
std::optional<PrState> parse_pr_state(std::istream& in, std::string& error);

// The PERSISTENT RESERVE OUT parameter list (SPC-4 §6.16.3 Table 214), decoded.
struct PrOutParameters {
    uint64_t reservation_key = 0;
    uint64_t service_action_reservation_key = 0;
    bool aptpl = false;
};

enum class PrOutAction : uint8_t {
    register_key = 0x0,
    reserve = 0x1,
    release = 0x2,
    clear = 0x3,
    preempt = 0x4,
    preempt_and_abort = 0x5,
    register_and_ignore_existing_key = 0x6,
    register_and_move = 0x7,
};

// What a PERSISTENT RESERVE OUT did: its result and the unit attentions it establishes, as
// (Nexus::id, reason) pairs for the caller to queue.
struct PrOutcome {
    CommandResult result;
    std::vector<std::pair<uint64_t, SenseReason>> unit_attentions;
    bool state_changed = false;  // registrations, reservation or APTPL changed
    // The same unit attentions by persistent reservation identity, whichever process has the
    // I_T nexus.
    std::vector<std::pair<PrNexus, SenseReason>> nexus_attentions;
};

class Reservations {
  public:
    // `state_path` empty: APTPL is not supported (PTPL_C=0). Otherwise the persisted state is
    // loaded from it when present (start-up only; a damaged file is logged and ignored).
    explicit Reservations(std::string state_path = {});
    ~Reservations();
    Reservations(const Reservations&) = delete;
    Reservations& operator=(const Reservations&) = delete;

    // Keeps the persistent reservation state in `records` under `key` from now on, shared by
    // every process that opens the same medium (several gateways), instead of state_path; start-
    // up only, before the first command, and `records` must outlive this object. Reads the
    // record (the state loaded from state_path, if any, is replaced by it) and watches it.
    // `unit_attention` queues a unit attention on a live I_T nexus of this process (the LUN's
    // UnitAttentions); it is called for changes made by other processes, on the records'
    // thread. With records the state always persists (PTPL_C=1, persist_supported()) whatever
    // APTPL says: the cluster keeps it, and APTPL is only reported back (PTPL_A).
    // False when the record could not be read or is damaged (logged).
    [[nodiscard]] bool use_shared_records(
        backend::SharedRecords* records, std::string key = "persistent-reservations",
        std::function<void(uint64_t nexus_id, SenseReason reason)> unit_attention = {});
    bool shares_records() const { return records_ != nullptr; }
    // Reads the shared record again and installs it when it is newer than the local copy
    // (PERSISTENT RESERVE IN, a change notice). Blocking (one read of the record). BUSY when the
    // cluster did not answer in time, INTERNAL TARGET FAILURE for another error or a damaged
    // record; the local copy then stays. GOOD at once without shared records.
    [[nodiscard]] CommandResult refresh();

    // The live I_T nexuses, so unit attentions reach the sessions of a registered initiator
    // port; removing one releases its SPC-2 reservation (SPC-2 §5.5.1: I_T nexus loss).
    void nexus_added(const Nexus& nexus);
    void nexus_removed(const Nexus& nexus);
    // LOGICAL UNIT RESET / TARGET RESET: the SPC-2 reservation ends, persistent reservations
    // and registrations stay (SPC-4 §5.13.1, SAM-5 §6.3).
    void reset();

    // The conflict check of Lun::execute(): RESERVATION CONFLICT or GOOD for a command
    // (SPC-4 §5.13.1 Table 53, SBC-3 §4.17 Table 13, SPC-3 §5.6.3 for RESERVE/RELEASE).
    CommandResult check(const Nexus* nexus, const CommandDescriptor& descriptor) const;

    // PERSISTENT RESERVE OUT service actions (SPC-4 §5.13.5-§5.13.11). `type` only for RESERVE,
    // RELEASE, PREEMPT and PREEMPT AND ABORT (the caller has checked SCOPE and TYPE). With
    // shared records: blocking (reads and writes the record), BUSY when the cluster did not
    // answer in time or other gateways kept winning the record.
    PrOutcome persistent_reserve_out(const Nexus* nexus, PrOutAction action, PrType type,
                                     const PrOutParameters& p);
    // Writes the state for APTPL (temp file + fsync + rename), or removes it when APTPL is off.
    // Blocking: runs on the LUN's blocking-work hook.
    [[nodiscard]] bool save() const;

    // SPC-2 RESERVE(6/10) / RELEASE(6/10) after check() let them through.
    CommandResult reserve(const Nexus* nexus);
    void release(const Nexus* nexus);

    PrSnapshot snapshot() const;
    bool persist_supported() const { return !state_path_.empty() || records_ != nullptr; }

    // Registrations past this end in INSUFFICIENT REGISTRATION RESOURCES (SPC-4 §5.13.7).
    static constexpr size_t max_registrations = 1024;
    // Shared records: write_if attempts of one PERSISTENT RESERVE OUT before it answers BUSY.
    static constexpr int max_write_attempts = 16;
    // Shared records: unit attentions of this many PERSISTENT RESERVE OUT commands stay in the
    // record for the gateways that have not read it yet.
    static constexpr uint64_t kept_unit_attention_commands = 8;

  private:
    static PrRegistration* find(PrState& s, const PrNexus& n);
    static bool is_holder(const PrState& s, const PrNexus& n);
    static void queue_ua(const PrNexus& n, SenseReason reason, PrOutcome& out);
    // The service action applied to `s` (SPC-4 §5.13): result, state_changed, nexus_attentions.
    static PrOutcome apply(PrState& s, const PrNexus& n, PrOutAction action, PrType type,
                           const PrOutParameters& p);
    static PrOutcome register_key(PrState& s, const PrNexus& n, PrOutAction action,
                                  const PrOutParameters& p);
    static PrOutcome reserve_key(PrState& s, const PrNexus& n, PrType type);
    static PrOutcome release_key(PrState& s, const PrNexus& n, PrType type);
    static PrOutcome clear_keys(PrState& s, const PrNexus& n);
    static PrOutcome preempt_keys(PrState& s, const PrNexus& n, PrType type,
                                  const PrOutParameters& p);
    // nexus_attentions -> unit_attentions for the live I_T nexuses of this process.
    void local_attentions_locked(const std::vector<std::pair<PrNexus, SenseReason>>& by_nexus,
                                 std::vector<std::pair<uint64_t, SenseReason>>& out) const;
    PrOutcome persistent_reserve_out_shared(const PrNexus& n, PrOutAction action, PrType type,
                                            const PrOutParameters& p);
    // Reads the record: false on a cluster error (`timed_out` says whether it was a timeout) or
    // a damaged record.
    bool read_record(PrState& state, uint64_t& version, bool& timed_out);
    // Installs a state read from or written to the record when it is newer than the local copy;
    // the unit attentions it carries that this process has not queued yet go to `out`.
    void install_locked(PrState state, uint64_t version,
                        std::vector<std::pair<uint64_t, SenseReason>>& out);
    void update_active_locked();
    bool load();

    std::string state_path_;
    mutable std::mutex mutex_;
    mutable std::mutex save_mutex_;  // orders concurrent saves (each writes the newest state)
    // Fast path of check(): false while there is neither a registration nor an SPC-2
    // reservation, so most commands pass without taking mutex_.
    std::atomic<bool> active_{false};
    PrState state_;
    std::optional<uint64_t> spc2_holder_;  // Nexus::id of the RESERVE(6/10) holder
    std::map<uint64_t, PrNexus> live_;     // Nexus::id -> its PR identity

    // Shared records (use_shared_records()). records_mutex_ orders this process's PERSISTENT
    // RESERVE OUT commands; it is never held by the change notice, which only takes mutex_, so
    // a writer waiting for the acknowledgements of its own notice does not block it.
    backend::SharedRecords* records_ = nullptr;
    std::string records_key_;
    std::function<void(uint64_t, SenseReason)> unit_attention_;
    uint64_t watch_id_ = 0;
    std::mutex records_mutex_;
    uint64_t record_version_ = 0;  // the version of the record state_ came from
    uint64_t seen_ua_sequence_ = 0;
};

}  // namespace atsarray::scsi
