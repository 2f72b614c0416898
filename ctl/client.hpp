#pragma once
// A synchronous HTTP/1.1 client of the console's REST API (webui/API.md): one connection per
// request, the bearer token when the request needs one, the API's errors as exceptions that
// main() turns into exit statuses.

#include <optional>
#include <stdexcept>
#include <string>

#include <nlohmann/json.hpp>

namespace atsarray::ctl {

// The console's address, from --url / ATSARRAY_URL: "http://host[:port]".
struct Url {
    std::string text;  // as given, for messages
    std::string host;  // without brackets for IPv6
    std::string port = "80";
    bool loopback = false;
};

// A usage problem found after parsing (a bad --url, a token file others can read): exit 2.
struct UsageError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// The console did not answer at all (connection refused, timeout): exit 3.
struct ConnectError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// The API answered with an error status: exit 1 with its message.
struct ApiError : std::runtime_error {
    ApiError(unsigned status, const std::string& message)
        : std::runtime_error(message), status(status) {}
    unsigned status;
};

// Parses "http://host[:port][/]"; throws UsageError.
Url parse_url(const std::string& text);

struct Response {
    unsigned status = 0;
    std::string content_type;
    std::string body;
};

class Client {
  public:
    // `token`: the one the user gave (empty: none). On a loopback console without one, the
    // client asks GET /api/v1/session-token the first time a request needs it, as the console's
    // own page does.
    Client(Url url, std::string token) : url_(std::move(url)), token_(std::move(token)) {}

    // GET, answered as JSON; throws ApiError for any status but 2xx.
    nlohmann::json get(const std::string& path);
    // GET of a text answer (GET /api/v1/config), with the token.
    std::string get_text(const std::string& path);
    // POST/PUT/PATCH/DELETE with the token; `body` null sends none.
    nlohmann::json send(const std::string& method, const std::string& path,
                        const nlohmann::json& body = nullptr);
    // POST of a text body (a host log upload) with the token, answered as JSON.
    nlohmann::json post_text(const std::string& path, const std::string& text);

    const Url& url() const { return url_; }

  private:
    Response request(const std::string& method, const std::string& path, const std::string& body,
                     bool with_token, const char* content_type = "application/json");
    // The token for a request that needs one: the user's, else the loopback console's.
    const std::string& token();
    // Throws ApiError when `r` is not 2xx.
    void check(const std::string& method, const std::string& path, const Response& r) const;
    // `r`'s JSON body (an empty one: {}); throws ApiError when `r` is not 2xx or not JSON.
    nlohmann::json json_of(const std::string& method, const std::string& path,
                           const Response& r) const;

    Url url_;
    std::string token_;
    bool fetched_token_ = false;
};

// Percent-encodes one path segment (an IQN, a portal "a:p" keeps its colon).
std::string path_segment(const std::string& text);

}  // namespace atsarray::ctl
