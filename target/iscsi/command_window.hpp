#pragma once
// The session's sequence numbers (RFC 7143 §4.2.2): the command window [ExpCmdSN, MaxCmdSN] that
// orders and throttles what the initiator sends, and the StatSN of what the target answers. One
// per connection (MaxConnections=1), touched only from the connection's executor.

#include <cstdint>
#include <vector>

#include "target/iscsi/pdu.hpp"

namespace atsarray::iscsi {

class CommandWindow {
  public:
    // What accept() decided for a request.
    enum class Verdict : uint8_t {
        accepted,         // immediate, or inside the window: handle it
        outside_window,   // RFC 7143 §4.2.2.1: silently ignored
        aborted_earlier,  // an ABORT TASK named it before it came (§11.5.1 b): never executes
    };

    // The login request's CmdSN opens the window with `queue_depth` slots (RFC 7143 §11.12.7);
    // StatSN starts at `first_stat_sn`.
    void open(uint32_t first_cmd_sn, uint32_t queue_depth, uint32_t first_stat_sn = 1);

    // A request arrives. Immediate requests (I bit) take no slot; a non-immediate one at ExpCmdSN
    // advances it (past CmdSNs an ABORT TASK consumed already).
    Verdict accept(const Bhs& bhs);
    // A non-immediate request ended (answered or dropped): its slot opens again.
    void release_slot(bool immediate) {
        if (!immediate) {
            ++max_cmd_sn_;
        }
    }
    // ABORT TASK for a command not received yet whose CmdSN is in the window (§11.5.1 b).
    void abort_before_arrival(uint32_t cmd_sn) { aborted_cmd_sns_.push_back(cmd_sn); }
    // True when `cmd_sn` was received (and so answered or still executing).
    bool received(uint32_t cmd_sn) const;
    bool contains(uint32_t cmd_sn) const;

    // StatSN, ExpCmdSN and MaxCmdSN into a response header; `advance_stat_sn` for the PDUs that
    // consume a StatSN (all but R2T, Data-In without status and target-initiated NOP-In).
    void fill(TargetBhs& hdr, bool advance_stat_sn);
    // ExpCmdSN and MaxCmdSN as they are now, into a header filled earlier (StatSN stays).
    void refresh(TargetBhs& hdr) const {
        hdr.set_sequence(hdr.stat_sn(), exp_cmd_sn_, max_cmd_sn_);
    }

    uint32_t exp_cmd_sn() const { return exp_cmd_sn_; }
    uint32_t max_cmd_sn() const { return max_cmd_sn_; }
    uint32_t stat_sn() const { return stat_sn_; }

  private:
    uint32_t stat_sn_ = 0;
    uint32_t exp_cmd_sn_ = 0;
    uint32_t max_cmd_sn_ = 0;
    // CmdSNs of commands aborted before they arrived.
    std::vector<uint32_t> aborted_cmd_sns_;
};

// Target Transfer Tags of one connection: R2Ts, Text continuations and NOP-In pings draw from it;
// never the reserved value 0xffffffff (RFC 7143 §11.8.2).
class TransferTags {
  public:
    uint32_t next() {
        const uint32_t tag = next_;
        ++next_;
        if (next_ == reserved_tag) {
            next_ = 1;
        }
        return tag;
    }

  private:
    uint32_t next_ = 1;
};

}  // namespace atsarray::iscsi
