#include "target/iscsi/chap.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <memory>

#include "target/iscsi/errors.hpp"
#include "target/iscsi/text.hpp"

namespace atsarray::iscsi {
namespace {

struct EvpMdCtxDeleter {
    void operator()(EVP_MD_CTX* ctx) const noexcept { EVP_MD_CTX_free(ctx); }
};

// Splits a list-of-values on commas (RFC 7143 §6.1).
template <typename F>
void for_each_list_value(std::string_view list, F&& f) {
    while (true) {
        const std::size_t comma = list.find(',');
        f(list.substr(0, comma));
        if (comma == std::string_view::npos) {
            return;
        }
        list.remove_prefix(comma + 1);
    }
}

}  // namespace

std::error_code validate_chap_secrets(const ChapSecret& initiator,
                                      const std::optional<ChapSecret>& mutual) {
    if (initiator.secret.size() < min_chap_secret_length ||
        (mutual && mutual->secret.size() < min_chap_secret_length)) {
        return Errc::chap_secret_too_short;
    }
    if (mutual && mutual->secret == initiator.secret) {
        return Errc::chap_same_secret;
    }
    return {};
}

std::error_code chap_md5(uint8_t identifier, std::string_view secret,
                         std::span<const uint8_t> challenge,
                         std::array<uint8_t, chap_md5_length>& out) {
    std::unique_ptr<EVP_MD_CTX, EvpMdCtxDeleter> ctx(EVP_MD_CTX_new());
    unsigned int length = 0;
    if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_md5(), nullptr) != 1 ||
        EVP_DigestUpdate(ctx.get(), &identifier, 1) != 1 ||
        EVP_DigestUpdate(ctx.get(), secret.data(), secret.size()) != 1 ||
        EVP_DigestUpdate(ctx.get(), challenge.data(), challenge.size()) != 1 ||
        EVP_DigestFinal_ex(ctx.get(), out.data(), &length) != 1 || length != out.size()) {
        return Errc::chap_internal_error;
    }
    return {};
}

ChapAuthenticator::ChapAuthenticator(ChapSecret initiator, std::optional<ChapSecret> mutual,
                                     bool mutual_required)
    : initiator_(std::move(initiator)),
      mutual_(std::move(mutual)),
      mutual_required_(mutual_required) {}

std::error_code ChapAuthenticator::fail(std::error_code ec) noexcept {
    state_ = State::failed;
    return ec;
}

std::error_code ChapAuthenticator::challenge(std::string_view chap_a,
                                             std::vector<uint8_t>& response) {
    if (state_ != State::initial) {
        return fail(Errc::chap_out_of_order);
    }
    bool md5_offered = false;
    for_each_list_value(chap_a, [&](std::string_view value) {
        uint64_t algorithm = 0;
        // Values we do not understand are ignored (RFC 7143 §6.2.1).
        if (!parse_number(value, 0, 255, algorithm) && algorithm == chap_algorithm_md5) {
            md5_offered = true;
        }
    });
    if (!md5_offered) {
        append_key(response, "CHAP_A", "Reject");
        return fail(Errc::chap_unsupported_algorithm);
    }
    if (RAND_bytes(&identifier_, 1) != 1 ||
        RAND_bytes(challenge_.data(), static_cast<int>(challenge_.size())) != 1) {
        return fail(Errc::chap_internal_error);
    }
    append_key(response, "CHAP_A", "5");
    append_key(response, "CHAP_I", std::to_string(identifier_));
    append_key(response, "CHAP_C", encode_hex(challenge_));
    state_ = State::challenged;
    return {};
}

std::error_code ChapAuthenticator::verify(const ChapReply& reply, std::vector<uint8_t>& response) {
    if (state_ != State::challenged) {
        return fail(Errc::chap_out_of_order);
    }
    if (!reply.name || !reply.response) {
        return fail(Errc::chap_missing_key);
    }
    if (*reply.name != initiator_.user) {
        return fail(Errc::chap_unknown_user);
    }
    // CVE-2018-14633 (LIO): CHAP_R must decode to exactly the digest length.
    std::vector<uint8_t> received;
    if (decode_binary(*reply.response, received, chap_md5_length) ||
        received.size() != chap_md5_length) {
        return fail(Errc::chap_bad_response_length);
    }
    std::array<uint8_t, chap_md5_length> expected{};
    if (auto ec = chap_md5(identifier_, initiator_.secret, challenge_, expected)) {
        return fail(ec);
    }
    if (CRYPTO_memcmp(expected.data(), received.data(), expected.size()) != 0) {
        return fail(Errc::chap_response_mismatch);
    }

    if (!reply.identifier && !reply.challenge) {
        // One-way CHAP: the initiator decides whether it authenticates the target, unless the
        // target's configuration requires it to (require_mutual): an initiator that never checks
        // the target can be led to a rogue one.
        if (mutual_required_) {
            return fail(Errc::chap_mutual_required);
        }
        state_ = State::succeeded;
        return {};
    }
    if (!mutual_) {
        return fail(Errc::chap_mutual_not_configured);
    }
    if (!reply.identifier || !reply.challenge) {
        return fail(Errc::chap_missing_key);
    }
    uint64_t identifier = 0;
    if (parse_number(*reply.identifier, 0, 255, identifier)) {
        return fail(Errc::chap_bad_identifier);
    }
    std::vector<uint8_t> challenge;
    if (decode_binary(*reply.challenge, challenge, max_chap_challenge_length) ||
        challenge.empty()) {
        return fail(Errc::chap_bad_challenge);
    }
    // A challenge equal to ours would let the initiator have us compute the answer it owes
    // (reflection attack; RFC 7143 §9.2.1 / §12.1.3).
    if (challenge.size() == challenge_.size() &&
        CRYPTO_memcmp(challenge.data(), challenge_.data(), challenge_.size()) == 0) {
        return fail(Errc::chap_reflected_challenge);
    }
    // RFC 7143 §9.2.1: the secret used to authenticate the target differs from the initiator's.
    if (mutual_->secret == initiator_.secret) {
        return fail(Errc::chap_same_secret);
    }
    std::array<uint8_t, chap_md5_length> answer{};
    if (auto ec = chap_md5(static_cast<uint8_t>(identifier), mutual_->secret, challenge, answer)) {
        return fail(ec);
    }
    append_key(response, "CHAP_N", mutual_->user);
    append_key(response, "CHAP_R", encode_hex(answer));
    state_ = State::succeeded;
    return {};
}

}  // namespace atsarray::iscsi
