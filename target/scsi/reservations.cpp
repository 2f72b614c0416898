#include "target/scsi/reservations.hpp"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <fstream>
#include <sstream>

#include <spdlog/spdlog.h>

#include "backend/durable_file.hpp"
#include "target/scsi/command_table.hpp"

namespace atsarray::scsi {
namespace {

// Opcodes with the SPC-3 §5.6.3 exceptions ("compatible reservation handling", CRH=1).
constexpr uint8_t reserve6_opcode = 0x16;
constexpr uint8_t release6_opcode = 0x17;
constexpr uint8_t reserve10_opcode = 0x56;
constexpr uint8_t release10_opcode = 0x57;
constexpr uint8_t persistent_reserve_in_opcode = 0x5E;
constexpr uint8_t persistent_reserve_out_opcode = 0x5F;

bool is_reserve_or_release(uint8_t opcode) {
    return opcode == reserve6_opcode || opcode == release6_opcode || opcode == reserve10_opcode ||
           opcode == release10_opcode;
}

bool all_registrants(PrType t) {
    return t == PrType::write_exclusive_all_registrants ||
           t == PrType::exclusive_access_all_registrants;
}

bool registrants_only(PrType t) {
    return t == PrType::write_exclusive_registrants_only ||
           t == PrType::exclusive_access_registrants_only;
}

bool write_exclusive_family(PrType t) {
    return t == PrType::write_exclusive || t == PrType::write_exclusive_registrants_only ||
           t == PrType::write_exclusive_all_registrants;
}

constexpr std::string_view state_magic = "atsarray-persistent-reservations 1";

}  // namespace

bool is_valid_pr_type(uint8_t type) {
    switch (type) {
        case 0x1:
        case 0x3:
        case 0x5:
        case 0x6:
        case 0x7:
        case 0x8:
            return true;
        default:
            return false;
    }
}

PrNexus pr_nexus_of(const Nexus* nexus) {
    if (nexus == nullptr) {
        return {};
    }
    return {nexus->initiator_port, nexus->relative_target_port};
}

Reservations::Reservations(std::string state_path) : state_path_(std::move(state_path)) {
    if (!state_path_.empty()) {
        std::lock_guard lock(mutex_);
        if (load()) {
            update_active_locked();
        }
    }
}

void Reservations::nexus_added(const Nexus& nexus) {
    std::lock_guard lock(mutex_);
    live_[nexus.id] = pr_nexus_of(&nexus);
}

void Reservations::nexus_removed(const Nexus& nexus) {
    std::lock_guard lock(mutex_);
    live_.erase(nexus.id);
    if (spc2_holder_ == nexus.id) {
        spc2_holder_.reset();
        update_active_locked();
    }
}

void Reservations::reset() {
    std::lock_guard lock(mutex_);
    spc2_holder_.reset();
    update_active_locked();
}

void Reservations::update_active_locked() {
    active_.store(!registrations_.empty() || spc2_holder_.has_value(), std::memory_order_release);
}

PrRegistration* Reservations::find_locked(const PrNexus& n) {
    auto it = std::find_if(registrations_.begin(), registrations_.end(),
                           [&n](const PrRegistration& r) { return r.nexus == n; });
    return it == registrations_.end() ? nullptr : &*it;
}

bool Reservations::is_holder_locked(const PrNexus& n) const {
    if (!reservation_) {
        return false;
    }
    if (all_registrants(reservation_->type)) {
        return std::any_of(registrations_.begin(), registrations_.end(),
                           [&n](const PrRegistration& r) { return r.nexus == n; });
    }
    return reservation_->holder == n;
}

void Reservations::queue_ua_locked(const PrNexus& n, SenseReason reason, PrOutcome& out) const {
    // SPC-4 §5.13: the unit attention goes to "the initiator port associated with" the I_T
    // nexus: every live session of it.
    for (const auto& [id, live] : live_) {
        if (live == n) {
            out.unit_attentions.emplace_back(id, reason);
        }
    }
}

CommandResult Reservations::check(const Nexus* nexus, const CommandDescriptor& d) const {
    if (!active_.load(std::memory_order_acquire)) {
        return CommandResult::good();
    }
    const auto conflict = CommandResult::fail(SenseReason::reservation_conflict);
    std::lock_guard lock(mutex_);
    if (spc2_holder_) {
        // SPC-3 §5.6.3: while an SPC-2 reservation exists, every PERSISTENT RESERVE IN/OUT
        // conflicts, whoever sends it.
        if (d.opcode == persistent_reserve_in_opcode || d.opcode == persistent_reserve_out_opcode) {
            return conflict;
        }
        // SPC-2 §5.5.1: other I_T nexuses get RESERVATION CONFLICT except for the commands a
        // device answers for any LUN (INQUIRY, REPORT LUNS, REQUEST SENSE) and RELEASE, which
        // completes GOOD without effect.
        const uint64_t id = nexus != nullptr ? nexus->id : 0;
        if (*spc2_holder_ != id && !d.has(flag_answers_without_lun) &&
            d.opcode != release6_opcode && d.opcode != release10_opcode) {
            return conflict;
        }
        return CommandResult::good();
    }
    // SPC-3 §5.6.3: with any registration in place, RESERVE and RELEASE conflict from every
    // I_T nexus.
    if (is_reserve_or_release(d.opcode)) {
        return registrations_.empty() ? CommandResult::good() : conflict;
    }
    if (!reservation_ || d.has(flag_allowed_with_reservation)) {
        return CommandResult::good();
    }
    const PrNexus n = pr_nexus_of(nexus);
    if (is_holder_locked(n)) {
        return CommandResult::good();
    }
    const PrType type = reservation_->type;
    const bool registered = std::any_of(registrations_.begin(), registrations_.end(),
                                        [&n](const PrRegistration& r) { return r.nexus == n; });
    // SPC-4 Table 53 / SBC-3 Table 13: under the registrants-only and all-registrants types a
    // registered I_T nexus has access; under WE and EA only the holder does.
    if (registered && (registrants_only(type) || all_registrants(type))) {
        return CommandResult::good();
    }
    if (d.has(flag_reads_medium) && write_exclusive_family(type)) {
        return CommandResult::good();
    }
    return conflict;
}

PrOutcome Reservations::persistent_reserve_out(const Nexus* nexus, PrOutAction action, PrType type,
                                               const PrOutParameters& p) {
    const PrNexus n = pr_nexus_of(nexus);
    std::lock_guard lock(mutex_);
    PrOutcome out;
    const bool registering = action == PrOutAction::register_key ||
                             action == PrOutAction::register_and_ignore_existing_key;
    if (!registering) {
        // SPC-4 §5.13.9-§5.13.11: every other service action needs a registered I_T nexus and
        // its own key in RESERVATION KEY.
        const PrRegistration* reg = find_locked(n);
        if (reg == nullptr || reg->key != p.reservation_key) {
            out.result = CommandResult::fail(SenseReason::reservation_conflict);
            return out;
        }
    }
    switch (action) {
        case PrOutAction::register_key:
        case PrOutAction::register_and_ignore_existing_key:
            out = register_locked(n, action, p);
            break;
        case PrOutAction::reserve:
            out = reserve_locked(n, type);
            break;
        case PrOutAction::release:
            out = release_locked(n, type);
            break;
        case PrOutAction::clear:
            out = clear_locked(n);
            break;
        case PrOutAction::preempt:
        case PrOutAction::preempt_and_abort:
            out = preempt_locked(n, type, p);
            break;
        case PrOutAction::register_and_move:
            out.result = CommandResult::invalid_cdb_field(1, 4);
            break;
    }
    update_active_locked();
    return out;
}

// SPC-4 §5.13.7 (registering) and §5.13.11.3 (unregistering).
PrOutcome Reservations::register_locked(const PrNexus& n, PrOutAction action,
                                        const PrOutParameters& p) {
    PrOutcome out;
    PrRegistration* reg = find_locked(n);
    const bool ignore_key = action == PrOutAction::register_and_ignore_existing_key;
    if (!ignore_key) {
        const uint64_t current = reg != nullptr ? reg->key : 0;
        if (p.reservation_key != current) {
            out.result = CommandResult::fail(SenseReason::reservation_conflict);
            return out;
        }
    }
    const uint64_t new_key = p.service_action_reservation_key;
    if (reg == nullptr && new_key != 0) {
        if (registrations_.size() >= max_registrations) {
            out.result = CommandResult::fail(SenseReason::insufficient_registration_resources);
            return out;
        }
        registrations_.push_back({n, new_key});
    } else if (reg != nullptr && new_key != 0) {
        reg->key = new_key;
    } else if (reg != nullptr) {
        // Unregistering. A single holder releases its reservation; under the registrants-only
        // types the other registrants learn it (SPC-4 §5.13.11.3). An all-registrants
        // reservation ends with its last registrant, without a unit attention.
        const bool held_alone =
            reservation_ && !all_registrants(reservation_->type) && reservation_->holder == n;
        const PrType type = reservation_ ? reservation_->type : PrType::write_exclusive;
        std::erase_if(registrations_, [&n](const PrRegistration& r) { return r.nexus == n; });
        if (held_alone) {
            reservation_.reset();
            if (registrants_only(type)) {
                for (const PrRegistration& r : registrations_) {
                    queue_ua_locked(r.nexus, SenseReason::reservations_released, out);
                }
            }
        } else if (reservation_ && all_registrants(reservation_->type) && registrations_.empty()) {
            reservation_.reset();
        }
    }
    // SPC-4 §6.16.3: APTPL takes the value of the last REGISTER / REGISTER AND IGNORE EXISTING
    // KEY that succeeded.
    aptpl_ = p.aptpl;
    ++generation_;
    out.state_changed = true;
    return out;
}

// SPC-4 §5.13.9.
PrOutcome Reservations::reserve_locked(const PrNexus& n, PrType type) {
    PrOutcome out;
    if (reservation_) {
        // Reserving again what this I_T nexus already holds, with the same type, is GOOD and
        // changes nothing; anything else conflicts.
        if (!is_holder_locked(n) || reservation_->type != type) {
            out.result = CommandResult::fail(SenseReason::reservation_conflict);
        }
        return out;
    }
    reservation_ = PersistentReservation{type, n};
    out.state_changed = true;
    return out;
}

// SPC-4 §5.13.11.2.
PrOutcome Reservations::release_locked(const PrNexus& n, PrType type) {
    PrOutcome out;
    if (!reservation_ || !is_holder_locked(n)) {
        return out;  // GOOD, nothing released
    }
    if (reservation_->type != type) {
        out.result = CommandResult::fail(SenseReason::invalid_release_of_persistent_reservation);
        return out;
    }
    reservation_.reset();
    if (type != PrType::write_exclusive && type != PrType::exclusive_access) {
        for (const PrRegistration& r : registrations_) {
            if (!(r.nexus == n)) {
                queue_ua_locked(r.nexus, SenseReason::reservations_released, out);
            }
        }
    }
    out.state_changed = true;
    return out;
}

// SPC-4 §5.13.11.6.
PrOutcome Reservations::clear_locked(const PrNexus& n) {
    PrOutcome out;
    for (const PrRegistration& r : registrations_) {
        if (!(r.nexus == n)) {
            queue_ua_locked(r.nexus, SenseReason::reservations_preempted, out);
        }
    }
    registrations_.clear();
    reservation_.reset();
    ++generation_;
    out.state_changed = true;
    return out;
}

// SPC-4 §5.13.11.4: preempting a reservation, or removing registrations.
PrOutcome Reservations::preempt_locked(const PrNexus& n, PrType type, const PrOutParameters& p) {
    PrOutcome out;
    const uint64_t victim_key = p.service_action_reservation_key;
    auto remove_matching = [&](auto&& match) {
        bool any = false;
        for (const PrRegistration& r : registrations_) {
            if (match(r) && !(r.nexus == n)) {
                queue_ua_locked(r.nexus, SenseReason::registrations_preempted, out);
                any = true;
            }
        }
        std::erase_if(registrations_,
                      [&](const PrRegistration& r) { return match(r) && !(r.nexus == n); });
        return any;
    };
    const bool key_exists =
        std::any_of(registrations_.begin(), registrations_.end(),
                    [victim_key](const PrRegistration& r) { return r.key == victim_key; });

    if (reservation_ && all_registrants(reservation_->type) && victim_key == 0) {
        // §5.13.11.4.3: SERVICE ACTION RESERVATION KEY 0 under an all-registrants reservation
        // preempts every other registrant and takes a new reservation.
        remove_matching([](const PrRegistration&) { return true; });
        reservation_ = PersistentReservation{type, n};
        ++generation_;
        out.state_changed = true;
        return out;
    }
    if (victim_key == 0) {
        // §5.13.11.4.2/§6.16.2: key 0 names no registrant unless all-registrants.
        out.result = CommandResult::invalid_parameter_field(8);
        return out;
    }
    if (!key_exists) {
        out.result = CommandResult::fail(SenseReason::reservation_conflict);
        return out;
    }
    const bool preempts_holder = reservation_ && !all_registrants(reservation_->type) && [&] {
        const PrRegistration* h = find_locked(reservation_->holder);
        return h != nullptr && h->key == victim_key;
    }();
    if (!preempts_holder) {
        // §5.13.11.4.4: removing registrations; the reservation (if any) stays.
        remove_matching([victim_key](const PrRegistration& r) { return r.key == victim_key; });
        if (reservation_ && all_registrants(reservation_->type) && registrations_.empty()) {
            reservation_.reset();
        }
        ++generation_;
        out.state_changed = true;
        return out;
    }
    // §5.13.11.4.3: the holder is preempted. Its reservation passes to this I_T nexus with the
    // new type; registrations under the preempted key go (except this I_T nexus's own); if the
    // type changed, the registrants that stay learn RESERVATIONS RELEASED.
    const PrType old_type = reservation_->type;
    remove_matching([victim_key](const PrRegistration& r) { return r.key == victim_key; });
    reservation_ = PersistentReservation{type, n};
    if (old_type != type) {
        for (const PrRegistration& r : registrations_) {
            if (!(r.nexus == n)) {
                queue_ua_locked(r.nexus, SenseReason::reservations_released, out);
            }
        }
    }
    ++generation_;
    out.state_changed = true;
    return out;
}

CommandResult Reservations::reserve(const Nexus* nexus) {
    const uint64_t id = nexus != nullptr ? nexus->id : 0;
    std::lock_guard lock(mutex_);
    // check() has already refused a reservation held by another I_T nexus; reserving again
    // is GOOD (SPC-2 §7.21.2).
    if (spc2_holder_ && *spc2_holder_ != id) {
        return CommandResult::fail(SenseReason::reservation_conflict);
    }
    spc2_holder_ = id;
    update_active_locked();
    return CommandResult::good();
}

void Reservations::release(const Nexus* nexus) {
    const uint64_t id = nexus != nullptr ? nexus->id : 0;
    std::lock_guard lock(mutex_);
    // SPC-2 §7.23.2: a RELEASE from an I_T nexus that holds nothing is GOOD with no effect.
    if (spc2_holder_ == id) {
        spc2_holder_.reset();
        update_active_locked();
    }
}

PrSnapshot Reservations::snapshot() const {
    std::lock_guard lock(mutex_);
    return {generation_, registrations_, reservation_, aptpl_};
}

// The state file: one line per item, so it stays readable for someone debugging a lab.
//   atsarray-persistent-reservations 1
//   generation <n>
//   registration <key hex> <relative target port> <initiator port>
//   reservation <type> <relative target port> <initiator port of the holder>
bool Reservations::save() const {
    if (state_path_.empty()) {
        return true;
    }
    std::lock_guard save_lock(save_mutex_);
    const PrSnapshot s = snapshot();
    if (!s.aptpl) {
        // SPC-4 §5.13.4: with APTPL 0 nothing survives a power loss.
        if (::unlink(state_path_.c_str()) != 0 && errno != ENOENT) {
            spdlog::error("scsi: removing {} failed: errno {}", state_path_, errno);
            return false;
        }
        return true;
    }
    std::ostringstream text;
    text << state_magic << '\n' << "generation " << s.generation << '\n';
    for (const PrRegistration& r : s.registrations) {
        text << "registration " << std::hex << r.key << std::dec << ' '
             << r.nexus.relative_target_port << ' ' << r.nexus.initiator_port << '\n';
    }
    if (s.reservation) {
        text << "reservation " << static_cast<unsigned>(s.reservation->type) << ' '
             << s.reservation->holder.relative_target_port << ' '
             << s.reservation->holder.initiator_port << '\n';
    }
    const std::string body = text.str();
    if (const int error = backend::write_file_durably(state_path_, body); error != 0) {
        spdlog::error("scsi: saving persistent reservations to {} failed: errno {}", state_path_,
                      error);
        return false;
    }
    return true;
}

bool Reservations::load() {
    std::ifstream in(state_path_);
    if (!in) {
        return false;
    }
    std::string line;
    if (!std::getline(in, line) || line != state_magic) {
        spdlog::error("scsi: {} is not a persistent reservation state file; ignored", state_path_);
        return false;
    }
    uint32_t generation = 0;
    std::vector<PrRegistration> regs;
    std::optional<PersistentReservation> res;
    while (std::getline(in, line)) {
        std::istringstream fields(line);
        std::string what;
        fields >> what;
        bool good = false;
        if (what == "generation") {
            good = static_cast<bool>(fields >> generation);
        } else if (what == "registration") {
            PrRegistration r;
            good = static_cast<bool>(fields >> std::hex >> r.key >> std::dec >>
                                     r.nexus.relative_target_port >> r.nexus.initiator_port) &&
                   r.key != 0;
            if (good) {
                regs.push_back(std::move(r));
            }
        } else if (what == "reservation") {
            unsigned type = 0;
            PersistentReservation pr;
            good = static_cast<bool>(fields >> type >> pr.holder.relative_target_port) &&
                   is_valid_pr_type(static_cast<uint8_t>(type));
            fields >> pr.holder.initiator_port;  // empty for the all-registrants types
            pr.type = static_cast<PrType>(type);
            if (good) {
                res = std::move(pr);
            }
        }
        if (!good || regs.size() > max_registrations) {
            spdlog::error("scsi: {}: bad line '{}'; persistent reservations not restored",
                          state_path_, line);
            return false;
        }
    }
    generation_ = generation;
    registrations_ = std::move(regs);
    reservation_ = registrations_.empty() ? std::nullopt : std::move(res);
    aptpl_ = true;
    spdlog::info("scsi: restored {} persistent reservation registrations from {}{}",
                 registrations_.size(), state_path_, reservation_ ? " with a reservation" : "");
    return true;
}

}  // namespace atsarray::scsi
