#include "webui/server/console_server.hpp"

#include <openssl/rand.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <deque>
#include <optional>
#include <stdexcept>
#include <thread>
#include <vector>

#include <spdlog/spdlog.h>

#include "target/net/accept_backoff.hpp"
#include "webui/server/stream.hpp"

namespace atsarray::webui {

namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace net = boost::asio;

namespace {

constexpr size_t max_header_bytes = 8 * 1024;
constexpr size_t max_body_bytes = 64 * 1024;
// A host log upload (POST /api/v1/forensics/host-log): the parser's own bound
// (forensics::ParseLimits), one upload at a time, so an upload's memory is bounded whatever the
// number of clients; its token is checked before its body is read.
constexpr size_t max_upload_bytes = 16 * 1024 * 1024;
constexpr std::string_view upload_path = "/api/v1/forensics/host-log";
constexpr size_t max_queued_ticks = 8;  // a client that reads slower than this loses ticks
constexpr std::string_view websocket_protocol = "atsarray.v1";
constexpr std::string_view bearer_protocol = "atsarray.bearer.";

std::string random_token() {
    unsigned char bytes[24];
    if (RAND_bytes(bytes, sizeof bytes) != 1) {
        throw std::runtime_error("console: no random bytes for the access token");
    }
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    for (const unsigned char b : bytes) {
        out += digits[b >> 4];
        out += digits[b & 0x0f];
    }
    return out;
}

// The subprotocols of a WebSocket upgrade: "a, b, c".
std::vector<std::string> protocols_of(std::string_view header) {
    std::vector<std::string> out;
    while (!header.empty()) {
        const size_t comma = header.find(',');
        std::string_view p = header.substr(0, comma);
        while (!p.empty() && p.front() == ' ') {
            p.remove_prefix(1);
        }
        while (!p.empty() && p.back() == ' ') {
            p.remove_suffix(1);
        }
        if (!p.empty()) {
            out.emplace_back(p);
        }
        if (comma == std::string_view::npos) {
            break;
        }
        header.remove_prefix(comma + 1);
    }
    return out;
}

}  // namespace

class WsSession;

struct ConsoleServer::Impl {
    Impl(ConsoleSettings s, ConsoleModel& m)
        : settings(std::move(s)), model(m), acceptor(ioc), tick_timer(ioc), ticks(m) {}

    ConsoleSettings settings;
    ConsoleModel& model;
    net::io_context ioc{1};
    net::ip::tcp::acceptor acceptor;
    net::steady_timer tick_timer;
    std::optional<atsarray::net::AcceptBackoff> backoff;  // set once the port is known
    TickBuilder ticks;
    std::optional<Router> router;  // set once the port is known
    std::vector<std::weak_ptr<WsSession>> streams;
    std::thread thread;
    bool loopback = true;
    bool upload_in_progress = false;  // the console's one thread reads and sets it

    void accept();
    void tick();
    // True when a WebSocket upgrade may stream: the bearer subprotocol, or on loopback a
    // request from the console's own page (or from a non-browser client, which sends no Origin).
    bool stream_allowed(const http::request<http::string_body>& req) const;
};

// One WebSocket client of /api/v1/stream: ticks queued and written one at a time; reads only to
// notice the close.
class WsSession : public std::enable_shared_from_this<WsSession> {
  public:
    explicit WsSession(net::ip::tcp::socket socket) : ws_(std::move(socket)) {}

    void run(http::request<http::string_body> req) {
        ws_.set_option(websocket::stream_base::timeout::suggested(beast::role_type::server));
        ws_.read_message_max(4096);
        const bool offered = req.count(http::field::sec_websocket_protocol) != 0;
        ws_.set_option(websocket::stream_base::decorator([offered](websocket::response_type& res) {
            if (offered) {
                res.set(http::field::sec_websocket_protocol, websocket_protocol);
            }
        }));
        ws_.async_accept(req, [self = shared_from_this()](beast::error_code ec) {
            if (ec) {
                return;
            }
            self->open_ = true;
            self->read();
        });
    }

