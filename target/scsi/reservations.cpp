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

std::string_view reason_name(SenseReason r) {
    switch (r) {
        case SenseReason::reservations_preempted:
            return "reservations-preempted";
        case SenseReason::reservations_released:
            return "reservations-released";
        case SenseReason::registrations_preempted:
            return "registrations-preempted";
        default:
            return {};
    }
}

std::optional<SenseReason> reason_of(std::string_view name) {
    for (SenseReason r : {SenseReason::reservations_preempted, SenseReason::reservations_released,
                          SenseReason::registrations_preempted}) {
        if (reason_name(r) == name) {
            return r;
        }
    }
    return std::nullopt;
}

// The state of the record or the state file, one item a line, so it stays readable for someone
// debugging a lab:
//   atsarray-persistent-reservations 1
//   generation <n>
//   aptpl <0|1>                                   (shared record only)
//   registration <key hex> <relative target port> <initiator port>
//   reservation <type> <relative target port> <initiator port of the holder>
//   ua-sequence <n>                               (shared record only)
//   unit-attention <sequence> <reason> <relative target port> <initiator port>   (idem)

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

std::string serialize_pr_state(const PrState& s, bool shared) {
    std::ostringstream text;
    text << state_magic << '\n' << "generation " << s.generation << '\n';
    if (shared) {
        text << "aptpl " << (s.aptpl ? 1 : 0) << '\n';
    }
    for (const PrRegistration& r : s.registrations) {
        text << "registration " << std::hex << r.key << std::dec << ' '
             << r.nexus.relative_target_port << ' ' << r.nexus.initiator_port << '\n';
    }
    if (s.reservation) {
        text << "reservation " << static_cast<unsigned>(s.reservation->type) << ' '
             << s.reservation->holder.relative_target_port << ' '
             << s.reservation->holder.initiator_port << '\n';
    }
    if (shared) {
        text << "ua-sequence " << s.ua_sequence << '\n';
        for (const PrUnitAttention& ua : s.unit_attentions) {
            text << "unit-attention " << ua.sequence << ' ' << reason_name(ua.reason) << ' '
                 << ua.nexus.relative_target_port << ' ' << ua.nexus.initiator_port << '\n';
        }
    }
    return text.str();
}

std::optional<PrState> parse_pr_state(std::istream& in, std::string& error) {
    std::string line;
    if (!std::getline(in, line) || line != state_magic) {
        error = "not a persistent reservation state";
        return std::nullopt;
    }
    PrState s;
    while (std::getline(in, line)) {
        std::istringstream fields(line);
        std::string what;
        fields >> what;
        bool good = false;
        if (what == "generation") {
            good = static_cast<bool>(fields >> s.generation);
        } else if (what == "aptpl") {
            unsigned aptpl = 0;
            good = static_cast<bool>(fields >> aptpl) && aptpl <= 1;
            s.aptpl = aptpl == 1;
        } else if (what == "registration") {
            PrRegistration r;
            good = static_cast<bool>(fields >> std::hex >> r.key >> std::dec >>
                                     r.nexus.relative_target_port >> r.nexus.initiator_port) &&
                   r.key != 0;
            if (good) {
                s.registrations.push_back(std::move(r));
            }
        } else if (what == "reservation") {
            unsigned type = 0;
            PersistentReservation pr;
            good = static_cast<bool>(fields >> type >> pr.holder.relative_target_port) &&
                   is_valid_pr_type(static_cast<uint8_t>(type));
            fields >> pr.holder.initiator_port;  // empty for the all-registrants types
            pr.type = static_cast<PrType>(type);
            if (good) {
                s.reservation = std::move(pr);
            }
        } else if (what == "ua-sequence") {
            good = static_cast<bool>(fields >> s.ua_sequence);
        } else if (what == "unit-attention") {
            PrUnitAttention ua;
            std::string reason;
            good = static_cast<bool>(fields >> ua.sequence >> reason >>
                                     ua.nexus.relative_target_port >> ua.nexus.initiator_port);
            const std::optional<SenseReason> r = reason_of(reason);
            good = good && r.has_value();
            if (good) {
                ua.reason = *r;
                s.unit_attentions.push_back(std::move(ua));
            }
        }
        if (!good || s.registrations.size() > Reservations::max_registrations) {
            error = "bad line '" + line + "'";
            return std::nullopt;
        }
    }
    if (s.registrations.empty()) {
        s.reservation.reset();
    }
    return s;
}

