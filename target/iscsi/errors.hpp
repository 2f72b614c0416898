#pragma once
// The iSCSI layer's protocol errors. Each ends in a Reject PDU, a Login Response failure status or
// a closed connection (STYLE.md "Errors"); none is an exception.

#include <system_error>

namespace atsarray::iscsi {

enum class Errc {
    // Text segments (RFC 7143 §6.1).
    text_key_too_long = 1,
    text_value_too_long,
    text_not_nul_terminated,
    text_missing_equals,
    text_duplicate_key,
    text_too_large,
    text_bad_character,
    text_empty_key,
    text_bad_number,
    text_number_out_of_range,
    text_bad_binary,

    // CHAP (RFC 1994, RFC 7143 §12.1.3).
    chap_unsupported_algorithm,
    chap_missing_key,
    chap_unexpected_key,
    chap_unknown_user,
    chap_bad_response_length,
    chap_response_mismatch,
    chap_bad_identifier,
    chap_bad_challenge,
    chap_reflected_challenge,
    chap_mutual_not_configured,
    chap_mutual_required,
    chap_same_secret,
    chap_secret_too_short,
    chap_out_of_order,
    chap_internal_error,

    // Login and text negotiation (RFC 7143 §6, §11.12, §13).
    negotiation_missing_initiator_name,
    negotiation_missing_target_name,
    negotiation_target_not_found,
    negotiation_initiator_not_allowed,
    negotiation_unsupported_version,
    negotiation_bad_stage,
    negotiation_bad_session_type,
    negotiation_bad_iscsi_name,
    negotiation_redeclared_key,
    negotiation_key_not_allowed_in_login,
    negotiation_security_key_outside_security_stage,
    negotiation_auth_method_rejected,
    negotiation_authentication_required,
    negotiation_bad_answer,
    negotiation_too_many_steps,
    negotiation_already_finished,

    // PDU level (owned by the connection layer).
    pdu_bad_opcode,
    pdu_bad_field,
    pdu_data_too_long,
    pdu_ahs_too_long,
    pdu_header_digest,
    pdu_data_digest,
    pdu_unexpected_during_login,
    cmdsn_out_of_window,
    unknown_ttt,
    unknown_itt,
    data_out_overrun,
    protocol_error,
};

const std::error_category& iscsi_category() noexcept;

std::error_code make_error_code(Errc e) noexcept;

}  // namespace atsarray::iscsi

template <>
struct std::is_error_code_enum<atsarray::iscsi::Errc> : std::true_type {};