    void send(const std::shared_ptr<const std::string>& message) {
        if (!open_ || queue_.size() >= max_queued_ticks) {
            return;
        }
        queue_.push_back(message);
        if (queue_.size() == 1) {
            write();
        }
    }

  private:
    void read() {
        ws_.async_read(buffer_, [self = shared_from_this()](beast::error_code ec, size_t) {
            if (ec) {
                self->open_ = false;
                return;
            }
            self->buffer_.consume(self->buffer_.size());
            self->read();
        });
    }
    void write() {
        ws_.text(true);
        ws_.async_write(net::buffer(*queue_.front()),
                        [self = shared_from_this()](beast::error_code ec, size_t) {
                            self->queue_.pop_front();
                            if (ec) {
                                self->open_ = false;
                                self->queue_.clear();
                                return;
                            }
                            if (!self->queue_.empty()) {
                                self->write();
                            }
                        });
    }

    websocket::stream<beast::tcp_stream> ws_;
    beast::flat_buffer buffer_;
    std::deque<std::shared_ptr<const std::string>> queue_;
    bool open_ = false;
};

// One HTTP/1.1 connection: requests in order, keep-alive, size limits.
class HttpSession : public std::enable_shared_from_this<HttpSession> {
  public:
    HttpSession(net::ip::tcp::socket socket, ConsoleServer::Impl& server)
        : stream_(std::move(socket)), server_(server) {}
    ~HttpSession() { end_upload(); }

    void run() { read(); }

  private:
    void read() {
        parser_.emplace();
        parser_->header_limit(max_header_bytes);
        parser_->body_limit(max_body_bytes);
        stream_.expires_after(std::chrono::seconds(30));
        http::async_read_header(
            stream_, buffer_, *parser_,
            [self = shared_from_this()](beast::error_code ec, size_t) { self->on_header(ec); });
    }

    // The header decides the body's limit: a host log upload may be larger than any other
    // request, once its token is known good and no other upload is being read.
    void on_header(beast::error_code ec) {
        if (ec) {
            on_read(ec);
            return;
        }
        const auto& h = parser_->get();
        const std::string_view target(h.target().data(), h.target().size());
        if (h.method() == http::verb::post && target.substr(0, upload_path.size()) == upload_path) {
            const std::string_view auth = h[http::field::authorization];
            if (!server_.router->authorized(auth)) {
                reply(error_response(401,
                                     "an upload needs the console's access token "
                                     "(Authorization: Bearer)"),
                      h.version(), false);
                return;
            }
            if (server_.upload_in_progress) {
                reply(error_response(429,
                                     "another host log is being uploaded; try again when it "
                                     "is done"),
                      h.version(), false);
                return;
            }
            server_.upload_in_progress = true;
            uploading_ = true;
            parser_->body_limit(max_upload_bytes);
            stream_.expires_after(std::chrono::seconds(120));
            // curl asks before it sends a large body (RFC 9110 §10.1.1): answer at once rather than
            // have it wait a second for nothing. A few bytes to a fresh connection: never blocks.
            if (beast::iequals(h[http::field::expect], "100-continue")) {
                http::response<http::empty_body> go_on{http::status::continue_, h.version()};
                beast::error_code ignored;
                http::write(stream_.socket(), go_on, ignored);
            }
        }
        http::async_read(
            stream_, buffer_, *parser_,
            [self = shared_from_this()](beast::error_code ec, size_t) { self->on_read(ec); });
    }

    void end_upload() {
        if (uploading_) {
            uploading_ = false;
            server_.upload_in_progress = false;
        }
    }

