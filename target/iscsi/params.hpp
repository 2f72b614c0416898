#pragma once
// Operational text negotiation for a responder (RFC 7143 §6.2, §13): the target answers the keys
// the initiator offers and records the results.

#include <cstdint>
#include <optional>
#include <string_view>
#include <system_error>
#include <vector>

#include "target/iscsi/text.hpp"

namespace atsarray::iscsi {

enum class SessionType { normal, discovery };

// The session's negotiated values; the initializers are the RFC 7143 §13 defaults that hold for a
// key nobody negotiated.
struct SessionParams {
    bool header_digest = false;  // CRC32C (true) or None
    bool data_digest = false;
    uint32_t max_connections = 1;
    bool initial_r2t = true;
    bool immediate_data = true;
    uint32_t max_burst_length = 262144;
    uint32_t first_burst_length = 65536;
    uint32_t default_time2wait = 2;
    uint32_t default_time2retain = 20;
    uint32_t max_outstanding_r2t = 1;
    bool data_pdu_in_order = true;
    bool data_sequence_in_order = true;
    uint32_t error_recovery_level = 0;
    // What the initiator declared it can receive: the bound for every PDU the target sends,
    // including text responses (RFC 7143 §13.12).
    uint32_t initiator_max_recv_data_segment_length = 8192;
    // What the target declared; stays 8192 until the target declares it (RFC 7143 §13.12).
    uint32_t target_max_recv_data_segment_length = 8192;
    // iSCSIProtocolLevel (RFC 7143 §13.24); 0 when not negotiated.
    uint32_t iscsi_protocol_level = 0;
};

struct DigestChoice {
    bool none = true;
    bool crc32c = true;
};

// What the target offers and accepts.
struct TargetLimits {
    uint32_t max_recv_data_segment_length = 262144;
    uint32_t max_burst_length = 1048576;
    uint32_t first_burst_length = 262144;
    uint32_t max_outstanding_r2t = 1;
    bool initial_r2t = true;
    bool immediate_data = true;
    uint32_t max_connections = 1;
    uint32_t error_recovery_level = 0;
    uint32_t default_time2wait = 2;
    uint32_t default_time2retain = 20;
    DigestChoice header_digest;
    DigestChoice data_digest;
};

// RFC 7143 §13.12: MaxRecvDataSegmentLength is 512..2^24-1; so are the burst lengths.
inline constexpr uint32_t min_data_segment_length = 512;
inline constexpr uint32_t max_data_segment_length = (1u << 24) - 1;

// Which part of the login handles a key.
enum class KeyClass {
    operational,        // RFC 7143 §13 keys negotiated by negotiate_login_key()
    identity,           // InitiatorName, InitiatorAlias, TargetName, SessionType
    security,           // AuthMethod, CHAP_A/I/C/N/R (RFC 7143 §12)
    target_declared,    // TargetAddress, TargetPortalGroupTag, TargetAlias: only a target sends
    send_targets,       // SendTargets: Text requests in full feature phase only
    private_extension,  // X-... and X#... (RFC 7143 §13.5)
    unknown,
};

KeyClass classify_key(std::string_view key) noexcept;

// Negotiates one operational key offered by the initiator during login and appends the answer
// to `response`: the result for negotiated keys, nothing for declarative ones, "Reject" for a
// malformed or out-of-range value, "Irrelevant" for session-wide keys in a discovery session,
// "NotUnderstood" for keys this target does not know. Keys of other classes are answered
// NotUnderstood too; the login handles them before calling this.
void negotiate_login_key(const TextKey& key, const TargetLimits& limits, SessionType session_type,
                         SessionParams& params, std::vector<uint8_t>& response);

// Keys the target offers itself because its wish differs from the RFC default that would
// otherwise apply (e.g. ImmediateData=No, a MaxBurstLength below 262144). `already_sent` lists
// keys the initiator has offered (and so need no offer).
std::vector<TextKey> target_offers(const TargetLimits& limits, SessionType session_type,
                                   const std::vector<std::string>& already_sent);

// The initiator's answer to one of target_offers(). negotiation_bad_answer when it is malformed,
// Reject/NotUnderstood, or outside what the target offered.
std::error_code accept_offer_answer(const TextKey& answer, const TargetLimits& limits,
                                    SessionParams& params);

// Makes the results consistent once negotiation ends: FirstBurstLength <= MaxBurstLength
// (RFC 7143 §13.14) even when only one of them was negotiated.
void finalize_params(SessionParams& params) noexcept;

// Text Request negotiation in full feature phase (RFC 7143 §11.10): only
// MaxRecvDataSegmentLength may be redeclared; leading-only and initialize-only keys are answered
// Reject, unknown keys NotUnderstood. SendTargets is skipped: the caller answers it.
std::error_code negotiate_ffp_keys(const std::vector<TextKey>& keys, SessionParams& params,
                                   std::vector<uint8_t>& response);

}  // namespace atsarray::iscsi
