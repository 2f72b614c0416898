#include "target/iscsi/text.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <unordered_set>

#include "target/iscsi/errors.hpp"

namespace atsarray::iscsi {
namespace {

bool is_key_char(char c) noexcept {
    // RFC 7143 §6.1: letters, digits, dot, minus, plus, commercial at, underscore.
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '-' || c == '+' || c == '@' || c == '_';
}

std::error_code validate_key_name(std::string_view key) noexcept {
    if (key.empty()) {
        return Errc::text_empty_key;
    }
    if (key.size() > max_key_name_length) {
        return Errc::text_key_too_long;
    }
    // RFC 3720 §5.1 wanted a capital first letter, but RFC 7144's iSCSIProtocolLevel does not
    // have one, so only the character set is checked. "X#" starts IANA-registered extension keys
    // (RFC 7143 §13.5.2), the only place '#' may appear.
    for (std::size_t i = 0; i < key.size(); ++i) {
        const bool registered_prefix = i == 1 && key[0] == 'X' && key[1] == '#';
        if (!is_key_char(key[i]) && !registered_prefix) {
            return Errc::text_bad_character;
        }
    }
    return {};
}

int hex_digit(char c) noexcept {
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

int base64_digit(char c) noexcept {
    if (c >= 'A' && c <= 'Z') {
        return c - 'A';
    }
    if (c >= 'a' && c <= 'z') {
        return c - 'a' + 26;
    }
    if (c >= '0' && c <= '9') {
        return c - '0' + 52;
    }
    if (c == '+') {
        return 62;
    }
    if (c == '/') {
        return 63;
    }
    return -1;
}

constexpr std::string_view base64_alphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

std::error_code decode_hex_digits(std::string_view digits, std::vector<uint8_t>& out,
                                  std::size_t max_bytes) {
    const std::size_t bytes = (digits.size() + 1) / 2;
    if (digits.empty() || bytes > max_bytes) {
        return Errc::text_bad_binary;
    }
    out.reserve(bytes);
    std::size_t i = 0;
    if (digits.size() % 2 == 1) {
        // An odd digit count: the first digit is the low nibble of the first byte.
        const int low = hex_digit(digits[0]);
        if (low < 0) {
            return Errc::text_bad_binary;
        }
        out.push_back(static_cast<uint8_t>(low));
        i = 1;
    }
    for (; i < digits.size(); i += 2) {
        const int high = hex_digit(digits[i]);
        const int low = hex_digit(digits[i + 1]);
        if (high < 0 || low < 0) {
            return Errc::text_bad_binary;
        }
        out.push_back(static_cast<uint8_t>((high << 4) | low));
    }
    return {};
}

std::error_code decode_base64_digits(std::string_view digits, std::vector<uint8_t>& out,
                                     std::size_t max_bytes) {
    // RFC 4648 §4 with the '=' padding optional; padding only at the end.
    std::size_t padding = 0;
    while (!digits.empty() && digits.back() == '=' && padding < 2) {
        digits.remove_suffix(1);
        ++padding;
    }
    if (digits.empty() || digits.size() % 4 == 1) {
        return Errc::text_bad_binary;
    }
    if (padding > 0 && (digits.size() + padding) % 4 != 0) {
        return Errc::text_bad_binary;
    }
    const std::size_t bytes = digits.size() * 3 / 4;
    if (bytes > max_bytes) {
        return Errc::text_bad_binary;
    }
    out.reserve(bytes);
    uint32_t accumulator = 0;
    int bits = 0;
    for (char c : digits) {
        const int value = base64_digit(c);
        if (value < 0) {
            return Errc::text_bad_binary;
        }
        accumulator = (accumulator << 6) | static_cast<uint32_t>(value);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out.push_back(static_cast<uint8_t>((accumulator >> bits) & 0xff));
        }
    }
    // Leftover bits of the last digit must be zero (canonical encoding).
    if ((accumulator & ((1u << bits) - 1)) != 0) {
        return Errc::text_bad_binary;
    }
    return {};
}

}  // namespace

std::size_t max_value_length(std::string_view key) noexcept {
    if (key == "CHAP_C" || key == "CHAP_R") {
        return max_chap_value_length;
    }
    return max_simple_value_length;
}

std::error_code parse_text(std::span<const uint8_t> data, std::vector<TextKey>& out) {
    out.clear();
    if (data.size() > max_text_negotiation_bytes) {
        return Errc::text_too_large;
    }
    const std::string_view text(reinterpret_cast<const char*>(data.data()), data.size());
    std::unordered_set<std::string_view> seen;
    std::size_t pos = 0;
    std::error_code ec;
    while (pos < text.size()) {
        if (text[pos] == '\0') {
            // Zero padding may follow the last pair; a NUL followed by more text is an empty pair.
            if (text.find_first_not_of('\0', pos) == std::string_view::npos) {
                break;
            }
            ec = Errc::text_empty_key;
            break;
        }
        const std::size_t end = text.find('\0', pos);
        if (end == std::string_view::npos) {
            ec = Errc::text_not_nul_terminated;
            break;
        }
        const std::string_view pair = text.substr(pos, end - pos);
        const std::size_t equals = pair.find('=');
        if (equals == std::string_view::npos) {
            ec = Errc::text_missing_equals;
            break;
        }
        const std::string_view key = pair.substr(0, equals);
        const std::string_view value = pair.substr(equals + 1);
        ec = validate_key_name(key);
        if (ec) {
            break;
        }
        if (value.size() > max_value_length(key)) {
            ec = Errc::text_value_too_long;
            break;
        }
        // RFC 7143 §6.1 / §6.3: a key is not sent twice in one negotiation.
        if (!seen.insert(key).second) {
            ec = Errc::text_duplicate_key;
            break;
        }
        out.push_back(TextKey{std::string(key), std::string(value)});
        pos = end + 1;
    }
    if (ec) {
        out.clear();
    }
    return ec;
}

void append_key(std::vector<uint8_t>& out, std::string_view key, std::string_view value) {
    out.reserve(out.size() + key.size() + value.size() + 2);
    out.insert(out.end(), key.begin(), key.end());
    out.push_back('=');
    out.insert(out.end(), value.begin(), value.end());
    out.push_back('\0');
}

const TextKey* find_key(const std::vector<TextKey>& keys, std::string_view key) noexcept {
    for (const TextKey& k : keys) {
        if (k.key == key) {
            return &k;
        }
    }
    return nullptr;
}

std::error_code parse_number(std::string_view value, uint64_t min, uint64_t max, uint64_t& out) {
    uint64_t number = 0;
    std::string_view digits = value;
    int base = 10;
    if (value.size() >= 2 && value[0] == '0' && (value[1] == 'x' || value[1] == 'X')) {
        digits = value.substr(2);
        base = 16;
    } else if (value.size() > 1 && value[0] == '0') {
        // RFC 7143 §6.1 decimal-constant: no leading zero except "0" itself.
        return Errc::text_bad_number;
    }
    if (digits.empty()) {
        return Errc::text_bad_number;
    }
    const char* first = digits.data();
    const char* last = digits.data() + digits.size();
    const auto [ptr, err] = std::from_chars(first, last, number, base);
    if (err == std::errc::result_out_of_range) {
        return Errc::text_number_out_of_range;
    }
    if (err != std::errc{} || ptr != last) {
        return Errc::text_bad_number;
    }
    if (number < min || number > max) {
        return Errc::text_number_out_of_range;
    }
    out = number;
    return {};
}

bool parse_boolean(std::string_view value, bool& out) noexcept {
    if (value == "Yes") {
        out = true;
        return true;
    }
    if (value == "No") {
        out = false;
        return true;
    }
    return false;
}

std::error_code decode_binary(std::string_view value, std::vector<uint8_t>& out,
                              std::size_t max_bytes) {
    out.clear();
    std::error_code ec = Errc::text_bad_binary;
    if (value.size() >= 2 && value[0] == '0') {
        if (value[1] == 'x' || value[1] == 'X') {
            ec = decode_hex_digits(value.substr(2), out, max_bytes);
        } else if (value[1] == 'b' || value[1] == 'B') {
            ec = decode_base64_digits(value.substr(2), out, max_bytes);
        }
    }
    if (ec) {
        out.clear();
    }
    return ec;
}

std::string encode_hex(std::span<const uint8_t> bytes) {
    static constexpr std::string_view hex_digits = "0123456789abcdef";
    std::string out = "0x";
    out.reserve(2 + bytes.size() * 2);
    for (uint8_t b : bytes) {
        out.push_back(hex_digits[b >> 4]);
        out.push_back(hex_digits[b & 0x0f]);
    }
    return out;
}

std::string encode_base64(std::span<const uint8_t> bytes) {
    std::string out = "0b";
    out.reserve(2 + (bytes.size() + 2) / 3 * 4);
    std::size_t i = 0;
    for (; i + 3 <= bytes.size(); i += 3) {
        const uint32_t v =
            (uint32_t{bytes[i]} << 16) | (uint32_t{bytes[i + 1]} << 8) | bytes[i + 2];
        out.push_back(base64_alphabet[(v >> 18) & 0x3f]);
        out.push_back(base64_alphabet[(v >> 12) & 0x3f]);
        out.push_back(base64_alphabet[(v >> 6) & 0x3f]);
        out.push_back(base64_alphabet[v & 0x3f]);
    }
    const std::size_t rest = bytes.size() - i;
    if (rest == 1) {
        const uint32_t v = uint32_t{bytes[i]} << 16;
        out.push_back(base64_alphabet[(v >> 18) & 0x3f]);
        out.push_back(base64_alphabet[(v >> 12) & 0x3f]);
        out.append("==");
    } else if (rest == 2) {
        const uint32_t v = (uint32_t{bytes[i]} << 16) | (uint32_t{bytes[i + 1]} << 8);
        out.push_back(base64_alphabet[(v >> 18) & 0x3f]);
        out.push_back(base64_alphabet[(v >> 12) & 0x3f]);
        out.push_back(base64_alphabet[(v >> 6) & 0x3f]);
        out.push_back('=');
    }
    return out;
}

TextAccumulator::TextAccumulator(std::size_t max_bytes, std::size_t max_pdus) noexcept
    : max_bytes_(max_bytes), max_pdus_(max_pdus) {}

std::error_code TextAccumulator::append(std::span<const uint8_t> segment) {
    if (overflowed_ || segment.size() > max_bytes_ - data_.size() || pdus_ >= max_pdus_) {
        overflowed_ = true;
        return Errc::text_too_large;
    }
    data_.insert(data_.end(), segment.begin(), segment.end());
    ++pdus_;
    return {};
}

std::vector<uint8_t> TextAccumulator::take() {
    std::vector<uint8_t> out = std::move(data_);
    reset();
    return out;
}

void TextAccumulator::reset() noexcept {
    data_.clear();
    pdus_ = 0;
    overflowed_ = false;
}

std::vector<std::span<const uint8_t>> split_text(std::span<const uint8_t> data,
                                                 std::size_t max_chunk) {
    max_chunk = std::max<std::size_t>(max_chunk, 1);
    std::vector<std::span<const uint8_t>> chunks;
    if (data.empty()) {
        chunks.push_back(data);
        return chunks;
    }
    chunks.reserve((data.size() + max_chunk - 1) / max_chunk);
    for (std::size_t offset = 0; offset < data.size(); offset += max_chunk) {
        chunks.push_back(data.subspan(offset, std::min(max_chunk, data.size() - offset)));
    }
    return chunks;
}

TextChunker::TextChunker(std::vector<uint8_t> data, std::size_t max_chunk)
    : data_(std::move(data)), max_chunk_(std::max<std::size_t>(max_chunk, 1)), started_(false) {}

TextChunker::Chunk TextChunker::next() {
    if (!pending()) {
        return {};
    }
    started_ = true;
    const std::size_t length = std::min(max_chunk_, data_.size() - offset_);
    Chunk chunk{std::span<const uint8_t>(data_).subspan(offset_, length), false};
    offset_ += length;
    chunk.more = offset_ < data_.size();
    return chunk;
}

}  // namespace atsarray::iscsi
