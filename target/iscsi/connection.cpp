#include "target/iscsi/connection.hpp"

#include "target/ats/event_log.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>

#include "target/iscsi/bhs.hpp"
#include "target/iscsi/errors.hpp"
#include "target/iscsi/server_state.hpp"
#include "target/scsi/target_device.hpp"

namespace atsarray::iscsi {

namespace asio = boost::asio;

namespace {

// How long a connection refused over the limits waits for the Login Request it is to answer: a
// peer that sends nothing does not keep a descriptor for the whole login_timeout.
constexpr uint32_t refused_login_wait_s = 2;

}  // namespace

Connection::Connection(asio::ip::tcp::socket socket, ServerState& state,
                       ConnectionLimits::Admission admission, PortalInfo portal)
    : socket_(std::move(socket)),
      state_(state),
      portal_(std::move(portal)),
      admission_(std::move(admission)),
      task_limits_{state.settings.max_data_out_length, state.settings.connection_buffer_bytes,
                   state.settings.max_immediate_commands},
      tasks_(tx_, window_, tags_, params_, task_limits_, state.buffers, peer_),
      keepalive_(socket_.get_executor()),
      login_timer_(socket_.get_executor()),
      budget_timer_(socket_.get_executor()),
      send_timer_(socket_.get_executor()) {
    state_.live_connections.fetch_add(1, std::memory_order_relaxed);
    boost::system::error_code ec;
    const auto remote = socket_.remote_endpoint(ec);
    peer_ =
        ec ? std::string("?") : remote.address().to_string() + ":" + std::to_string(remote.port());
    const auto local = socket_.local_endpoint(ec);
    if (!ec) {
        // An IPv6 address in brackets (RFC 7143 §13.8 TargetAddress). Appended rather than
        // `"[" + std::string&&`, on which g++ 12 -O3 warns falsely (-Wrestrict, GCC bug 105329).
        local_ip_ = local.address().to_string();
        if (local.address().is_v6()) {
            local_ip_ = std::string("[").append(local_ip_).append("]");
        }
        local_address_ = local_ip_ + ":" + std::to_string(local.port());
    }
    socket_.set_option(asio::ip::tcp::no_delay(true), ec);
    // write_more() writes what the socket takes at once itself (write_some must not block).
    socket_.non_blocking(true, ec);
    rx_.limits.max_data_segment_length = login_max_data_segment_length;
}

Connection::~Connection() {
    state_.live_connections.fetch_sub(1, std::memory_order_relaxed);
}

void Connection::start() {
    rx_.buffer.resize(64 * 1024);
    arm_login_timer();
    if (apply_path_faults()) {
        return;
    }
    read_more();
}

// ---------------------------------------------------------------------------------------------
// Receiving

void Connection::read_more() {
    if (phase_ == Phase::closed || rx_.pending || blackholed_) {
        return;
    }
    // Make room: move unparsed bytes to the front, grow to hold the largest acceptable PDU.
    if (rx_.begin > 0) {
        std::memmove(rx_.buffer.data(), rx_.buffer.data() + rx_.begin, rx_.end - rx_.begin);
        rx_.end -= rx_.begin;
        rx_.begin = 0;
    }
    const size_t largest = bhs_length + 1024 + 8 + pad4(rx_.limits.max_data_segment_length);
    if (rx_.buffer.size() < largest + 4096) {
        rx_.buffer.resize(largest + 4096);
    }
    rx_.pending = true;
    socket_.async_read_some(asio::buffer(rx_.buffer.data() + rx_.end, rx_.buffer.size() - rx_.end),
                            [self = shared_from_this()](const boost::system::error_code& ec,
                                                        size_t n) { self->on_read(ec, n); });
}

void Connection::on_read(const boost::system::error_code& ec, size_t n) {
    if (phase_ == Phase::closed) {
        return;
    }
    if (ec) {
        close(ec == asio::error::eof ? "peer closed the connection" : ec.message());
        return;
    }
    rx_.pending = false;
    rx_.end += n;
    if (blackholed_) {
        return;  // kept unread until the blackhole ends
    }
    keepalive_.received_since_ping = true;
    process_received();
}

void Connection::process_received() {
    // What the requests of one read cause goes out in one write after them: the answers of the
    // commands a store completed at once (finish_inline()), R2Ts, NOP-Ins. At one command in
    // flight no handler is posted at all between the request and its answer (issue 17).
    hold_writes_ = true;
    const bool read_on = process_pdus();
    hold_writes_ = false;
    finish_inline();
    write_more();
    if (read_on) {
        read_more();
    }
}

bool Connection::process_pdus() {
    while (phase_ != Phase::closed && !session_.awaiting_old_session && !blackholed_) {
        if (tx_.bytes() >= state_.settings.connection_buffer_bytes) {
            // Back-pressure: a peer that does not read its responses gets no more requests read
            // until they are written (and, past send_timeout_s without progress, is closed).
            rx_.paused = true;
            return false;
        }
        PduView pdu;
        std::error_code frame_ec;
        const size_t used = read_frame({rx_.buffer.data() + rx_.begin, rx_.end - rx_.begin},
                                       rx_.limits, pdu, frame_ec);
        if (frame_ec) {
            // The stream cannot be framed any more (RFC 7143 §7.8: header digest failure or a
            // length beyond what we declared): answer what we can and end the connection.
            if (frame_ec == Errc::pdu_data_too_long && phase_ == Phase::full_feature) {
                send_reject(Bhs(rx_.buffer.data() + rx_.begin), RejectReason::protocol_error);
                close_after_write_ = true;
                hold_writes_ = false;
                write_more();
            }
            close(frame_ec.message());
            return false;
        }
        if (used == 0) {
            break;
        }
        rx_.begin += used;
        if (!dispatch(pdu)) {
            return false;
        }
    }
    return !session_.awaiting_old_session;  // else old_session_ended() reads on
}

bool Connection::dispatch(const PduView& pdu) {
    if (phase_ == Phase::login) {
        on_login_pdu(pdu);
    } else if (phase_ == Phase::full_feature || phase_ == Phase::logout) {
        handle_full_feature(pdu);
    }
    return phase_ != Phase::closed;
}

void Connection::on_login_pdu(const PduView& pdu) {
    if (!login_) {
        login_ = std::make_unique<LoginPhase>(state_, tx_, window_, peer_, portal_);
    }
    const LoginPhase::Outcome outcome =
        admission_.refused() ? login_->refuse_connection(pdu, login_status::out_of_resources)
                             : login_->on_pdu(pdu);
    switch (outcome) {
        case LoginPhase::Outcome::in_progress:
            break;
        case LoginPhase::Outcome::refused:
            close_after_write_ = true;
            break;
        case LoginPhase::Outcome::complete:
            finish_login();
            // A path fault scoped to this initiator or target meets it only now.
            if (apply_path_faults()) {
                return;
            }
            break;
    }
    write_more();
}

void Connection::finish_login() {
    const LoginNegotiation& negotiation = login_->negotiation();
    session_.isid = login_->isid();
    session_.tsih = login_->tsih();
    session_.cid = login_->cid();
    session_.type = negotiation.session_type();
    session_.initiator_name = negotiation.initiator_name();
    params_ = negotiation.params();
    if (session_.type == SessionType::normal) {
        session_.target = state_.targets.node(negotiation.target()->name);
        if (session_.target == nullptr) {
            // Removed by the live configuration (issue 19) while this login ran.
            login_.reset();
            login_timer_.cancel();
            close("target removed during the login");
            return;
        }
    }
    login_.reset();
    login_timer_.cancel();
    rx_.limits.header_digest = params_.header_digest;
    rx_.limits.data_digest = params_.data_digest;
    rx_.limits.max_data_segment_length = params_.target_max_recv_data_segment_length;
    tx_.set_digests(params_.header_digest, params_.data_digest);
    phase_ = Phase::full_feature;

    if (session_.target != nullptr) {
        static std::atomic<uint64_t> next_nexus_id{1};
        session_.nexus.id = next_nexus_id.fetch_add(1);
        session_.nexus.initiator_name = session_.initiator_name;
        session_.nexus.initiator_port =
            session_.initiator_name + ",i,0x" + fmt::format("{:012x}", session_.isid);
        session_.nexus.peer_address = peer_;
        session_.nexus.local_address = local_address_;
        session_.nexus.isid = session_.isid;
        // SPC-4 §5.16: the target port this session came in through decides its ALUA state.
        session_.nexus.relative_target_port = portal_.relative_target_port();
        session_.login_time = std::chrono::system_clock::now();
        auto previous =
            state_.sessions.add(session_.initiator_name, session_.isid, session_.target->info.name,
                                portal_.portal_group_tag(session_.target->info.portal_group_tag),
                                session_.tsih, shared_from_this());
        session_.registered = true;
        session_.listed = true;
        if (previous) {
            // Session reinstatement (RFC 7143 §6.3.5): the old session ends, its tasks with it,
            // before this one answers: its Login Response and its requests wait.
            spdlog::info("iscsi {}: session of {} ISID {:012x} reinstated", peer_,
                         session_.initiator_name, session_.isid);
            session_.awaiting_old_session = true;
            previous->post_close("session reinstated by a new login", [weak = weak_from_this()] {
                if (auto self = weak.lock()) {
                    asio::post(self->executor(), [self] { self->old_session_ended(); });
                }
            });
        }
        session_.target->device->nexus_added(session_.nexus);
        event("login", fmt::format("{} logged in to {} from {} (TSIH {}, digests {}/{})",
                                   session_.nexus.initiator_port, session_.target->info.name, peer_,
                                   session_.tsih, params_.header_digest ? "CRC32C" : "None",
                                   params_.data_digest ? "CRC32C" : "None"));
        spdlog::info("iscsi {}: {} logged in to {} (TSIH {}, digests {}/{})", peer_,
                     session_.initiator_name, session_.target->info.name, session_.tsih,
                     params_.header_digest ? "CRC32C" : "None",
                     params_.data_digest ? "CRC32C" : "None");
    } else {
        spdlog::info("iscsi {}: discovery session of {}", peer_, session_.initiator_name);
    }
    arm_nop_timer();
}

// The command window decides whether a request is handled (RFC 7143 §4.2.2.1).
bool Connection::accept(const Bhs& bhs) {
    switch (window_.accept(bhs)) {
        case CommandWindow::Verdict::accepted:
            return true;
        case CommandWindow::Verdict::outside_window:
            spdlog::debug("iscsi {}: CmdSN {} outside window [{}, {}], ignored", peer_,
                          bhs.cmd_sn(), window_.exp_cmd_sn(), window_.max_cmd_sn());
            return false;
        case CommandWindow::Verdict::aborted_earlier:
            return false;  // the initiator already aborted it: it never executes
    }
    return false;
}

void Connection::handle_full_feature(const PduView& pdu) {
    const Bhs& bhs = pdu.bhs;
    const Opcode op = bhs.opcode();
    if (!pdu.data_digest_ok) {
        // RFC 7143 §7.8: a data digest error on a command or Data-Out is answered with a Reject;
        // the initiator then fails the task. Our side of the task is dropped.
        spdlog::warn("iscsi {}: data digest error on opcode {:#x}", peer_, static_cast<int>(op));
        send_reject(bhs, RejectReason::data_digest_error);
        tasks_.on_data_digest_error(bhs);
        write_more();
        return;
    }
    if (phase_ == Phase::logout && op != Opcode::nop_out && op != Opcode::data_out) {
        send_reject(bhs, RejectReason::waiting_for_logout);
        write_more();
        return;
    }
    const bool discovery = session_.type == SessionType::discovery;
    switch (op) {
        case Opcode::scsi_command:
            if (discovery) {
                send_reject(bhs, RejectReason::command_not_supported);
            } else if (accept(bhs)) {
                handle_scsi_command(pdu);
            }
            break;
        case Opcode::data_out:
            handle_data_out(pdu);
            break;
        case Opcode::nop_out:
            if (bhs.initiator_task_tag() == reserved_tag || accept(bhs)) {
                handle_nop_out(pdu);
            }
            break;
        case Opcode::task_management_request:
            if (discovery) {
                send_reject(bhs, RejectReason::command_not_supported);
            } else if (accept(bhs)) {
                handle_task_management(pdu);
            }
            break;
        case Opcode::text_request:
            if (accept(bhs)) {
                handle_text(pdu);
            }
            break;
        case Opcode::logout_request:
            if (accept(bhs)) {
                handle_logout(pdu);
            }
            break;
        case Opcode::snack_request:
            // ErrorRecoveryLevel 0 has no SNACK (RFC 7143 §11.16).
            send_reject(bhs, RejectReason::snack_reject);
            break;
        case Opcode::login_request:
            // A Login Request in full feature phase is a protocol error (RFC 7143 §6.3: the
            // login phase ends once, with the final Login Response).
            send_reject(bhs, RejectReason::protocol_error);
            break;
        default:
            spdlog::warn("iscsi {}: unknown opcode {:#x} rejected", peer_, static_cast<int>(op));
            send_reject(bhs, RejectReason::protocol_error);
            break;
    }
    // A task that ended above (dropped, aborted) made room for one waiting to be admitted.
    admit_waiting();
    write_more();
}

// ---------------------------------------------------------------------------------------------
// Keepalive and timeouts

void Connection::arm_login_timer() {
    const uint32_t seconds = admission_.refused()
                                 ? std::min(refused_login_wait_s, state_.settings.login_timeout_s)
                                 : state_.settings.login_timeout_s;
    login_timer_.expires_after(std::chrono::seconds(seconds));
    login_timer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
        if (!ec && self->phase_ == Phase::login) {
            if (self->blackholed_) {
                self->arm_login_timer();  // a blackholed path times nothing out itself
                return;
            }
            self->close("login did not complete in time");
        }
    });
}