    void on_read(beast::error_code ec) {
        // Whatever happens next, this connection's upload (if any) is no longer being read.
        struct EndUpload {
            HttpSession& s;
            ~EndUpload() { s.end_upload(); }
        } end_upload_at_exit{*this};
        if (ec == http::error::end_of_stream || ec == beast::error::timeout ||
            ec == net::error::connection_reset || ec == net::error::operation_aborted) {
            close();
            return;
        }
        if (ec) {
            // A request over the limits or not HTTP: say so, then close.
            const unsigned status = ec == http::error::header_limit ? 431
                                    : ec == http::error::body_limit ? 413
                                                                    : 400;
            reply(error_response(status, "bad request: " + ec.message()), 11, false);
            return;
        }
        http::request<http::string_body> req = parser_->release();
        if (websocket::is_upgrade(req)) {
            if (req.target() != "/api/v1/stream") {
                reply(error_response(404, "WebSocket only on /api/v1/stream"), req.version(),
                      false);
                return;
            }
            if (!server_.stream_allowed(req)) {
                reply(error_response(401,
                                     "the stream needs the console's access token "
                                     "(subprotocol atsarray.bearer.<token>)"),
                      req.version(), false);
                return;
            }
            auto ws = std::make_shared<WsSession>(stream_.release_socket());
            server_.streams.push_back(ws);
            ws->run(std::move(req));
            return;
        }
        HttpRequest request;
        request.method = std::string(req.method_string());
        request.target = std::string(req.target());
        request.host = std::string(req[http::field::host]);
        request.authorization = std::string(req[http::field::authorization]);
        request.content_type = std::string(req[http::field::content_type]);
        request.body = std::move(req.body());
        HttpResponse response = server_.router->handle(request);
        if (req.method() == http::verb::head) {
            response.body.clear();
        }
        reply(response, req.version(), req.keep_alive());
    }

    void reply(const HttpResponse& r, unsigned version, bool keep_alive) {
        auto res = std::make_shared<http::response<http::string_body>>(
            static_cast<http::status>(r.status), version);
        res->set(http::field::server, "atsarray");
        res->set(http::field::content_type, r.content_type);
        res->set(http::field::cache_control, "no-store");
        res->set("X-Content-Type-Options", "nosniff");
        res->set("Content-Security-Policy",
                 "default-src 'self'; connect-src 'self' ws: wss:; style-src 'self' "
                 "'unsafe-inline'; img-src 'self' data:");
        res->keep_alive(keep_alive);
        res->body() = r.body;
        res->prepare_payload();
        http::async_write(
            stream_, *res,
            [self = shared_from_this(), res, keep_alive](beast::error_code ec, size_t) {
                if (ec || !keep_alive) {
                    self->close();
                    return;
                }
                self->read();
            });
    }

    void close() {
        beast::error_code ignored;
        stream_.socket().shutdown(net::ip::tcp::socket::shutdown_send, ignored);
    }

