#pragma once
// The login phase on the wire (RFC 7143 §6, §11.12, §11.13): Login PDU fields, continuation,
// ISID/TSIH/CID consistency and the session table checks. What the keys mean is
// LoginNegotiation's business; what a completed login starts is the connection's.

#include <cstdint>
#include <memory>
#include <string>

#include "target/iscsi/command_window.hpp"
#include "target/iscsi/login_negotiation.hpp"
#include "target/iscsi/pdu_reader.hpp"
#include "target/iscsi/portal_info.hpp"
#include "target/iscsi/send_queue.hpp"
#include "target/iscsi/text.hpp"

namespace atsarray::iscsi {

struct ServerState;

class LoginPhase {
  public:
    enum class Outcome : uint8_t {
        in_progress,  // a response is queued, more requests follow
        refused,      // a failure response is queued; close the connection once it is written
        complete,     // the final response is queued; full feature phase starts
    };

    // `portal`: the portal the login came in on (its portal group tag answers
    // TargetPortalGroupTag).
    LoginPhase(ServerState& state, SendQueue& tx, CommandWindow& window, const std::string& peer,
               PortalInfo portal = {});

    // One PDU received before the login completed. Opens the command window with the first one.
    Outcome on_pdu(const PduView& pdu);
    // Answers a PDU with a failed Login Response whatever it asks (a connection refused before
    // its login, over the daemon's connection limits).
    Outcome refuse_connection(const PduView& pdu, LoginStatus status) {
        return refuse(pdu.bhs, status);
    }

    // The session's identity: valid from the first request on; the TSIH a new session gets is
    // allocated when the login completes.
    uint64_t isid() const { return isid_; }
    uint16_t tsih() const { return tsih_; }
    uint16_t cid() const { return cid_; }
    // The negotiation's results, once on_pdu() returned complete.
    const LoginNegotiation& negotiation() const { return *negotiation_; }

  private:
    // Queues a failure response (RFC 7143 §11.13.5 status) to `request`.
    Outcome refuse(const Bhs& request, LoginStatus status);

    ServerState& state_;
    SendQueue& tx_;
    CommandWindow& window_;
    const std::string& peer_;
    PortalInfo portal_;
    std::unique_ptr<LoginNegotiation> negotiation_;
    TextAccumulator text_;
    bool started_ = false;
    uint64_t isid_ = 0;
    uint16_t tsih_ = 0;
    uint16_t cid_ = 0;
    uint32_t itt_ = 0;
    uint8_t csg_ = 0;
    uint8_t nsg_ = 0;
};

}  // namespace atsarray::iscsi
