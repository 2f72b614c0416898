#include "target/iscsi/chap.hpp"

#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <map>
#include <string>
#include <vector>

#include "target/iscsi/errors.hpp"
#include "target/iscsi/text.hpp"

namespace atsarray::iscsi {
namespace {

const ChapSecret initiator_secret{"initiator-user", "initiator-secret-1"};
const ChapSecret target_secret{"target-user", "target-secret-22"};

std::map<std::string, std::string> keys_of(const std::vector<uint8_t>& text) {
    std::vector<TextKey> keys;
    EXPECT_FALSE(parse_text(text, keys));
    std::map<std::string, std::string> out;
    for (auto& k : keys) {
        out[k.key] = k.value;
    }
    return out;
}

// MD5 computed independently of chap.cpp: OpenSSL's one-shot EVP_Digest.
std::string expected_response(uint8_t id, std::string_view secret,
                              std::span<const uint8_t> challenge) {
    std::vector<uint8_t> input;
    input.push_back(id);
    input.insert(input.end(), secret.begin(), secret.end());
    input.insert(input.end(), challenge.begin(), challenge.end());
    std::array<uint8_t, 16> md{};
    unsigned int length = 0;
    EXPECT_EQ(EVP_Digest(input.data(), input.size(), md.data(), &length, EVP_md5(), nullptr), 1);
    return encode_hex(md);
}

TEST(ChapMd5, KnownVectors) {
    // Values from Python's hashlib.md5.
    std::array<uint8_t, 16> out{};
    std::vector<uint8_t> challenge(16);
    for (std::size_t i = 0; i < 16; ++i) {
        challenge[i] = static_cast<uint8_t>(i);
    }
    ASSERT_FALSE(chap_md5(1, "secretsecret", challenge, out));
    EXPECT_EQ(encode_hex(out), "0x226dc576c33f04ff9c3a200ffe35f442");
    std::vector<uint8_t> c2;
    ASSERT_FALSE(decode_binary("0x00112233445566778899aabbccddeeff", c2));
    ASSERT_FALSE(chap_md5(0x2a, "0123456789ab", c2, out));
    EXPECT_EQ(encode_hex(out), "0x8eb823eee2169f0b1503c35f64bbaf9c");
}

class ChapTest : public ::testing::Test {
  protected:
    std::map<std::string, std::string> start(ChapAuthenticator& chap) {
        std::vector<uint8_t> response;
        EXPECT_FALSE(chap.challenge("7,5", response));
        return keys_of(response);
    }
    std::string good_response(const ChapAuthenticator& chap) {
        return expected_response(chap.identifier(), initiator_secret.secret,
                                 chap.challenge_bytes());
    }
};

TEST_F(ChapTest, ChallengeOffersMd5) {
    ChapAuthenticator chap(initiator_secret);
    auto keys = start(chap);
    EXPECT_EQ(keys["CHAP_A"], "5");
    EXPECT_EQ(keys["CHAP_I"], std::to_string(chap.identifier()));
    EXPECT_EQ(keys["CHAP_C"], encode_hex(chap.challenge_bytes()));
    EXPECT_EQ(chap.challenge_bytes().size(), chap_challenge_length);
    EXPECT_EQ(chap.state(), ChapAuthenticator::State::challenged);
}

TEST_F(ChapTest, ChallengesDiffer) {
    ChapAuthenticator a(initiator_secret);
    ChapAuthenticator b(initiator_secret);
    start(a);
    start(b);
    EXPECT_FALSE(std::equal(a.challenge_bytes().begin(), a.challenge_bytes().end(),
                            b.challenge_bytes().begin()));
}

TEST_F(ChapTest, NoMd5Rejected) {
    ChapAuthenticator chap(initiator_secret);
    std::vector<uint8_t> response;
    EXPECT_EQ(chap.challenge("6,7", response), Errc::chap_unsupported_algorithm);
    EXPECT_EQ(keys_of(response)["CHAP_A"], "Reject");
    EXPECT_EQ(chap.state(), ChapAuthenticator::State::failed);
}

TEST_F(ChapTest, JunkInAlgorithmListIgnored) {
    ChapAuthenticator chap(initiator_secret);
    std::vector<uint8_t> response;
    EXPECT_FALSE(chap.challenge("abc,,0x5", response));
    EXPECT_EQ(keys_of(response)["CHAP_A"], "5");
}

TEST_F(ChapTest, OneWaySuccess) {
    ChapAuthenticator chap(initiator_secret, target_secret);
    start(chap);
    const std::string r = good_response(chap);
    std::vector<uint8_t> response;
    EXPECT_FALSE(chap.verify({initiator_secret.user, r, {}, {}}, response));
    EXPECT_TRUE(chap.succeeded());
    EXPECT_TRUE(response.empty());
}

TEST_F(ChapTest, Base64ResponseAccepted) {
    ChapAuthenticator chap(initiator_secret);
    start(chap);
    std::vector<uint8_t> md;
    ASSERT_FALSE(decode_binary(good_response(chap), md));
    const std::string r = encode_base64(md);
    std::vector<uint8_t> response;
    EXPECT_FALSE(chap.verify({initiator_secret.user, r, {}, {}}, response));
}

TEST_F(ChapTest, WrongUser) {
    ChapAuthenticator chap(initiator_secret);
    start(chap);
    const std::string r = good_response(chap);
    std::vector<uint8_t> response;
    EXPECT_EQ(chap.verify({"someone", r, {}, {}}, response), Errc::chap_unknown_user);
    EXPECT_EQ(chap.state(), ChapAuthenticator::State::failed);
}

TEST_F(ChapTest, WrongResponse) {
    ChapAuthenticator chap(initiator_secret);
    start(chap);
    const std::string r =
        expected_response(chap.identifier(), "another-secret!!", chap.challenge_bytes());
    std::vector<uint8_t> response;
    EXPECT_EQ(chap.verify({initiator_secret.user, r, {}, {}}, response),
              Errc::chap_response_mismatch);
}

TEST_F(ChapTest, ResponseLengthMustBeExactlySixteen) {
    // CVE-2018-14633: a long CHAP_R overflowed LIO's stack buffer.
    for (std::size_t n : {0u, 1u, 15u, 17u, 32u, 1024u}) {
        ChapAuthenticator chap(initiator_secret);
        start(chap);
        const std::string r = n == 0 ? "0x" : encode_hex(std::vector<uint8_t>(n, 0xab));
        std::vector<uint8_t> response;
        EXPECT_EQ(chap.verify({initiator_secret.user, r, {}, {}}, response),
                  Errc::chap_bad_response_length)
            << n;
    }
    ChapAuthenticator chap(initiator_secret);
    start(chap);
    std::vector<uint8_t> response;
    EXPECT_EQ(chap.verify({initiator_secret.user, "not-binary", {}, {}}, response),
              Errc::chap_bad_response_length);
}

TEST_F(ChapTest, MissingKeys) {
    ChapAuthenticator chap(initiator_secret);
    start(chap);
    std::vector<uint8_t> response;
    EXPECT_EQ(chap.verify({initiator_secret.user, {}, {}, {}}, response), Errc::chap_missing_key);
}

TEST_F(ChapTest, OutOfOrder) {
    ChapAuthenticator chap(initiator_secret);
    std::vector<uint8_t> response;
    EXPECT_EQ(chap.verify({initiator_secret.user, "0x00", {}, {}}, response),
              Errc::chap_out_of_order);
    ChapAuthenticator twice(initiator_secret);
    start(twice);
    EXPECT_EQ(twice.challenge("5", response), Errc::chap_out_of_order);
}

TEST_F(ChapTest, NoSecondChanceAfterFailure) {
    ChapAuthenticator chap(initiator_secret);
    start(chap);
    const std::string r = good_response(chap);
    std::vector<uint8_t> response;
    EXPECT_EQ(chap.verify({"someone", r, {}, {}}, response), Errc::chap_unknown_user);
    EXPECT_EQ(chap.verify({initiator_secret.user, r, {}, {}}, response), Errc::chap_out_of_order);
}

TEST_F(ChapTest, MutualSuccess) {
    ChapAuthenticator chap(initiator_secret, target_secret);
    start(chap);
    const std::string r = good_response(chap);
    const std::vector<uint8_t> initiator_challenge = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
    const std::string c = encode_hex(initiator_challenge);
    std::vector<uint8_t> response;
    ASSERT_FALSE(chap.verify({initiator_secret.user, r, "77", c}, response));
    auto keys = keys_of(response);
    EXPECT_EQ(keys["CHAP_N"], target_secret.user);
    EXPECT_EQ(keys["CHAP_R"], expected_response(77, target_secret.secret, initiator_challenge));
    EXPECT_TRUE(chap.succeeded());
}

TEST_F(ChapTest, MutualNotConfigured) {
    ChapAuthenticator chap(initiator_secret);
    start(chap);
    const std::string r = good_response(chap);
    std::vector<uint8_t> response;
    EXPECT_EQ(chap.verify({initiator_secret.user, r, "1", "0x0102"}, response),
              Errc::chap_mutual_not_configured);
}

TEST_F(ChapTest, MutualNeedsBothKeys) {
    ChapAuthenticator chap(initiator_secret, target_secret);
    start(chap);
    const std::string r = good_response(chap);
    std::vector<uint8_t> response;
    EXPECT_EQ(chap.verify({initiator_secret.user, r, "1", {}}, response), Errc::chap_missing_key);
}

TEST_F(ChapTest, MutualBadIdentifier) {
    for (const char* id : {"256", "-1", "x", ""}) {
        ChapAuthenticator chap(initiator_secret, target_secret);
        start(chap);
        const std::string r = good_response(chap);
        std::vector<uint8_t> response;
        EXPECT_EQ(chap.verify({initiator_secret.user, r, id, "0x0102"}, response),
                  Errc::chap_bad_identifier)
            << id;
    }
}

TEST_F(ChapTest, MutualBadChallenge) {
    const std::string too_long = encode_hex(std::vector<uint8_t>(max_chap_challenge_length + 1, 1));
    for (const std::string& c : {std::string("0x"), std::string("zz"), too_long}) {
        ChapAuthenticator chap(initiator_secret, target_secret);
        start(chap);
        const std::string r = good_response(chap);
        std::vector<uint8_t> response;
        EXPECT_EQ(chap.verify({initiator_secret.user, r, "1", c}, response),
                  Errc::chap_bad_challenge);
    }
    ChapAuthenticator chap(initiator_secret, target_secret);
    start(chap);
    const std::string r = good_response(chap);
    std::vector<uint8_t> response;
    const std::string max = encode_hex(std::vector<uint8_t>(max_chap_challenge_length, 1));
    EXPECT_FALSE(chap.verify({initiator_secret.user, r, "1", max}, response));
}

TEST_F(ChapTest, ReflectedChallengeRejected) {
    ChapAuthenticator chap(initiator_secret, target_secret);
    auto keys = start(chap);
    const std::string r = good_response(chap);
    std::vector<uint8_t> response;
    EXPECT_EQ(chap.verify({initiator_secret.user, r, keys["CHAP_I"], keys["CHAP_C"]}, response),
              Errc::chap_reflected_challenge);
    EXPECT_TRUE(response.empty());
}

TEST_F(ChapTest, SameSecretRefused) {
    ChapAuthenticator chap(initiator_secret, ChapSecret{"target-user", initiator_secret.secret});
    start(chap);
    const std::string r = good_response(chap);
    std::vector<uint8_t> response;
    EXPECT_EQ(chap.verify({initiator_secret.user, r, "1", "0x0102"}, response),
              Errc::chap_same_secret);
}

TEST(ChapSecrets, Validate) {
    EXPECT_FALSE(validate_chap_secrets(initiator_secret, target_secret));
    EXPECT_FALSE(validate_chap_secrets(initiator_secret, std::nullopt));
    EXPECT_EQ(validate_chap_secrets({"u", "short"}, std::nullopt), Errc::chap_secret_too_short);
    EXPECT_EQ(validate_chap_secrets(initiator_secret, ChapSecret{"t", "short"}),
              Errc::chap_secret_too_short);
    EXPECT_EQ(validate_chap_secrets(initiator_secret, ChapSecret{"t", initiator_secret.secret}),
              Errc::chap_same_secret);
}

}  // namespace
}  // namespace atsarray::iscsi
