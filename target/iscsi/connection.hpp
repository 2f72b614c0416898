#pragma once
// One iSCSI connection (and, with MaxConnections=1, its session): the socket, the receive loop and
// the full feature phase dispatch, wiring its parts together: the command window (sequence
// numbers), the send queue, the login phase and the task manager (R2T, Data-Out, Data-In). A
// connection lives on one io_context and is touched only from it; other threads reach it through
// the post_* methods.

#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include "target/iscsi/command_window.hpp"
#include "target/iscsi/connection_limits.hpp"
#include "target/iscsi/login_phase.hpp"
#include "target/iscsi/params.hpp"
#include "target/iscsi/pdu.hpp"
#include "target/iscsi/pdu_reader.hpp"
#include "target/iscsi/portal_info.hpp"
#include "target/iscsi/send_queue.hpp"
#include "target/iscsi/task.hpp"
#include "target/iscsi/task_manager.hpp"
#include "target/iscsi/text.hpp"
#include "target/scsi/command.hpp"

namespace atsarray::iscsi {

struct ServerState;
struct TargetNode;

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
    // The portal the session logged in on: its address and its target port group (ALUA).
    PortalInfo portal;
    // Commands this session executed, and those of them that did not end in GOOD (CHECK
    // CONDITION, BUSY, ... or aborted, or never answered by a fault rule).
    uint64_t commands = 0;
    uint64_t errors = 0;
};

class Connection : public std::enable_shared_from_this<Connection> {
  public:
    // `admission`: the connection's place under [iscsi] max_connections*; a refused one answers
    // its Login Request with Out of resources and closes.
    Connection(boost::asio::ip::tcp::socket socket, ServerState& state,
               ConnectionLimits::Admission admission = {}, PortalInfo portal = {});
    ~Connection();

    void start();
    boost::asio::any_io_executor executor() { return socket_.get_executor(); }

    // Thread-safe entry points: each posts to the connection's executor.
    // `on_ended` runs on this connection's executor once it is closed and none of its commands
    // executes any more: session reinstatement waits for it before the new session answers
    // (RFC 7143 §6.3.5, the old session's tasks are terminated first), so a write the old
    // session sent can never land after one the new session had acknowledged.
    void post_close(std::string reason, std::function<void()> on_ended = {});
    void post_request_logout(uint16_t seconds);
    void post_abort_lun_tasks(const TargetNode* target, uint64_t lun);
    // Applies the path faults in force (ServerState::path_faults) to this connection: reset by
    // a path_down, silent under a path_blackhole, back to work when neither holds it any more.
    void post_apply_path_faults();

    // Read from any thread only after the login completed (immutable afterwards).
    const std::string& initiator_name() const { return session_.initiator_name; }
    const std::string& peer() const { return peer_; }
    const TargetNode* target() const { return session_.target.get(); }
    uint16_t tsih() const { return session_.tsih; }
    uint16_t cid() const { return session_.cid; }
    // From any thread, for a connection found in the session table (logged in to a target).
    SessionInfo session_info() const;

  private:
    enum class Phase : uint8_t { login, full_feature, logout, closed };

    // Receiving (connection.cpp).
    void read_more();
    void on_read(const boost::system::error_code& ec, size_t n);
    // Handles the complete PDUs received, then reads on unless back-pressure holds it.
    void process_received();
    bool process_pdus();  // false: no more reading for now (closed, paused, reinstating)
    // Path faults (post_apply_path_faults): true when the connection was reset.
    bool apply_path_faults();
    void reset(const std::string& reason);  // an abortive close: TCP RST, no FIN
    bool dispatch(const PduView& pdu);
    void on_login_pdu(const PduView& pdu);
    void finish_login();
    void handle_full_feature(const PduView& pdu);
    bool accept(const Bhs& bhs);

    // Full feature phase requests (connection_requests.cpp).
    void handle_scsi_command(const PduView& pdu);
    void handle_data_out(const PduView& pdu);
    void execute(Task* task);
    void on_command_done(Task* task);
    void finish_inline();
    void handle_nop_out(const PduView& pdu);
    void handle_text(const PduView& pdu);
    void handle_logout(const PduView& pdu);
    void send_text_chunk(uint32_t itt, uint64_t lun_field);
    std::vector<uint8_t> send_targets(std::string_view which) const;
    void send_reject(const Bhs& rejected, RejectReason reason) {
        queue_reject(tx_, window_, rejected, reason);
    }
    void send_nop_in_ping();

    // Task management (connection_tmf.cpp).
    void handle_task_management(const PduView& pdu);
    void send_tmf_response(uint32_t itt, TmfResponse response);
    uint32_t abort_tasks_where(const auto& match, uint32_t tmf_id);
    void abort_lun_tasks(uint64_t lun);
    void tmf_task_finished(Task* task);

