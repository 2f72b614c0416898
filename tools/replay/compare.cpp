// The comparison of one replayed outcome with its recording (tools/replay/compare.hpp).
#include "tools/replay/compare.hpp"

extern "C" {
#include <iscsi/scsi-lowlevel.h>
}

#include <algorithm>
#include <array>
#include <cstdio>

namespace atsarray::replay {
namespace {

uint64_t be(std::span<const uint8_t> bytes, size_t at, size_t count) {
    uint64_t v = 0;
    for (size_t i = 0; i < count; ++i) {
        v = v << 8 | bytes[at + i];
    }
    return v;
}

// SPC-4 §4.4.3: fixed format; INFORMATION (bytes 3-6) only counts with VALID (byte 0 bit 7).
std::optional<Sense> parse_fixed(std::span<const uint8_t> s) {
    if (s.size() < 3) {
        return std::nullopt;
    }
    Sense sense;
    sense.key = s[2] & 0x0f;
    // ASC and ASCQ sit past the ADDITIONAL SENSE LENGTH (byte 7); absent in a short sense.
    if (s.size() >= 14) {
        sense.asc = s[12];
        sense.ascq = s[13];
    }
    if ((s[0] & 0x80) != 0 && s.size() >= 7) {
        sense.information = be(s, 3, 4);
    }
    return sense;
}

// SPC-4 §4.4.2: descriptor format; INFORMATION is descriptor type 00h (§4.4.2.2), 8 bytes at
// offset 4 of the descriptor, counted only with its VALID bit.
std::optional<Sense> parse_descriptor(std::span<const uint8_t> s) {
    if (s.size() < 8) {
        return std::nullopt;
    }
    Sense sense;
    sense.key = s[1] & 0x0f;
    sense.asc = s[2];
    sense.ascq = s[3];
    const size_t end = std::min<size_t>(s.size(), 8 + size_t{s[7]});
    for (size_t at = 8; at + 2 <= end;) {
        const size_t length = s[at + 1];
        if (s[at] == 0x00 && length >= 0x0a && at + 12 <= end && (s[at + 2] & 0x80) != 0) {
            sense.information = be(s, at + 4, 8);
        }
        at += 2 + length;
    }
    return sense;
}

constexpr std::array<const char*, 16> sense_key_names{
    "NO SENSE",       "RECOVERED ERROR", "NOT READY",      "MEDIUM ERROR",
    "HARDWARE ERROR", "ILLEGAL REQUEST", "UNIT ATTENTION", "DATA PROTECT",
    "BLANK CHECK",    "VENDOR SPECIFIC", "COPY ABORTED",   "ABORTED COMMAND",
    "RESERVED 0Ch",   "VOLUME OVERFLOW", "MISCOMPARE",     "RESERVED 0Fh",
};

// SAM-5 §5.3.1.
std::string status_name(uint8_t status) {
    switch (status) {
        case 0x00:
            return "GOOD";
        case 0x02:
            return "CHECK CONDITION";
        case 0x04:
            return "CONDITION MET";
        case 0x08:
            return "BUSY";
        case 0x18:
            return "RESERVATION CONFLICT";
        case 0x28:
            return "TASK SET FULL";
        case 0x30:
            return "ACA ACTIVE";
        case 0x40:
            return "TASK ABORTED";
        default: {
            char text[24];
            std::snprintf(text, sizeof text, "STATUS 0x%02X", status);
            return text;
        }
    }
}

std::string crc_text(uint32_t length, uint32_t crc) {
    char text[64];
    std::snprintf(text, sizeof text, " with %u bytes of Data-In, CRC32C 0x%08X", length, crc);
    return text;
}

// Both GOOD, and the command moves Data-In: the data is what tells them apart.
bool data_in_differs(const trace::Command& recorded, const Outcome& replayed) {
    const bool any_data = recorded.data_in_length != 0 || replayed.data_in_length != 0;
    return recorded.status == status_good && replayed.status == status_good && any_data &&
           (recorded.data_in_length != replayed.data_in_length ||
            recorded.data_in_crc32c != replayed.data_in_crc32c);
}

}  // namespace

std::optional<Sense> parse_sense(std::span<const uint8_t> sense) {
    if (sense.empty()) {
        return std::nullopt;
    }
    const uint8_t response_code = sense[0] & 0x7f;
    if (response_code == 0x70 || response_code == 0x71) {
        return parse_fixed(sense);
    }
    if (response_code == 0x72 || response_code == 0x73) {
        return parse_descriptor(sense);
    }
    return std::nullopt;
}

std::string describe_status(uint8_t status, std::span<const uint8_t> sense) {
    if (status != status_check_condition) {
        return status_name(status);
    }
    const std::optional<Sense> s = parse_sense(sense);
    if (!s) {
        return "CHECK CONDITION without readable sense";
    }
    if (s->key == sense_key_miscompare) {
        return s->information ? "MISCOMPARE at offset " + std::to_string(*s->information)
                              : "MISCOMPARE without offset";
    }
    char codes[32];
    std::snprintf(codes, sizeof codes, " %02Xh/%02Xh", s->asc, s->ascq);
    return std::string("CHECK CONDITION ") + sense_key_names[s->key] + codes;
}

bool replayable(const trace::Command& recorded) {
    // libiscsi's scsi_task holds CDBs of up to 16 bytes (SCSI_CDB_MAX_SIZE).
    const bool cdb_fits = !recorded.cdb.empty() && recorded.cdb.size() <= SCSI_CDB_MAX_SIZE;
    return cdb_fits && (recorded.data_out_length == 0 || recorded.data_out_kept);
}

bool comparable(const trace::Command& recorded) {
    constexpr uint8_t unit_attention = 0x06;
    const std::optional<Sense> s =
        recorded.status == status_check_condition ? parse_sense(recorded.sense) : std::nullopt;
    return recorded.status_seen && recorded.outcome != "aborted" &&
           !(s && s->key == unit_attention);
}

Comparison compare(const trace::Command& recorded, const Outcome& replayed) {
    Comparison c;
    c.recorded = describe_status(recorded.status, recorded.sense);
    if (!replayed.answered) {
        c.verdict = Verdict::diverged;
        c.replayed = "no status (" + replayed.error + ")";
        return c;
    }
    c.replayed = describe_status(replayed.status, replayed.sense);
    if (c.recorded != c.replayed) {
        // The text holds every compared field: status, key, ASC, ASCQ, the miscompare's offset.
        c.verdict = Verdict::diverged;
        return c;
    }
    if (data_in_differs(recorded, replayed)) {
        c.verdict = Verdict::diverged;
        c.recorded += crc_text(recorded.data_in_length, recorded.data_in_crc32c);
        c.replayed += crc_text(replayed.data_in_length, replayed.data_in_crc32c);
    }
    return c;
}

}  // namespace atsarray::replay
