#include "target/iscsi/errors.hpp"

#include <string>

namespace atsarray::iscsi {
namespace {

class IscsiCategory final : public std::error_category {
  public:
    const char* name() const noexcept override { return "iscsi"; }

    std::string message(int value) const override {
        switch (static_cast<Errc>(value)) {
            case Errc::text_key_too_long:
                return "text key name longer than 63 bytes";
            case Errc::text_value_too_long:
                return "text value longer than allowed";
            case Errc::text_not_nul_terminated:
                return "text key=value pair not NUL terminated";
            case Errc::text_missing_equals:
                return "text key=value pair without '='";
            case Errc::text_duplicate_key:
                return "text key sent more than once";
            case Errc::text_too_large:
                return "text negotiation data exceeds the target's bound";
            case Errc::text_bad_character:
                return "text key name contains a character outside its set";
            case Errc::text_empty_key:
                return "text key name empty";
            case Errc::text_bad_number:
                return "malformed numerical value";
            case Errc::text_number_out_of_range:
                return "numerical value out of range";
            case Errc::text_bad_binary:
                return "malformed binary value";
            case Errc::chap_unsupported_algorithm:
                return "CHAP_A offers no supported algorithm (MD5 = 5)";
            case Errc::chap_missing_key:
                return "CHAP key missing";
            case Errc::chap_unexpected_key:
                return "CHAP key not expected at this step";
            case Errc::chap_unknown_user:
                return "CHAP_N does not name the configured user";
            case Errc::chap_bad_response_length:
                return "CHAP_R is not exactly the digest length";
            case Errc::chap_response_mismatch:
                return "CHAP_R does not match the expected response";
            case Errc::chap_bad_identifier:
                return "CHAP_I is not a number 0..255";
            case Errc::chap_bad_challenge:
                return "CHAP_C malformed or of bad length";
            case Errc::chap_reflected_challenge:
                return "CHAP_C equals the target's own challenge (reflection)";
            case Errc::chap_mutual_not_configured:
                return "initiator asked for mutual CHAP but the target has no mutual secret";
            case Errc::chap_mutual_required:
                return "the target requires mutual CHAP but the initiator sent no CHAP_I/CHAP_C";
            case Errc::chap_same_secret:
                return "initiator and target CHAP secrets are the same";
            case Errc::chap_secret_too_short:
                return "CHAP secret shorter than 12 bytes";
            case Errc::chap_out_of_order:
                return "CHAP exchange step out of order";
            case Errc::chap_internal_error:
                return "CHAP digest or random source failed";
            case Errc::negotiation_missing_initiator_name:
                return "InitiatorName missing from the first login request";
            case Errc::negotiation_missing_target_name:
                return "TargetName missing from a normal session's login";
            case Errc::negotiation_target_not_found:
                return "TargetName names no target here";
            case Errc::negotiation_initiator_not_allowed:
                return "initiator not allowed to log in to this target";
            case Errc::negotiation_unsupported_version:
                return "login requires an unsupported iSCSI version";
            case Errc::negotiation_bad_stage:
                return "invalid login stage or stage transition";
            case Errc::negotiation_bad_session_type:
                return "SessionType is neither Normal nor Discovery";
            case Errc::negotiation_bad_iscsi_name:
                return "malformed iSCSI name";
            case Errc::negotiation_redeclared_key:
                return "key renegotiated or redeclared with a different value";
            case Errc::negotiation_key_not_allowed_in_login:
                return "key not allowed in a login request";
            case Errc::negotiation_security_key_outside_security_stage:
                return "security key outside the security negotiation stage";
            case Errc::negotiation_auth_method_rejected:
                return "no acceptable AuthMethod offered";
            case Errc::negotiation_authentication_required:
                return "authentication required before leaving the security stage";
            case Errc::negotiation_bad_answer:
                return "unacceptable answer to a target offer";
            case Errc::negotiation_too_many_steps:
                return "login negotiation took too many requests";
            case Errc::negotiation_already_finished:
                return "login request after the login finished";
            case Errc::pdu_bad_opcode:
                return "PDU opcode not valid here";
            case Errc::pdu_bad_field:
                return "PDU header field invalid";
            case Errc::pdu_data_too_long:
                return "PDU data segment longer than MaxRecvDataSegmentLength";
            case Errc::pdu_ahs_too_long:
                return "PDU additional header segment too long";
            case Errc::pdu_header_digest:
                return "header digest mismatch";
            case Errc::pdu_data_digest:
                return "data digest mismatch";
            case Errc::pdu_unexpected_during_login:
                return "non-login PDU during the login phase";
            case Errc::cmdsn_out_of_window:
                return "CmdSN outside [ExpCmdSN, MaxCmdSN]";
            case Errc::unknown_ttt:
                return "unknown Target Transfer Tag";
            case Errc::unknown_itt:
                return "unknown Initiator Task Tag";
            case Errc::data_out_overrun:
                return "Data-Out beyond the expected transfer length";
            case Errc::protocol_error:
                return "iSCSI protocol error";
        }
        return "unknown iSCSI error";
    }
};

}  // namespace

const std::error_category& iscsi_category() noexcept {
    static const IscsiCategory category;
    return category;
}

std::error_code make_error_code(Errc e) noexcept {
    return {static_cast<int>(e), iscsi_category()};
}

}  // namespace atsarray::iscsi
