#include "target/iscsi/text.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "target/iscsi/errors.hpp"

namespace atsarray::iscsi {
namespace {

std::vector<uint8_t> bytes(std::string_view s) {
    return {s.begin(), s.end()};
}

std::error_code parse(std::string_view s, std::vector<TextKey>& out) {
    const auto data = bytes(s);
    return parse_text(data, out);
}

using namespace std::string_literals;

TEST(ParseText, TwoPairs) {
    std::vector<TextKey> keys;
    ASSERT_FALSE(parse("InitiatorName=iqn.x\0SessionType=Normal\0"s, keys));
    ASSERT_EQ(keys.size(), 2u);
    EXPECT_EQ(keys[0].key, "InitiatorName");
    EXPECT_EQ(keys[0].value, "iqn.x");
    EXPECT_EQ(keys[1].key, "SessionType");
    EXPECT_EQ(keys[1].value, "Normal");
}

TEST(ParseText, EmptySegment) {
    std::vector<TextKey> keys{{"A", "b"}};
    EXPECT_FALSE(parse("", keys));
    EXPECT_TRUE(keys.empty());
}

TEST(ParseText, TrailingPaddingTolerated) {
    std::vector<TextKey> keys;
    ASSERT_FALSE(parse("A=b\0\0\0\0"s, keys));
    ASSERT_EQ(keys.size(), 1u);
    ASSERT_FALSE(parse("\0\0\0\0"s, keys));
    EXPECT_TRUE(keys.empty());
}

TEST(ParseText, EmptyPairInTheMiddle) {
    std::vector<TextKey> keys;
    EXPECT_EQ(parse("A=1\0\0B=2\0"s, keys), Errc::text_empty_key);
    EXPECT_TRUE(keys.empty());
}

TEST(ParseText, KeyLength) {
    std::vector<TextKey> keys;
    const std::string key63 = "K" + std::string(62, 'k');
    EXPECT_FALSE(parse(key63 + "=1\0"s, keys));
    EXPECT_EQ(parse(key63 + "k=1\0"s, keys), Errc::text_key_too_long);
}

TEST(ParseText, ValueLength) {
    std::vector<TextKey> keys;
    EXPECT_FALSE(parse("A=" + std::string(255, 'v') + "\0"s, keys));
    EXPECT_EQ(keys[0].value.size(), 255u);
    EXPECT_EQ(parse("A=" + std::string(256, 'v') + "\0"s, keys), Errc::text_value_too_long);
    // CHAP_C and CHAP_R carry up to 1024 bytes as hex.
    EXPECT_FALSE(parse("CHAP_C=0x" + std::string(2048, 'a') + "\0"s, keys));
    EXPECT_EQ(parse("CHAP_R=0x" + std::string(2049, 'a') + "\0"s, keys), Errc::text_value_too_long);
    EXPECT_EQ(parse("CHAP_N=" + std::string(256, 'a') + "\0"s, keys), Errc::text_value_too_long);
}

TEST(ParseText, NotNulTerminated) {
    std::vector<TextKey> keys;
    EXPECT_EQ(parse("A=b", keys), Errc::text_not_nul_terminated);
    EXPECT_EQ(parse("A=b\0B=c"s, keys), Errc::text_not_nul_terminated);
    EXPECT_TRUE(keys.empty());
}

TEST(ParseText, MissingEquals) {
    std::vector<TextKey> keys;
    EXPECT_EQ(parse("Abc\0"s, keys), Errc::text_missing_equals);
    EXPECT_EQ(parse("=abc\0"s, keys), Errc::text_empty_key);
}

TEST(ParseText, ValueMayContainEqualsAndBeEmpty) {
    std::vector<TextKey> keys;
    ASSERT_FALSE(parse("A=b=c\0B=\0"s, keys));
    EXPECT_EQ(keys[0].value, "b=c");
    EXPECT_EQ(keys[1].value, "");
}

TEST(ParseText, Duplicate) {
    std::vector<TextKey> keys;
    EXPECT_EQ(parse("A=1\0B=2\0A=1\0"s, keys), Errc::text_duplicate_key);
    EXPECT_TRUE(keys.empty());
}

TEST(ParseText, KeyCharacters) {
    std::vector<TextKey> keys;
    EXPECT_FALSE(parse("A.b-c+d@e_f9=1\0"s, keys));
    EXPECT_FALSE(parse("X-com.example.key=1\0"s, keys));
    EXPECT_FALSE(parse("X#iana.key=1\0"s, keys));
    EXPECT_FALSE(parse("iSCSIProtocolLevel=1\0"s, keys));  // RFC 7144: lower-case start
    EXPECT_EQ(parse("A#=1\0"s, keys), Errc::text_bad_character);
    EXPECT_EQ(parse("A b=1\0"s, keys), Errc::text_bad_character);
    EXPECT_EQ(parse("A\x01=1\0"s, keys), Errc::text_bad_character);
}

TEST(ParseText, TooLarge) {
    std::vector<uint8_t> data(max_text_negotiation_bytes + 1, 0);
    std::vector<TextKey> keys;
    EXPECT_EQ(parse_text(data, keys), Errc::text_too_large);
}

TEST(ParseText, AppendKeyRoundTrip) {
    std::vector<uint8_t> out;
    append_key(out, "HeaderDigest", "CRC32C,None");
    append_key(out, "X-empty", "");
    EXPECT_EQ(std::string(out.begin(), out.end()), "HeaderDigest=CRC32C,None\0X-empty=\0"s);
    std::vector<TextKey> keys;
    ASSERT_FALSE(parse_text(out, keys));
    ASSERT_EQ(keys.size(), 2u);
    ASSERT_NE(find_key(keys, "X-empty"), nullptr);
    EXPECT_EQ(find_key(keys, "Nope"), nullptr);
}

TEST(ParseNumber, Forms) {
    uint64_t n = 0;
    EXPECT_FALSE(parse_number("0", 0, 10, n));
    EXPECT_EQ(n, 0u);
    EXPECT_FALSE(parse_number("8192", 512, 16777215, n));
    EXPECT_EQ(n, 8192u);
    EXPECT_FALSE(parse_number("0x200", 0, 1000, n));
    EXPECT_EQ(n, 512u);
    EXPECT_FALSE(parse_number("0X1f", 0, 1000, n));
    EXPECT_EQ(n, 31u);
    EXPECT_FALSE(parse_number("0x0000ff", 0, 1000, n));
    EXPECT_EQ(n, 255u);
    EXPECT_FALSE(parse_number("18446744073709551615", 0, UINT64_MAX, n));
    EXPECT_EQ(n, UINT64_MAX);
}

TEST(ParseNumber, Errors) {
    uint64_t n = 7;
    for (const char* bad : {"", "007", "0x", "-1", "+1", " 1", "1 ", "1a", "0x1g", "abc", "1.5"}) {
        EXPECT_EQ(parse_number(bad, 0, UINT64_MAX, n), Errc::text_bad_number) << bad;
    }
    EXPECT_EQ(parse_number("18446744073709551616", 0, UINT64_MAX, n),
              Errc::text_number_out_of_range);
    EXPECT_EQ(parse_number("0x10000000000000000", 0, UINT64_MAX, n),
              Errc::text_number_out_of_range);
    EXPECT_EQ(parse_number("511", 512, 1000, n), Errc::text_number_out_of_range);
    EXPECT_EQ(parse_number("1001", 512, 1000, n), Errc::text_number_out_of_range);
    EXPECT_EQ(n, 7u);
}

TEST(ParseBoolean, YesNo) {
    bool b = false;
    EXPECT_TRUE(parse_boolean("Yes", b));
    EXPECT_TRUE(b);
    EXPECT_TRUE(parse_boolean("No", b));
    EXPECT_FALSE(b);
    EXPECT_FALSE(parse_boolean("yes", b));
    EXPECT_FALSE(parse_boolean("", b));
}

TEST(Binary, Hex) {
    std::vector<uint8_t> out;
    ASSERT_FALSE(decode_binary("0x00ff10", out));
    EXPECT_EQ(out, (std::vector<uint8_t>{0x00, 0xff, 0x10}));
    ASSERT_FALSE(decode_binary("0XABC", out));  // odd: leading zero nibble
    EXPECT_EQ(out, (std::vector<uint8_t>{0x0a, 0xbc}));
    EXPECT_EQ(decode_binary("0x", out), Errc::text_bad_binary);
    EXPECT_EQ(decode_binary("0xzz", out), Errc::text_bad_binary);
    EXPECT_EQ(decode_binary("00ff", out), Errc::text_bad_binary);
    EXPECT_EQ(decode_binary("", out), Errc::text_bad_binary);
    EXPECT_EQ(decode_binary("0x0102", out, 1), Errc::text_bad_binary);
    EXPECT_TRUE(out.empty());
}

TEST(Binary, Base64) {
    std::vector<uint8_t> out;
    ASSERT_FALSE(decode_binary("0bAAEC", out));
    EXPECT_EQ(out, (std::vector<uint8_t>{0x00, 0x01, 0x02}));
    ASSERT_FALSE(decode_binary("0BAAE=", out));
    EXPECT_EQ(out, (std::vector<uint8_t>{0x00, 0x01}));
    ASSERT_FALSE(decode_binary("0bAA==", out));
    EXPECT_EQ(out, (std::vector<uint8_t>{0x00}));
    ASSERT_FALSE(decode_binary("0bAA", out));  // padding optional
    EXPECT_EQ(out, (std::vector<uint8_t>{0x00}));
    EXPECT_EQ(decode_binary("0b", out), Errc::text_bad_binary);
    EXPECT_EQ(decode_binary("0bA", out), Errc::text_bad_binary);
    EXPECT_EQ(decode_binary("0bAB==", out), Errc::text_bad_binary);  // non-zero spare bits
    EXPECT_EQ(decode_binary("0bA===", out), Errc::text_bad_binary);
    EXPECT_EQ(decode_binary("0bAA=A", out), Errc::text_bad_binary);
    EXPECT_EQ(decode_binary("0bAA*A", out), Errc::text_bad_binary);
}

TEST(Binary, RoundTrip) {
    for (std::size_t length = 1; length < 40; ++length) {
        std::vector<uint8_t> data(length);
        for (std::size_t i = 0; i < length; ++i) {
            data[i] = static_cast<uint8_t>(i * 37 + length);
        }
        std::vector<uint8_t> out;
        ASSERT_FALSE(decode_binary(encode_hex(data), out));
        EXPECT_EQ(out, data);
        ASSERT_FALSE(decode_binary(encode_base64(data), out)) << encode_base64(data);
        EXPECT_EQ(out, data);
    }
    EXPECT_EQ(encode_hex(std::vector<uint8_t>{0xde, 0xad}), "0xdead");
    EXPECT_EQ(encode_base64(std::vector<uint8_t>{'M', 'a'}), "0bTWE=");
}

TEST(TextAccumulator, JoinsWithinBound) {
    TextAccumulator acc(16);
    EXPECT_FALSE(acc.append(bytes("A=1")));
    EXPECT_FALSE(acc.append(bytes("23")));
    EXPECT_FALSE(acc.append({}));
    EXPECT_EQ(acc.pdus(), 3u);
    const auto joined = acc.take();
    EXPECT_EQ(std::string(joined.begin(), joined.end()), "A=123");
    EXPECT_TRUE(acc.empty());
    EXPECT_EQ(acc.pdus(), 0u);
}

TEST(TextAccumulator, BoundIsHardAndSticky) {
    TextAccumulator acc(8);
    EXPECT_FALSE(acc.append(bytes("12345678")));
    EXPECT_EQ(acc.append(bytes("9")), Errc::text_too_large);
    EXPECT_EQ(acc.append({}), Errc::text_too_large);
    acc.reset();
    EXPECT_FALSE(acc.append(bytes("1")));
}

TEST(TextAccumulator, DefaultAcceptsAtLeast16KiB) {
    TextAccumulator acc;
    std::vector<uint8_t> chunk(8192, 'a');
    EXPECT_FALSE(acc.append(chunk));
    EXPECT_FALSE(acc.append(chunk));
    for (int i = 0; i < 6; ++i) {
        EXPECT_FALSE(acc.append(chunk));
    }
    EXPECT_EQ(acc.size(), max_text_negotiation_bytes);
    EXPECT_EQ(acc.append(std::vector<uint8_t>(1, 'a')), Errc::text_too_large);
}

TEST(TextAccumulator, PduBound) {
    TextAccumulator acc(1024, 3);
    EXPECT_FALSE(acc.append({}));
    EXPECT_FALSE(acc.append({}));
    EXPECT_FALSE(acc.append({}));
    EXPECT_EQ(acc.append({}), Errc::text_too_large);
}

TEST(SplitText, Chunks) {
    const auto data = bytes("0123456789");
    auto chunks = split_text(data, 4);
    ASSERT_EQ(chunks.size(), 3u);
    EXPECT_EQ(chunks[0].size(), 4u);
    EXPECT_EQ(chunks[1].size(), 4u);
    EXPECT_EQ(chunks[2].size(), 2u);
    std::string joined;
    for (auto c : chunks) {
        joined.append(c.begin(), c.end());
    }
    EXPECT_EQ(joined, "0123456789");
    EXPECT_EQ(split_text(data, 10).size(), 1u);
    EXPECT_EQ(split_text(data, 0).size(), 10u);
    chunks = split_text({}, 8);
    ASSERT_EQ(chunks.size(), 1u);
    EXPECT_TRUE(chunks[0].empty());
}

TEST(TextChunker, HandsOutWithContinuationFlag) {
    TextChunker chunker(bytes("abcdefg"), 3);
    ASSERT_TRUE(chunker.pending());
    auto c = chunker.next();
    EXPECT_EQ(c.data.size(), 3u);
    EXPECT_TRUE(c.more);
    c = chunker.next();
    EXPECT_TRUE(c.more);
    c = chunker.next();
    EXPECT_EQ(c.data.size(), 1u);
    EXPECT_FALSE(c.more);
    EXPECT_FALSE(chunker.pending());
    EXPECT_TRUE(chunker.next().data.empty());

    TextChunker empty(std::vector<uint8_t>{}, 3);
    ASSERT_TRUE(empty.pending());
    c = empty.next();
    EXPECT_TRUE(c.data.empty());
    EXPECT_FALSE(c.more);
    EXPECT_FALSE(empty.pending());
}

}  // namespace
}  // namespace atsarray::iscsi
