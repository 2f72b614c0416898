#include "ctl/client.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cctype>
#include <chrono>

namespace atsarray::ctl {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using nlohmann::json;

namespace {

// A console that accepted the connection answers in milliseconds; one that does not within this
// is as good as down.
constexpr std::chrono::seconds request_timeout{10};

bool is_loopback(const std::string& host) {
    if (host == "localhost") {
        return true;
    }
    boost::system::error_code ec;
    const net::ip::address address = net::ip::make_address(host, ec);
    return !ec && address.is_loopback();
}

std::string lower_first(std::string text) {
    if (!text.empty()) {
        text[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(text[0])));
    }
    return text;
}

}  // namespace

Url parse_url(const std::string& text) {
    const std::string scheme = "http://";
    if (text.rfind(scheme, 0) != 0) {
        throw UsageError("--url must start with http:// (the console serves plain HTTP), got \"" +
                         text + "\"");
    }
    std::string rest = text.substr(scheme.size());
    while (!rest.empty() && rest.back() == '/') {
        rest.pop_back();
    }
    if (rest.empty() || rest.find('/') != std::string::npos) {
        throw UsageError("--url is http://HOST[:PORT], got \"" + text + "\"");
    }
    Url url;
    url.text = scheme + rest;
    std::string port;
    if (rest.front() == '[') {
        const size_t close = rest.find(']');
        if (close == std::string::npos) {
            throw UsageError("--url: no ] after an IPv6 address in \"" + text + "\"");
        }
        url.host = rest.substr(1, close - 1);
        if (close + 1 < rest.size()) {
            if (rest[close + 1] != ':') {
                throw UsageError("--url: expected :PORT after ] in \"" + text + "\"");
            }
            port = rest.substr(close + 2);
        }
    } else {
        const size_t colon = rest.find(':');
        url.host = rest.substr(0, colon);
        if (colon != std::string::npos) {
            port = rest.substr(colon + 1);
        }
    }
    if (!port.empty()) {
        const bool digits = port.find_first_not_of("0123456789") == std::string::npos;
        if (!digits || port.size() > 5 || std::stoul(port) == 0 || std::stoul(port) > 65535) {
            throw UsageError("--url: the port must be 1..65535, got \"" + port + "\"");
        }
        url.port = port;
    }
    if (url.host.empty()) {
        throw UsageError("--url: no host in \"" + text + "\"");
    }
    url.loopback = is_loopback(url.host);
    return url;
}

std::string path_segment(const std::string& text) {
    static constexpr char hex[] = "0123456789ABCDEF";
    std::string out;
    for (const char c : text) {
        const auto u = static_cast<unsigned char>(c);
        if (std::isalnum(u) != 0 || c == '-' || c == '.' || c == '_' || c == '~' || c == ':') {
            out += c;
        } else {
            out += '%';
            out += hex[u >> 4];
            out += hex[u & 15];
        }
    }
    return out;
}

Response Client::request(const std::string& method, const std::string& path,
                         const std::string& body, bool with_token, const char* content_type) {
    net::io_context ioc;
    beast::tcp_stream stream(ioc);
    Response answer;
    try {
        net::ip::tcp::resolver resolver(ioc);
        const auto endpoints = resolver.resolve(url_.host, url_.port);
        stream.expires_after(request_timeout);
        stream.connect(endpoints);
        const std::string host_header =
            (url_.host.find(':') != std::string::npos ? "[" + url_.host + "]" : url_.host) + ":" +
            url_.port;
        http::request<http::string_body> req(http::string_to_verb(method), path, 11);
        req.set(http::field::host, host_header);
        req.set(http::field::user_agent, "atsarrayctl");
        req.set(http::field::accept, "application/json");
        if (with_token && !token().empty()) {
            req.set(http::field::authorization, "Bearer " + token());
        }
        if (!body.empty()) {
            req.set(http::field::content_type, content_type);
            req.body() = body;
        }
        req.prepare_payload();
        stream.expires_after(request_timeout);
        http::write(stream, req);
        beast::flat_buffer buffer;
        http::response_parser<http::string_body> parser;
        parser.body_limit(64 * 1024 * 1024);
        http::read(stream, buffer, parser);
        const auto& res = parser.get();
        answer.status = res.result_int();
        answer.content_type = std::string(res[http::field::content_type]);
        answer.body = res.body();
    } catch (const boost::system::system_error& e) {
        std::string reason = lower_first(e.code().message());
        if (e.code() == beast::error::timeout) {
            reason = "no answer within " + std::to_string(request_timeout.count()) + " s";
        }
        throw ConnectError("cannot connect to the console at " + url_.text + ": " + reason +
                           " \u2014 is atsarray running with [console] enabled?");
    }
    beast::error_code ignored;
    stream.socket().shutdown(net::ip::tcp::socket::shutdown_both, ignored);
    return answer;
}

const std::string& Client::token() {
    if (token_.empty() && !fetched_token_ && url_.loopback) {
        // As the console's page does on loopback (webui/API.md "Auth").
        fetched_token_ = true;
        const Response r = request("GET", "/api/v1/session-token", "", false);
        const json body = json::parse(r.body, nullptr, false);
        if (r.status == 200 && body.is_object() && body.contains("token") &&
            body["token"].is_string()) {
            token_ = body["token"].get<std::string>();
        }
    }
    return token_;
}

void Client::check(const std::string& method, const std::string& path, const Response& r) const {
    if (r.status >= 200 && r.status < 300) {
        return;
    }
    const json body = json::parse(r.body, nullptr, false);
    std::string message;
    if (body.is_object() && body.contains("error") && body["error"].is_object() &&
        body["error"].contains("message") && body["error"]["message"].is_string()) {
        message = body["error"]["message"].get<std::string>();
    } else {
        message = method + " " + path + ": HTTP " + std::to_string(r.status);
        if (!r.body.empty() && r.body.size() < 200) {
            message += ": " + r.body;
        }
    }
    throw ApiError(r.status, message);
}

json Client::get(const std::string& path) {
    // Reads need no token on a loopback console; beyond loopback every request does.
    Response r = request("GET", path, "", !token_.empty() || !url_.loopback);
    if (r.status == 401 && token_.empty() && url_.loopback && !fetched_token_) {
        r = request("GET", path, "", true);
    }
    check("GET", path, r);
    json body = json::parse(r.body, nullptr, false);
    if (body.is_discarded()) {
        throw ApiError(r.status, "GET " + path + ": the answer is not JSON");
    }
    return body;
}

std::string Client::get_text(const std::string& path) {
    const Response r = request("GET", path, "", true);
    check("GET", path, r);
    return r.body;
}

json Client::send(const std::string& method, const std::string& path, const json& body) {
    return json_of(method, path, request(method, path, body.is_null() ? "" : body.dump(), true));
}

json Client::post_text(const std::string& path, const std::string& text) {
    return json_of("POST", path, request("POST", path, text, true, "text/plain; charset=utf-8"));
}

json Client::json_of(const std::string& method, const std::string& path, const Response& r) const {
    check(method, path, r);
    if (r.body.empty()) {
        return json::object();
    }
    json answer = json::parse(r.body, nullptr, false);
    if (answer.is_discarded()) {
        throw ApiError(r.status, method + " " + path + ": the answer is not JSON");
    }
    return answer;
}

}  // namespace atsarray::ctl
