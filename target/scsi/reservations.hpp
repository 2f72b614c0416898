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

#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

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
};

class Reservations {
  public:
    // `state_path` empty: APTPL is not supported (PTPL_C=0). Otherwise the persisted state is
    // loaded from it when present (start-up only; a damaged file is logged and ignored).
    explicit Reservations(std::string state_path = {});

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
    // RELEASE, PREEMPT and PREEMPT AND ABORT (the caller has checked SCOPE and TYPE).
    PrOutcome persistent_reserve_out(const Nexus* nexus, PrOutAction action, PrType type,
                                     const PrOutParameters& p);
    // Writes the state for APTPL (temp file + fsync + rename), or removes it when APTPL is off.
    // Blocking: runs on the LUN's blocking-work hook.
    [[nodiscard]] bool save() const;

    // SPC-2 RESERVE(6/10) / RELEASE(6/10) after check() let them through.
    CommandResult reserve(const Nexus* nexus);
    void release(const Nexus* nexus);

    PrSnapshot snapshot() const;
    bool persist_supported() const { return !state_path_.empty(); }

    // Registrations past this end in INSUFFICIENT REGISTRATION RESOURCES (SPC-4 §5.13.7).
    static constexpr size_t max_registrations = 1024;

  private:
    PrRegistration* find_locked(const PrNexus& n);
    bool is_holder_locked(const PrNexus& n) const;
    void queue_ua_locked(const PrNexus& n, SenseReason reason, PrOutcome& out) const;
    void update_active_locked();
    PrOutcome register_locked(const PrNexus& n, PrOutAction action, const PrOutParameters& p);
    PrOutcome reserve_locked(const PrNexus& n, PrType type);
    PrOutcome release_locked(const PrNexus& n, PrType type);
    PrOutcome clear_locked(const PrNexus& n);
    PrOutcome preempt_locked(const PrNexus& n, PrType type, const PrOutParameters& p);
    bool load();

    std::string state_path_;
    mutable std::mutex mutex_;
    mutable std::mutex save_mutex_;  // orders concurrent saves (each writes the newest state)
    // Fast path of check(): false while there is neither a registration nor an SPC-2
    // reservation, so most commands pass without taking mutex_.
    std::atomic<bool> active_{false};
    uint32_t generation_ = 0;
    std::vector<PrRegistration> registrations_;
    std::optional<PersistentReservation> reservation_;
    bool aptpl_ = false;
    std::optional<uint64_t> spc2_holder_;  // Nexus::id of the RESERVE(6/10) holder
    std::map<uint64_t, PrNexus> live_;     // Nexus::id -> its PR identity
};

}  // namespace atsarray::scsi
