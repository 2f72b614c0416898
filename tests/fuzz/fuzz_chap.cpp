// libFuzzer harness for CHAP (target/iscsi/chap.*, RFC 7143 §12.1.3) alone and inside the login's
// security stage (login_negotiation.cpp). The input is a control byte and a text segment whose
// CHAP_A, CHAP_N, CHAP_R, CHAP_I and CHAP_C values are the initiator's. The target's challenge is
// random, so the fuzzer could never guess a right CHAP_R: control bit 0 has the harness compute it
// (hex or base64, bit 1) so that the mutual CHAP path after a good response is reached too.
// Oracles: the target's own text always parses, the values it sends decode, and the answer it
// gives for mutual CHAP is MD5(CHAP_I || mutual secret || CHAP_C).

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "target/iscsi/chap.hpp"
#include "target/iscsi/login_negotiation.hpp"
#include "target/iscsi/text.hpp"

namespace {

using namespace atsarray::iscsi;

const ChapSecret initiator_secret{"user", "initiator-secret"};
const ChapSecret target_secret{"target", "target-secret-x"};
constexpr std::string_view chap_target = "iqn.2024-01.fuzz:chap";
constexpr std::string_view initiator_name = "iqn.2024-01.fuzz:initiator";

class FuzzDirectory : public TargetDirectory {
  public:
    FuzzDirectory() {
        chap_.name = std::string(chap_target);
        chap_.chap = initiator_secret;
        chap_.mutual_chap = target_secret;
        chap_.allowed_initiators = {std::string(initiator_name)};
    }
    std::shared_ptr<const TargetInfo> find(std::string_view name) const override {
        if (name != chap_.name) {
            return nullptr;
        }
        return {std::shared_ptr<const TargetInfo>(), &chap_};  // not owned: the directory holds it
    }