    beast::tcp_stream stream_;
    ConsoleServer::Impl& server_;
    beast::flat_buffer buffer_;
    std::optional<http::request_parser<http::string_body>> parser_;
    bool uploading_ = false;  // holds the console's one upload slot
};

bool ConsoleServer::Impl::stream_allowed(const http::request<http::string_body>& req) const {
    for (const std::string& p : protocols_of(req[http::field::sec_websocket_protocol])) {
        if (p.rfind(bearer_protocol, 0) == 0 &&
            router->authorized("Bearer " + p.substr(bearer_protocol.size()))) {
            return true;
        }
    }
    if (!loopback) {
        return false;
    }
    // Browsers send Origin on every WebSocket: only the console's own page may read the stream
    // without the token (a page of another site must not: cross-site WebSocket hijacking).
    const auto origin = req[http::field::origin];
    if (origin.empty()) {
        return true;
    }
    for (const std::string& host : router->policy().own_hosts) {
        if (origin == "http://" + host) {
            return true;
        }
    }
    return false;
}

void ConsoleServer::Impl::accept() {
    acceptor.async_accept(net::make_strand(ioc),
                          [this](beast::error_code ec, net::ip::tcp::socket s) {
                              // Out of descriptors the loop waits instead of spinning (issue 12).
                              if (!backoff->accept_now(ec, [this] {
                                      if (acceptor.is_open()) {
                                          accept();
                                      }
                                  })) {
                                  return;
                              }
                              if (!ec) {
                                  std::make_shared<HttpSession>(std::move(s), *this)->run();
                              }
                              accept();
                          });
}

void ConsoleServer::Impl::tick() {
    tick_timer.expires_after(std::chrono::seconds(1));
    tick_timer.async_wait([this](beast::error_code ec) {
        if (ec) {
            return;
        }
        std::erase_if(streams, [](const std::weak_ptr<WsSession>& w) { return w.expired(); });
        if (streams.empty()) {
            // Failovers happen with no page open too: the Paths view's tracker looks anyway.
            api::observe_paths(model);
            // The next page opens with a first tick (no deltas), not one over the whole pause.
            ticks.restart();
        } else {
            auto message = std::make_shared<const std::string>(api::dump(ticks.next()));
            for (const auto& w : streams) {
                if (auto s = w.lock()) {
                    s->send(message);  // the console's one thread: no hand-over needed
                }
            }
        }
        tick();
    });
}

ConsoleServer::ConsoleServer(ConsoleSettings settings, ConsoleModel& model)
    : impl_(std::make_unique<Impl>(std::move(settings), model)) {
    Impl& d = *impl_;
    boost::system::error_code ec;
    const auto address = net::ip::make_address(d.settings.address, ec);
    if (ec) {
        throw std::runtime_error("console: bad address " + d.settings.address);
    }
    d.loopback = address.is_loopback();
    if (d.settings.token.empty()) {
        if (!d.loopback) {
            throw std::runtime_error("console: a token is required beyond loopback");
        }
        d.settings.token = random_token();
    }
    const net::ip::tcp::endpoint endpoint(address, d.settings.port);
    d.acceptor.open(endpoint.protocol(), ec);
    if (!ec) {
        d.acceptor.set_option(net::socket_base::reuse_address(true), ec);
        d.acceptor.bind(endpoint, ec);
    }
    if (!ec) {
        d.acceptor.listen(net::socket_base::max_listen_connections, ec);
    }
    if (ec) {
        throw std::runtime_error("console: cannot listen on " + d.settings.address + ":" +
                                 std::to_string(d.settings.port) + ": " + ec.message());
    }
    AccessPolicy policy;
    policy.token = d.settings.token;
    policy.loopback_only = d.loopback;
    const std::string port = std::to_string(d.acceptor.local_endpoint().port());
    const std::string host =
        address.is_v6() ? "[" + address.to_string() + "]" : address.to_string();
    policy.own_hosts = {host + ":" + port, "localhost:" + port};
    d.router.emplace(d.model, std::move(policy), d.settings.static_dir);
    d.backoff.emplace(d.ioc.get_executor(), fmt::format("console {}:{}", host, port));
}

ConsoleServer::~ConsoleServer() {
    stop();
}

// The WebSocket upgrade registers its session for ticks: done here, on the console's thread.
void ConsoleServer::start() {
    Impl& d = *impl_;
    d.accept();
    d.tick();
    d.thread = std::thread([&d] { d.ioc.run(); });
}

void ConsoleServer::stop() {
    Impl& d = *impl_;
    if (!d.thread.joinable()) {
        return;
    }
    net::post(d.ioc, [&d] {
        beast::error_code ignored;
        d.acceptor.close(ignored);
        d.backoff->stop();
        d.tick_timer.cancel();
        d.ioc.stop();
    });
    d.thread.join();
}

std::string ConsoleServer::address() const {
    return impl_->settings.address + ":" + std::to_string(port());
}

uint16_t ConsoleServer::port() const {
    beast::error_code ec;
    const auto ep = impl_->acceptor.local_endpoint(ec);
    return ec ? impl_->settings.port : ep.port();
}

const std::string& ConsoleServer::token() const {
    return impl_->settings.token;
}

}  // namespace atsarray::webui
