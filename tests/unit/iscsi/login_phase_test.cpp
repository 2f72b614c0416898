// The login phase on the wire, fed raw Login Request PDUs (RFC 7143 §6.3, §11.12, §11.13): the
// responses' fields, continuation, identity checks, and what refuses a login.
#include "target/iscsi/login_phase.hpp"

#include <gtest/gtest.h>

#include <string>

#include "target/iscsi/server_state.hpp"
#include "tests/unit/iscsi/raw_pdu.hpp"

namespace atsarray::iscsi {
namespace {

using test::byte_at;
using test::RawPdu;
using test::u16_at;
using test::u32_at;

constexpr uint8_t op_login_request = 0x03;
constexpr uint8_t op_login_response = 0x23;
constexpr std::string_view target_name = "iqn.2026-11.org.atsarray:unit";

class LoginPhaseTest : public ::testing::Test {
  protected:
    LoginPhaseTest() {
        TargetNode node;
        node.info.name = std::string(target_name);
        state_.targets.add(std::move(node));
        state_.settings.queue_depth = 32;
    }

    // A Login Request with T, C, CSG and NSG, the ISID 0x80:12:34:56:78:9a, TSIH, CID, CmdSN.
    static RawPdu login(uint8_t flags, uint16_t tsih = 0, uint16_t cid = 1, uint32_t cmd_sn = 100) {
        RawPdu pdu(op_login_request, flags);
        pdu.immediate();
        const uint8_t isid[6] = {0x80, 0x12, 0x34, 0x56, 0x78, 0x9a};
        for (size_t i = 0; i < 6; ++i) {
            pdu.u8(8 + i, isid[i]);
        }
        pdu.u16(14, tsih).itt(0x1000).u16(20, cid).cmd_sn(cmd_sn);
        return pdu;
    }
    static std::string keys(std::initializer_list<std::string_view> list) {
        std::string s;
        for (std::string_view k : list) {
            s.append(k);
            s.push_back('\0');
        }
        return s;
    }
    const OutPdu& last() const { return tx_.at(tx_.size() - 1); }

