#include "target/iscsi/params.hpp"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "target/iscsi/errors.hpp"

namespace atsarray::iscsi {
namespace {

std::map<std::string, std::string> keys_of(const std::vector<uint8_t>& text) {
    std::vector<TextKey> keys;
    EXPECT_FALSE(parse_text(text, keys));
    std::map<std::string, std::string> out;
    for (auto& k : keys) {
        out[k.key] = k.value;
    }
    return out;
}

class Negotiate : public ::testing::Test {
  protected:
    // The answer to one key; "<none>" when the target sends none.
    std::string answer(std::string key, std::string value, SessionType type = SessionType::normal) {
        std::vector<uint8_t> response;
        negotiate_login_key(TextKey{key, value}, limits, type, params, response);
        auto keys = keys_of(response);
        if (keys.empty()) {
            return "<none>";
        }
        EXPECT_EQ(keys.size(), 1u);
        return keys.begin()->second;
    }

    TargetLimits limits;
    SessionParams params;
};

TEST(ClassifyKey, Classes) {
    EXPECT_EQ(classify_key("MaxBurstLength"), KeyClass::operational);
    EXPECT_EQ(classify_key("IFMarker"), KeyClass::operational);
    EXPECT_EQ(classify_key("InitiatorName"), KeyClass::identity);
    EXPECT_EQ(classify_key("SessionType"), KeyClass::identity);
    EXPECT_EQ(classify_key("CHAP_R"), KeyClass::security);
    EXPECT_EQ(classify_key("AuthMethod"), KeyClass::security);
    EXPECT_EQ(classify_key("TargetAddress"), KeyClass::target_declared);
    EXPECT_EQ(classify_key("TargetAlias"), KeyClass::target_declared);
    EXPECT_EQ(classify_key("SendTargets"), KeyClass::send_targets);
    EXPECT_EQ(classify_key("X-com.example"), KeyClass::private_extension);
    EXPECT_EQ(classify_key("X#org.iana"), KeyClass::private_extension);
    EXPECT_EQ(classify_key("CHAP_X"), KeyClass::unknown);
    EXPECT_EQ(classify_key("Bogus"), KeyClass::unknown);
}

TEST_F(Negotiate, DigestFirstSupportedInInitiatorOrder) {
    EXPECT_EQ(answer("HeaderDigest", "CRC32C,None"), "CRC32C");
    EXPECT_TRUE(params.header_digest);
    EXPECT_EQ(answer("DataDigest", "None,CRC32C"), "None");
    EXPECT_FALSE(params.data_digest);
    EXPECT_EQ(answer("DataDigest", "MD5,CRC32C"), "CRC32C");
    EXPECT_TRUE(params.data_digest);
    EXPECT_EQ(answer("HeaderDigest", "MD5"), "Reject");
    limits.header_digest.crc32c = false;
    EXPECT_EQ(answer("HeaderDigest", "CRC32C"), "Reject");
    limits.data_digest.none = false;
    EXPECT_EQ(answer("DataDigest", "None,CRC32C"), "CRC32C");
}

TEST_F(Negotiate, ImmediateDataIsAnd) {
    EXPECT_EQ(answer("ImmediateData", "Yes"), "Yes");
    EXPECT_TRUE(params.immediate_data);
    EXPECT_EQ(answer("ImmediateData", "No"), "No");
    EXPECT_FALSE(params.immediate_data);
    limits.immediate_data = false;
    EXPECT_EQ(answer("ImmediateData", "Yes"), "No");
    EXPECT_EQ(answer("ImmediateData", "yes"), "Reject");
}

TEST_F(Negotiate, InitialR2TIsOr) {
    limits.initial_r2t = false;
    EXPECT_EQ(answer("InitialR2T", "No"), "No");
    EXPECT_FALSE(params.initial_r2t);
    EXPECT_EQ(answer("InitialR2T", "Yes"), "Yes");
    limits.initial_r2t = true;
    EXPECT_EQ(answer("InitialR2T", "No"), "Yes");
    EXPECT_TRUE(params.initial_r2t);
    EXPECT_EQ(answer("InitialR2T", "1"), "Reject");
}

TEST_F(Negotiate, InOrderKeysAreOrAndStayYes) {
    EXPECT_EQ(answer("DataPDUInOrder", "No"), "Yes");
    EXPECT_EQ(answer("DataSequenceInOrder", "No"), "Yes");
    EXPECT_TRUE(params.data_pdu_in_order);
    EXPECT_TRUE(params.data_sequence_in_order);
    EXPECT_EQ(answer("DataPDUInOrder", "Maybe"), "Reject");
}

TEST_F(Negotiate, NumericMinimum) {
    limits.max_burst_length = 65536;
    EXPECT_EQ(answer("MaxBurstLength", "262144"), "65536");
    EXPECT_EQ(params.max_burst_length, 65536u);
    EXPECT_EQ(answer("MaxBurstLength", "4096"), "4096");
    EXPECT_EQ(answer("MaxBurstLength", "0x1000"), "4096");
    EXPECT_EQ(answer("MaxBurstLength", "511"), "Reject");
    EXPECT_EQ(answer("MaxBurstLength", "16777216"), "Reject");
    EXPECT_EQ(answer("MaxBurstLength", "big"), "Reject");
    EXPECT_EQ(params.max_burst_length, 4096u);

    limits.max_outstanding_r2t = 4;
    EXPECT_EQ(answer("MaxOutstandingR2T", "16"), "4");
    EXPECT_EQ(answer("MaxOutstandingR2T", "0"), "Reject");
    EXPECT_EQ(answer("MaxConnections", "8"), "1");
    EXPECT_EQ(answer("MaxConnections", "0"), "Reject");
    EXPECT_EQ(answer("ErrorRecoveryLevel", "2"), "0");
    EXPECT_EQ(answer("ErrorRecoveryLevel", "3"), "Reject");
    EXPECT_EQ(answer("DefaultTime2Retain", "60"), "20");
    EXPECT_EQ(answer("DefaultTime2Retain", "0"), "0");
    EXPECT_EQ(answer("DefaultTime2Retain", "3601"), "Reject");
}

TEST_F(Negotiate, Time2WaitIsMaximum) {
    EXPECT_EQ(answer("DefaultTime2Wait", "0"), "2");
    EXPECT_EQ(answer("DefaultTime2Wait", "10"), "10");
    EXPECT_EQ(params.default_time2wait, 10u);
    EXPECT_EQ(answer("DefaultTime2Wait", "3601"), "Reject");
}

TEST_F(Negotiate, FirstBurstNotAboveMaxBurst) {
    limits.first_burst_length = 1048576;
    EXPECT_EQ(answer("MaxBurstLength", "16384"), "16384");
    EXPECT_EQ(answer("FirstBurstLength", "65536"), "16384");
    EXPECT_EQ(answer("FirstBurstLength", "8192"), "8192");
    EXPECT_EQ(answer("FirstBurstLength", "100"), "Reject");
}

TEST_F(Negotiate, MaxRecvDataSegmentLengthIsDeclarative) {
    EXPECT_EQ(answer("MaxRecvDataSegmentLength", "65536"), "<none>");
    EXPECT_EQ(params.initiator_max_recv_data_segment_length, 65536u);
    EXPECT_EQ(params.target_max_recv_data_segment_length, 8192u);
    EXPECT_EQ(answer("MaxRecvDataSegmentLength", "512"), "<none>");
    EXPECT_EQ(answer("MaxRecvDataSegmentLength", "16777215"), "<none>");
    EXPECT_EQ(answer("MaxRecvDataSegmentLength", "511"), "Reject");
    EXPECT_EQ(answer("MaxRecvDataSegmentLength", "16777216"), "Reject");
    EXPECT_EQ(params.initiator_max_recv_data_segment_length, 16777215u);
}

TEST_F(Negotiate, ObsoleteMarkers) {
    // RFC 7143 §13.26.
    EXPECT_EQ(answer("IFMarker", "Yes"), "No");
    EXPECT_EQ(answer("OFMarker", "No"), "No");
    EXPECT_EQ(answer("IFMarkInt", "1-2048"), "Reject");
    EXPECT_EQ(answer("OFMarkInt", "2048"), "Reject");
}

TEST_F(Negotiate, UnknownAndPrivateKeys) {
    EXPECT_EQ(answer("Bogus", "1"), "NotUnderstood");
    EXPECT_EQ(answer("X-com.example.feature", "Yes"), "NotUnderstood");
    EXPECT_EQ(answer("X#org.example", "Yes"), "NotUnderstood");
}

TEST_F(Negotiate, NewerKeys) {
    EXPECT_EQ(answer("TaskReporting", "FastAbort,RFC3720"), "RFC3720");
    EXPECT_EQ(answer("TaskReporting", "FastAbort"), "Reject");
    EXPECT_EQ(answer("iSCSIProtocolLevel", "2"), "1");
    EXPECT_EQ(params.iscsi_protocol_level, 1u);
    EXPECT_EQ(answer("iSCSIProtocolLevel", "32"), "Reject");
}

TEST_F(Negotiate, DiscoveryIrrelevantKeys) {
    const auto d = SessionType::discovery;
    for (const char* key :
         {"MaxConnections", "InitialR2T", "ImmediateData", "MaxBurstLength", "FirstBurstLength",
          "MaxOutstandingR2T", "DataPDUInOrder", "DataSequenceInOrder"}) {
        EXPECT_EQ(answer(key, "1", d), "Irrelevant") << key;
    }
    EXPECT_EQ(answer("HeaderDigest", "CRC32C,None", d), "CRC32C");
    EXPECT_EQ(answer("DataDigest", "None", d), "None");
    EXPECT_EQ(answer("DefaultTime2Wait", "5", d), "5");
    EXPECT_EQ(answer("DefaultTime2Retain", "5", d), "5");
    EXPECT_EQ(answer("ErrorRecoveryLevel", "0", d), "0");
    EXPECT_EQ(answer("MaxRecvDataSegmentLength", "4096", d), "<none>");
    EXPECT_EQ(params.initiator_max_recv_data_segment_length, 4096u);
}

TEST(TargetOffers, OnlyWhereDefaultsDoNotSuit) {
    TargetLimits limits;
    EXPECT_TRUE(target_offers(limits, SessionType::normal, {}).empty());
    limits.immediate_data = false;
    limits.max_burst_length = 65536;
    limits.first_burst_length = 16384;
    limits.default_time2wait = 5;
    limits.default_time2retain = 10;
    limits.data_digest.none = false;
    auto offers = target_offers(limits, SessionType::normal, {});
    std::map<std::string, std::string> m;
    for (auto& o : offers) {
        m[o.key] = o.value;
    }
    EXPECT_EQ(m.size(), 6u);
    EXPECT_EQ(m["ImmediateData"], "No");
    EXPECT_EQ(m["MaxBurstLength"], "65536");
    EXPECT_EQ(m["FirstBurstLength"], "16384");
    EXPECT_EQ(m["DefaultTime2Wait"], "5");
    EXPECT_EQ(m["DefaultTime2Retain"], "10");
    EXPECT_EQ(m["DataDigest"], "CRC32C");
    offers = target_offers(limits, SessionType::normal, {"ImmediateData", "MaxBurstLength"});
    EXPECT_EQ(offers.size(), 4u);
    offers = target_offers(limits, SessionType::discovery, {});
    EXPECT_EQ(offers.size(), 3u);  // digest and time keys only
}

TEST(TargetOffers, Answers) {
    TargetLimits limits;
    limits.max_burst_length = 65536;
    SessionParams params;
    EXPECT_FALSE(accept_offer_answer({"MaxBurstLength", "32768"}, limits, params));
    EXPECT_EQ(params.max_burst_length, 32768u);
    EXPECT_EQ(accept_offer_answer({"MaxBurstLength", "131072"}, limits, params),
              Errc::negotiation_bad_answer);
    EXPECT_EQ(accept_offer_answer({"MaxBurstLength", "Reject"}, limits, params),
              Errc::negotiation_bad_answer);
    EXPECT_FALSE(accept_offer_answer({"ImmediateData", "No"}, limits, params));
    EXPECT_FALSE(params.immediate_data);
    EXPECT_EQ(accept_offer_answer({"ImmediateData", "Yes"}, limits, params),
              Errc::negotiation_bad_answer);
    EXPECT_FALSE(accept_offer_answer({"DataDigest", "CRC32C"}, limits, params));
    EXPECT_TRUE(params.data_digest);
    EXPECT_EQ(accept_offer_answer({"HeaderDigest", "NotUnderstood"}, limits, params),
              Errc::negotiation_bad_answer);
    EXPECT_EQ(accept_offer_answer({"Bogus", "1"}, limits, params), Errc::negotiation_bad_answer);
}

TEST(FinalizeParams, FirstBurstClampedToMaxBurst) {
    SessionParams params;
    params.max_burst_length = 16384;
    finalize_params(params);
    EXPECT_EQ(params.first_burst_length, 16384u);
}

TEST(FullFeaturePhase, OnlyMaxRecvDataSegmentLengthChanges) {
    SessionParams params;
    std::vector<uint8_t> response;
    const std::vector<TextKey> keys = {
        {"MaxRecvDataSegmentLength", "32768"},
        {"SendTargets", "All"},
        {"MaxBurstLength", "512"},
        {"HeaderDigest", "CRC32C"},
        {"InitiatorName", "iqn.x"},
        {"InitiatorAlias", "host"},
        {"AuthMethod", "None"},
        {"TargetAddress", "1.2.3.4"},
        {"X-vendor", "1"},
        {"Bogus", "1"},
    };
    EXPECT_FALSE(negotiate_ffp_keys(keys, params, response));
    EXPECT_EQ(params.initiator_max_recv_data_segment_length, 32768u);
    EXPECT_EQ(params.max_burst_length, 262144u);
    EXPECT_FALSE(params.header_digest);
    auto m = keys_of(response);
    EXPECT_EQ(m.count("MaxRecvDataSegmentLength"), 0u);
    EXPECT_EQ(m.count("SendTargets"), 0u);
    EXPECT_EQ(m.count("InitiatorAlias"), 0u);
    EXPECT_EQ(m["MaxBurstLength"], "Reject");
    EXPECT_EQ(m["HeaderDigest"], "Reject");
    EXPECT_EQ(m["InitiatorName"], "Reject");
    EXPECT_EQ(m["AuthMethod"], "Reject");
    EXPECT_EQ(m["TargetAddress"], "Reject");
    EXPECT_EQ(m["X-vendor"], "NotUnderstood");
    EXPECT_EQ(m["Bogus"], "NotUnderstood");

    response.clear();
    EXPECT_FALSE(negotiate_ffp_keys({{"MaxRecvDataSegmentLength", "100"}}, params, response));
    EXPECT_EQ(keys_of(response)["MaxRecvDataSegmentLength"], "Reject");
    EXPECT_EQ(params.initiator_max_recv_data_segment_length, 32768u);
}

}  // namespace
}  // namespace atsarray::iscsi
