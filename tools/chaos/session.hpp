#pragma once
// A minimal iSCSI initiator over a plain socket, for the chaos command: it must do what libiscsi
// will not — choose the first CmdSN (to wrap 2^32), leave commands unanswered, reset the TCP
// connection mid-command or stop reading it, and log in again with the same ISID (session
// reinstatement, RFC 7143 §6.3.5). No digests, no CHAP, one connection per session (ERL 0).

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "tools/iscsi_wire/wire.hpp"

namespace atsarray::chaos {

struct Endpoint {
    std::string host = "127.0.0.1";
    uint16_t port = 3260;
};

struct LoginSpec {
    std::string initiator_name;
    std::string target_name;
    uint64_t isid = 0;  // 48 bits; the same ISID and initiator name reinstate the session
    uint32_t first_cmd_sn = 1;
    uint16_t lun = 0;  // every command of the session goes to this LUN
};

using wire::Pdu;

struct ScsiResult {
    uint8_t status = 0xff;  // SAM status; 0xff: no answer (timeout, connection lost)
    uint8_t sense_key = 0;
    uint8_t asc = 0;
    uint8_t ascq = 0;
    std::vector<uint8_t> data;  // Data-In
    bool answered() const { return status != 0xff; }
    bool good() const { return status == 0; }
};

class Session {
  public:
    // Connects and logs in (operational stage only, no security negotiation). nullopt and a
    // sentence in `error` when either fails.
    static std::optional<Session> login(const Endpoint& at, const LoginSpec& spec,
                                        std::string& error);
    Session(Session&& other) noexcept;
    Session& operator=(Session&& other) noexcept;
    Session(const Session&) = delete;
    Session& operator=(const Session&) = delete;
    ~Session();

    // Sends a SCSI command: `data_out` goes as immediate data (at most FirstBurstLength);
    // `transfer_length` is the Expected Data Transfer Length (for a write, larger than
    // data_out.size() leaves the rest to an R2T). Returns the ITT; 0 when the send failed.
    uint32_t send(std::span<const uint8_t, 16> cdb, std::span<const uint8_t> data_out,
                  uint32_t transfer_length, bool read);
    // Reads until the command `itt` ends. Answers NOP-Ins; an R2T is answered only when
    // `r2t_data` holds the bytes it asks for.
    ScsiResult wait(uint32_t itt, std::chrono::milliseconds timeout,
                    std::span<const uint8_t> r2t_data = {});
    // send + wait.
    ScsiResult execute(std::span<const uint8_t, 16> cdb, std::span<const uint8_t> data_out,
                       uint32_t transfer_length, bool read, std::chrono::milliseconds timeout);

    // Logout (close the session); true when the target answered it.
    bool logout(std::chrono::milliseconds timeout);
    // Ends the TCP connection with a RST (SO_LINGER 0), whatever is in flight.
    void reset();
    // Gives up the socket without closing it: the caller holds a peer that stalls.
    int release_fd();

    uint32_t cmd_sn() const { return cmd_sn_; }
    // Non-immediate commands sent whose CmdSN passed 2^32 - 1 (serial arithmetic, RFC 1982).
    uint32_t wraps() const { return wraps_; }
    uint16_t tsih() const { return tsih_; }

  private:
    Session(int fd, uint16_t lun) : fd_(fd), lun_(lun) {}
    bool write(const Pdu& p);
    std::optional<Pdu> read_pdu(wire::Clock::time_point deadline) const;
    void note_window(const Pdu& p);
    void answer_nop_in(const Pdu& p);
    bool send_data_out(const Pdu& r2t, std::span<const uint8_t> data);
    Pdu header(uint8_t opcode, uint8_t flags) const;

    int fd_ = -1;
    uint16_t lun_ = 0;
    uint32_t next_itt_ = 1;
    uint32_t cmd_sn_ = 1;
    uint32_t exp_stat_sn_ = 0;
    uint32_t max_cmd_sn_ = 0;
    uint32_t wraps_ = 0;
    uint32_t max_send_segment_ = 8192;  // the target's MaxRecvDataSegmentLength
    uint16_t tsih_ = 0;
};

}  // namespace atsarray::chaos