    ServerState state_;
    SendQueue tx_;
    CommandWindow window_;
    std::string peer_ = "test";
    LoginPhase phase_{state_, tx_, window_, peer_};
};

constexpr uint8_t transit = 0x80;
constexpr uint8_t more = 0x40;
constexpr uint8_t operational_to_full_feature = (1 << 2) | 3;

TEST_F(LoginPhaseTest, OneStepToFullFeatureAllocatesATsih) {
    RawPdu pdu = login(transit | operational_to_full_feature);
    pdu.text(keys({"InitiatorName=iqn.2026-11.test:host", "SessionType=Normal",
                   "TargetName=iqn.2026-11.org.atsarray:unit"}));
    EXPECT_EQ(phase_.on_pdu(pdu.view()), LoginPhase::Outcome::complete);
    const OutPdu& response = last();
    EXPECT_EQ(test::opcode_of(response), op_login_response);
    EXPECT_EQ(byte_at(response, 1), transit | operational_to_full_feature);
    EXPECT_EQ(byte_at(response, 8), 0x80);  // ISID echoed
    EXPECT_EQ(byte_at(response, 13), 0x9a);
    EXPECT_NE(u16_at(response, 14), 0);  // TSIH
    EXPECT_EQ(u16_at(response, 14), phase_.tsih());
    EXPECT_EQ(u32_at(response, 16), 0x1000U);
    EXPECT_EQ(test::stat_sn_of(response), 1U);
    EXPECT_EQ(test::exp_cmd_sn_of(response), 100U);  // the login's CmdSN opens the window
    EXPECT_EQ(test::max_cmd_sn_of(response), 131U);  // with queue_depth 32 slots
    EXPECT_EQ(byte_at(response, 36), 0);             // success
    EXPECT_EQ(phase_.isid(), 0x80123456789aULL);
    EXPECT_EQ(phase_.cid(), 1);
    EXPECT_EQ(phase_.negotiation().initiator_name(), "iqn.2026-11.test:host");
    EXPECT_EQ(phase_.negotiation().target()->name, target_name);
}

TEST_F(LoginPhaseTest, ContinuedTextIsJoinedAfterAnEmptyResponse) {
    const std::string all = keys({"InitiatorName=iqn.2026-11.test:host", "SessionType=Normal",
                                  "TargetName=iqn.2026-11.org.atsarray:unit"});
    RawPdu first = login(more | operational_to_full_feature);
    first.text(all.substr(0, 20));
    EXPECT_EQ(phase_.on_pdu(first.view()), LoginPhase::Outcome::in_progress);
    EXPECT_EQ(last().data.size(), 0U);
    EXPECT_EQ(byte_at(last(), 1), operational_to_full_feature);  // no T
    RawPdu second = login(transit | operational_to_full_feature);
    second.text(all.substr(20));
    EXPECT_EQ(phase_.on_pdu(second.view()), LoginPhase::Outcome::complete);
    EXPECT_EQ(test::stat_sn_of(last()), 2U);
}

TEST_F(LoginPhaseTest, OtherOpcodesDuringLoginAreRefused) {
    RawPdu nop(0x00);
    nop.immediate().itt(7);
    EXPECT_EQ(phase_.on_pdu(nop.view()), LoginPhase::Outcome::refused);
    EXPECT_EQ(test::opcode_of(last()), op_login_response);
    EXPECT_EQ(byte_at(last(), 36), 0x02);  // initiator error
    EXPECT_EQ(byte_at(last(), 37), 0x0b);  // invalid request during login
    EXPECT_EQ(u32_at(last(), 16), 7U);
}

TEST_F(LoginPhaseTest, TransitWithContinueIsRefused) {
    RawPdu pdu = login(transit | more | operational_to_full_feature);
    EXPECT_EQ(phase_.on_pdu(pdu.view()), LoginPhase::Outcome::refused);
    EXPECT_EQ(byte_at(last(), 36), 0x02);
    EXPECT_EQ(byte_at(last(), 37), 0x00);
}

TEST_F(LoginPhaseTest, IdentityMayNotChangeDuringLogin) {
    RawPdu first = login(more | operational_to_full_feature);
    first.text("InitiatorName=iqn.2026-11.test:host");
    EXPECT_EQ(phase_.on_pdu(first.view()), LoginPhase::Outcome::in_progress);
    RawPdu second = login(transit | operational_to_full_feature, 0, 2);  // another CID
    EXPECT_EQ(phase_.on_pdu(second.view()), LoginPhase::Outcome::refused);
    EXPECT_EQ(byte_at(last(), 36), 0x02);
}

TEST_F(LoginPhaseTest, UnknownTsihIsASessionThatDoesNotExist) {
    RawPdu pdu = login(transit | operational_to_full_feature, 0x4242);
    pdu.text(
        keys({"InitiatorName=iqn.2026-11.test:host", "TargetName=iqn.2026-11.org.atsarray:unit"}));
    EXPECT_EQ(phase_.on_pdu(pdu.view()), LoginPhase::Outcome::refused);
    EXPECT_EQ(byte_at(last(), 36), 0x02);
    EXPECT_EQ(byte_at(last(), 37), 0x0a);
}

TEST_F(LoginPhaseTest, UnknownTargetIsRefusedByTheNegotiation) {
    RawPdu pdu = login(transit | operational_to_full_feature);
    pdu.text(keys({"InitiatorName=iqn.2026-11.test:host", "TargetName=iqn.2026-11.test:nothing"}));
    EXPECT_EQ(phase_.on_pdu(pdu.view()), LoginPhase::Outcome::refused);
    EXPECT_EQ(byte_at(last(), 36), 0x02);
    EXPECT_EQ(byte_at(last(), 37), 0x03);  // not found
}

}  // namespace
}  // namespace atsarray::iscsi