Reservations::Reservations(std::string state_path) : state_path_(std::move(state_path)) {
    if (!state_path_.empty()) {
        std::lock_guard lock(mutex_);
        if (load()) {
            update_active_locked();
        }
    }
}

Reservations::~Reservations() {
    if (records_ != nullptr && watch_id_ != 0) {
        records_->unwatch(watch_id_);
    }
}

bool Reservations::use_shared_records(backend::SharedRecords* records, std::string key,
                                      std::function<void(uint64_t, SenseReason)> unit_attention) {
    {
        std::lock_guard lock(mutex_);
        records_ = records;
        records_key_ = std::move(key);
        unit_attention_ = std::move(unit_attention);
        // The record is the state from now on; a state file's content is not carried over.
        state_ = {};
        record_version_ = 0;
        seen_ua_sequence_ = 0;
        update_active_locked();
    }
    watch_id_ = records_->watch([this](const std::string& changed) {
        if (changed == records_key_) {
            (void)refresh();  // logged; the next notice or PERSISTENT RESERVE IN reads it again
        }
    });
    return refresh().ok();
}

bool Reservations::read_record(PrState& state, uint64_t& version, bool& timed_out) {
    timed_out = false;
    std::string text;
    if (const backend::Status s = records_->read(records_key_, text, version); !s.ok()) {
        // TODO(issue 15 merge): also StoreErrc::busy.
        timed_out = s.sys_errno == ETIMEDOUT;
        spdlog::warn("scsi: reading persistent reservations '{}' failed: {}", records_key_,
                     backend::to_string(s));
        return false;
    }
    if (version == 0) {
        state = {};
        return true;
    }
    std::istringstream in(text);
    std::string error;
    std::optional<PrState> parsed = parse_pr_state(in, error);
    if (!parsed) {
        spdlog::error("scsi: persistent reservations '{}' version {}: {}", records_key_, version,
                      error);
        return false;
    }
    state = std::move(*parsed);
    return true;
}

CommandResult Reservations::refresh() {
    if (records_ == nullptr) {
        return CommandResult::good();
    }
    PrState state;
    uint64_t version = 0;
    bool timed_out = false;
    if (!read_record(state, version, timed_out)) {
        return CommandResult::fail(timed_out ? SenseReason::busy
                                             : SenseReason::internal_target_failure);
    }
    std::vector<std::pair<uint64_t, SenseReason>> attentions;
    {
        std::lock_guard lock(mutex_);
        install_locked(std::move(state), version, attentions);
        update_active_locked();
    }
    if (unit_attention_) {
        for (const auto& [id, reason] : attentions) {
            unit_attention_(id, reason);
        }
    }
    return CommandResult::good();
}

void Reservations::install_locked(PrState state, uint64_t version,
                                  std::vector<std::pair<uint64_t, SenseReason>>& out) {
    if (version <= record_version_) {
        return;  // this copy is as new already (a notice of our own write, a slower read)
    }
    std::vector<std::pair<PrNexus, SenseReason>> fresh;
    for (const PrUnitAttention& ua : state.unit_attentions) {
        if (ua.sequence > seen_ua_sequence_) {
            fresh.emplace_back(ua.nexus, ua.reason);
        }
    }
    local_attentions_locked(fresh, out);
    seen_ua_sequence_ = std::max(seen_ua_sequence_, state.ua_sequence);
    state_ = std::move(state);
    record_version_ = version;
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
    active_.store(!state_.registrations.empty() || spc2_holder_.has_value(),
                  std::memory_order_release);
}

PrRegistration* Reservations::find(PrState& s, const PrNexus& n) {
    auto it = std::find_if(s.registrations.begin(), s.registrations.end(),
                           [&n](const PrRegistration& r) { return r.nexus == n; });
    return it == s.registrations.end() ? nullptr : &*it;
}

bool Reservations::is_holder(const PrState& s, const PrNexus& n) {
    if (!s.reservation) {
        return false;
    }
    if (all_registrants(s.reservation->type)) {
        return std::any_of(s.registrations.begin(), s.registrations.end(),
                           [&n](const PrRegistration& r) { return r.nexus == n; });
    }
    return s.reservation->holder == n;
}

