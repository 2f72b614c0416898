#include "tools/net_fuzz/mutation.hpp"

#include <algorithm>
#include <array>
#include <cstdint>

namespace atsarray::net_fuzz {
namespace {

// Lengths, tags and sequence numbers at the edges: empty, one, a BHS, a block, the
// negotiation limits, 24 bits, the sign bit, all ones.
constexpr std::array<uint32_t, 14> interesting{
    0, 1, 3, 4, 47, 48, 512, 8192, 65535, 65536, 262145, 0x00FFFFFF, 0x7FFFFFFF, 0xFFFFFFFF};

}  // namespace

std::string mutate(wire::Bytes& bytes, bool& send_twice, std::mt19937_64& rng) {
    auto pick = [&rng](size_t n) { return static_cast<size_t>(rng() % n); };
    if (bytes.size() < 48) {
        return "(already truncated)";  // every mutation below works on a whole BHS
    }
    auto field = [&](size_t at, uint32_t v) {
        if (at + 4 <= bytes.size()) {
            wire::put32(bytes, at, v);
        }
    };
    switch (pick(14)) {
        case 0: {
            const size_t at = pick(std::min<size_t>(bytes.size(), 48));
            bytes[at] ^= static_cast<uint8_t>(1U << pick(8));
            return "bhs bit flip at " + std::to_string(at);
        }
        case 1: {
            const size_t at = pick(bytes.size());
            bytes[at] ^= static_cast<uint8_t>(1U << pick(8));
            return "bit flip at " + std::to_string(at);
        }
        case 2:
            bytes[0] = static_cast<uint8_t>((bytes[0] & 0x40) | pick(64));
            return "opcode " + std::to_string(bytes[0] & 0x3F);
        case 3:
            bytes[1] = static_cast<uint8_t>(rng());
            return "flags " + std::to_string(bytes[1]);
        case 4: {
            const uint32_t v = interesting[pick(interesting.size())] & 0x00FFFFFF;
            bytes[5] = static_cast<uint8_t>(v >> 16);
            bytes[6] = static_cast<uint8_t>(v >> 8);
            bytes[7] = static_cast<uint8_t>(v);
            return "data segment length " + std::to_string(v);
        }
        case 5: {
            bytes[4] = static_cast<uint8_t>(rng() % 4 == 0 ? rng() : 1 + rng() % 4);
            const size_t ahs = size_t{bytes[4]} * 4;
            wire::Bytes garbage(ahs);
            for (auto& b : garbage) {
                b = static_cast<uint8_t>(rng());
            }
            if (rng() % 2 == 0) {
                bytes.insert(bytes.begin() + 48, garbage.begin(), garbage.end());
            }
            return "TotalAHSLength " + std::to_string(bytes[4]);
        }
        case 6:
            field(24, rng() % 2 == 0 ? interesting[pick(interesting.size())]
                                     : static_cast<uint32_t>(rng()));
            return "CmdSN/StatSN";
        case 7:
            field(20, interesting[pick(interesting.size())]);
            return "EDTL/TTT";
        case 8:
            field(16, rng() % 2 == 0 ? 0xFFFFFFFFU : static_cast<uint32_t>(rng() % 4));
            return "ITT";
        case 9: {
            const size_t at = 32 + pick(16);
            bytes[at] = static_cast<uint8_t>(rng() % 2 == 0 ? rng() : 0xFF);
            return "CDB/field byte " + std::to_string(at);
        }
        case 10:
            bytes[8 + pick(8)] = static_cast<uint8_t>(rng());
            return "LUN";
        case 11: {
            const size_t keep = pick(bytes.size());
            bytes.resize(keep);
            return "truncated to " + std::to_string(keep);
        }
        case 12: {  // a digest's bytes (or 4 bytes where a digest would be)
            if (bytes.size() >= 52) {
                bytes[48 + pick(4)] ^= 0xFF;
            }
            bytes[bytes.size() - 1] ^= 0x01;
            return "digest/tail";
        }
        default:
            send_twice = true;
            return "sent twice";
    }
}

void refresh_digests(wire::Bytes& bytes, wire::Digests digests) {
    if (bytes.size() < 48) {
        return;
    }
    const size_t header_end = 48 + size_t{bytes[4]} * 4;
    size_t data_start = header_end;
    if (digests.header) {
        if (bytes.size() < header_end + 4) {
            return;
        }
        wire::put_digest(bytes, header_end, wire::crc32c(std::span(bytes).first(header_end)));
        data_start += 4;
    }
    const size_t padded = (wire::get24(bytes, 5) + 3) & ~size_t{3};
    if (digests.data && padded > 0 && bytes.size() >= data_start + padded + 4) {
        wire::put_digest(bytes, data_start + padded,
                         wire::crc32c(std::span(bytes).subspan(data_start, padded)));
    }
}

}  // namespace atsarray::net_fuzz
