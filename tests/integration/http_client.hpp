#pragma once
// A synchronous HTTP/1.1 client (Boost.Beast) for tests of the console's API in the test's own
// process.

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <string>

#include <nlohmann/json.hpp>

namespace atsarray::testing {

struct HttpAnswer {
    unsigned status = 0;
    nlohmann::json body;  // null when the body is not JSON
};

inline HttpAnswer http_call(uint16_t port, const std::string& method, const std::string& target,
                            const std::string& token = "", const std::string& body = "",
                            const std::string& content_type = "application/json") {
    namespace beast = boost::beast;
    namespace http = beast::http;
    boost::asio::io_context ioc;
    boost::asio::ip::tcp::resolver resolver(ioc);
    beast::tcp_stream stream(ioc);
    stream.connect(resolver.resolve("127.0.0.1", std::to_string(port)));
    http::request<http::string_body> req(http::string_to_verb(method), target, 11);
    req.set(http::field::host, "127.0.0.1:" + std::to_string(port));
    if (!token.empty()) {
        req.set(http::field::authorization, "Bearer " + token);
    }
    if (!body.empty()) {
        req.set(http::field::content_type, content_type);
        req.body() = body;
    }
    req.prepare_payload();
    http::write(stream, req);
    beast::flat_buffer buffer;
    http::response<http::string_body> res;
    http::read(stream, buffer, res);
    beast::error_code ignored;
    stream.socket().shutdown(boost::asio::ip::tcp::socket::shutdown_both, ignored);
    return {res.result_int(), nlohmann::json::parse(res.body(), nullptr, false)};
}

}  // namespace atsarray::testing