void Connection::arm_nop_timer() {
    if (state_.settings.nop_in_interval_s == 0 || phase_ == Phase::closed) {
        return;
    }
    const uint32_t wait = keepalive_.outstanding ? state_.settings.nop_in_timeout_s
                                                 : state_.settings.nop_in_interval_s;
    keepalive_.timer.expires_after(std::chrono::seconds(wait));
    keepalive_.timer.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
        if (ec || self->phase_ == Phase::closed) {
            return;
        }
        if (self->blackholed_) {
            self->arm_nop_timer();  // no pings out, no timeout, while the path is blackholed
            return;
        }
        if (self->keepalive_.outstanding) {
            self->close("no answer to NOP-In keepalive");
            return;
        }
        if (!self->keepalive_.received_since_ping) {
            self->send_nop_in_ping();
        }
        self->keepalive_.received_since_ping = false;
        self->arm_nop_timer();
    });
}

// ---------------------------------------------------------------------------------------------
// Cross-thread entry points

void Connection::post_close(std::string reason, std::function<void()> on_ended) {
    asio::post(socket_.get_executor(), [self = shared_from_this(), reason = std::move(reason),
                                        on_ended = std::move(on_ended)]() mutable {
        if (on_ended) {
            self->session_.on_ended = std::move(on_ended);
        }
        self->close(reason);
        self->end_if_idle();  // closed before (a reset peer), its commands may have ended
    });
}