    // Sending, timers, the end (connection.cpp).
    void write_more();
    // The part of a gathered write the socket did not take at once, written asynchronously.
    void write_rest(const std::vector<boost::asio::const_buffer>& buffers, size_t skip);
    void on_written(const boost::system::error_code& ec);
    // Executes what the task manager admitted now that room was made.
    void admit_waiting();
    void arm_budget_timer();
    void arm_send_timer();
    void arm_nop_timer();
    void arm_login_timer();
    void close(const std::string& reason);
    // Ends the I_T nexus in the SCSI layer (once).
    void end_nexus();
    // Once closed with no command executing: leaves the session table and runs on_ended_.
    void end_if_idle();
    // The session this login reinstated has ended: answer the login, read requests.
    void old_session_ended();
    // Records an event for the console (ServerState::events), when there is a log.
    void event(const char* kind, std::string message, std::optional<uint64_t> lun = {}) const;

    boost::asio::ip::tcp::socket socket_;
    ServerState& state_;
    std::string peer_;
    std::string local_ip_;       // the address the peer reached ("[v6]" bracketed)
    std::string local_address_;  // and its port: "ip:port"
    PortalInfo portal_;          // the portal it came in on
    // For SessionInfo (read from the console's thread): commands ended, and those not GOOD.
    std::atomic<uint64_t> commands_done_{0};
    std::atomic<uint64_t> command_errors_{0};
    ConnectionLimits::Admission admission_;
    Phase phase_ = Phase::login;

    // Receiving: bytes [begin, end) of the buffer are unparsed.
    struct Receive {
        std::vector<uint8_t> buffer;
        size_t begin = 0;
        size_t end = 0;
        FrameLimits limits;
        bool pending = false;  // a read is under way
        // Stopped: the responses queued for a peer that does not read are over the budget.
        bool paused = false;
    };
    Receive rx_;

    // The parts: sequence numbers, the send queue, the login, the tasks.
    CommandWindow window_;
    TransferTags tags_;
    SendQueue tx_;
    bool close_after_write_ = false;
    bool in_write_more_ = false;  // write_more() is on the stack: a nested call only asks again
    bool write_again_ = false;
    bool hold_writes_ = false;  // write_more() waits for the end of what is being processed
    // Commands the SCSI layer completed inside execute(), on this thread: finish_inline() takes
    // them up once execute() has returned (no SCSI lock held), without a posted handler.
    std::vector<Task*> done_inline_;
    // A path_blackhole holds the connection: nothing is read, processed or written, and its
    // timers close nothing, until the fault ends.
    bool blackholed_ = false;
    bool abortive_close_ = false;  // reset(): the socket closes with RST
    std::unique_ptr<LoginPhase> login_;
    SessionParams params_;
    TaskLimits task_limits_;
    TaskManager tasks_;

    // The session, set when the login completes.
    struct Session {
        uint64_t isid = 0;
        uint16_t tsih = 0;
        uint16_t cid = 0;
        SessionType type = SessionType::normal;
        std::shared_ptr<const TargetNode> target;  // shared: the live configuration may remove it
        std::string initiator_name;
        scsi::Nexus nexus;
        bool registered = false;  // a nexus in the SCSI layer
        bool listed = false;      // in the session table (until its last command has ended)
        // A reinstating login waits, its Login Response queued, for the old session's end.
        bool awaiting_old_session = false;
        std::function<void()> on_ended;  // see post_close
        std::chrono::system_clock::time_point login_time{};
    };
    Session session_;

    // Text continuation (RFC 7143 §11.10.2 C bit, target side).
    struct TextExchange {
        TextAccumulator request;
        std::vector<uint8_t> response;
        size_t sent = 0;
        uint32_t ttt = reserved_tag;
    };
    TextExchange text_;

    // Task management requests waiting for tasks in execution to end.
    struct PendingTmf {
        uint32_t id;
        uint32_t itt;
        uint32_t remaining;
    };
    std::vector<PendingTmf> pending_tmfs_;
    uint32_t next_tmf_id_ = 1;

    // Timers: keepalive NOP-In (RFC 7143 §11.19), the login's time limit, waiting tasks that
    // only the daemon's budget holds back, and a write that makes no progress.
    struct Keepalive {
        explicit Keepalive(const boost::asio::any_io_executor& ex) : timer(ex) {}
        boost::asio::steady_timer timer;
        bool outstanding = false;
        uint32_t ttt = reserved_tag;
        bool received_since_ping = false;
    };
    struct ArmedTimer {
        explicit ArmedTimer(const boost::asio::any_io_executor& ex) : timer(ex) {}
        boost::asio::steady_timer timer;
        bool armed = false;
    };
    Keepalive keepalive_;
    boost::asio::steady_timer login_timer_;
    ArmedTimer budget_timer_;
    ArmedTimer send_timer_;
    std::chrono::steady_clock::time_point write_started_{};
};

}  // namespace atsarray::iscsi
