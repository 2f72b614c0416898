#include "target/iscsi/login_negotiation.hpp"

#include <algorithm>
#include <string>

#include "target/iscsi/errors.hpp"

namespace atsarray::iscsi {
namespace {

bool list_contains(std::string_view list, std::string_view wanted) {
    while (true) {
        const std::size_t comma = list.find(',');
        if (list.substr(0, comma) == wanted) {
            return true;
        }
        if (comma == std::string_view::npos) {
            return false;
        }
        list.remove_prefix(comma + 1);
    }
}

// Well-formed UTF-8 (RFC 3629 §3: no overlong forms, no surrogates, nothing past U+10FFFF).
bool valid_utf8(std::string_view s) {
    size_t i = 0;
    while (i < s.size()) {
        const auto c = static_cast<uint8_t>(s[i]);
        size_t more = 0;
        uint32_t cp = 0;
        if (c < 0x80) {
            ++i;
            continue;
        }
        if ((c & 0xe0) == 0xc0) {
            more = 1;
            cp = c & 0x1f;
        } else if ((c & 0xf0) == 0xe0) {
            more = 2;
            cp = c & 0x0f;
        } else if ((c & 0xf8) == 0xf0) {
            more = 3;
            cp = c & 0x07;
        } else {
            return false;
        }
        if (i + more >= s.size()) {
            return false;  // truncated sequence
        }
        for (size_t k = 1; k <= more; ++k) {
            const auto b = static_cast<uint8_t>(s[i + k]);
            if ((b & 0xc0) != 0x80) {
                return false;
            }
            cp = (cp << 6) | (b & 0x3f);
        }
        static constexpr uint32_t smallest[] = {0, 0x80, 0x800, 0x10000};
        if (cp < smallest[more] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
            return false;
        }
        i += more + 1;
    }
    return true;
}

bool valid_iscsi_name(std::string_view name) {
    // RFC 7143 §4.2.7.1: at most 223 bytes of UTF-8 (§4.2.7: the stringprep profile of RFC 3722
    // leaves no control character or space). The "iqn."/"eui."/"naa." formats are not enforced:
    // initiators in the field send other names and the ACL compares whole names anyway. A name
    // that is not text would reach the logs, the console's JSON and the event stream.
    if (name.empty() || name.size() > max_iscsi_name_length || !valid_utf8(name)) {
        return false;
    }
    return std::none_of(name.begin(), name.end(), [](char c) {
        const auto b = static_cast<uint8_t>(c);
        return b <= 0x20 || b == 0x7f;
    });
}

}  // namespace

LoginStatus login_status_for(std::error_code ec) noexcept {
    if (!ec) {
        return login_status::success;
    }
    if (ec.category() != iscsi_category()) {
        return login_status::target_error;
    }
    switch (static_cast<Errc>(ec.value())) {
        case Errc::negotiation_missing_initiator_name:
        case Errc::negotiation_missing_target_name:
            return login_status::missing_parameter;
        case Errc::negotiation_target_not_found:
            return login_status::not_found;
        case Errc::negotiation_bad_session_type:
            // RFC 7143 §11.13.5: 0209 names a requested session type that is not supported
            // (§13.21 knows Discovery and Normal only).
            return login_status::session_type_not_supported;
        case Errc::negotiation_initiator_not_allowed:
            return login_status::authorization_failure;
        case Errc::negotiation_unsupported_version:
            return login_status::unsupported_version;
        case Errc::negotiation_key_not_allowed_in_login:
        case Errc::pdu_unexpected_during_login:
            return login_status::invalid_during_login;
        case Errc::chap_internal_error:
            return login_status::target_error;
        case Errc::chap_unsupported_algorithm:
        case Errc::chap_missing_key:
        case Errc::chap_unexpected_key:
        case Errc::chap_unknown_user:
        case Errc::chap_bad_response_length:
        case Errc::chap_response_mismatch:
        case Errc::chap_bad_identifier:
        case Errc::chap_bad_challenge:
        case Errc::chap_reflected_challenge:
        case Errc::chap_mutual_not_configured:
        case Errc::chap_mutual_required:
        case Errc::chap_same_secret:
        case Errc::chap_secret_too_short:
        case Errc::chap_out_of_order:
        case Errc::negotiation_auth_method_rejected:
        case Errc::negotiation_authentication_required:
            return login_status::authentication_failure;
        default:
            return login_status::initiator_error;
    }
}

LoginStep login_failure(std::error_code ec) {
    LoginStep step;
    const LoginStatus status = login_status_for(ec);
    step.status_class = status.status_class;
    step.status_detail = status.status_detail;
    step.error = ec;
    return step;
}

LoginNegotiation::LoginNegotiation(const TargetDirectory& directory, const TargetLimits& limits,
                                   std::optional<ChapSecret> discovery_chap,
                                   std::optional<ChapSecret> discovery_mutual_chap)
    : directory_(directory),
      limits_(limits),
      discovery_chap_(std::move(discovery_chap)),
      discovery_mutual_chap_(std::move(discovery_mutual_chap)) {}

LoginStep LoginNegotiation::fail(LoginStep& step, std::error_code ec) {
    failed_ = true;
    const LoginStatus status = login_status_for(ec);
    step.status_class = status.status_class;
    step.status_detail = status.status_detail;
    step.error = ec;
    step.transit = false;
    step.nsg = 0;
    step.complete = false;
    // A failed response carries no negotiation, only the Reject that explains it.
    step.text.clear();
    if (ec == Errc::chap_unsupported_algorithm) {
        append_key(step.text, "CHAP_A", "Reject");
    } else if (ec == Errc::negotiation_auth_method_rejected) {
        append_key(step.text, "AuthMethod", "Reject");
    }
    return std::move(step);
}

std::error_code LoginNegotiation::handle_identity(const TextKey& key, bool first) {
    // Declarations may be repeated in later requests (libiscsi resends them in the operational
    // stage) but not changed (RFC 7143 §6.3).
    if (key.key == "InitiatorName") {
        if (!valid_iscsi_name(key.value)) {
            return Errc::negotiation_bad_iscsi_name;
        }
        if (first) {
            initiator_name_ = key.value;
        } else if (key.value != initiator_name_) {
            return Errc::negotiation_redeclared_key;
        }
    } else if (key.key == "TargetName") {
        if (!valid_iscsi_name(key.value)) {
            return Errc::negotiation_bad_iscsi_name;
        }
        if (first) {
            target_name_ = key.value;
        } else if (!target_name_.empty() && key.value != target_name_) {
            return Errc::negotiation_redeclared_key;
        }
    } else if (key.key == "SessionType") {
        // RFC 7143 §13.21.
        if (key.value != "Normal" && key.value != "Discovery") {
            return Errc::negotiation_bad_session_type;
        }
        if (first) {
            session_type_value_ = key.value;
        } else if (key.value != session_type_value_) {
            return Errc::negotiation_redeclared_key;
        }
    } else if (key.key == "InitiatorAlias") {
        initiator_alias_ = key.value;
    }
    return {};
}

std::error_code LoginNegotiation::resolve_session(bool first) {
    if (!first) {
        return {};
    }
    // RFC 7143 §13.5: the first Login Request carries InitiatorName.
    if (initiator_name_.empty()) {
        return Errc::negotiation_missing_initiator_name;
    }
    session_type_ =
        session_type_value_ == "Discovery" ? SessionType::discovery : SessionType::normal;
    if (session_type_value_.empty()) {
        session_type_value_ = "Normal";  // RFC 7143 §13.21: the default
    }
    const ChapSecret* chap = nullptr;
    if (session_type_ == SessionType::normal) {
        // RFC 7143 §13.4: TargetName is required in the first request of a normal session.
        if (target_name_.empty()) {
            return Errc::negotiation_missing_target_name;
        }
        target_ = directory_.find(target_name_);
        if (target_ == nullptr) {
            return Errc::negotiation_target_not_found;
        }
        const auto& allowed = target_->allowed_initiators;
        if (!allowed.empty() &&
            std::find(allowed.begin(), allowed.end(), initiator_name_) == allowed.end()) {
            return Errc::negotiation_initiator_not_allowed;
        }
        if (target_->chap) {
            chap = &*target_->chap;
        }
    } else if (discovery_chap_) {
        chap = &*discovery_chap_;
    }
    auth_required_ = chap != nullptr;
    auth_done_ = !auth_required_;
    return {};
}

std::error_code LoginNegotiation::negotiate_auth_method(std::string_view offered,
                                                        std::vector<uint8_t>& response) {
    // The target's policy decides: CHAP when it has a secret, None only when it has none
    // (RFC 7143 §12: the target picks a method from the initiator's list or rejects).
    if (auth_method_ == AuthMethod::unset) {
        if (auth_required_ && list_contains(offered, "CHAP")) {
            auth_method_ = AuthMethod::chap;
            const bool normal = session_type_ == SessionType::normal;
            ChapSecret secret = normal ? *target_->chap : *discovery_chap_;
            std::optional<ChapSecret> mutual =
                normal ? target_->mutual_chap : discovery_mutual_chap_;
            const bool mutual_required = normal && target_->require_mutual;
            chap_.emplace(std::move(secret), std::move(mutual), mutual_required);
        } else if (!auth_required_ && list_contains(offered, "None")) {
            auth_method_ = AuthMethod::none;
        } else {
            return Errc::negotiation_auth_method_rejected;
        }
    }
    append_key(response, "AuthMethod", auth_method_ == AuthMethod::chap ? "CHAP" : "None");
    return {};
}

std::error_code LoginNegotiation::check_redeclaration(const TextKey& key) {
    // RFC 7143 §6.3: a key is negotiated once per login. A later request repeating a key with
    // the same value is answered again (initiators resend their keys after a T=0 response);
    // a different value is an attempt to renegotiate.
    const auto [it, inserted] = received_.try_emplace(key.key, key.value);
    if (!inserted && it->second != key.value) {
        return Errc::negotiation_redeclared_key;
    }
    return {};
}

bool LoginNegotiation::offer_pending(std::string_view key) const {
    return std::find(unanswered_.begin(), unanswered_.end(), key) != unanswered_.end();
}

LoginStep LoginNegotiation::step(const LoginRequestView& request) {
    LoginStep step;
    step.csg = request.csg;
    if (complete_ || failed_) {
        return fail(step, Errc::negotiation_already_finished);
    }
    if (++steps_ > max_login_steps) {
        return fail(step, Errc::negotiation_too_many_steps);
    }
    // RFC 7143 §11.12.4: this target speaks version 0x00 only.
    if (request.version_min > 0) {
        return fail(step, Errc::negotiation_unsupported_version);
    }
    // RFC 7143 §11.12.3: stages 0, 1 and 3; 2 is reserved. A transit goes forward; CSG stays
    // where the target last left it.
    if (request.csg != stage_security && request.csg != stage_operational) {
        return fail(step, Errc::negotiation_bad_stage);
    }
    if (request.transit &&
        ((request.nsg != stage_operational && request.nsg != stage_full_feature) ||
         request.nsg <= request.csg)) {
        return fail(step, Errc::negotiation_bad_stage);
    }
    const bool first = !started_;
    // RFC 7143 §6.3: the operational stage follows a completed security stage.
    if (!first && request.csg == stage_operational && !auth_done_) {
        return fail(step, Errc::negotiation_authentication_required);
    }
    if (!first && request.csg != stage_) {
        return fail(step, Errc::negotiation_bad_stage);
    }

    for (const TextKey& key : request.keys) {
        if (classify_key(key.key) == KeyClass::identity) {
            if (auto ec = handle_identity(key, first)) {
                return fail(step, ec);
            }
        }
    }
    if (auto ec = resolve_session(first)) {
        return fail(step, ec);
    }
    started_ = true;
    stage_ = request.csg;

    if (request.csg == stage_operational && !auth_done_) {
        return fail(step, Errc::negotiation_authentication_required);
    }

    std::vector<uint8_t>& response = step.text;
    if (first && session_type_ == SessionType::normal) {
        // RFC 7143 §13.9: the target sends TargetPortalGroupTag in its first Login Response of
        // a normal session; TargetAlias (§13.7) when it has one.
        append_key(response, "TargetPortalGroupTag",
                   std::to_string(portal_group_.value_or(target_->portal_group_tag)));
        if (!target_->alias.empty()) {
            append_key(response, "TargetAlias", target_->alias);
        }
    }

    const TextKey* auth_method = nullptr;
    const TextKey* chap_a = nullptr;
    ChapReply reply;
    bool chap_reply_seen = false;
    std::vector<const TextKey*> deferred;  // FirstBurstLength after MaxBurstLength
    const auto negotiate = [&](const TextKey& key) -> std::error_code {
        if (offer_pending(key.key)) {
            unanswered_.erase(std::find(unanswered_.begin(), unanswered_.end(), key.key));
            return accept_offer_answer(key, limits_, params_);
        }
        negotiate_login_key(key, limits_, session_type_, params_, response);
        return {};
    };
    for (const TextKey& key : request.keys) {
        const KeyClass cls = classify_key(key.key);
        if (cls == KeyClass::identity) {
            continue;
        }
        if (auto ec = check_redeclaration(key)) {
            return fail(step, ec);
        }
        switch (cls) {
            case KeyClass::identity:
                break;
            case KeyClass::security:
                // RFC 7143 §6.3.1: security keys belong to the security stage.
                if (request.csg != stage_security) {
                    return fail(step, Errc::negotiation_security_key_outside_security_stage);
                }
                if (key.key == "AuthMethod") {
                    auth_method = &key;
                } else if (key.key == "CHAP_A") {
                    chap_a = &key;
                } else {
                    chap_reply_seen = true;
                    std::optional<std::string_view>& field = key.key == "CHAP_N"   ? reply.name
                                                             : key.key == "CHAP_R" ? reply.response
                                                             : key.key == "CHAP_I"
                                                                 ? reply.identifier
                                                                 : reply.challenge;
                    field = key.value;
                }
                break;
            case KeyClass::target_declared:
            case KeyClass::send_targets:
                // Keys only a target sends, and SendTargets (a Text request key, RFC 7143
                // §13.3), have no place in a Login Request.
                return fail(step, Errc::negotiation_key_not_allowed_in_login);
            case KeyClass::operational:
                if (key.key == "FirstBurstLength") {
                    deferred.push_back(&key);
                    break;
                }
                [[fallthrough]];
            case KeyClass::private_extension:
            case KeyClass::unknown:
                if (auto ec = negotiate(key)) {
                    return fail(step, ec);
                }
                break;
        }
    }
    for (const TextKey* key : deferred) {
        if (auto ec = negotiate(*key)) {
            return fail(step, ec);
        }
    }

    // Security stage: AuthMethod, then CHAP (RFC 7143 §12.1.3), possibly over several requests.
    if (auth_method != nullptr) {
        if (auto ec = negotiate_auth_method(auth_method->value, response)) {
            return fail(step, ec);
        }
    }
    if (chap_a != nullptr || chap_reply_seen) {
        if (auth_method_ != AuthMethod::chap) {
            return fail(step, Errc::chap_out_of_order);
        }
        if (chap_a != nullptr && chap_reply_seen) {
            return fail(step, Errc::chap_unexpected_key);
        }
        const std::error_code ec = chap_a != nullptr ? chap_->challenge(chap_a->value, response)
                                                     : chap_->verify(reply, response);
        if (ec) {
            return fail(step, ec);
        }
        auth_done_ = chap_->succeeded();
    }

    // The target declares its MaxRecvDataSegmentLength once, in the operational stage
    // (RFC 7143 §13.12); until then the initiator assumes 8192.
    if (request.csg == stage_operational && !target_mrdsl_declared_) {
        append_key(response, "MaxRecvDataSegmentLength",
                   std::to_string(limits_.max_recv_data_segment_length));
        params_.target_max_recv_data_segment_length = limits_.max_recv_data_segment_length;
        target_mrdsl_declared_ = true;
    }
    // Offers for keys whose RFC default the target cannot live with; they need an answer, so
    // the target holds the transit until the initiator gives one (RFC 7143 §6.2).
    if (request.csg == stage_operational ||
        (request.transit && request.nsg == stage_full_feature)) {
        std::vector<std::string> known;
        for (const auto& entry : received_) {
            known.push_back(entry.first);
        }
        known.insert(known.end(), offered_.begin(), offered_.end());
        for (TextKey& offer : target_offers(limits_, session_type_, known)) {
            append_key(response, offer.key, offer.value);
            offered_.push_back(offer.key);
            unanswered_.push_back(offer.key);
        }
    }

    if (request.transit) {
        if (request.csg == stage_security && !auth_done_) {
            // A CHAP exchange in progress: stay in the security stage (RFC 7143 §12.1.3
            // example). A CHAP target asked to move on without any authentication: refuse.
            if (auth_method_ != AuthMethod::chap) {
                return fail(step, Errc::negotiation_authentication_required);
            }
        } else if (unanswered_.empty()) {
            step.transit = true;
            step.nsg = request.nsg;
            stage_ = request.nsg;
            if (request.nsg == stage_full_feature) {
                finalize_params(params_);
                complete_ = true;
                step.complete = true;
            }
        }
    }
    return step;
}

}  // namespace atsarray::iscsi
