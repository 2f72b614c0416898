// The replay's libiscsi sessions (tools/replay/session.hpp).
#include "tools/replay/session.hpp"

#include <cstdio>

namespace atsarray::replay {

uint64_t set_isid(iscsi_context* ctx, uint64_t isid) {
    const auto byte = [&](int i) { return static_cast<uint32_t>(isid >> (8 * (5 - i)) & 0xff); };
    const uint32_t type = byte(0) >> 6;
    const uint32_t b123 = byte(1) << 16 | byte(2) << 8 | byte(3);
    const uint32_t b45 = byte(4) << 8 | byte(5);
    switch (type) {
        case 0: {
            const uint32_t oui = (byte(0) & 0x3f) << 16 | byte(1) << 8 | byte(2);
            iscsi_set_isid_oui(ctx, oui, byte(3) << 16 | b45);
            return isid & 0x3fffffffffffULL;
        }
        case 1:
            iscsi_set_isid_en(ctx, b123, b45);
            return 0x400000000000ULL | (isid & 0xffffffffffULL);
        case 2:
            iscsi_set_isid_random(ctx, b123, b45);
            return 0x800000000000ULL | (isid & 0xffffffffffULL);
        default:
            iscsi_set_isid_reserved(ctx);
            return 0xc00000000000ULL;
    }
}

std::string session_label(const trace::Session& session) {
    char isid[24];
    std::snprintf(isid, sizeof isid, ",0x%012llx", static_cast<unsigned long long>(session.isid));
    return session.initiator_name + isid;
}

ReplaySession::ReplaySession(uint32_t index, const trace::Session& recorded)
    : index_(index), recorded_(recorded), label_(session_label(recorded)) {}

bool ReplaySession::login(const std::string& portal, const std::string& target, uint64_t lun) {
    ctx_ = initiator::create_context(recorded_.initiator_name);
    if (!ctx_) {
        error_ = "libiscsi refused the initiator name";
        return false;
    }
    iscsi_set_targetname(ctx_.get(), target.c_str());
    iscsi_set_session_type(ctx_.get(), ISCSI_SESSION_NORMAL);
    iscsi_set_noautoreconnect(ctx_.get(), 1);
    // A command the target never answers ends the replay's wait for it, reported as no status.
    iscsi_set_timeout(ctx_.get(), 30);
    isid_exact_ = set_isid(ctx_.get(), recorded_.isid) == recorded_.isid;
    if (iscsi_full_connect_sync(ctx_.get(), portal.c_str(), static_cast<int>(lun)) != 0) {
        error_ = iscsi_get_error(ctx_.get());
        ctx_.reset();
        return false;
    }
    return true;
}

bool ReplaySession::clear_unit_attentions(uint64_t lun, int attempts) {
    for (int i = 0; i < attempts; ++i) {
        initiator::Task t(iscsi_testunitready_sync(ctx_.get(), static_cast<int>(lun)));
        if (t && t->status == SCSI_STATUS_GOOD) {
            return true;
        }
        if (!t) {
            error_ = iscsi_get_error(ctx_.get());
            return false;
        }
    }
    error_ = "TEST UNIT READY never GOOD on LUN " + std::to_string(lun);
    return false;
}

void ReplaySession::logout() {
    if (ctx_ && iscsi_is_logged_in(ctx_.get()) != 0) {
        iscsi_logout_sync(ctx_.get());
    }
}

bool ReplaySession::write_block(uint64_t lun, uint64_t lba, const std::vector<uint8_t>& image) {
    auto* data = const_cast<uint8_t*>(image.data());
    const auto size = static_cast<uint32_t>(image.size());
    initiator::Task t(iscsi_write16_sync(ctx_.get(), static_cast<int>(lun), lba, data, size, size,
                                         0, 0, 0, 0, 0));
    if (t && t->status == SCSI_STATUS_GOOD) {
        return true;
    }
    error_ =
        t ? "WRITE(16) of LBA " + std::to_string(lba) + " answered " + std::to_string(t->status)
          : std::string(iscsi_get_error(ctx_.get()));
    return false;
}

}  // namespace atsarray::replay
