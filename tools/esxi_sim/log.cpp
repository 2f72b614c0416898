#include "tools/esxi_sim/log.hpp"

#include <chrono>
#include <cstdarg>
#include <ctime>

namespace atsarray::sim {

void Log::line(const std::string& host, const char* module, const char* format, ...) {
    if (out_ == nullptr && !keep_) {
        return;
    }
    const auto now = std::chrono::system_clock::now();
    const std::time_t seconds = std::chrono::system_clock::to_time_t(now);
    const auto ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() %
        1000;
    std::tm utc{};
    ::gmtime_r(&seconds, &utc);
    char stamp[32];
    std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &utc);

    char message[1024];
    va_list args;
    va_start(args, format);
    std::vsnprintf(message, sizeof message, format, args);
    va_end(args);

    char head[160];
    std::snprintf(head, sizeof head, "%s.%03dZ %s %s: ", stamp, static_cast<int>(ms), host.c_str(),
                  module);
    std::string text = std::string(head) + message + "\n";
    std::lock_guard lock(mutex_);
    if (out_ != nullptr) {
        std::fputs(text.c_str(), out_);
        std::fflush(out_);
    }
    if (keep_) {
        kept_ += text;
    }
}

std::string Log::text() const {
    std::lock_guard lock(mutex_);
    return kept_;
}

}  // namespace atsarray::sim
