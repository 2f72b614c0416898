#include "ctl/token.hpp"

#include <sys/stat.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>

#include "ctl/client.hpp"

namespace atsarray::ctl {

namespace {

std::string env(const char* name) {
    const char* value = std::getenv(name);
    return value == nullptr ? "" : value;
}

std::string octal_mode(mode_t mode) {
    char text[8];
    std::snprintf(text, sizeof text, "%04o", static_cast<unsigned>(mode & 07777));
    return text;
}

}  // namespace

std::string read_token_file(const std::string& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) {
        throw UsageError("token file " + path + ": " + std::strerror(errno));
    }
    if (!S_ISREG(st.st_mode)) {
        throw UsageError("token file " + path + ": not a regular file");
    }
    // The token opens every state-changing request: a file others can read (or change) is
    // refused, as ssh refuses such a private key.
    if ((st.st_mode & 077) != 0) {
        throw UsageError("token file " + path +
                         " is readable or writable by group or others (mode " +
                         octal_mode(st.st_mode) + "); refusing it, as ssh does: chmod 600 " + path);
    }
    std::ifstream in(path);
    std::string token;
    if (!in || !std::getline(in, token)) {
        throw UsageError("token file " + path + ": cannot read a token from it");
    }
    while (!token.empty() && (token.back() == '\r' || token.back() == ' ')) {
        token.pop_back();
    }
    if (token.empty()) {
        throw UsageError("token file " + path + ": its first line is empty");
    }
    return token;
}

std::string resolve_token(const std::string& token_option, const std::string& token_file_option) {
    if (!token_option.empty()) {
        return token_option;
    }
    if (!token_file_option.empty()) {
        return read_token_file(token_file_option);
    }
    if (const std::string token = env("ATSARRAY_TOKEN"); !token.empty()) {
        return token;
    }
    if (const std::string file = env("ATSARRAY_TOKEN_FILE"); !file.empty()) {
        return read_token_file(file);
    }
    return "";
}

}  // namespace atsarray::ctl