void Reservations::queue_ua(const PrNexus& n, SenseReason reason, PrOutcome& out) {
    out.nexus_attentions.emplace_back(n, reason);
}

void Reservations::local_attentions_locked(
    const std::vector<std::pair<PrNexus, SenseReason>>& by_nexus,
    std::vector<std::pair<uint64_t, SenseReason>>& out) const {
    // SPC-4 §5.13: the unit attention goes to "the initiator port associated with" the I_T
    // nexus: every live session of it.
    for (const auto& [n, reason] : by_nexus) {
        for (const auto& [id, live] : live_) {
            if (live == n) {
                out.emplace_back(id, reason);
            }
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
        return state_.registrations.empty() ? CommandResult::good() : conflict;
    }
    if (!state_.reservation || d.has(flag_allowed_with_reservation)) {
        return CommandResult::good();
    }
    const PrNexus n = pr_nexus_of(nexus);
    if (is_holder(state_, n)) {
        return CommandResult::good();
    }
    const PrType type = state_.reservation->type;
    const bool registered = std::any_of(state_.registrations.begin(), state_.registrations.end(),
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
    if (records_ != nullptr) {
        return persistent_reserve_out_shared(n, action, type, p);
    }
    std::lock_guard lock(mutex_);
    PrOutcome out = apply(state_, n, action, type, p);
    local_attentions_locked(out.nexus_attentions, out.unit_attentions);
    update_active_locked();
    return out;
}

// The record's read-modify-write: the action is decided on the state every gateway shares, and
// the write succeeds only if no other gateway changed it meanwhile (else read again).
PrOutcome Reservations::persistent_reserve_out_shared(const PrNexus& n, PrOutAction action,
                                                      PrType type, const PrOutParameters& p) {
    std::lock_guard order(records_mutex_);
    for (int attempt = 0; attempt < max_write_attempts; ++attempt) {
        PrState s;
        uint64_t version = 0;
        bool timed_out = false;
        PrOutcome out;
        if (!read_record(s, version, timed_out)) {
            out.result = CommandResult::fail(timed_out ? SenseReason::busy
                                                       : SenseReason::internal_target_failure);
            return out;
        }
        out = apply(s, n, action, type, p);
        uint64_t installed_version = version;
        if (out.state_changed) {
            if (!out.nexus_attentions.empty()) {
                ++s.ua_sequence;
                for (const auto& [nexus, reason] : out.nexus_attentions) {
                    s.unit_attentions.push_back({s.ua_sequence, reason, nexus});
                }
            }
            const uint64_t sequence = s.ua_sequence;
            std::erase_if(s.unit_attentions, [sequence](const PrUnitAttention& ua) {
                return ua.sequence + kept_unit_attention_commands <= sequence;
            });
            bool written = false;
            const backend::Status st = records_->write_if(records_key_, serialize_pr_state(s, true),
                                                          version, written, installed_version);
            if (!st.ok()) {
                spdlog::warn("scsi: writing persistent reservations '{}' failed: {}", records_key_,
                             backend::to_string(st));
                PrOutcome failed;
                failed.result = CommandResult::fail(st.sys_errno == ETIMEDOUT
                                                        ? SenseReason::busy
                                                        : SenseReason::internal_target_failure);
                return failed;
            }
            if (!written) {
                continue;  // another gateway changed the record: decide again on its state
            }
        }
        // The unit attentions go out through install (this command's and those of other
        // gateways' commands not seen yet), once each, whichever of this and the change notice
        // installs the state first.
        out.unit_attentions.clear();
        std::lock_guard lock(mutex_);
        install_locked(std::move(s), installed_version, out.unit_attentions);
        update_active_locked();
        return out;
    }
    spdlog::warn("scsi: persistent reservations '{}': {} conflicting writes in a row; BUSY",
                 records_key_, max_write_attempts);
    PrOutcome busy;
    busy.result = CommandResult::fail(SenseReason::busy);
    return busy;
}

PrOutcome Reservations::apply(PrState& s, const PrNexus& n, PrOutAction action, PrType type,
                              const PrOutParameters& p) {
    PrOutcome out;
    const bool registering = action == PrOutAction::register_key ||
                             action == PrOutAction::register_and_ignore_existing_key;
    if (!registering) {
        // SPC-4 §5.13.9-§5.13.11: every other service action needs a registered I_T nexus and
        // its own key in RESERVATION KEY.
        const PrRegistration* reg = find(s, n);
        if (reg == nullptr || reg->key != p.reservation_key) {
            out.result = CommandResult::fail(SenseReason::reservation_conflict);
            return out;
        }
    }
    switch (action) {
        case PrOutAction::register_key:
        case PrOutAction::register_and_ignore_existing_key:
            return register_key(s, n, action, p);
        case PrOutAction::reserve:
            return reserve_key(s, n, type);
        case PrOutAction::release:
            return release_key(s, n, type);
        case PrOutAction::clear:
            return clear_keys(s, n);
        case PrOutAction::preempt:
        case PrOutAction::preempt_and_abort:
            return preempt_keys(s, n, type, p);
        case PrOutAction::register_and_move:
            out.result = CommandResult::invalid_cdb_field(1, 4);
            break;
    }
    return out;
}

// SPC-4 §5.13.7 (registering) and §5.13.11.3 (unregistering).
PrOutcome Reservations::register_key(PrState& s, const PrNexus& n, PrOutAction action,
                                     const PrOutParameters& p) {
    PrOutcome out;
    PrRegistration* reg = find(s, n);
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
        if (s.registrations.size() >= max_registrations) {
            out.result = CommandResult::fail(SenseReason::insufficient_registration_resources);
            return out;
        }
        s.registrations.push_back({n, new_key});
    } else if (reg != nullptr && new_key != 0) {
        reg->key = new_key;
    } else if (reg != nullptr) {
        // Unregistering. A single holder releases its reservation; under the registrants-only
        // types the other registrants learn it (SPC-4 §5.13.11.3). An all-registrants
        // reservation ends with its last registrant, without a unit attention.
        const bool held_alone =
            s.reservation && !all_registrants(s.reservation->type) && s.reservation->holder == n;
        const PrType type = s.reservation ? s.reservation->type : PrType::write_exclusive;
        std::erase_if(s.registrations, [&n](const PrRegistration& r) { return r.nexus == n; });
        if (held_alone) {
            s.reservation.reset();
            if (registrants_only(type)) {
                for (const PrRegistration& r : s.registrations) {
                    queue_ua(r.nexus, SenseReason::reservations_released, out);
                }
            }
        } else if (s.reservation && all_registrants(s.reservation->type) &&
                   s.registrations.empty()) {
            s.reservation.reset();
        }
    }
    // SPC-4 §6.16.3: APTPL takes the value of the last REGISTER / REGISTER AND IGNORE EXISTING
    // KEY that succeeded.
    s.aptpl = p.aptpl;
    ++s.generation;
    out.state_changed = true;
    return out;
}

// SPC-4 §5.13.9.
PrOutcome Reservations::reserve_key(PrState& s, const PrNexus& n, PrType type) {
    PrOutcome out;
    if (s.reservation) {
        // Reserving again what this I_T nexus already holds, with the same type, is GOOD and
        // changes nothing; anything else conflicts.
        if (!is_holder(s, n) || s.reservation->type != type) {
            out.result = CommandResult::fail(SenseReason::reservation_conflict);
        }
        return out;
    }
    s.reservation = PersistentReservation{type, n};
    out.state_changed = true;
    return out;
}

// SPC-4 §5.13.11.2.
PrOutcome Reservations::release_key(PrState& s, const PrNexus& n, PrType type) {
    PrOutcome out;
    if (!s.reservation || !is_holder(s, n)) {
        return out;  // GOOD, nothing released
    }
    if (s.reservation->type != type) {
        out.result = CommandResult::fail(SenseReason::invalid_release_of_persistent_reservation);
        return out;
    }
    s.reservation.reset();
    if (type != PrType::write_exclusive && type != PrType::exclusive_access) {
        for (const PrRegistration& r : s.registrations) {
            if (!(r.nexus == n)) {
                queue_ua(r.nexus, SenseReason::reservations_released, out);
            }
        }
    }
    out.state_changed = true;
    return out;
}

// SPC-4 §5.13.11.6.
PrOutcome Reservations::clear_keys(PrState& s, const PrNexus& n) {
    PrOutcome out;
    for (const PrRegistration& r : s.registrations) {
        if (!(r.nexus == n)) {
            queue_ua(r.nexus, SenseReason::reservations_preempted, out);
        }
    }
    s.registrations.clear();
    s.reservation.reset();
    ++s.generation;
    out.state_changed = true;
    return out;
}

// SPC-4 §5.13.11.4: preempting a reservation, or removing registrations.
PrOutcome Reservations::preempt_keys(PrState& s, const PrNexus& n, PrType type,
                                     const PrOutParameters& p) {
    PrOutcome out;
    const uint64_t victim_key = p.service_action_reservation_key;
    auto remove_matching = [&](auto&& match) {
        bool any = false;
        for (const PrRegistration& r : s.registrations) {
            if (match(r) && !(r.nexus == n)) {
                queue_ua(r.nexus, SenseReason::registrations_preempted, out);
                any = true;
            }
        }
        std::erase_if(s.registrations,
                      [&](const PrRegistration& r) { return match(r) && !(r.nexus == n); });
        return any;
    };
    const bool key_exists =
        std::any_of(s.registrations.begin(), s.registrations.end(),
                    [victim_key](const PrRegistration& r) { return r.key == victim_key; });

    if (s.reservation && all_registrants(s.reservation->type) && victim_key == 0) {
        // §5.13.11.4.3: SERVICE ACTION RESERVATION KEY 0 under an all-registrants reservation
        // preempts every other registrant and takes a new reservation.
        remove_matching([](const PrRegistration&) { return true; });
        s.reservation = PersistentReservation{type, n};
        ++s.generation;
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
    const bool preempts_holder = s.reservation && !all_registrants(s.reservation->type) && [&] {
        const PrRegistration* h = find(s, s.reservation->holder);
        return h != nullptr && h->key == victim_key;
    }();
    if (!preempts_holder) {
        // §5.13.11.4.4: removing registrations; the reservation (if any) stays.
        remove_matching([victim_key](const PrRegistration& r) { return r.key == victim_key; });
        if (s.reservation && all_registrants(s.reservation->type) && s.registrations.empty()) {
            s.reservation.reset();
        }
        ++s.generation;
        out.state_changed = true;
        return out;
    }
    // §5.13.11.4.3: the holder is preempted. Its reservation passes to this I_T nexus with the
    // new type; registrations under the preempted key go (except this I_T nexus's own); if the
    // type changed, the registrants that stay learn RESERVATIONS RELEASED.
    const PrType old_type = s.reservation->type;
    remove_matching([victim_key](const PrRegistration& r) { return r.key == victim_key; });
    s.reservation = PersistentReservation{type, n};
    if (old_type != type) {
        for (const PrRegistration& r : s.registrations) {
            if (!(r.nexus == n)) {
                queue_ua(r.nexus, SenseReason::reservations_released, out);
            }
        }
    }
    ++s.generation;
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
    return {state_.generation, state_.registrations, state_.reservation, state_.aptpl};
}

bool Reservations::save() const {
    if (state_path_.empty() || records_ != nullptr) {
        return true;  // nowhere to save, or already in the shared record
    }
    std::lock_guard save_lock(save_mutex_);
    PrState s;
    {
        std::lock_guard lock(mutex_);
        s = state_;
    }
    if (!s.aptpl) {
        // SPC-4 §5.13.4: with APTPL 0 nothing survives a power loss.
        if (::unlink(state_path_.c_str()) != 0 && errno != ENOENT) {
            spdlog::error("scsi: removing {} failed: errno {}", state_path_, errno);
            return false;
        }
        return true;
    }
    const std::string body = serialize_pr_state(s, false);
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
    std::string error;
    std::optional<PrState> s = parse_pr_state(in, error);
    if (!s) {
        spdlog::error("scsi: {}: {}; persistent reservations not restored", state_path_, error);
        return false;
    }
    state_ = std::move(*s);
    state_.aptpl = true;
    state_.ua_sequence = 0;
    state_.unit_attentions.clear();
    spdlog::info("scsi: restored {} persistent reservation registrations from {}{}",
                 state_.registrations.size(), state_path_,
                 state_.reservation ? " with a reservation" : "");
    return true;
}

}  // namespace atsarray::scsi
