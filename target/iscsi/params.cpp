#include "target/iscsi/params.hpp"

#include <algorithm>
#include <array>
#include <string>

#include "target/iscsi/errors.hpp"

namespace atsarray::iscsi {
namespace {

enum class Op {
    header_digest,
    data_digest,
    max_connections,
    initial_r2t,
    immediate_data,
    max_recv_data_segment_length,
    max_burst_length,
    first_burst_length,
    default_time2wait,
    default_time2retain,
    max_outstanding_r2t,
    data_pdu_in_order,
    data_sequence_in_order,
    error_recovery_level,
    if_marker,
    of_marker,
    if_mark_int,
    of_mark_int,
    task_reporting,
    iscsi_protocol_level,
};

struct OpKey {
    std::string_view name;
    Op op;
    // RFC 7143 §13: "Irrelevant when: SessionType=Discovery".
    bool irrelevant_in_discovery;
};

constexpr std::array<OpKey, 20> operational_keys{{
    {"HeaderDigest", Op::header_digest, false},
    {"DataDigest", Op::data_digest, false},
    {"MaxConnections", Op::max_connections, true},
    {"InitialR2T", Op::initial_r2t, true},
    {"ImmediateData", Op::immediate_data, true},
    {"MaxRecvDataSegmentLength", Op::max_recv_data_segment_length, false},
    {"MaxBurstLength", Op::max_burst_length, true},
    {"FirstBurstLength", Op::first_burst_length, true},
    {"DefaultTime2Wait", Op::default_time2wait, false},
    {"DefaultTime2Retain", Op::default_time2retain, false},
    {"MaxOutstandingR2T", Op::max_outstanding_r2t, true},
    {"DataPDUInOrder", Op::data_pdu_in_order, true},
    {"DataSequenceInOrder", Op::data_sequence_in_order, true},
    {"ErrorRecoveryLevel", Op::error_recovery_level, false},
    {"IFMarker", Op::if_marker, false},
    {"OFMarker", Op::of_marker, false},
    {"IFMarkInt", Op::if_mark_int, false},
    {"OFMarkInt", Op::of_mark_int, false},
    {"TaskReporting", Op::task_reporting, true},
    {"iSCSIProtocolLevel", Op::iscsi_protocol_level, false},
}};

const OpKey* find_operational(std::string_view name) noexcept {
    for (const OpKey& k : operational_keys) {
        if (k.name == name) {
            return &k;
        }
    }
    return nullptr;
}

constexpr uint32_t max_time2 = 3600;    // RFC 7143 §13.15, §13.16
constexpr uint32_t max_r2t = 65535;     // RFC 7143 §13.17, §13.2 (MaxConnections)
constexpr uint32_t max_erl = 2;         // RFC 7143 §13.20
constexpr uint32_t protocol_level = 1;  // RFC 7143 §13.24: this document is level 1
constexpr uint32_t max_protocol_level = 31;

// The first value of the initiator's list that `acceptable` takes (RFC 7143 §6.2.1).
template <typename F>
std::optional<std::string_view> first_acceptable(std::string_view list, F&& acceptable) {
    while (true) {
        const std::size_t comma = list.find(',');
        const std::string_view value = list.substr(0, comma);
        if (acceptable(value)) {
            return value;
        }
        if (comma == std::string_view::npos) {
            return std::nullopt;
        }
        list.remove_prefix(comma + 1);
    }
}

bool digest_acceptable(std::string_view value, const DigestChoice& choice) noexcept {
    return (value == "None" && choice.none) || (value == "CRC32C" && choice.crc32c);
}

std::optional<uint32_t> number_in(std::string_view value, uint32_t min, uint32_t max) {
    uint64_t n = 0;
    if (parse_number(value, min, max, n)) {
        return std::nullopt;
    }
    return static_cast<uint32_t>(n);
}

void answer(std::vector<uint8_t>& response, std::string_view key, uint32_t value) {
    append_key(response, key, std::to_string(value));
}

void answer(std::vector<uint8_t>& response, std::string_view key, bool value) {
    append_key(response, key, value ? "Yes" : "No");
}

}  // namespace

KeyClass classify_key(std::string_view key) noexcept {
    if (find_operational(key) != nullptr) {
        return KeyClass::operational;
    }
    if (key == "InitiatorName" || key == "InitiatorAlias" || key == "TargetName" ||
        key == "SessionType") {
        return KeyClass::identity;
    }
    if (key == "AuthMethod" || key == "CHAP_A" || key == "CHAP_I" || key == "CHAP_C" ||
        key == "CHAP_N" || key == "CHAP_R") {
        return KeyClass::security;
    }
    if (key == "TargetAddress" || key == "TargetPortalGroupTag" || key == "TargetAlias") {
        return KeyClass::target_declared;
    }
    if (key == "SendTargets") {
        return KeyClass::send_targets;
    }
    if (key.starts_with("X-") || key.starts_with("X#")) {
        return KeyClass::private_extension;
    }
    return KeyClass::unknown;
}

void negotiate_login_key(const TextKey& key, const TargetLimits& limits, SessionType session_type,
                         SessionParams& params, std::vector<uint8_t>& response) {
    const OpKey* op = find_operational(key.key);
    if (op == nullptr) {
        // RFC 7143 §6.2: keys the responder does not understand (X- private keys included).
        append_key(response, key.key, "NotUnderstood");
        return;
    }
    if (session_type == SessionType::discovery && op->irrelevant_in_discovery) {
        append_key(response, key.key, "Irrelevant");
        return;
    }
    const std::string_view value = key.value;
    const auto reject = [&] { append_key(response, key.key, "Reject"); };
    bool flag = false;
    switch (op->op) {
        case Op::header_digest:
        case Op::data_digest: {
            // RFC 7143 §13.1: list negotiation, the initiator's order is its preference.
            const DigestChoice& choice =
                op->op == Op::header_digest ? limits.header_digest : limits.data_digest;
            const auto chosen = first_acceptable(
                value, [&](std::string_view v) { return digest_acceptable(v, choice); });
            if (!chosen) {
                reject();
                return;
            }
            const bool crc = *chosen == "CRC32C";
            (op->op == Op::header_digest ? params.header_digest : params.data_digest) = crc;
            append_key(response, key.key, *chosen);
            return;
        }
        case Op::max_connections: {
            const auto n = number_in(value, 1, max_r2t);
            if (!n) {
                reject();
                return;
            }
            params.max_connections = std::min(*n, limits.max_connections);
            answer(response, key.key, params.max_connections);
            return;
        }
        case Op::initial_r2t:
            // RFC 7143 §13.10: result function OR.
            if (!parse_boolean(value, flag)) {
                reject();
                return;
            }
            params.initial_r2t = flag || limits.initial_r2t;
            answer(response, key.key, params.initial_r2t);
            return;
        case Op::immediate_data:
            // RFC 7143 §13.11: result function AND.
            if (!parse_boolean(value, flag)) {
                reject();
                return;
            }
            params.immediate_data = flag && limits.immediate_data;
            answer(response, key.key, params.immediate_data);
            return;
        case Op::max_recv_data_segment_length: {
            // RFC 7143 §13.12: declarative; the initiator's value bounds what the target sends.
            const auto n = number_in(value, min_data_segment_length, max_data_segment_length);
            if (!n) {
                reject();
                return;
            }
            params.initiator_max_recv_data_segment_length = *n;
            return;
        }
        case Op::max_burst_length: {
            const auto n = number_in(value, min_data_segment_length, max_data_segment_length);
            if (!n) {
                reject();
                return;
            }
            params.max_burst_length = std::min(*n, limits.max_burst_length);
            answer(response, key.key, params.max_burst_length);
            return;
        }
        case Op::first_burst_length: {
            const auto n = number_in(value, min_data_segment_length, max_data_segment_length);
            if (!n) {
                reject();
                return;
            }
            // RFC 7143 §13.14: FirstBurstLength MUST NOT exceed MaxBurstLength.
            params.first_burst_length = std::min(
                {*n, limits.first_burst_length, limits.max_burst_length, params.max_burst_length});
            answer(response, key.key, params.first_burst_length);
            return;
        }
        case Op::default_time2wait: {
            const auto n = number_in(value, 0, max_time2);
            if (!n) {
                reject();
                return;
            }
            // RFC 7143 §13.15: result function Maximum.
            params.default_time2wait = std::max(*n, limits.default_time2wait);
            answer(response, key.key, params.default_time2wait);
            return;
        }
        case Op::default_time2retain: {
            const auto n = number_in(value, 0, max_time2);
            if (!n) {
                reject();
                return;
            }
            params.default_time2retain = std::min(*n, limits.default_time2retain);
            answer(response, key.key, params.default_time2retain);
            return;
        }
        case Op::max_outstanding_r2t: {
            const auto n = number_in(value, 1, max_r2t);
            if (!n) {
                reject();
                return;
            }
            params.max_outstanding_r2t = std::min(*n, limits.max_outstanding_r2t);
            answer(response, key.key, params.max_outstanding_r2t);
            return;
        }
        case Op::data_pdu_in_order:
        case Op::data_sequence_in_order: {
            // RFC 7143 §13.18, §13.19: result function OR; the target wants Yes, so the result is
            // always Yes.
            if (!parse_boolean(value, flag)) {
                reject();
                return;
            }
            (op->op == Op::data_pdu_in_order ? params.data_pdu_in_order
                                             : params.data_sequence_in_order) = true;
            answer(response, key.key, true);
            return;
        }
        case Op::error_recovery_level: {
            const auto n = number_in(value, 0, max_erl);
            if (!n) {
                reject();
                return;
            }
            params.error_recovery_level = std::min(*n, limits.error_recovery_level);
            answer(response, key.key, params.error_recovery_level);
            return;
        }
        case Op::if_marker:
        case Op::of_marker:
            // RFC 7143 §13.26: obsolete; "No" is allowed and keeps RFC 3720 initiators going
            // (never NotUnderstood).
            append_key(response, key.key, "No");
            return;
        case Op::if_mark_int:
        case Op::of_mark_int:
            // RFC 7143 §13.26: MUST respond Reject.
            reject();
            return;
        case Op::task_reporting: {
            // RFC 7143 §13.23: only the RFC 3720 behaviour is implemented.
            const auto chosen =
                first_acceptable(value, [](std::string_view v) { return v == "RFC3720"; });
            if (!chosen) {
                reject();
                return;
            }
            append_key(response, key.key, *chosen);
            return;
        }
        case Op::iscsi_protocol_level: {
            const auto n = number_in(value, 0, max_protocol_level);
            if (!n) {
                reject();
                return;
            }
            // RFC 7143 §13.24: result function Minimum.
            params.iscsi_protocol_level = std::min(*n, protocol_level);
            answer(response, key.key, params.iscsi_protocol_level);
            return;
        }
    }
}

std::vector<TextKey> target_offers(const TargetLimits& limits, SessionType session_type,
                                   const std::vector<std::string>& already_sent) {
    std::vector<TextKey> offers;
    const auto add = [&](std::string_view key, std::string value, bool session_wide) {
        if (session_wide && session_type == SessionType::discovery) {
            return;
        }
        if (std::find(already_sent.begin(), already_sent.end(), key) != already_sent.end()) {
            return;
        }
        offers.push_back(TextKey{std::string(key), std::move(value)});
    };
    const SessionParams defaults;
    if (!limits.header_digest.none && limits.header_digest.crc32c) {
        add("HeaderDigest", "CRC32C", false);
    }
    if (!limits.data_digest.none && limits.data_digest.crc32c) {
        add("DataDigest", "CRC32C", false);
    }
    if (!limits.immediate_data) {
        add("ImmediateData", "No", true);
    }
    if (limits.max_burst_length < defaults.max_burst_length) {
        add("MaxBurstLength", std::to_string(limits.max_burst_length), true);
    }
    const uint32_t first = std::min(limits.first_burst_length, limits.max_burst_length);
    if (first < defaults.first_burst_length) {
        add("FirstBurstLength", std::to_string(first), true);
    }
    if (limits.default_time2wait > defaults.default_time2wait) {
        add("DefaultTime2Wait", std::to_string(limits.default_time2wait), false);
    }
    if (limits.default_time2retain < defaults.default_time2retain) {
        add("DefaultTime2Retain", std::to_string(limits.default_time2retain), false);
    }
    return offers;
}

std::error_code accept_offer_answer(const TextKey& answer, const TargetLimits& limits,
                                    SessionParams& params) {
    const std::string_view key = answer.key;
    const std::string_view value = answer.value;
    if (key == "HeaderDigest" || key == "DataDigest") {
        if (value != "CRC32C") {
            return Errc::negotiation_bad_answer;
        }
        (key == "HeaderDigest" ? params.header_digest : params.data_digest) = true;
        return {};
    }
    if (key == "ImmediateData") {
        if (value != "No") {
            return Errc::negotiation_bad_answer;
        }
        params.immediate_data = false;
        return {};
    }
    if (key == "MaxBurstLength" || key == "FirstBurstLength") {
        const bool max_burst = key == "MaxBurstLength";
        const uint32_t offered = max_burst
                                     ? limits.max_burst_length
                                     : std::min(limits.first_burst_length, limits.max_burst_length);
        const auto n = number_in(value, min_data_segment_length, offered);
        if (!n) {
            return Errc::negotiation_bad_answer;
        }
        (max_burst ? params.max_burst_length : params.first_burst_length) = *n;
        return {};
    }
    if (key == "DefaultTime2Wait") {
        const auto n = number_in(value, limits.default_time2wait, max_time2);
        if (!n) {
            return Errc::negotiation_bad_answer;
        }
        params.default_time2wait = *n;
        return {};
    }
    if (key == "DefaultTime2Retain") {
        const auto n = number_in(value, 0, limits.default_time2retain);
        if (!n) {
            return Errc::negotiation_bad_answer;
        }
        params.default_time2retain = *n;
        return {};
    }
    return Errc::negotiation_bad_answer;
}

void finalize_params(SessionParams& params) noexcept {
    params.first_burst_length = std::min(params.first_burst_length, params.max_burst_length);
}

std::error_code negotiate_ffp_keys(const std::vector<TextKey>& keys, SessionParams& params,
                                   std::vector<uint8_t>& response) {
    for (const TextKey& key : keys) {
        switch (classify_key(key.key)) {
            case KeyClass::operational:
                if (key.key == "MaxRecvDataSegmentLength") {
                    // RFC 7143 §13.12: Use ALL, declarative; no answer.
                    const auto n =
                        number_in(key.value, min_data_segment_length, max_data_segment_length);
                    if (!n) {
                        append_key(response, key.key, "Reject");
                        break;
                    }
                    params.initiator_max_recv_data_segment_length = *n;
                } else {
                    // Leading-only and initialize-only keys cannot change in full feature
                    // phase (RFC 7143 §13 "Use: LO/IO").
                    append_key(response, key.key, "Reject");
                }
                break;
            case KeyClass::send_targets:
                break;
            case KeyClass::identity:
                if (key.key != "InitiatorAlias") {
                    append_key(response, key.key, "Reject");
                }
                break;
            case KeyClass::security:
            case KeyClass::target_declared:
                append_key(response, key.key, "Reject");
                break;
            case KeyClass::private_extension:
            case KeyClass::unknown:
                append_key(response, key.key, "NotUnderstood");
                break;
        }
    }
    return {};
}

}  // namespace atsarray::iscsi
