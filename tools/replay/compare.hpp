#pragma once
// One replayed command's outcome against the recording: status, sense key/ASC/ASCQ, the
// INFORMATION of a MISCOMPARE (the offset of the first differing byte, SBC-4 §5.3) and the
// CRC32C of the Data-In. Pure functions of bytes, so the unit tests feed them raw sense.

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "formats/trace.hpp"

namespace atsarray::replay {

constexpr uint8_t status_good = 0x00;
constexpr uint8_t status_check_condition = 0x02;
constexpr uint8_t sense_key_miscompare = 0x0e;

// The fields of sense data the comparison reads (SPC-4 §4.4).
struct Sense {
    uint8_t key = 0;
    uint8_t asc = 0;
    uint8_t ascq = 0;
    std::optional<uint64_t> information;  // only when VALID (fixed) or a descriptor carries it
};

// Fixed (70h/71h) or descriptor (72h/73h) sense; nullopt for anything else or too short.
std::optional<Sense> parse_sense(std::span<const uint8_t> sense);

// What the target answered to one replayed command.
struct Outcome {
    bool answered = false;  // false: no status (connection lost, timed out); `error` says why
    std::string error;
    uint8_t status = 0;
    std::vector<uint8_t> sense;
    uint32_t data_in_length = 0;
    uint32_t data_in_crc32c = 0;
};

enum class Verdict : uint8_t { identical, diverged, not_compared, not_replayable };

struct Comparison {
    Verdict verdict = Verdict::identical;
    std::string recorded;  // "MISCOMPARE at offset 3", "GOOD", ...: what differs, in words
    std::string replayed;
};

// A recorded command that can be sent again: its Data-Out was kept (or it had none) and libiscsi
// can carry its CDB.
bool replayable(const trace::Command& recorded);
// A recorded command whose recorded outcome says nothing to compare with: the initiator never
// saw its status, it was aborted, or it was answered with a UNIT ATTENTION (SAM-5 §5.14: the
// target's news for that I_T nexus, a power on, a reset, a changed ALUA state or capacity, not
// the command's outcome; the replay's sessions have their own, cleared before it starts).
bool comparable(const trace::Command& recorded);

// Compares `replayed` with `recorded` (which must be replayable and comparable).
Comparison compare(const trace::Command& recorded, const Outcome& replayed);

// "GOOD", "BUSY", "CHECK CONDITION ILLEGAL REQUEST 24h/00h", "MISCOMPARE at offset 3".
std::string describe_status(uint8_t status, std::span<const uint8_t> sense);

}  // namespace atsarray::replay
