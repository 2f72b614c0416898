#pragma once
// Reading a log line's words: tokens, numbers in decimal or 0x-hex, the word after a phrase. Each
// helper takes what it finds or nothing; none reads past the view it is given.

#include <charconv>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace atsarray::forensics::scan {

using std::string_view;

inline bool is_digit(char c) {
    return c >= '0' && c <= '9';
}

inline bool is_space(char c) {
    return c == ' ' || c == '\t';
}

inline string_view trim_left(string_view s) {
    size_t i = 0;
    while (i < s.size() && is_space(s[i])) {
        ++i;
    }
    return s.substr(i);
}

inline string_view trim(string_view s) {
    s = trim_left(s);
    while (!s.empty() && (is_space(s.back()) || s.back() == '\r')) {
        s.remove_suffix(1);
    }
    return s;
}

// The next whitespace-separated token of `s`, which moves past it.
inline string_view next_token(string_view& s) {
    s = trim_left(s);
    size_t end = 0;
    while (end < s.size() && !is_space(s[end])) {
        ++end;
    }
    const string_view token = s.substr(0, end);
    s = s.substr(end);
    return token;
}

// A token without the punctuation a sentence puts after it ("3735552,", "0x0.", "'ds1':").
inline string_view strip_punctuation(string_view t) {
    while (!t.empty() && (t.back() == ',' || t.back() == '.' || t.back() == ':' ||
                          t.back() == ';' || t.back() == ')' || t.back() == ']')) {
        t.remove_suffix(1);
    }
    return t;
}

// "3735552", "0x1aa23", "abcdef02" with base 16; the whole token must be the number.
inline std::optional<uint64_t> to_number(string_view t, int base = 10) {
    t = strip_punctuation(t);
    if (t.size() > 2 && t[0] == '0' && (t[1] == 'x' || t[1] == 'X')) {
        t.remove_prefix(2);
        base = 16;
    }
    if (t.empty()) {
        return std::nullopt;
    }
    uint64_t value = 0;
    const auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), value, base);
    if (ec != std::errc{} || end != t.data() + t.size()) {
        return std::nullopt;
    }
    return value;
}

inline std::optional<int64_t> to_signed(string_view t) {
    t = strip_punctuation(t);
    int64_t value = 0;
    const auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), value);
    if (t.empty() || ec != std::errc{} || end != t.data() + t.size()) {
        return std::nullopt;
    }
    return value;
}

inline std::optional<double> to_double(string_view t) {
    t = strip_punctuation(t);
    double value = 0;
    const auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), value);
    if (t.empty() || ec != std::errc{} || end != t.data() + t.size()) {
        return std::nullopt;
    }
    return value;
}

inline std::optional<uint8_t> to_byte(string_view t) {
    const auto v = to_number(t, 16);
    if (!v || *v > 0xff) {
        return std::nullopt;
    }
    return static_cast<uint8_t>(*v);
}

// What follows the first `needle` in `hay`.
inline std::optional<string_view> after(string_view hay, string_view needle) {
    const size_t at = hay.find(needle);
    if (at == string_view::npos) {
        return std::nullopt;
    }
    return hay.substr(at + needle.size());
}

inline std::optional<uint64_t> number_after(string_view hay, string_view needle) {
    auto rest = after(hay, needle);
    if (!rest) {
        return std::nullopt;
    }
    return to_number(next_token(*rest));
}

// "'ds1'" (quoted, may hold spaces) or the bare next token.
inline std::string name_after(string_view hay, string_view needle) {
    auto rest = after(hay, needle);
    if (!rest) {
        return {};
    }
    string_view s = trim_left(*rest);
    if (!s.empty() && s[0] == '\'') {
        const size_t close = s.find('\'', 1);
        return std::string(s.substr(1, close == string_view::npos ? string_view::npos : close - 1));
    }
    return std::string(strip_punctuation(next_token(s)));
}

// The text between double quotes after `needle`: to dev "naa.6000...".
inline std::string quoted_after(string_view hay, string_view needle) {
    auto rest = after(hay, needle);
    if (!rest) {
        return {};
    }
    const size_t close = rest->find('"');
    return std::string(rest->substr(0, close));
}

}  // namespace atsarray::forensics::scan
