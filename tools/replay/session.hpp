#pragma once
// One libiscsi session per recorded session: the recorded initiator name and ISID, logged in to
// the replay's portal and target, then TEST UNIT READY until GOOD on each LUN it will use, so the
// unit attentions of a fresh login (SAM-5 §5.14) are not compared with the recording.

#include <cstdint>
#include <string>
#include <vector>

#include "formats/trace.hpp"
#include "tools/libiscsi_handles.hpp"

namespace atsarray::replay {

// libiscsi sets an ISID by type (RFC 7143 §11.12.5): OUI keeps all 48 bits, EN and Random keep
// 40 (the 6 bits after the type are 0), Reserved keeps only its type. Sets the nearest ISID to
// `isid` and returns the one set.
uint64_t set_isid(iscsi_context* ctx, uint64_t isid);

// "iqn...,0x800000012345": a session as the report names it.
std::string session_label(const trace::Session& session);

class ReplaySession {
  public:
    // Not logged in yet; `index` is the session's index in the trace.
    ReplaySession(uint32_t index, const trace::Session& recorded);

    // Logs in to `target` at `portal` with the recorded name and ISID; false and error() when the
    // login fails. `lun` is the first LUN it will use (libiscsi logs in for one).
    bool login(const std::string& portal, const std::string& target, uint64_t lun);
    // TEST UNIT READY on `lun` until GOOD, at most `attempts` times; false when never GOOD.
    bool clear_unit_attentions(uint64_t lun, int attempts);
    // Logs out (RFC 7143 §11.14), so the next replay's login with the same name and ISID is a new
    // session rather than the reinstatement of one the target still holds.
    void logout();
    // WRITE(16) of one block, synchronously (--seed); false and error() when not GOOD.
    bool write_block(uint64_t lun, uint64_t lba, const std::vector<uint8_t>& image);

    iscsi_context* context() const { return ctx_.get(); }
    uint32_t index() const { return index_; }
    const std::string& label() const { return label_; }
    const std::string& error() const { return error_; }
    // The ISID the login used, when libiscsi could not set the recorded one exactly.
    bool isid_exact() const { return isid_exact_; }

  private:
    uint32_t index_;
    trace::Session recorded_;
    std::string label_;
    initiator::Context ctx_;
    std::string error_;
    bool isid_exact_ = true;
};

}  // namespace atsarray::replay
