#pragma once
// Big-endian field access for CDBs and parameter data (SPC-4 conventions: every
// multi-byte SCSI field is big-endian). Callers check lengths first; these never read past
// the span (std::span::operator[] is checked in debug builds with _GLIBCXX_ASSERTIONS).

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace atsarray::scsi {

inline uint16_t get_be16(std::span<const uint8_t> b, size_t at) {
    return static_cast<uint16_t>((b[at] << 8) | b[at + 1]);
}

inline uint32_t get_be24(std::span<const uint8_t> b, size_t at) {
    return (uint32_t{b[at]} << 16) | (uint32_t{b[at + 1]} << 8) | b[at + 2];
}

inline uint32_t get_be32(std::span<const uint8_t> b, size_t at) {
    return (uint32_t{b[at]} << 24) | (uint32_t{b[at + 1]} << 16) | (uint32_t{b[at + 2]} << 8) |
           b[at + 3];
}

inline uint64_t get_be64(std::span<const uint8_t> b, size_t at) {
    return (uint64_t{get_be32(b, at)} << 32) | get_be32(b, at + 4);
}

inline void put_be16(std::span<uint8_t> b, size_t at, uint16_t v) {
    b[at] = static_cast<uint8_t>(v >> 8);
    b[at + 1] = static_cast<uint8_t>(v);
}

inline void put_be24(std::span<uint8_t> b, size_t at, uint32_t v) {
    b[at] = static_cast<uint8_t>(v >> 16);
    b[at + 1] = static_cast<uint8_t>(v >> 8);
    b[at + 2] = static_cast<uint8_t>(v);
}

inline void put_be32(std::span<uint8_t> b, size_t at, uint32_t v) {
    put_be16(b, at, static_cast<uint16_t>(v >> 16));
    put_be16(b, at + 2, static_cast<uint16_t>(v));
}

inline void put_be64(std::span<uint8_t> b, size_t at, uint64_t v) {
    put_be32(b, at, static_cast<uint32_t>(v >> 32));
    put_be32(b, at + 4, static_cast<uint32_t>(v));
}

// Copies ASCII text left-aligned into a fixed-width field, padding with spaces (SPC-4 §4.4.1:
// ASCII data fields are space padded).
inline void put_ascii(std::span<uint8_t> b, size_t at, size_t width, std::string_view text) {
    for (size_t i = 0; i < width; ++i) {
        b[at + i] = i < text.size() ? static_cast<uint8_t>(text[i]) : uint8_t{' '};
    }
}

// CDB fields common to many commands (SPC-4 §4.2.5 "the CDB").
inline uint8_t cdb_opcode(std::span<const uint8_t> cdb) {
    return cdb[0];
}
// SERVICE ACTION of the variable-format 0x9E/0x9F/0xA3/0xA4 CDBs (SPC-4 §4.2.5.1).
inline uint8_t cdb_service_action(std::span<const uint8_t> cdb) {
    return cdb[1] & 0x1F;
}

// LOGICAL BLOCK ADDRESS and TRANSFER LENGTH of the SBC-3 READ/WRITE CDB families, by CDB size
// (SBC-3 §5.7 READ(6): 21-bit LBA, 8-bit length; §5.8/5.9/5.10 READ(10/12/16)).
struct LbaRange {
    uint64_t lba = 0;
    uint32_t blocks = 0;
};

inline LbaRange cdb_lba_range(std::span<const uint8_t> cdb, size_t cdb_length) {
    switch (cdb_length) {
        case 6:
            return {get_be24(cdb, 1) & 0x1FFFFFu, cdb[4]};
        case 10:
            return {get_be32(cdb, 2), get_be16(cdb, 7)};
        case 12:
            return {get_be32(cdb, 2), get_be32(cdb, 6)};
        default:
            return {get_be64(cdb, 2), get_be32(cdb, 10)};
    }
}

}  // namespace atsarray::scsi
