#include "target/iscsi/login_negotiation.hpp"

#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <map>
#include <string>
#include <vector>

#include "target/iscsi/errors.hpp"

namespace atsarray::iscsi {
namespace {

constexpr std::string_view initiator_iqn = "iqn.2024-01.test:initiator";
constexpr std::string_view open_target = "iqn.2024-01.test:open";
constexpr std::string_view chap_target = "iqn.2024-01.test:chap";
constexpr std::string_view acl_target = "iqn.2024-01.test:acl";
constexpr std::string_view mutual_target = "iqn.2024-01.test:mutual";  // require_mutual

const ChapSecret initiator_secret{"alice", "alice-secret-123"};
const ChapSecret target_secret{"target", "target-secret-456"};
const ChapSecret discovery_secret{"disco", "discovery-secret"};

class Directory : public TargetDirectory {
  public:
    Directory() {
        targets_.push_back(TargetInfo{std::string(open_target), "open-alias", 7, {}, {}, {}});
        targets_.push_back(
            TargetInfo{std::string(chap_target), "", 1, {}, initiator_secret, target_secret});
        targets_.push_back(
            TargetInfo{std::string(acl_target), "", 1, {"iqn.2024-01.test:other"}, {}, {}});
        targets_.push_back(TargetInfo{
            std::string(mutual_target), "", 1, {}, initiator_secret, target_secret, true});
    }
    std::shared_ptr<const TargetInfo> find(std::string_view name) const override {
        for (const TargetInfo& t : targets_) {
            if (t.name == name) {
                return {std::shared_ptr<const TargetInfo>(), &t};  // not owned: targets_ holds it
            }
        }
        return nullptr;
    }

  private:
    std::vector<TargetInfo> targets_;
};

using Keys = std::vector<TextKey>;

LoginRequestView request(uint8_t csg, uint8_t nsg, bool transit, Keys keys) {
    LoginRequestView r;
    r.csg = csg;
    r.nsg = nsg;
    r.transit = transit;
    r.keys = std::move(keys);
    return r;
}

std::map<std::string, std::string> keys_of(const LoginStep& step) {
    std::vector<TextKey> keys;
    EXPECT_FALSE(parse_text(step.text, keys));
    std::map<std::string, std::string> out;
    for (auto& k : keys) {
        out[k.key] = k.value;
    }
    return out;
}

std::string md5_hex(uint8_t id, std::string_view secret, std::string_view challenge_hex) {
    std::vector<uint8_t> challenge;
    EXPECT_FALSE(decode_binary(challenge_hex, challenge));
    std::vector<uint8_t> input{id};
    input.insert(input.end(), secret.begin(), secret.end());
    input.insert(input.end(), challenge.begin(), challenge.end());
    std::array<uint8_t, 16> md{};
    unsigned int length = 0;
    EXPECT_EQ(EVP_Digest(input.data(), input.size(), md.data(), &length, EVP_md5(), nullptr), 1);
    return encode_hex(md);
}

void expect_status(const LoginStep& step, uint8_t status_class, uint8_t detail) {
    EXPECT_EQ(step.status_class, status_class) << step.error.message();
    EXPECT_EQ(step.status_detail, detail) << step.error.message();
    EXPECT_TRUE(step.failed());
    EXPECT_FALSE(step.transit);
    EXPECT_FALSE(step.complete);
}

class Login : public ::testing::Test {
  protected:
    LoginNegotiation make(std::optional<ChapSecret> discovery = {},
                          std::optional<ChapSecret> discovery_mutual = {}) {
        return LoginNegotiation(directory, limits, std::move(discovery),
                                std::move(discovery_mutual));
    }
    static Keys identity(std::string_view target) {
        return {{"InitiatorName", std::string(initiator_iqn)}, {"TargetName", std::string(target)}};
    }
    static Keys with(Keys keys, Keys more) {
        keys.insert(keys.end(), more.begin(), more.end());
        return keys;
    }
    // Runs AuthMethod=CHAP and CHAP_A; returns the target's CHAP_I and CHAP_C.
    std::map<std::string, std::string> start_chap(LoginNegotiation& login,
                                                  std::string_view target = chap_target) {
        Keys first = identity(target);
        first.push_back({"AuthMethod", "CHAP,None"});
        auto s1 = login.step(request(0, 1, true, first));
        EXPECT_FALSE(s1.failed()) << s1.error.message();
        EXPECT_FALSE(s1.transit);  // authentication still to do
        EXPECT_EQ(keys_of(s1)["AuthMethod"], "CHAP");
        auto s2 = login.step(request(0, 1, true, {{"CHAP_A", "5"}}));
        EXPECT_FALSE(s2.failed()) << s2.error.message();
        EXPECT_FALSE(s2.transit);
        auto k = keys_of(s2);
        EXPECT_EQ(k["CHAP_A"], "5");
        return k;
    }
    static std::string answer(const std::map<std::string, std::string>& challenge,
                              std::string_view secret) {
        uint64_t id = 0;
        EXPECT_FALSE(parse_number(challenge.at("CHAP_I"), 0, 255, id));
        return md5_hex(static_cast<uint8_t>(id), secret, challenge.at("CHAP_C"));
    }

