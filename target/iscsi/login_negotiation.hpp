#pragma once
// The login phase's text negotiation as a pure state machine (RFC 7143 §6.3, §11.12, §11.13):
// one call per complete Login Request (continuations already joined), one LoginStep back. The PDU
// fields (ISID, TSIH, CID, sequence numbers) and session reinstatement belong to the caller.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <unordered_map>
#include <vector>

#include "target/iscsi/chap.hpp"
#include "target/iscsi/params.hpp"
#include "target/iscsi/text.hpp"

namespace atsarray::iscsi {

// RFC 7143 §11.12.3: CSG and NSG values.
inline constexpr uint8_t stage_security = 0;
inline constexpr uint8_t stage_operational = 1;
inline constexpr uint8_t stage_full_feature = 3;

// RFC 7143 §4.2.7.1: an iSCSI name is at most 223 bytes.
inline constexpr std::size_t max_iscsi_name_length = 223;
// A login that needs more requests than this is not going anywhere.
inline constexpr unsigned max_login_steps = 32;

struct TargetInfo {
    std::string name;
    std::string alias;
    uint16_t portal_group_tag = 1;
    std::vector<std::string> allowed_initiators;  // empty: any initiator
    std::optional<ChapSecret> chap;               // the initiator authenticates to the target
    std::optional<ChapSecret> mutual_chap;        // the target authenticates to the initiator
    bool require_mutual = false;                  // an initiator that skips mutual CHAP is refused
};

class TargetDirectory {
  public:
    virtual ~TargetDirectory() = default;
    // The target's ACL and credentials as of now; a login keeps what it got (shared).
    virtual std::shared_ptr<const TargetInfo> find(std::string_view name) const = 0;
};

// Login Response Status-Class and Status-Detail (RFC 7143 §11.13.5).
struct LoginStatus {
    uint8_t status_class = 0;
    uint8_t status_detail = 0;
};

namespace login_status {
inline constexpr LoginStatus success{0x00, 0x00};
inline constexpr LoginStatus initiator_error{0x02, 0x00};
inline constexpr LoginStatus authentication_failure{0x02, 0x01};
inline constexpr LoginStatus authorization_failure{0x02, 0x02};
inline constexpr LoginStatus not_found{0x02, 0x03};
inline constexpr LoginStatus unsupported_version{0x02, 0x05};
inline constexpr LoginStatus too_many_connections{0x02, 0x06};
inline constexpr LoginStatus missing_parameter{0x02, 0x07};
inline constexpr LoginStatus session_type_not_supported{0x02, 0x09};
inline constexpr LoginStatus session_does_not_exist{0x02, 0x0a};
inline constexpr LoginStatus invalid_during_login{0x02, 0x0b};
inline constexpr LoginStatus target_error{0x03, 0x00};
inline constexpr LoginStatus out_of_resources{0x03, 0x02};
}  // namespace login_status

// The one table from protocol errors to login status; anything unlisted is an initiator error.
LoginStatus login_status_for(std::error_code ec) noexcept;

struct LoginRequestView {
    uint8_t csg = 0;
    uint8_t nsg = 0;
    bool transit = false;
    uint8_t version_max = 0;
    uint8_t version_min = 0;
    std::vector<TextKey> keys;  // one request's keys after continuation joining
};

struct LoginStep {
    uint8_t status_class = 0;
    uint8_t status_detail = 0;
    bool transit = false;
    uint8_t csg = 0;
    uint8_t nsg = 0;
    std::vector<uint8_t> text;  // the response's key=value pairs, to be split by the caller
    bool complete = false;      // NSG=3 granted: the session enters full feature phase
    std::error_code error;      // why the login failed, for the log line

    bool failed() const noexcept { return status_class != 0; }
};

// A failed LoginStep for an error found outside the negotiation (e.g. parse_text failing).
LoginStep login_failure(std::error_code ec);

class LoginNegotiation {
  public:
    LoginNegotiation(const TargetDirectory& directory, const TargetLimits& limits,
                     std::optional<ChapSecret> discovery_chap,
                     std::optional<ChapSecret> discovery_mutual_chap = {});

    // The portal's target port group, whose id is the TargetPortalGroupTag it answers; nullopt:
    // the target's own portal_group_tag.
    void set_portal_group(std::optional<uint16_t> group) { portal_group_ = group; }

    LoginStep step(const LoginRequestView& request);

    bool complete() const noexcept { return complete_; }
    bool failed() const noexcept { return failed_; }

    // Valid once complete:
    SessionType session_type() const noexcept { return session_type_; }
    const TargetInfo* target() const noexcept { return target_.get(); }
    const std::string& initiator_name() const noexcept { return initiator_name_; }
    const std::string& initiator_alias() const noexcept { return initiator_alias_; }
    const SessionParams& params() const noexcept { return params_; }
    // Whether CHAP authenticated the initiator (false for AuthMethod=None).
    bool authenticated() const noexcept { return chap_ && chap_->succeeded(); }

  private:
    enum class AuthMethod { unset, none, chap };

    LoginStep fail(LoginStep& step, std::error_code ec);
    std::error_code handle_identity(const TextKey& key, bool first);
    std::error_code resolve_session(bool first);
    std::error_code negotiate_auth_method(std::string_view offered, std::vector<uint8_t>& response);
    std::error_code check_redeclaration(const TextKey& key);
    bool offer_pending(std::string_view key) const;

    const TargetDirectory& directory_;
    TargetLimits limits_;
    std::optional<ChapSecret> discovery_chap_;
    std::optional<ChapSecret> discovery_mutual_chap_;
    std::optional<uint16_t> portal_group_;

    unsigned steps_ = 0;
    bool started_ = false;
    bool complete_ = false;
    bool failed_ = false;
    uint8_t stage_ = stage_security;

    SessionType session_type_ = SessionType::normal;
    std::shared_ptr<const TargetInfo> target_;
    std::string initiator_name_;
    std::string initiator_alias_;
    std::string target_name_;
    std::string session_type_value_;

    bool auth_required_ = false;
    bool auth_done_ = false;
    AuthMethod auth_method_ = AuthMethod::unset;
    std::optional<ChapAuthenticator> chap_;

    bool target_mrdsl_declared_ = false;
    std::unordered_map<std::string, std::string> received_;  // non-identity keys sent so far
    std::vector<std::string> offered_;                       // keys the target offered
    std::vector<std::string> unanswered_;  // offers still waiting for the initiator's answer
    SessionParams params_;
};

}  // namespace atsarray::iscsi
