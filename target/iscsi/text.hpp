#pragma once
// iSCSI text segments: key=value pairs (RFC 7143 §6.1), their values (numbers, booleans, binary)
// and the joining/splitting of text that spans PDUs with the C bit (RFC 7143 §6.2, §11.10.2).

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace atsarray::iscsi {

struct TextKey {
    std::string key;
    std::string value;
};

// RFC 7143 §6.1: a key-name does not exceed 63 bytes.
inline constexpr std::size_t max_key_name_length = 63;
// RFC 7143 §6.1: unless noted otherwise a simple-value is at most 255 bytes.
inline constexpr std::size_t max_simple_value_length = 255;
// CHAP_C/CHAP_R carry binary values of at most 1024 bytes (RFC 7143 §12.1.3): 2048 hex digits
// plus the "0x" prefix.
inline constexpr std::size_t max_chap_value_length = 2048 + 2;
// Bound on the text of one negotiation sequence joined across C-bit continuations. RFC 7143 §6.2
// requires at least 16384 bytes to be accepted.
inline constexpr std::size_t max_text_negotiation_bytes = 64 * 1024;
// Bound on the number of PDUs joined into one text (empty continuations would otherwise be free).
inline constexpr std::size_t max_text_continuation_pdus = 1024;

// The largest value the key may carry.
std::size_t max_value_length(std::string_view key) noexcept;

// Parses a complete data segment (continuations already joined) into `out` (cleared first).
// Trailing zero bytes (padding) are tolerated. Errors: text_too_large, text_not_nul_terminated,
// text_missing_equals, text_empty_key, text_key_too_long, text_bad_character,
// text_value_too_long, text_duplicate_key.
std::error_code parse_text(std::span<const uint8_t> data, std::vector<TextKey>& out);

// Appends "key=value\0".
void append_key(std::vector<uint8_t>& out, std::string_view key, std::string_view value);

// The first pair named `key`, or nullptr.
const TextKey* find_key(const std::vector<TextKey>& keys, std::string_view key) noexcept;

// Numerical values (RFC 7143 §6.1): a decimal-constant ("0" or no leading zero) or a hex-constant
// ("0x"/"0X" followed by hex digits). Errors: text_bad_number, text_number_out_of_range.
std::error_code parse_number(std::string_view value, uint64_t min, uint64_t max, uint64_t& out);

// "Yes" or "No" (RFC 7143 §6.1 boolean-value). Returns false for anything else.
bool parse_boolean(std::string_view value, bool& out) noexcept;

// Binary values (RFC 7143 §6.1): "0x"/"0X" hex (an odd digit count implies a leading zero nibble)
// or "0b"/"0B" base64 (RFC 4648). At most `max_bytes` decoded bytes and at least one.
// Error: text_bad_binary.
std::error_code decode_binary(std::string_view value, std::vector<uint8_t>& out,
                              std::size_t max_bytes = 1024);
std::string encode_hex(std::span<const uint8_t> bytes);     // "0x..." lower case
std::string encode_base64(std::span<const uint8_t> bytes);  // "0b..." padded

// Joins the data segments of a Login/Text request sequence sent with C=1 (RFC 7143 §11.10.2,
// §11.12.2) up to a hard bound.
class TextAccumulator {
  public:
    explicit TextAccumulator(std::size_t max_bytes = max_text_negotiation_bytes,
                             std::size_t max_pdus = max_text_continuation_pdus) noexcept;

    // Adds one PDU's data segment (without padding). text_too_large once either bound is passed;
    // the accumulator then keeps failing until reset().
    std::error_code append(std::span<const uint8_t> segment);

    std::span<const uint8_t> data() const noexcept { return data_; }
    std::size_t size() const noexcept { return data_.size(); }
    bool empty() const noexcept { return data_.empty(); }
    std::size_t pdus() const noexcept { return pdus_; }

    // Hands over the joined text and starts over.
    std::vector<uint8_t> take();
    void reset() noexcept;

  private:
    std::size_t max_bytes_;
    std::size_t max_pdus_;
    std::size_t pdus_ = 0;
    bool overflowed_ = false;
    std::vector<uint8_t> data_;
};

// Splits `data` into chunks of at most `max_chunk` bytes (a chunk size of 0 is taken as 1) for
// responses longer than the initiator's MaxRecvDataSegmentLength. Pairs may be split anywhere: the
// initiator joins the chunks (RFC 7143 §6.2). Empty data gives one empty chunk.
std::vector<std::span<const uint8_t>> split_text(std::span<const uint8_t> data,
                                                 std::size_t max_chunk);

// Hands out a long response one PDU at a time: every chunk but the last goes out with C=1 and the
// initiator asks for the next with an empty request (RFC 7143 §11.11, §11.13).
class TextChunker {
  public:
    struct Chunk {
        std::span<const uint8_t> data;
        bool more = false;  // the C bit: more text follows
    };

    TextChunker() = default;
    TextChunker(std::vector<uint8_t> data, std::size_t max_chunk);
    TextChunker(const TextChunker&) = delete;
    TextChunker& operator=(const TextChunker&) = delete;
    TextChunker(TextChunker&&) noexcept = default;
    TextChunker& operator=(TextChunker&&) noexcept = default;

    bool pending() const noexcept { return offset_ < data_.size() || !started_; }
    // The next chunk; after the last one pending() is false and next() returns an empty chunk.
    Chunk next();

  private:
    std::vector<uint8_t> data_;
    std::size_t max_chunk_ = 1;
    std::size_t offset_ = 0;
    bool started_ = true;
};

}  // namespace atsarray::iscsi
