#pragma once
// What the replayer needs to know of a recorded CDB: its name for the report, and for the block
// commands the blocks they read, write or compare (SBC-4 §5), which --seed and the report use.

#include <cstdint>
#include <optional>
#include <span>
#include <string>

namespace atsarray::replay {

enum class BlockAccess : uint8_t { none, read, write, compare_and_write };

struct BlockRange {
    BlockAccess access = BlockAccess::none;
    uint64_t lba = 0;
    uint32_t blocks = 0;
};

// "COMPARE AND WRITE", "READ(16)", ...; "OPCODE 0xNN" for one it does not name.
std::string command_name(std::span<const uint8_t> cdb);

// The blocks a READ, WRITE or COMPARE AND WRITE CDB names (WRITE SAME and WRITE AND VERIFY count
// as writes: they change the blocks); nullopt for any other CDB or one too short for its opcode.
std::optional<BlockRange> block_range(std::span<const uint8_t> cdb);

}  // namespace atsarray::replay
