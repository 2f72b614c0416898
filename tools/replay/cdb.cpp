// Names and block ranges of the CDBs a trace holds (SBC-4 §5, SPC-4 §6).
#include "tools/replay/cdb.hpp"

#include <array>
#include <cstdio>

namespace atsarray::replay {
namespace {

uint64_t be(std::span<const uint8_t> cdb, size_t at, size_t bytes) {
    uint64_t v = 0;
    for (size_t i = 0; i < bytes; ++i) {
        v = v << 8 | cdb[at + i];
    }
    return v;
}

struct Named {
    uint8_t opcode;
    const char* name;
};

// The opcodes an ESXi host or a test workload sends; others print as their number.
constexpr std::array names{
    Named{0x00, "TEST UNIT READY"},
    Named{0x03, "REQUEST SENSE"},
    Named{0x08, "READ(6)"},
    Named{0x0a, "WRITE(6)"},
    Named{0x12, "INQUIRY"},
    Named{0x15, "MODE SELECT(6)"},
    Named{0x1a, "MODE SENSE(6)"},
    Named{0x25, "READ CAPACITY(10)"},
    Named{0x28, "READ(10)"},
    Named{0x2a, "WRITE(10)"},
    Named{0x2e, "WRITE AND VERIFY(10)"},
    Named{0x35, "SYNCHRONIZE CACHE(10)"},
    Named{0x41, "WRITE SAME(10)"},
    Named{0x42, "UNMAP"},
    Named{0x5a, "MODE SENSE(10)"},
    Named{0x5e, "PERSISTENT RESERVE IN"},
    Named{0x5f, "PERSISTENT RESERVE OUT"},
    Named{0x83, "EXTENDED COPY"},
    Named{0x88, "READ(16)"},
    Named{0x89, "COMPARE AND WRITE"},
    Named{0x8a, "WRITE(16)"},
    Named{0x8e, "WRITE AND VERIFY(16)"},
    Named{0x91, "SYNCHRONIZE CACHE(16)"},
    Named{0x93, "WRITE SAME(16)"},
    Named{0x9e, "SERVICE ACTION IN(16)"},
    Named{0xa0, "REPORT LUNS"},
    Named{0xa3, "MAINTENANCE IN"},
    Named{0xa8, "READ(12)"},
    Named{0xaa, "WRITE(12)"},
};

BlockRange range(BlockAccess access, uint64_t lba, uint64_t blocks) {
    return {access, lba, static_cast<uint32_t>(blocks)};
}

}  // namespace

std::string command_name(std::span<const uint8_t> cdb) {
    if (cdb.empty()) {
        return "EMPTY CDB";
    }
    for (const Named& n : names) {
        if (n.opcode == cdb[0]) {
            return n.name;
        }
    }
    char text[16];
    std::snprintf(text, sizeof text, "OPCODE 0x%02X", cdb[0]);
    return text;
}

std::optional<BlockRange> block_range(std::span<const uint8_t> cdb) {
    if (cdb.empty()) {
        return std::nullopt;
    }
    const uint8_t opcode = cdb[0];
    // SBC-4 §5.2 (6-byte): a 21-bit LBA, and 0 blocks means 256 (READ(6)/WRITE(6) only).
    if ((opcode == 0x08 || opcode == 0x0a) && cdb.size() >= 6) {
        const uint64_t blocks = cdb[4] == 0 ? 256 : cdb[4];
        const auto access = opcode == 0x08 ? BlockAccess::read : BlockAccess::write;
        return range(access, be(cdb, 1, 3) & 0x1fffff, blocks);
    }
    if ((opcode == 0x28 || opcode == 0x2a || opcode == 0x2e || opcode == 0x41) &&
        cdb.size() >= 10) {
        const auto access = opcode == 0x28 ? BlockAccess::read : BlockAccess::write;
        return range(access, be(cdb, 2, 4), be(cdb, 7, 2));
    }
    if ((opcode == 0xa8 || opcode == 0xaa) && cdb.size() >= 12) {
        const auto access = opcode == 0xa8 ? BlockAccess::read : BlockAccess::write;
        return range(access, be(cdb, 2, 4), be(cdb, 6, 4));
    }
    if ((opcode == 0x88 || opcode == 0x8a || opcode == 0x8e || opcode == 0x93) &&
        cdb.size() >= 16) {
        const auto access = opcode == 0x88 ? BlockAccess::read : BlockAccess::write;
        return range(access, be(cdb, 2, 8), be(cdb, 10, 4));
    }
    // SBC-4 §5.3: NUMBER OF LOGICAL BLOCKS is byte 13.
    if (opcode == 0x89 && cdb.size() >= 16) {
        return range(BlockAccess::compare_and_write, be(cdb, 2, 8), cdb[13]);
    }
    return std::nullopt;
}

}  // namespace atsarray::replay
