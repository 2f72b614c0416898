#include "target/iscsi/connection_limits.hpp"

#include "target/ats/rate_limit.hpp"

#include <spdlog/spdlog.h>

#include <utility>

namespace atsarray::iscsi {
namespace {

// A count in a map, taken down by one; the entry goes when it reaches zero (an address that
// connected once is not remembered for ever).
void decrement(std::map<std::string, uint32_t, std::less<>>& counts, const std::string& key) {
    const auto it = counts.find(key);
    if (it != counts.end() && --it->second == 0) {
        counts.erase(it);
    }
}

uint32_t count_of(const std::map<std::string, uint32_t, std::less<>>& counts,
                  std::string_view key) {
    const auto it = counts.find(key);
    return it == counts.end() ? 0 : it->second;
}

}  // namespace

ConnectionLimits::Slot& ConnectionLimits::Slot::operator=(Slot&& other) noexcept {
    if (this != &other) {
        release();
        limits_ = std::exchange(other.limits_, nullptr);
        portal_ = std::move(other.portal_);
        initiator_ = std::move(other.initiator_);
        refusal_ = other.refusal_;
    }
    return *this;
}

void ConnectionLimits::Slot::release() {
    if (limits_ != nullptr) {
        std::exchange(limits_, nullptr)->give_back(*this);
    }
}

ConnectionLimits::ConnectionLimits(std::function<void(const std::string&)> log)
    : log_(log ? std::move(log)
               : std::function<void(const std::string&)>(
                     [](const std::string& line) { spdlog::warn("{}", line); })),
      // Three lines at once, then one every ten seconds with the count of those held back.
      log_limit_(std::make_unique<ats::RateLimit>(0.1, 3.0)) {}

ConnectionLimits::~ConnectionLimits() = default;

void ConnectionLimits::set_limits(uint32_t per_portal, uint32_t per_initiator) {
    std::lock_guard lock(mu_);
    per_portal_ = per_portal;
    per_initiator_ = per_initiator;
}

ConnectionLimits::Admission ConnectionLimits::admit(std::string_view portal,
                                                    std::string_view initiator) {
    Admission admission;
    Slot& slot = admission.slot;
    uint32_t limit = 0;
    {
        std::lock_guard lock(mu_);
        if (count_of(portals_, portal) >= per_portal_) {
            admission.verdict = Verdict::portal_full;
            limit = per_portal_;
        } else if (count_of(initiators_, initiator) >= per_initiator_) {
            admission.verdict = Verdict::initiator_full;
            limit = per_initiator_;
        }
        if (!admission.refused()) {
            ++portals_[std::string(portal)];
            ++initiators_[std::string(initiator)];
            slot.limits_ = this;
            slot.portal_ = portal;
            slot.initiator_ = initiator;
            return admission;
        }
        if (pending_refusals_ < max_pending_refusals) {
            ++pending_refusals_;
            slot.limits_ = this;
            slot.refusal_ = true;
        }
    }
    const bool at_portal = admission.verdict == Verdict::portal_full;
    (at_portal ? refused_at_portal_ : refused_from_initiator_)
        .fetch_add(1, std::memory_order_relaxed);
    if (const auto held_back = log_limit_->admit()) {
        std::string line =
            fmt::format("iscsi portal {}: connection from {} refused: {} connections {}", portal,
                        initiator, limit,
                        at_portal ? "at this portal (iscsi.max_connections)"
                                  : "from that address (iscsi.max_connections_per_initiator)");
        if (*held_back > 0) {
            line += fmt::format("; {} more refused since the last line", *held_back);
        }
        log_(line);
    }
    return admission;
}

void ConnectionLimits::give_back(const Slot& slot) {
    std::lock_guard lock(mu_);
    if (slot.refusal_) {
        --pending_refusals_;
        return;
    }
    decrement(portals_, slot.portal_);
    decrement(initiators_, slot.initiator_);
}

uint64_t ConnectionLimits::refused(Verdict reason) const {
    switch (reason) {
        case Verdict::portal_full:
            return refused_at_portal_.load(std::memory_order_relaxed);
        case Verdict::initiator_full:
            return refused_from_initiator_.load(std::memory_order_relaxed);
        case Verdict::admitted:
            break;
    }
    return 0;
}

uint32_t ConnectionLimits::connections_at(std::string_view portal) const {
    std::lock_guard lock(mu_);
    return count_of(portals_, portal);
}

uint32_t ConnectionLimits::connections_from(std::string_view initiator) const {
    std::lock_guard lock(mu_);
    return count_of(initiators_, initiator);
}

uint32_t ConnectionLimits::pending_refusals() const {
    std::lock_guard lock(mu_);
    return pending_refusals_;
}

}  // namespace atsarray::iscsi
