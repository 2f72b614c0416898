#include "target/daemon/config_schema.hpp"

#include <algorithm>
#include <cstddef>

namespace atsarray::daemon {

namespace {

// RFC 3720 §3.2.6.1: an iSCSI name is at most 223 bytes.
constexpr size_t max_iscsi_name = 223;

bool is_hex(std::string_view s) {
    return std::all_of(s.begin(), s.end(), [](char c) {
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
    });
}

bool is_digits(std::string_view s) {
    return !s.empty() &&
           std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// RFC 3720 §3.2.6.2 (after RFC 3722 stringprep): lowercase letters, digits, '-', '.', ':'.
bool is_name_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == ':';
}

}  // namespace

std::string_view to_string(BackendKind kind) {
    return name_in(backend_kinds, kind);
}
std::string_view to_string(LogLevel level) {
    return name_in(log_levels, level);
}
std::string_view to_string(RocksDbCompression compression) {
    return name_in(rocksdb_compressions, compression);
}
std::string_view to_string(AbortAnsweredTask answer) {
    return name_in(abort_answered_task_answers, answer);
}
std::optional<BackendKind> backend_kind_from(std::string_view name) {
    return value_in(backend_kinds, name);
}
std::optional<LogLevel> log_level_from(std::string_view name) {
    return value_in(log_levels, name);
}
std::optional<RocksDbCompression> rocksdb_compression_from(std::string_view name) {
    return value_in(rocksdb_compressions, name);
}
std::optional<AbortAnsweredTask> abort_answered_task_from(std::string_view name) {
    return value_in(abort_answered_task_answers, name);
}

std::string comma_list(std::span<const std::string_view> names) {
    std::string out;
    for (const std::string_view name : names) {
        out += out.empty() ? "" : ", ";
        out += name;
    }
    return out;
}

std::string alternatives(std::span<const std::string_view> names, bool quoted) {
    std::string out;
    for (size_t i = 0; i < names.size(); ++i) {
        if (i != 0) {
            out += i + 1 == names.size() ? " or " : ", ";
        }
        out += quoted ? in_quotes(names[i]) : std::string(names[i]);
    }
    return out;
}

std::string in_quotes(std::string_view s) {
    // Built by appending: g++ 12 at -O3 reports a false -Wrestrict overlap for
    // "\"" + std::string(s) inlined here (a Release build stopped on it).
    std::string out;
    out.reserve(s.size() + 2);
    out.push_back('"');
    out.append(s);
    out.push_back('"');
    return out;
}

bool is_printable_ascii(std::string_view s) {
    return std::all_of(s.begin(), s.end(), [](char c) { return c >= 0x20 && c <= 0x7e; });
}

std::string check_iscsi_name(std::string_view name) {
    const std::string form =
        "expected iqn.yyyy-mm.reversed.domain[:identifier], eui. + 16 hex digits or naa. + 16 "
        "or 32 hex digits (RFC 3720 §3.2.6)";
    if (name.empty()) {
        return "must not be empty; " + form;
    }
    if (name.size() > max_iscsi_name) {
        return "longer than " + std::to_string(max_iscsi_name) + " bytes (RFC 3720 §3.2.6.1)";
    }
    if (name.starts_with("eui.")) {
        const auto hex = name.substr(4);
        if (hex.size() != 16 || !is_hex(hex)) {
            return "invalid EUI name " + in_quotes(name) + ": expected eui. + 16 hex digits";
        }
        return {};
    }
    if (name.starts_with("naa.")) {
        const auto hex = name.substr(4);
        if ((hex.size() != 16 && hex.size() != 32) || !is_hex(hex)) {
            return "invalid NAA name " + in_quotes(name) + ": expected naa. + 16 or 32 hex digits";
        }
        return {};
    }
    if (!name.starts_with("iqn.")) {
        return "invalid iSCSI name " + in_quotes(name) + ": " + form;
    }
    if (std::any_of(name.begin(), name.end(), [](char c) { return c >= 'A' && c <= 'Z'; })) {
        return "invalid iSCSI name " + in_quotes(name) +
               ": must be lowercase (names are compared after RFC 3722 normalization)";
    }
    if (!std::all_of(name.begin(), name.end(), is_name_char)) {
        return "invalid iSCSI name " + in_quotes(name) +
               ": only a-z, 0-9, '-', '.' and ':' are allowed (RFC 3720 §3.2.6.2)";
    }
    const std::string iqn_form =
        ": expected iqn.yyyy-mm.reversed.domain[:identifier] (RFC 3720 §3.2.6.3.1)";
    // iqn. yyyy-mm . naming-authority [ : anything ]
    const auto rest = name.substr(4);
    const auto colon = rest.find(':');
    const auto authority_part = rest.substr(0, colon);
    if (authority_part.size() < 9 || authority_part[4] != '-' || authority_part[7] != '.' ||
        !is_digits(authority_part.substr(0, 4)) || !is_digits(authority_part.substr(5, 2))) {
        return "invalid iSCSI name " + in_quotes(name) + iqn_form;
    }
    const int month = (authority_part[5] - '0') * 10 + (authority_part[6] - '0');
    if (month < 1 || month > 12) {
        return "invalid iSCSI name " + in_quotes(name) + ": month " +
               std::string(authority_part.substr(5, 2)) + " is not 01..12";
    }
    const auto domain = authority_part.substr(8);
    size_t start = 0;
    while (true) {
        const auto dot = domain.find('.', start);
        const auto label = domain.substr(start, dot == std::string_view::npos ? dot : dot - start);
        if (label.empty()) {
            return "invalid iSCSI name " + in_quotes(name) +
                   ": empty label in the reversed domain name" + iqn_form;
        }
        if (dot == std::string_view::npos) {
            break;
        }
        start = dot + 1;
    }
    if (colon != std::string_view::npos && colon + 1 == rest.size()) {
        return "invalid iSCSI name " + in_quotes(name) + ": nothing after ':'";
    }
    return {};
}

}  // namespace atsarray::daemon
