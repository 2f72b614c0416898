#include "backend/block_store.hpp"

#include <cstring>

namespace atsarray::backend {

namespace {

const char* errc_name(StoreErrc c) {
    switch (c) {
        case StoreErrc::ok:
            return "ok";
        case StoreErrc::out_of_range:
            return "out of range";
        case StoreErrc::io_error:
            return "I/O error";
        case StoreErrc::no_space:
            return "no space";
        case StoreErrc::read_only:
            return "read-only";
    }
    return "unknown";
}

}  // namespace

std::string to_string(const Status& s) {
    std::string text = errc_name(s.code);
    if (s.sys_errno != 0) {
        // strerror_r (GNU flavour) may return a static string instead of filling buf.
        char buf[128] = {};
        const char* msg = strerror_r(s.sys_errno, buf, sizeof(buf));
        text += " (errno ";
        text += std::to_string(s.sys_errno);
        text += ": ";
        text += msg;
        text += ")";
    }
    return text;
}

}  // namespace atsarray::backend