void Connection::end_if_idle() {
    if (phase_ != Phase::closed || !tasks_.empty()) {
        return;
    }
    if (session_.listed) {
        state_.sessions.remove(session_.tsih, this);
        session_.listed = false;
    }
    if (session_.on_ended) {
        std::exchange(session_.on_ended, nullptr)();
    }
}

void Connection::old_session_ended() {
    session_.awaiting_old_session = false;
    if (phase_ == Phase::closed) {
        return;
    }
    process_received();
    write_more();
}

void Connection::post_request_logout(uint16_t seconds) {
    asio::post(socket_.get_executor(), [self = shared_from_this(), seconds] {
        if (self->phase_ != Phase::full_feature) {
            self->close("shutting down");
            return;
        }
        // Async Message, AsyncEvent 1: the target requests a logout within Parameter3 seconds
        // (RFC 7143 §11.9.1).
        OutPdu& out = self->tx_.push();
        AsyncMessageBhs header(out.hdr, AsyncMessageBhs::event_logout_request);
        self->window_.fill(out.hdr, true);
        header.set_parameter3(seconds);
        self->tx_.seal(out);
        self->write_more();
    });
}

void Connection::post_apply_path_faults() {
    asio::post(socket_.get_executor(), [self = shared_from_this()] {
        if (self->phase_ != Phase::closed) {
            self->apply_path_faults();
        }
    });
}

