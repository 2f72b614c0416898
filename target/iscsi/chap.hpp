#pragma once
// Target-side CHAP with MD5 (RFC 1994; RFC 7143 §12.1.3). The target challenges the initiator and,
// when the initiator asks for it (mutual CHAP), answers the initiator's challenge.

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace atsarray::iscsi {

// One CHAP identity: the name sent in CHAP_N and its secret. Kept apart from the daemon's config
// type so that the iSCSI layer does not depend on the daemon.
struct ChapSecret {
    std::string user;
    std::string secret;
};

inline constexpr uint8_t chap_algorithm_md5 = 5;  // CHAP_A value for MD5 (RFC 1994, IANA PPP)
inline constexpr std::size_t chap_md5_length = 16;
inline constexpr std::size_t chap_challenge_length = 16;  // what the target sends
inline constexpr std::size_t max_chap_challenge_length =
    1024;                                                  // what it accepts (RFC 7143 §12.1.3)
inline constexpr std::size_t min_chap_secret_length = 12;  // 96 bits (RFC 7143 §9.2.1)

// Checks a configuration: secrets of at least 12 bytes and, with mutual CHAP, initiator and target
// secrets that differ (RFC 7143 §9.2.1). For the config loader; the authenticator itself only
// enforces the second rule.
std::error_code validate_chap_secrets(const ChapSecret& initiator,
                                      const std::optional<ChapSecret>& mutual);

// MD5(identifier || secret || challenge) (RFC 1994 §4.1). chap_internal_error if OpenSSL fails.
std::error_code chap_md5(uint8_t identifier, std::string_view secret,
                         std::span<const uint8_t> challenge,
                         std::array<uint8_t, chap_md5_length>& out);

// The initiator's answer to the target's challenge; CHAP_I and CHAP_C only for mutual CHAP.
struct ChapReply {
    std::optional<std::string_view> name;        // CHAP_N
    std::optional<std::string_view> response;    // CHAP_R
    std::optional<std::string_view> identifier;  // CHAP_I
    std::optional<std::string_view> challenge;   // CHAP_C
};

class ChapAuthenticator {
  public:
    enum class State { initial, challenged, succeeded, failed };

    // `initiator`: the credentials the initiator must prove; `mutual`: the target's own, used
    // when the initiator challenges the target; `mutual_required`: an initiator that does not
    // challenge the target fails (chap_mutual_required).
    explicit ChapAuthenticator(ChapSecret initiator, std::optional<ChapSecret> mutual = {},
                               bool mutual_required = false);

    // Step 1: the initiator's CHAP_A list. Picks MD5 and appends CHAP_A=5, CHAP_I and CHAP_C.
    // Without 5 in the list appends CHAP_A=Reject and fails with chap_unsupported_algorithm.
    std::error_code challenge(std::string_view chap_a, std::vector<uint8_t>& response);

    // Step 2: CHAP_N and CHAP_R (plus CHAP_I and CHAP_C for mutual CHAP). On success with mutual
    // CHAP appends CHAP_N and CHAP_R for the initiator to check.
    std::error_code verify(const ChapReply& reply, std::vector<uint8_t>& response);

    State state() const noexcept { return state_; }
    bool succeeded() const noexcept { return state_ == State::succeeded; }
    uint8_t identifier() const noexcept { return identifier_; }
    std::span<const uint8_t> challenge_bytes() const noexcept { return challenge_; }

  private:
    std::error_code fail(std::error_code ec) noexcept;

    ChapSecret initiator_;
    std::optional<ChapSecret> mutual_;
    bool mutual_required_ = false;
    State state_ = State::initial;
    uint8_t identifier_ = 0;
    std::array<uint8_t, chap_challenge_length> challenge_{};
};

}  // namespace atsarray::iscsi
