#pragma once
// One iSCSI connection (and, with MaxConnections=1, its session): the receive state machine, the
// login phase, full feature phase dispatch, and an ordered send queue. A connection lives on one
// io_context and is touched only from it; other threads reach it through the post_* methods.

#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <unordered_map>
#include <vector>

#include "target/iscsi/login_negotiation.hpp"
#include "target/iscsi/params.hpp"
#include "target/iscsi/pdu.hpp"
#include "target/iscsi/pdu_reader.hpp"
#include "target/iscsi/task.hpp"
#include "target/iscsi/text.hpp"
#include "target/scsi/command.hpp"

namespace atsarray::iscsi {

struct ServerState;
struct TargetNode;

// A PDU waiting in the send queue. Data either points into a task's buffer (Data-In, kept alive
// until the PDU is written) or is owned by the PDU.
struct OutPdu {
    TargetBhs hdr;
    std::array<uint8_t, 4> header_digest{};
    std::span<const uint8_t> data;
    std::vector<uint8_t> owned;
    std::array<uint8_t, 8> trailer{};  // padding and data digest
    uint8_t trailer_length = 0;
    bool has_header_digest = false;  // decided when queued: digests start after the login
    Task* release_task = nullptr;    // return this task to the pool once written
};

// A logged-in session as the console shows it.
struct SessionInfo {
    uint16_t tsih = 0;
    std::string target;
    std::string initiator_name;
    uint64_t isid = 0;
    std::string initiator_port;  // IQN + ",i,0x" + ISID
    std::string address;         // the initiator's ip:port
    std::chrono::system_clock::time_point login_time{};
    SessionParams params;
    uint32_t commands_in_flight = 0;
};

class Connection : public std::enable_shared_from_this<Connection> {
  public:
    Connection(boost::asio::ip::tcp::socket socket, ServerState& state);
    ~Connection();

    void start();
    boost::asio::any_io_executor executor() { return socket_.get_executor(); }

    // Thread-safe entry points: each posts to the connection's executor.
    void post_close(std::string reason);
    void post_request_logout(uint16_t seconds);
    void post_abort_lun_tasks(const TargetNode* target, uint64_t lun);

    // Read from any thread only after the login completed (immutable afterwards).
    const std::string& initiator_name() const { return initiator_name_; }
    const std::string& peer() const { return peer_; }
    const TargetNode* target() const { return target_; }
    uint16_t tsih() const { return tsih_; }
    // From any thread, for a connection found in the session table (logged in to a target).
    SessionInfo session_info() const;

  private:
    enum class Phase : uint8_t { login, full_feature, logout, closed };

    // Receiving.
    void read_more();
    void on_read(const boost::system::error_code& ec, size_t n);
    bool dispatch(const PduView& pdu);
    void handle_full_feature(const PduView& pdu);
    bool accept_cmd_sn(const Bhs& bhs);

    // Login (connection_login.cpp).
    void handle_login(const PduView& pdu);
    void send_login_reject(const Bhs& request, uint8_t status_class, uint8_t status_detail);
    void finish_login();

    // SCSI commands and data (connection_scsi.cpp).
    void handle_scsi_command(const PduView& pdu);
    void handle_data_out(const PduView& pdu);
    void solicit_data(Task* task);
    void execute(Task* task);
    void on_command_done(Task* task);
    void send_command_result(Task* task);
    void drop_task(Task* task);
    Task* acquire_task();
    void release_task(Task* task);

    // Task management (connection_tmf.cpp).
    void handle_task_management(const PduView& pdu);
    void send_tmf_response(uint32_t itt, TmfResponse response);
    uint32_t abort_tasks_where(const auto& match, uint32_t tmf_id);
    void abort_lun_tasks(uint64_t lun);
    void tmf_task_finished(Task* task);

    // Other requests (connection.cpp).
    void handle_nop_out(const PduView& pdu);
    void handle_text(const PduView& pdu);
    void handle_logout(const PduView& pdu);
    void send_text_chunk(uint32_t itt, uint64_t lun_field);
    std::vector<uint8_t> send_targets(std::string_view which) const;
    void send_reject(const Bhs& rejected, RejectReason reason);
    void send_nop_in_ping();
    void arm_nop_timer();
    void arm_login_timer();

    // Sending.
    OutPdu& queue_pdu();
    void finish_pdu(OutPdu& pdu);
    void write_more();
    uint32_t next_stat_sn() { return stat_sn_++; }
    void fill_sequence(TargetBhs& hdr, bool advance_stat_sn);

    void close(const std::string& reason);
    // Ends the I_T nexus in the SCSI layer and leaves the session table (once).
    void end_nexus();
    // Records an event for the console (ServerState::events), when there is a log.
    void event(const char* kind, std::string message, std::optional<uint64_t> lun = {}) const;

    boost::asio::ip::tcp::socket socket_;
    ServerState& state_;
    std::string peer_;
    std::string local_address_;
    Phase phase_ = Phase::login;

    // Receive buffer: bytes [rx_begin_, rx_end_) are unparsed.
    std::vector<uint8_t> rx_;
    size_t rx_begin_ = 0;
    size_t rx_end_ = 0;
    FrameLimits frame_limits_;

    // Send queue.
    std::deque<OutPdu> tx_;
    std::vector<boost::asio::const_buffer> gather_;
    size_t writing_ = 0;  // PDUs of tx_ in the write under way
    bool close_after_write_ = false;

    // Login.
    std::unique_ptr<LoginNegotiation> login_;
    TextAccumulator login_text_;
    bool login_started_ = false;
    uint64_t isid_ = 0;
    uint16_t tsih_ = 0;
    uint16_t cid_ = 0;
    uint32_t login_itt_ = 0;
    uint8_t login_csg_ = 0;
    uint8_t login_nsg_ = 0;

    // Session (set when the login completes).
    SessionType session_type_ = SessionType::normal;
    const TargetNode* target_ = nullptr;
    std::string initiator_name_;
    SessionParams params_;
    scsi::Nexus nexus_;
    bool registered_ = false;
    std::chrono::system_clock::time_point login_time_{};
    std::atomic<uint32_t> in_flight_{0};  // tasks taken from the pool and not yet returned
    uint32_t stat_sn_ = 0;
    uint32_t exp_cmd_sn_ = 0;
    uint32_t max_cmd_sn_ = 0;

    // Text continuation (RFC 7143 §11.10.2 C bit, target side).
    TextAccumulator text_request_;
    std::vector<uint8_t> text_response_;
    size_t text_response_sent_ = 0;
    uint32_t text_ttt_ = reserved_tag;
    uint32_t next_ttt_ = 1;

    // Tasks.
    std::unordered_map<uint32_t, Task*> tasks_;  // by ITT
    std::vector<std::unique_ptr<Task>> task_pool_;
    std::vector<Task*> free_tasks_;
    struct PendingTmf {
        uint32_t id;
        uint32_t itt;
        uint32_t remaining;
    };
    std::vector<PendingTmf> pending_tmfs_;
    uint32_t next_tmf_id_ = 1;
    // RFC 7143 §11.5.1 b): CmdSNs of commands aborted before they arrived.
    std::vector<uint32_t> aborted_cmd_sns_;

    // Keepalive and login timeouts.
    boost::asio::steady_timer nop_timer_;
    boost::asio::steady_timer login_timer_;
    bool nop_outstanding_ = false;
    uint32_t nop_ttt_ = reserved_tag;
    bool received_since_nop_ = false;
};

}  // namespace atsarray::iscsi