bool Connection::apply_path_faults() {
    const uint16_t group = portal_.group.value_or(0);
    const std::string_view target =
        session_.target != nullptr ? std::string_view(session_.target->info.name) : "";
    if (auto down = state_.path_faults.find(PathFault::Kind::down, group, session_.initiator_name,
                                            target)) {
        reset("path down (fault " + down->rule + ")");
        return true;
    }
    const auto blackhole =
        state_.path_faults.find(PathFault::Kind::blackhole, group, session_.initiator_name, target);
    if (blackhole && !blackholed_) {
        spdlog::info("iscsi {}: path blackholed (fault {}): nothing read or answered", peer_,
                     blackhole->rule);
        blackholed_ = true;
    } else if (!blackhole && blackholed_) {
        spdlog::info("iscsi {}: path blackhole ended", peer_);
        blackholed_ = false;
        process_received();
        write_more();
    }
    return false;
}

void Connection::reset(const std::string& reason) {
    abortive_close_ = true;
    close(reason);
}

void Connection::post_abort_lun_tasks(const TargetNode* target, uint64_t lun) {
    asio::post(socket_.get_executor(), [self = shared_from_this(), target, lun] {
        if (self->session_.target.get() == target) {
            self->abort_lun_tasks(lun);
        }
    });
}

