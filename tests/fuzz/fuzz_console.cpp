// libFuzzer harness for the console's HTTP handling without sockets: the input is what a client
// sends on one connection, parsed by Beast's request parser with the console server's limits
// (webui/server/console_server.cpp) and each request answered by Router::handle
// (webui/server/router.cpp), which parses JSON bodies (lab notes, fault rules). Oracles: every
// answer has a status HTTP names; a JSON answer is valid JSON; a request without the token never
// changes state (no event, no fault rule) and never sees the token.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include <boost/asio/buffer.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

#include "target/iscsi/server_state.hpp"
#include "webui/server/router.hpp"

namespace {

using namespace atsarray;
namespace http = boost::beast::http;

constexpr std::string_view token = "0123456789abcdef0123456789abcdef";
// console_server.cpp's limits.
constexpr size_t max_header_bytes = 8 * 1024;
constexpr size_t max_body_bytes = 64 * 1024;

struct Console {
    iscsi::ServerState state;
    ats::Registry registry;
    ats::EventLog events;
    fault::Engine faults;
    webui::ConsoleModel model{state, registry, events, &faults};
};

void check(const webui::HttpRequest& request, const webui::HttpResponse& response, bool authorized,
           bool loopback, uint64_t events_before, size_t rules_before, const Console& c) {
    if (response.status < 200 || response.status > 599) {
        std::abort();
    }
    if (response.content_type == "application/json" && !nlohmann::json::accept(response.body)) {
        std::abort();
    }
    if (!authorized) {
        if (c.events.last_seq() != events_before || c.faults.rules().size() != rules_before) {
            std::abort();  // a state change without the token
        }
        // The token goes only to the console's own page on loopback (GET session-token); an
        // error message may echo a path or method that carries it already.
        const bool own_page =
            loopback && (request.host == "127.0.0.1:8080" || request.host == "localhost:8080");
        const bool echoed =
            (request.method + request.target + request.body).find(token) != std::string::npos;
        if (response.body.find(token) != std::string::npos && !own_page && !echoed) {
            std::abort();
        }
    }
}

}  // namespace

// NOLINTNEXTLINE(readability-identifier-naming): libFuzzer names the entry point
extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 1) {
        return 0;
    }
    // First byte: bit 0 the console listens beyond loopback; the rest is the connection's bytes.
    Console console;
    const bool loopback = (data[0] & 1) == 0;
    const webui::Router router(
        console.model,
        webui::AccessPolicy{std::string(token), loopback, {"127.0.0.1:8080", "localhost:8080"}},
        ATSARRAY_STATIC_DIR);
    std::string_view input(reinterpret_cast<const char*>(data + 1), size - 1);
    // Pipelined requests on one keep-alive connection, as the session reads them.
    for (unsigned requests = 0; !input.empty() && requests < 8; ++requests) {
        http::request_parser<http::string_body> parser;
        parser.header_limit(max_header_bytes);
        parser.body_limit(max_body_bytes);
        parser.eager(true);
        boost::beast::error_code ec;
        const size_t used = parser.put(boost::asio::buffer(input.data(), input.size()), ec);
        if (!ec && !parser.is_done()) {
            parser.put_eof(ec);  // the client closed: a body without a length ends here
        }
        if (ec || !parser.is_done()) {
            return 0;  // the server answers 400/413/431 and closes
        }
        input.remove_prefix(used);
        const http::request<http::string_body> req = parser.release();
        webui::HttpRequest request;
        request.method = std::string(req.method_string());
        request.target = std::string(req.target());
        request.host = std::string(req[http::field::host]);
        request.authorization = std::string(req[http::field::authorization]);
        request.content_type = std::string(req[http::field::content_type]);
        request.body = req.body();
        const bool authorized = router.authorized(request.authorization);
        const uint64_t events_before = console.events.last_seq();
        const size_t rules_before = console.faults.rules().size();
        const webui::HttpResponse response = router.handle(request);
        check(request, response, authorized, loopback, events_before, rules_before, console);
        if (!req.keep_alive() || used == 0) {
            break;
        }
    }
    return 0;
}