  private:
    TargetInfo chap_;
};

std::vector<TextKey> parse_or_abort(std::span<const uint8_t> text) {
    std::vector<TextKey> keys;
    if (parse_text(text, keys)) {
        std::abort();  // the target's own text must always parse
    }
    return keys;
}

std::optional<std::string_view> value_of(const std::vector<TextKey>& keys, std::string_view key) {
    if (const TextKey* k = find_key(keys, key)) {
        return std::string_view(k->value);
    }
    return std::nullopt;
}

// CHAP_R for identifier and challenge with the initiator's secret, hex or base64 encoded.
std::string right_response(uint8_t identifier, std::span<const uint8_t> challenge, bool base64) {
    std::array<uint8_t, chap_md5_length> digest{};
    if (chap_md5(identifier, initiator_secret.secret, challenge, digest)) {
        std::abort();
    }
    return base64 ? encode_base64(digest) : encode_hex(digest);
}

// When the target answered a mutual challenge, its CHAP_R must be the digest of the initiator's
// CHAP_I and CHAP_C with the target's secret.
void check_mutual_answer(const std::vector<TextKey>& response, std::string_view identifier,
                         std::string_view challenge) {
    const auto answer = value_of(response, "CHAP_R");
    if (!answer) {
        return;
    }
    uint64_t id = 0;
    std::vector<uint8_t> c;
    std::vector<uint8_t> r;
    std::array<uint8_t, chap_md5_length> expected{};
    if (parse_number(identifier, 0, 255, id) ||
        decode_binary(challenge, c, max_chap_challenge_length) ||
        decode_binary(*answer, r, chap_md5_length) ||
        chap_md5(static_cast<uint8_t>(id), target_secret.secret, c, expected) ||
        !std::equal(r.begin(), r.end(), expected.begin(), expected.end()) ||
        value_of(response, "CHAP_N") != target_secret.user) {
        std::abort();
    }
}

// The initiator's keys with CHAP_R replaced by the right one when the control byte asks for it.
ChapReply reply_from(const std::vector<TextKey>& keys, const std::string& computed) {
    ChapReply reply;
    reply.name = value_of(keys, "CHAP_N");
    reply.response = computed.empty() ? value_of(keys, "CHAP_R") : std::string_view(computed);
    reply.identifier = value_of(keys, "CHAP_I");
    reply.challenge = value_of(keys, "CHAP_C");
    return reply;
}

// 1. The authenticator on its own.
void fuzz_authenticator(uint8_t control, const std::vector<TextKey>& keys) {
    ChapAuthenticator chap(initiator_secret,
                           (control & 4) != 0 ? std::optional<ChapSecret>() : target_secret);
    std::vector<uint8_t> text;
    const auto algorithms = value_of(keys, "CHAP_A");
    if (chap.challenge(algorithms.value_or("5"), text)) {
        parse_or_abort(text);
        return;
    }
    const std::vector<TextKey> offer = parse_or_abort(text);
    std::vector<uint8_t> c;
    const auto sent = value_of(offer, "CHAP_C");
    if (!sent || decode_binary(*sent, c) || c.size() != chap_challenge_length) {
        std::abort();
    }
    const std::string computed =
        (control & 1) != 0
            ? right_response(chap.identifier(), chap.challenge_bytes(), (control & 2) != 0)
            : std::string();
    const ChapReply reply = reply_from(keys, computed);
    std::vector<uint8_t> answer;
    const bool ok = !chap.verify(reply, answer);
    const std::vector<TextKey> response = parse_or_abort(answer);
    if (ok != chap.succeeded()) {
        std::abort();
    }
    if (ok && reply.identifier && reply.challenge) {
        check_mutual_answer(response, *reply.identifier, *reply.challenge);
    }
}

// 2. The same keys in the login's security stage: AuthMethod=CHAP, then CHAP_A, then the reply.
void fuzz_login(uint8_t control, const std::vector<TextKey>& keys) {
    static const FuzzDirectory directory;
    LoginNegotiation login(directory, TargetLimits{}, std::nullopt);
    LoginRequestView first;
    first.keys = {{"InitiatorName", std::string(initiator_name)},
                  {"TargetName", std::string(chap_target)},
                  {"SessionType", "Normal"},
                  {"AuthMethod", (control & 8) != 0 ? "None,CHAP" : "CHAP"}};
    LoginStep step = login.step(first);
    parse_or_abort(step.text);
    if (step.failed()) {
        std::abort();  // a valid first request
    }
    LoginRequestView algorithm;
    algorithm.keys = {{"CHAP_A", std::string(value_of(keys, "CHAP_A").value_or("5"))}};
    step = login.step(algorithm);
    const std::vector<TextKey> offer = parse_or_abort(step.text);
    if (step.failed()) {
        return;
    }
    std::string computed;
    if ((control & 1) != 0) {
        uint64_t identifier = 0;
        std::vector<uint8_t> challenge;
        const auto i = value_of(offer, "CHAP_I");
        const auto c = value_of(offer, "CHAP_C");
        if (!i || !c || parse_number(*i, 0, 255, identifier) || decode_binary(*c, challenge)) {
            std::abort();  // the target's challenge must be well formed
        }
        computed = right_response(static_cast<uint8_t>(identifier), challenge, (control & 2) != 0);
    }
    // The initiator's reply: every key of the input but CHAP_A (already sent), CHAP_R replaced.
    LoginRequestView reply;
    reply.transit = (control & 0x10) != 0;
    reply.nsg = stage_operational;
    for (const TextKey& k : keys) {
        if (k.key == "CHAP_A") {
            continue;
        }
        reply.keys.push_back(k.key == "CHAP_R" && !computed.empty() ? TextKey{k.key, computed} : k);
    }
    if (!computed.empty() && find_key(keys, "CHAP_R") == nullptr) {
        reply.keys.push_back({"CHAP_R", computed});
    }
    step = login.step(reply);
    const std::vector<TextKey> response = parse_or_abort(step.text);
    if (!step.failed()) {
        if (const auto i = value_of(reply.keys, "CHAP_I")) {
            if (const auto c = value_of(reply.keys, "CHAP_C")) {
                check_mutual_answer(response, *i, *c);
            }
        }
    }
}

}  // namespace

// NOLINTNEXTLINE(readability-identifier-naming): libFuzzer names the entry point
extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 1) {
        return 0;
    }
    const uint8_t control = data[0];
    std::vector<TextKey> keys;
    if (parse_text(std::span<const uint8_t>(data + 1, size - 1), keys)) {
        return 0;
    }
    // Every binary value decodes to at most its bound, and hex of what it decodes to round-trips.
    for (const TextKey& k : keys) {
        std::vector<uint8_t> binary;
        if (!decode_binary(k.value, binary, max_chap_challenge_length)) {
            std::vector<uint8_t> again;
            if (binary.empty() || binary.size() > max_chap_challenge_length ||
                decode_binary(encode_base64(binary), again, max_chap_challenge_length) ||
                again != binary) {
                std::abort();
            }
        }
    }
    fuzz_authenticator(control, keys);
    fuzz_login(control, keys);
    return 0;
}