// ---------------------------------------------------------------------------------------------
// Sending

void Connection::write_more() {
    if (hold_writes_) {
        return;  // process_received() or finish_inline() writes once it is done
    }
    if (in_write_more_) {
        write_again_ = true;  // on_written() below us: the loop of the outer call writes it
        return;
    }
    // What the socket takes at once is written here, and on_written() follows without a posted
    // completion handler: at one command in flight that saves the scheduler a trip and a second
    // epoll_wait per command (issue 17, QD1 latency). What it does not take goes asynchronously.
    in_write_more_ = true;
    do {
        write_again_ = false;
        if (session_.awaiting_old_session || blackholed_) {
            break;
        }
        if (tx_.writing() || tx_.empty() || phase_ == Phase::closed) {
            if (tx_.empty() && !tx_.writing() && close_after_write_ && phase_ != Phase::closed) {
                close("logged out");
            }
            break;
        }
        const std::vector<asio::const_buffer>& buffers = tx_.gather(window_);
        boost::system::error_code ec;
        const size_t n = socket_.write_some(buffers, ec);
        if (ec == asio::error::would_block || (!ec && n < asio::buffer_size(buffers))) {
            write_rest(buffers, ec ? 0 : n);
            break;
        }
        on_written(ec);
    } while (write_again_);
    in_write_more_ = false;
}

void Connection::write_rest(const std::vector<asio::const_buffer>& buffers, size_t skip) {
    std::vector<asio::const_buffer> rest;
    for (const asio::const_buffer& b : buffers) {
        if (skip >= b.size()) {
            skip -= b.size();
            continue;
        }
        rest.push_back(b + skip);
        skip = 0;
    }
    write_started_ = std::chrono::steady_clock::now();
    arm_send_timer();
    asio::async_write(socket_, rest,
                      [self = shared_from_this()](const boost::system::error_code& ec, size_t) {
                          self->on_written(ec);
                      });
}

void Connection::on_written(const boost::system::error_code& ec) {
    tx_.written([this](Task* task) { tasks_.release(task); });
    if (ec) {
        close(ec.message());
        return;
    }
    if (phase_ == Phase::closed) {
        return;
    }
    admit_waiting();
    if (rx_.paused && tx_.bytes() < state_.settings.connection_buffer_bytes) {
        rx_.paused = false;
        process_received();
    }
    write_more();
}

void Connection::admit_waiting() {
    if (!tasks_.has_waiting()) {
        return;
    }
    for (Task* task : tasks_.admit_waiting()) {
        execute(task);
    }
    if (tasks_.blocked_by_daemon_budget()) {
        arm_budget_timer();
    }
}

