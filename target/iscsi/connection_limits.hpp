#pragma once
// The most connections one portal and one initiator address may hold at once ([iscsi]
// max_connections, max_connections_per_initiator): without them a host that opens connections and
// never logs in takes the daemon's descriptors and memory. A connection past a limit gets one
// answer, its first Login Request refused with Out of resources (RFC 7143 §11.13.5: 0x0302, "the
// target has insufficient session, connection, or other resources"; 0x0206 Too many connections
// is about one session's connections), and is closed. A connection holds its place in the counts
// until it ends.

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

namespace atsarray::ats {
class RateLimit;
}

namespace atsarray::iscsi {

class ConnectionLimits {
  public:
    enum class Verdict : uint8_t {
        admitted,
        portal_full,     // max_connections connections at this portal already
        initiator_full,  // max_connections_per_initiator from this address already
    };

    // A connection's place in the counts (or, refused, among the refusals still to answer),
    // given back by release() or the destructor.
    class Slot {
      public:
        Slot() = default;
        Slot(Slot&& other) noexcept { *this = std::move(other); }
        Slot& operator=(Slot&& other) noexcept;
        Slot(const Slot&) = delete;
        Slot& operator=(const Slot&) = delete;
        ~Slot() { release(); }

        void release();
        bool held() const { return limits_ != nullptr; }

      private:
        friend class ConnectionLimits;
        ConnectionLimits* limits_ = nullptr;
        std::string portal_;
        std::string initiator_;
        bool refusal_ = false;
    };

    struct Admission {
        Verdict verdict = Verdict::admitted;
        // Admitted: counted against both limits. Refused: counted among the refusals waiting for
        // their Login Request; empty when max_pending_refusals wait already, and then the
        // connection is closed without an answer.
        Slot slot;

        bool refused() const { return verdict != Verdict::admitted; }
    };

    // Refused connections waiting for their Login Request at once; each waits a few seconds at
    // most (Connection), so a flood of refused connections holds this many descriptors at most.
    static constexpr uint32_t max_pending_refusals = 64;

    // `log` receives the rate-limited line about refusals (default: spdlog's warning level).
    explicit ConnectionLimits(std::function<void(const std::string&)> log = {});
    ~ConnectionLimits();
    ConnectionLimits(const ConnectionLimits&) = delete;
    ConnectionLimits& operator=(const ConnectionLimits&) = delete;

    void set_limits(uint32_t per_portal, uint32_t per_initiator);

    // A connection just accepted at `portal` from `initiator` (its IP address, without the port).
    Admission admit(std::string_view portal, std::string_view initiator);

    // Connections refused since start, by reason.
    uint64_t refused(Verdict reason) const;
    // Live connections in the counts.
    uint32_t connections_at(std::string_view portal) const;
    uint32_t connections_from(std::string_view initiator) const;
    uint32_t pending_refusals() const;

  private:
    void give_back(const Slot& slot);

    std::function<void(const std::string&)> log_;
    mutable std::mutex mu_;
    uint32_t per_portal_ = 1024;
    uint32_t per_initiator_ = 128;
    std::map<std::string, uint32_t, std::less<>> portals_;
    std::map<std::string, uint32_t, std::less<>> initiators_;
    uint32_t pending_refusals_ = 0;
    std::atomic<uint64_t> refused_at_portal_{0};
    std::atomic<uint64_t> refused_from_initiator_{0};
    std::unique_ptr<ats::RateLimit> log_limit_;
};

}  // namespace atsarray::iscsi