    Directory directory;
    TargetLimits limits;
};

TEST_F(Login, NoneAuthStraightToFullFeature) {
    auto login = make();
    auto step = login.step(request(
        0, 3, true,
        with(identity(open_target), {{"AuthMethod", "None"}, {"InitiatorAlias", "host1"}})));
    ASSERT_FALSE(step.failed()) << step.error.message();
    EXPECT_TRUE(step.transit);
    EXPECT_EQ(step.csg, 0);
    EXPECT_EQ(step.nsg, 3);
    EXPECT_TRUE(step.complete);
    auto k = keys_of(step);
    EXPECT_EQ(k["AuthMethod"], "None");
    EXPECT_EQ(k["TargetPortalGroupTag"], "7");
    EXPECT_EQ(k["TargetAlias"], "open-alias");
    EXPECT_EQ(k.count("MaxRecvDataSegmentLength"), 0u);
    EXPECT_TRUE(login.complete());
    EXPECT_EQ(login.session_type(), SessionType::normal);
    ASSERT_NE(login.target(), nullptr);
    EXPECT_EQ(login.target()->name, open_target);
    EXPECT_EQ(login.initiator_name(), initiator_iqn);
    EXPECT_EQ(login.initiator_alias(), "host1");
    EXPECT_FALSE(login.authenticated());
    // The target never declared: the initiator assumes 8192 (RFC 7143 §13.12).
    EXPECT_EQ(login.params().target_max_recv_data_segment_length, 8192u);
}

TEST_F(Login, SecurityOperationalFullFeature) {
    limits.max_recv_data_segment_length = 65536;
    limits.max_burst_length = 524288;
    auto login = make();
    auto s1 =
        login.step(request(0, 1, true, with(identity(open_target), {{"AuthMethod", "None"}})));
    ASSERT_FALSE(s1.failed());
    EXPECT_TRUE(s1.transit);
    EXPECT_EQ(s1.nsg, 1);
    EXPECT_FALSE(s1.complete);

    auto s2 = login.step(request(1, 3, true,
                                 {{"HeaderDigest", "CRC32C,None"},
                                  {"DataDigest", "None"},
                                  {"MaxRecvDataSegmentLength", "131072"},
                                  {"MaxBurstLength", "1048576"},
                                  {"FirstBurstLength", "262144"},
                                  {"InitialR2T", "No"},
                                  {"ImmediateData", "Yes"},
                                  {"MaxOutstandingR2T", "1"},
                                  {"ErrorRecoveryLevel", "0"},
                                  {"IFMarker", "No"}}));
    ASSERT_FALSE(s2.failed()) << s2.error.message();
    EXPECT_TRUE(s2.transit);
    EXPECT_EQ(s2.csg, 1);
    EXPECT_EQ(s2.nsg, 3);
    EXPECT_TRUE(s2.complete);
    auto k = keys_of(s2);
    EXPECT_EQ(k["MaxRecvDataSegmentLength"], "65536");
    EXPECT_EQ(k["HeaderDigest"], "CRC32C");
    EXPECT_EQ(k["MaxBurstLength"], "524288");
    EXPECT_EQ(k["FirstBurstLength"], "262144");
    EXPECT_EQ(k["InitialR2T"], "Yes");
    EXPECT_EQ(k["IFMarker"], "No");
    EXPECT_EQ(k.count("TargetPortalGroupTag"), 0u);  // first response only
    const SessionParams& p = login.params();
    EXPECT_TRUE(p.header_digest);
    EXPECT_FALSE(p.data_digest);
    EXPECT_EQ(p.initiator_max_recv_data_segment_length, 131072u);
    EXPECT_EQ(p.target_max_recv_data_segment_length, 65536u);
    EXPECT_EQ(p.max_burst_length, 524288u);
    EXPECT_EQ(p.first_burst_length, 262144u);
    EXPECT_TRUE(p.initial_r2t);
    EXPECT_TRUE(p.immediate_data);
}

TEST_F(Login, OperationalStageFirstOnOpenTarget) {
    auto login = make();
    auto s = login.step(request(1, 3, true, identity(open_target)));
    ASSERT_FALSE(s.failed()) << s.error.message();
    EXPECT_TRUE(s.complete);
    auto k = keys_of(s);
    EXPECT_EQ(k["TargetPortalGroupTag"], "7");
    EXPECT_EQ(k["MaxRecvDataSegmentLength"], std::to_string(limits.max_recv_data_segment_length));
}

TEST_F(Login, OperationalKeysInSecurityStage) {
    auto login = make();
    auto s = login.step(
        request(0, 1, true,
                with(identity(open_target), {{"AuthMethod", "None"}, {"MaxBurstLength", "4096"}})));
    ASSERT_FALSE(s.failed());
    EXPECT_EQ(keys_of(s)["MaxBurstLength"], "4096");
    EXPECT_EQ(login.params().max_burst_length, 4096u);
}

TEST_F(Login, StaysInStageWithoutTransit) {
    auto login = make();
    auto s1 =
        login.step(request(0, 0, false, with(identity(open_target), {{"AuthMethod", "None"}})));
    ASSERT_FALSE(s1.failed());
    EXPECT_FALSE(s1.transit);
    EXPECT_EQ(s1.nsg, 0);
    auto s2 = login.step(request(0, 1, true, {}));
    ASSERT_FALSE(s2.failed());
    EXPECT_TRUE(s2.transit);
    auto s3 = login.step(request(1, 0, false, {}));
    ASSERT_FALSE(s3.failed());
    EXPECT_FALSE(s3.transit);
    EXPECT_EQ(keys_of(s3).count("MaxRecvDataSegmentLength"), 1u);
    auto s4 = login.step(request(1, 3, true, {}));
    ASSERT_FALSE(s4.failed());
    EXPECT_TRUE(s4.complete);
    EXPECT_EQ(keys_of(s4).count("MaxRecvDataSegmentLength"), 0u);  // declared once
}

TEST_F(Login, ChapOneWay) {
    auto login = make();
    auto challenge = start_chap(login);
    auto s3 = login.step(request(0, 1, true,
                                 {{"CHAP_N", initiator_secret.user},
                                  {"CHAP_R", answer(challenge, initiator_secret.secret)}}));
    ASSERT_FALSE(s3.failed()) << s3.error.message();
    EXPECT_TRUE(s3.transit);
    EXPECT_EQ(s3.nsg, 1);
    EXPECT_TRUE(s3.text.empty());
    auto s4 = login.step(request(1, 3, true, {{"MaxRecvDataSegmentLength", "8192"}}));
    ASSERT_FALSE(s4.failed()) << s4.error.message();
    EXPECT_TRUE(s4.complete);
    EXPECT_TRUE(login.authenticated());
}

TEST_F(Login, ChapMutual) {
    auto login = make();
    auto challenge = start_chap(login);
    const std::string initiator_challenge = "0x0102030405060708090a0b0c0d0e0f10";
    auto s3 = login.step(request(0, 3, true,
                                 {{"CHAP_N", initiator_secret.user},
                                  {"CHAP_R", answer(challenge, initiator_secret.secret)},
                                  {"CHAP_I", "9"},
                                  {"CHAP_C", initiator_challenge}}));
    ASSERT_FALSE(s3.failed()) << s3.error.message();
    EXPECT_TRUE(s3.complete);
    auto k = keys_of(s3);
    EXPECT_EQ(k["CHAP_N"], target_secret.user);
    EXPECT_EQ(k["CHAP_R"], md5_hex(9, target_secret.secret, initiator_challenge));
}

// require_mutual: an initiator that proves itself but does not challenge the target is refused
// with Authentication failure (RFC 7143 §11.13.5: 0x0201), even with the right CHAP_R.
TEST_F(Login, RequireMutualRefusesOneWayChap) {
    auto login = make();
    auto challenge = start_chap(login, mutual_target);
    auto s3 = login.step(request(0, 1, true,
                                 {{"CHAP_N", initiator_secret.user},
                                  {"CHAP_R", answer(challenge, initiator_secret.secret)}}));
    expect_status(s3, 0x02, 0x01);
    EXPECT_EQ(s3.error, Errc::chap_mutual_required);
    EXPECT_TRUE(s3.text.empty());  // nothing of the target's secret leaves
    EXPECT_FALSE(login.authenticated());
    expect_status(login.step(request(1, 3, true, {})), 0x02, 0x00);
}

TEST_F(Login, RequireMutualAcceptsMutualChap) {
    auto login = make();
    auto challenge = start_chap(login, mutual_target);
    const std::string initiator_challenge = "0x1112131415161718191a1b1c1d1e1f20";
    auto s3 = login.step(request(0, 3, true,
                                 {{"CHAP_N", initiator_secret.user},
                                  {"CHAP_R", answer(challenge, initiator_secret.secret)},
                                  {"CHAP_I", "77"},
                                  {"CHAP_C", initiator_challenge}}));
    ASSERT_FALSE(s3.failed()) << s3.error.message();
    EXPECT_TRUE(s3.complete);
    EXPECT_TRUE(login.authenticated());
    EXPECT_EQ(keys_of(s3)["CHAP_R"], md5_hex(77, target_secret.secret, initiator_challenge));
}

TEST_F(Login, RequireMutualStillChecksTheInitiatorFirst) {
    auto login = make();
    auto challenge = start_chap(login, mutual_target);
    auto s3 = login.step(request(
        0, 1, true, {{"CHAP_N", initiator_secret.user}, {"CHAP_R", answer(challenge, "wrong")}}));
    expect_status(s3, 0x02, 0x01);
    EXPECT_EQ(s3.error, Errc::chap_response_mismatch);
}

TEST_F(Login, RequireMutualRefusesAuthMethodNone) {
    auto login = make();
    Keys first = identity(mutual_target);
    first.push_back({"AuthMethod", "None"});
    auto s1 = login.step(request(0, 1, true, first));
    expect_status(s1, 0x02, 0x01);
}

TEST_F(Login, ChapWrongResponse) {
    auto login = make();
    auto challenge = start_chap(login);
    auto s3 = login.step(request(
        0, 1, true, {{"CHAP_N", initiator_secret.user}, {"CHAP_R", answer(challenge, "wrong")}}));
    expect_status(s3, 0x02, 0x01);
    EXPECT_EQ(s3.error, Errc::chap_response_mismatch);
    // No further chances.
    expect_status(login.step(request(0, 1, true, {})), 0x02, 0x00);
}

TEST_F(Login, ChapLongResponseRejected) {
    auto login = make();
    start_chap(login);
    auto s3 = login.step(
        request(0, 1, true,
                {{"CHAP_N", initiator_secret.user}, {"CHAP_R", "0x" + std::string(2048, 'a')}}));
    expect_status(s3, 0x02, 0x01);
    EXPECT_EQ(s3.error, Errc::chap_bad_response_length);
}

TEST_F(Login, ChapReflection) {
    auto login = make();
    auto challenge = start_chap(login);
    auto s3 = login.step(request(0, 1, true,
                                 {{"CHAP_N", initiator_secret.user},
                                  {"CHAP_R", answer(challenge, initiator_secret.secret)},
                                  {"CHAP_I", challenge["CHAP_I"]},
                                  {"CHAP_C", challenge["CHAP_C"]}}));
    expect_status(s3, 0x02, 0x01);
    EXPECT_EQ(s3.error, Errc::chap_reflected_challenge);
}

TEST_F(Login, ChapAlgorithmRejected) {
    auto login = make();
    ASSERT_FALSE(
        login.step(request(0, 1, true, with(identity(chap_target), {{"AuthMethod", "CHAP"}})))
            .failed());
    auto s = login.step(request(0, 1, true, {{"CHAP_A", "7"}}));
    expect_status(s, 0x02, 0x01);
    EXPECT_EQ(keys_of(s)["CHAP_A"], "Reject");
}

TEST_F(Login, ChapTargetRefusesNone) {
    auto login = make();
    auto s = login.step(request(0, 1, true, with(identity(chap_target), {{"AuthMethod", "None"}})));
    expect_status(s, 0x02, 0x01);
    EXPECT_EQ(s.error, Errc::negotiation_auth_method_rejected);
    auto k = keys_of(s);
    EXPECT_EQ(k.size(), 1u);  // no TargetPortalGroupTag in a failed response
    EXPECT_EQ(k["AuthMethod"], "Reject");
}

TEST_F(Login, OpenTargetRefusesChapOnly) {
    auto login = make();
    auto s = login.step(request(0, 1, true, with(identity(open_target), {{"AuthMethod", "CHAP"}})));
    expect_status(s, 0x02, 0x01);
}

TEST_F(Login, ChapTargetSkippingSecurityStage) {
    auto login = make();
    expect_status(login.step(request(1, 3, true, identity(chap_target))), 0x02, 0x01);
}

TEST_F(Login, ChapTargetTransitWithoutAuthMethod) {
    auto login = make();
    auto s = login.step(request(0, 3, true, identity(chap_target)));
    expect_status(s, 0x02, 0x01);
    EXPECT_EQ(s.error, Errc::negotiation_authentication_required);
}

TEST_F(Login, ChapTargetJumpingToOperationalMidway) {
    auto login = make();
    start_chap(login);
    expect_status(login.step(request(1, 3, true, {})), 0x02, 0x01);
}

TEST_F(Login, ChapKeysBeforeAuthMethod) {
    auto login = make();
    auto s = login.step(request(0, 1, false, with(identity(chap_target), {{"CHAP_A", "5"}})));
    expect_status(s, 0x02, 0x01);
}

TEST_F(Login, ChapInTheSameRequestAsAuthMethod) {
    auto login = make();
    auto s = login.step(request(
        0, 1, false, with(identity(chap_target), {{"AuthMethod", "CHAP"}, {"CHAP_A", "5"}})));
    ASSERT_FALSE(s.failed()) << s.error.message();
    auto k = keys_of(s);
    EXPECT_EQ(k["AuthMethod"], "CHAP");
    EXPECT_EQ(k["CHAP_A"], "5");
}

TEST_F(Login, Discovery) {
    auto login = make();
    auto s = login.step(request(0, 3, true,
                                {{"InitiatorName", std::string(initiator_iqn)},
                                 {"SessionType", "Discovery"},
                                 {"AuthMethod", "None"},
                                 {"MaxBurstLength", "4096"},
                                 {"HeaderDigest", "None"}}));
    ASSERT_FALSE(s.failed()) << s.error.message();
    EXPECT_TRUE(s.complete);
    auto k = keys_of(s);
    EXPECT_EQ(k.count("TargetPortalGroupTag"), 0u);
    EXPECT_EQ(k["MaxBurstLength"], "Irrelevant");
    EXPECT_EQ(k["HeaderDigest"], "None");
    EXPECT_EQ(login.session_type(), SessionType::discovery);
    EXPECT_EQ(login.target(), nullptr);
}

TEST_F(Login, DiscoveryWithChap) {
    auto login = make(discovery_secret);
    auto s1 = login.step(request(0, 1, true,
                                 {{"InitiatorName", std::string(initiator_iqn)},
                                  {"SessionType", "Discovery"},
                                  {"AuthMethod", "CHAP,None"}}));
    ASSERT_FALSE(s1.failed()) << s1.error.message();
    EXPECT_EQ(keys_of(s1)["AuthMethod"], "CHAP");
    auto s2 = login.step(request(0, 1, true, {{"CHAP_A", "5"}}));
    ASSERT_FALSE(s2.failed());
    auto s3 = login.step(request(0, 1, true,
                                 {{"CHAP_N", discovery_secret.user},
                                  {"CHAP_R", answer(keys_of(s2), discovery_secret.secret)}}));
    ASSERT_FALSE(s3.failed()) << s3.error.message();
    EXPECT_TRUE(s3.transit);
    auto s4 = login.step(request(1, 3, true, {}));
    EXPECT_TRUE(s4.complete);
    EXPECT_TRUE(login.authenticated());
}

TEST_F(Login, DiscoveryChapRefusesNone) {
    auto login = make(discovery_secret);
    auto s = login.step(request(0, 3, true,
                                {{"InitiatorName", std::string(initiator_iqn)},
                                 {"SessionType", "Discovery"},
                                 {"AuthMethod", "None"}}));
    expect_status(s, 0x02, 0x01);
}

TEST_F(Login, MissingInitiatorName) {
    auto login = make();
    auto s = login.step(request(0, 1, true, {{"TargetName", std::string(open_target)}}));
    expect_status(s, 0x02, 0x07);
}

TEST_F(Login, MissingTargetName) {
    auto login = make();
    auto s = login.step(request(0, 1, true, {{"InitiatorName", std::string(initiator_iqn)}}));
    expect_status(s, 0x02, 0x07);
    auto explicit_normal = make();
    s = explicit_normal.step(request(
        0, 1, true, {{"InitiatorName", std::string(initiator_iqn)}, {"SessionType", "Normal"}}));
    expect_status(s, 0x02, 0x07);
}

TEST_F(Login, UnknownTarget) {
    auto login = make();
    expect_status(login.step(request(0, 1, true, identity("iqn.2024-01.test:nope"))), 0x02, 0x03);
}

TEST_F(Login, InitiatorNotAllowed) {
    auto login = make();
    expect_status(login.step(request(0, 1, true, identity(acl_target))), 0x02, 0x02);
}

TEST_F(Login, UnsupportedVersion) {
    auto login = make();
    auto r = request(0, 1, true, identity(open_target));
    r.version_max = 2;
    r.version_min = 1;
    expect_status(login.step(r), 0x02, 0x05);
}

TEST_F(Login, BadStages) {
    const std::vector<std::tuple<uint8_t, uint8_t, bool>> bad = {
        {3, 3, true}, {2, 3, true}, {0, 2, true}, {0, 0, true},
        {1, 1, true}, {1, 0, true}, {0, 4, true},
    };
    for (auto [csg, nsg, transit] : bad) {
        auto login = make();
        expect_status(login.step(request(csg, nsg, transit, identity(open_target))), 0x02, 0x00);
    }
    auto login = make();
    expect_status(login.step(request(3, 0, false, identity(open_target))), 0x02, 0x00);
}

TEST_F(Login, StageMustFollowTheTarget) {
    auto login = make();
    ASSERT_FALSE(login.step(request(0, 0, false, identity(open_target))).failed());
    expect_status(login.step(request(1, 3, true, {})), 0x02, 0x00);
    auto back = make();
    ASSERT_FALSE(back.step(request(0, 1, true, identity(open_target))).failed());
    expect_status(back.step(request(0, 1, true, {})), 0x02, 0x00);
}

TEST_F(Login, KeysNotAllowedInLogin) {
    for (const char* key :
         {"SendTargets", "TargetAddress", "TargetPortalGroupTag", "TargetAlias"}) {
        auto login = make();
        auto s = login.step(request(0, 1, true, with(identity(open_target), {{key, "All"}})));
        expect_status(s, 0x02, 0x0b);
    }
}

TEST_F(Login, SecurityKeyInOperationalStage) {
    auto login = make();
    auto s = login.step(request(1, 3, true, with(identity(open_target), {{"AuthMethod", "None"}})));
    expect_status(s, 0x02, 0x00);
    EXPECT_EQ(s.error, Errc::negotiation_security_key_outside_security_stage);
}

TEST_F(Login, RedeclarationWithDifferentValueFails) {
    auto login = make();
    ASSERT_FALSE(
        login.step(request(1, 0, false, with(identity(open_target), {{"MaxBurstLength", "4096"}})))
            .failed());
    // The same value again is answered again (initiators resend after a T=0 response).
    auto again = login.step(request(1, 0, false, {{"MaxBurstLength", "4096"}}));
    ASSERT_FALSE(again.failed());
    EXPECT_EQ(keys_of(again)["MaxBurstLength"], "4096");
    auto s = login.step(request(1, 3, true, {{"MaxBurstLength", "8192"}}));
    expect_status(s, 0x02, 0x00);
    EXPECT_EQ(s.error, Errc::negotiation_redeclared_key);
}

TEST_F(Login, IdentityRepeatsAllowedButNotChanges) {
    auto login = make();
    ASSERT_FALSE(login.step(request(0, 1, true, identity(open_target))).failed());
    auto s =
        login.step(request(1, 0, false, with(identity(open_target), {{"SessionType", "Normal"}})));
    ASSERT_FALSE(s.failed()) << s.error.message();
    s = login.step(request(1, 3, true, {{"InitiatorName", "iqn.2024-01.test:someone-else"}}));
    expect_status(s, 0x02, 0x00);
}

TEST_F(Login, BadSessionTypeAndNames) {
    auto login = make();
    // RFC 7143 §11.13.5: 0209, session type not supported.
    expect_status(
        login.step(request(0, 1, true, with(identity(open_target), {{"SessionType", "Bulk"}}))),
        0x02, 0x09);
    auto long_name = make();
    expect_status(long_name.step(request(0, 1, true,
                                         {{"InitiatorName", std::string(224, 'i')},
                                          {"TargetName", std::string(open_target)}})),
                  0x02, 0x00);
}

// A name that is not text (the fuzzers' finding: it reached the console's JSON and the logs):
// invalid UTF-8, a control character or a space is an initiator error (RFC 7143 §4.2.7).
TEST_F(Login, NamesThatAreNotTextAreRefused) {
    for (const std::string& bad :
         {std::string("iqn.2026-12.test:\xff"), std::string("iqn.2026-12.test:\xc0\xaf"),
          std::string("iqn.2026-12.test:\xed\xa0\x80"), std::string("iqn.2026-12.test:\xe2\x82"),
          std::string("iqn.2026-12.test:a b"), std::string("iqn.2026-12.test:\x1b[2J")}) {
        auto login = make();
        expect_status(
            login.step(request(0, 1, true,
                               {{"InitiatorName", bad}, {"TargetName", std::string(open_target)}})),
            0x02, 0x00);
    }
    // Well-formed UTF-8 beyond ASCII is a name (RFC 3722 allows it).
    auto login = make();
    EXPECT_FALSE(login
                     .step(request(0, 1, true,
                                   {{"InitiatorName", "iqn.2026-12.test:caf\xc3\xa9-\xe6\x9d\xb1"},
                                    {"TargetName", std::string(open_target)}}))
                     .failed());
}

TEST_F(Login, TargetOffersHoldTheTransit) {
    limits.immediate_data = false;
    limits.max_burst_length = 65536;
    auto login = make();
    auto s1 = login.step(request(1, 3, true, with(identity(open_target), {{"InitialR2T", "Yes"}})));
    ASSERT_FALSE(s1.failed()) << s1.error.message();
    EXPECT_FALSE(s1.transit);
    auto k = keys_of(s1);
    EXPECT_EQ(k["ImmediateData"], "No");
    EXPECT_EQ(k["MaxBurstLength"], "65536");
    auto s2 =
        login.step(request(1, 3, true, {{"ImmediateData", "No"}, {"MaxBurstLength", "65536"}}));
    ASSERT_FALSE(s2.failed()) << s2.error.message();
    EXPECT_TRUE(s2.complete);
    EXPECT_TRUE(s2.text.empty());  // answers are not answered
    EXPECT_FALSE(login.params().immediate_data);
    EXPECT_EQ(login.params().max_burst_length, 65536u);
    EXPECT_EQ(login.params().first_burst_length, 65536u);
}

TEST_F(Login, BadAnswerToTargetOffer) {
    limits.immediate_data = false;
    auto login = make();
    ASSERT_FALSE(login.step(request(1, 3, true, identity(open_target))).failed());
    auto s = login.step(request(1, 3, true, {{"ImmediateData", "Yes"}}));
    expect_status(s, 0x02, 0x00);
    EXPECT_EQ(s.error, Errc::negotiation_bad_answer);
}

TEST_F(Login, InitiatorOfferedKeysAreNotOfferedAgain) {
    limits.immediate_data = false;
    auto login = make();
    auto s =
        login.step(request(1, 3, true, with(identity(open_target), {{"ImmediateData", "Yes"}})));
    ASSERT_FALSE(s.failed());
    EXPECT_TRUE(s.complete);
    EXPECT_EQ(keys_of(s)["ImmediateData"], "No");
}

TEST_F(Login, UnknownKeysNotUnderstood) {
    auto login = make();
    auto s = login.step(request(0, 1, true, with(identity(open_target), {{"X-com.vendor", "1"}})));
    ASSERT_FALSE(s.failed());
    EXPECT_EQ(keys_of(s)["X-com.vendor"], "NotUnderstood");
}

TEST_F(Login, NoStepAfterCompletion) {
    auto login = make();
    ASSERT_TRUE(login.step(request(1, 3, true, identity(open_target))).complete);
    auto s = login.step(request(1, 3, true, {}));
    expect_status(s, 0x02, 0x00);
    EXPECT_EQ(s.error, Errc::negotiation_already_finished);
}

TEST_F(Login, StepBound) {
    auto login = make();
    ASSERT_FALSE(login.step(request(0, 0, false, identity(open_target))).failed());
    LoginStep s;
    for (unsigned i = 1; i < max_login_steps; ++i) {
        s = login.step(request(0, 0, false, {}));
        ASSERT_FALSE(s.failed()) << i;
    }
    s = login.step(request(0, 0, false, {}));
    expect_status(s, 0x02, 0x00);
    EXPECT_EQ(s.error, Errc::negotiation_too_many_steps);
}

TEST(LoginStatusTable, Mapping) {
    auto check = [](std::error_code ec, uint8_t cls, uint8_t detail) {
        const LoginStatus st = login_status_for(ec);
        EXPECT_EQ(st.status_class, cls) << ec.message();
        EXPECT_EQ(st.status_detail, detail) << ec.message();
    };
    check({}, 0, 0);
    check(Errc::text_duplicate_key, 2, 0);
    check(Errc::chap_response_mismatch, 2, 1);
    check(Errc::chap_mutual_required, 2, 1);
    check(Errc::negotiation_initiator_not_allowed, 2, 2);
    check(Errc::negotiation_target_not_found, 2, 3);
    check(Errc::negotiation_unsupported_version, 2, 5);
    check(Errc::negotiation_missing_target_name, 2, 7);
    check(Errc::negotiation_bad_session_type, 2, 9);
    check(Errc::pdu_unexpected_during_login, 2, 0x0b);
    check(Errc::chap_internal_error, 3, 0);
    check(std::make_error_code(std::errc::not_enough_memory), 3, 0);
    const LoginStep step = login_failure(Errc::text_not_nul_terminated);
    EXPECT_TRUE(step.failed());
    EXPECT_EQ(step.status_class, 2);
    EXPECT_EQ(step.error, Errc::text_not_nul_terminated);
}

TEST(ErrorCategory, Messages) {
    const std::error_code ec = Errc::chap_reflected_challenge;
    EXPECT_STREQ(ec.category().name(), "iscsi");
    EXPECT_NE(ec.message().find("reflection"), std::string::npos);
    for (int v = static_cast<int>(Errc::text_key_too_long);
         v <= static_cast<int>(Errc::protocol_error); ++v) {
        EXPECT_NE(iscsi_category().message(v), "unknown iSCSI error") << v;
    }
}

}  // namespace
}  // namespace atsarray::iscsi