void Connection::arm_budget_timer() {
    // Room in the daemon's budget comes from other connections' writes: look again shortly.
    if (budget_timer_.armed) {
        return;
    }
    budget_timer_.armed = true;
    budget_timer_.timer.expires_after(std::chrono::milliseconds(10));
    budget_timer_.timer.async_wait(
        [self = shared_from_this()](const boost::system::error_code& ec) {
            self->budget_timer_.armed = false;
            if (!ec && self->phase_ != Phase::closed) {
                self->admit_waiting();
                self->write_more();
            }
        });
}

void Connection::arm_send_timer() {
    if (send_timer_.armed || state_.settings.send_timeout_s == 0) {
        return;
    }
    send_timer_.armed = true;
    send_timer_.timer.expires_after(std::chrono::seconds(1));
    send_timer_.timer.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
        self->send_timer_.armed = false;
        if (ec || self->phase_ == Phase::closed || !self->tx_.writing()) {
            return;
        }
        const auto timeout = std::chrono::seconds(self->state_.settings.send_timeout_s);
        if (std::chrono::steady_clock::now() - self->write_started_ >= timeout) {
            self->close(
                fmt::format("the initiator read nothing for {} s ({} bytes of responses "
                            "waiting)",
                            self->state_.settings.send_timeout_s, self->tx_.bytes()));
            return;
        }
        self->arm_send_timer();
    });
}

void Connection::close(const std::string& reason) {
    if (phase_ == Phase::closed) {
        return;
    }
    const bool was_logged_in = phase_ == Phase::full_feature || phase_ == Phase::logout;
    phase_ = Phase::closed;
    if (was_logged_in) {
        spdlog::info("iscsi {}: connection of {} closed: {}", peer_, session_.initiator_name,
                     reason);
        if (session_.registered) {
            event("logout",
                  fmt::format("{} from {}: {}", session_.nexus.initiator_port, peer_, reason));
        }
    } else if (!admission_.refused()) {
        // A refused connection is not logged one by one: ConnectionLimits logs refusals
        // rate-limited.
        spdlog::info("iscsi {}: connection closed during login: {}", peer_, reason);
    }
    boost::system::error_code ignored;
    if (abortive_close_) {
        // SO_LINGER with a zero timeout: close() sends RST at once, as a failed controller's
        // port does (path_down).
        socket_.set_option(asio::socket_base::linger(true, 0), ignored);
    } else {
        socket_.shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
    }
    socket_.close(ignored);
    admission_.slot.release();  // the limits count this connection no more
    keepalive_.timer.cancel();
    login_timer_.cancel();
    budget_timer_.timer.cancel();
    send_timer_.timer.cancel();
    // Tasks still receiving data end here; executing ones are aborted in the SCSI layer (SAM-5
    // I_T nexus loss: one still waiting for its LBA locks or a worker never executes), finish
    // there and are released by on_command_done.
    for (Task* task : tasks_.select([](const Task&) { return true; })) {
        task->aborted = true;
        if (task->state == Task::State::receiving) {
            tasks_.forget(task);
        } else if (task->cmd.abort) {
            task->cmd.abort();
        }
    }
    end_nexus();
    end_if_idle();
}

SessionInfo Connection::session_info() const {
    SessionInfo info;
    info.tsih = session_.tsih;
    info.target = session_.target != nullptr ? session_.target->info.name : std::string();
    info.initiator_name = session_.initiator_name;
    info.isid = session_.isid;
    info.initiator_port = session_.nexus.initiator_port;
    info.address = peer_;
    info.login_time = session_.login_time;
    info.params = params_;
    info.commands_in_flight = tasks_.in_flight();
    info.portal = portal_;
    info.commands = commands_done_.load(std::memory_order_relaxed);
    info.errors = command_errors_.load(std::memory_order_relaxed);
    return info;
}

void Connection::event(const char* kind, std::string message, std::optional<uint64_t> lun) const {
    if (state_.events) {
        state_.events->add(kind, std::move(message),
                           session_.target != nullptr ? session_.target->info.name : std::string(),
                           lun,
                           session_.nexus.initiator_port.empty() ? session_.initiator_name
                                                                 : session_.nexus.initiator_port);
    }
}

void Connection::end_nexus() {
    if (session_.registered) {
        session_.registered = false;
        if (session_.target != nullptr && session_.target->device) {
            session_.target->device->nexus_removed(session_.nexus);
        }
    }
}

}  // namespace atsarray::iscsi
