#pragma once
// Recorded commands made up for atsarray-replay's unit tests: the CDBs of SBC-4 §5 built from
// their fields, and the sense a target sends (SPC-4 §4.4), as raw bytes.

#include <cstdint>
#include <vector>

#include "formats/trace.hpp"

namespace atsarray::replay::testing {

constexpr uint32_t block = 512;

inline void put_be(std::vector<uint8_t>& cdb, size_t at, uint64_t value, size_t bytes) {
    for (size_t i = 0; i < bytes; ++i) {
        cdb[at + i] = static_cast<uint8_t>(value >> (8 * (bytes - 1 - i)));
    }
}

// READ(16) 88h, WRITE(16) 8Ah: LBA bytes 2-9, TRANSFER LENGTH bytes 10-13.
inline std::vector<uint8_t> rw16(uint8_t opcode, uint64_t lba, uint32_t blocks) {
    std::vector<uint8_t> cdb(16, 0);
    cdb[0] = opcode;
    put_be(cdb, 2, lba, 8);
    put_be(cdb, 10, blocks, 4);
    return cdb;
}

// COMPARE AND WRITE 89h: LBA bytes 2-9, NUMBER OF LOGICAL BLOCKS byte 13.
inline std::vector<uint8_t> compare_and_write(uint64_t lba, uint8_t blocks) {
    std::vector<uint8_t> cdb(16, 0);
    cdb[0] = 0x89;
    put_be(cdb, 2, lba, 8);
    cdb[13] = blocks;
    return cdb;
}

// Fixed sense (70h) with `key`, ASC, ASCQ and, when `information` >= 0, VALID and INFORMATION.
inline std::vector<uint8_t> fixed_sense(uint8_t key, uint8_t asc, uint8_t ascq,
                                        int64_t information = -1) {
    std::vector<uint8_t> s(18, 0);
    s[0] = information >= 0 ? 0xf0 : 0x70;
    s[2] = key;
    if (information >= 0) {
        put_be(s, 3, static_cast<uint64_t>(information), 4);
    }
    s[7] = 10;
    s[12] = asc;
    s[13] = ascq;
    return s;
}

// Descriptor sense (72h), with an INFORMATION descriptor (00h, VALID set) when `information` >= 0.
inline std::vector<uint8_t> descriptor_sense(uint8_t key, uint8_t asc, uint8_t ascq,
                                             int64_t information = -1) {
    std::vector<uint8_t> s(8, 0);
    s[0] = 0x72;
    s[1] = key;
    s[2] = asc;
    s[3] = ascq;
    if (information >= 0) {
        std::vector<uint8_t> d(12, 0);
        d[0] = 0x00;
        d[1] = 0x0a;
        d[2] = 0x80;
        put_be(d, 4, static_cast<uint64_t>(information), 8);
        s.insert(s.end(), d.begin(), d.end());
        s[7] = 12;
    }
    return s;
}

inline std::vector<uint8_t> filled(uint8_t byte, size_t blocks = 1) {
    return std::vector<uint8_t>(blocks * block, byte);
}

// A GOOD command of session 0 on LUN 0.
inline trace::Command command(std::vector<uint8_t> cdb, int64_t arrived_us = 0,
                              uint64_t medium_order = 0) {
    trace::Command c;
    c.cdb = std::move(cdb);
    c.arrived_us = arrived_us;
    c.answered_us = arrived_us + 100;
    c.medium_order = medium_order;
    c.outcome = "good";
    return c;
}

inline trace::Command write16(uint64_t lba, std::vector<uint8_t> data, uint64_t medium_order) {
    trace::Command c =
        command(rw16(0x8a, lba, static_cast<uint32_t>(data.size() / block)), 0, medium_order);
    c.direction = trace::Direction::write;
    c.expected_transfer_length = static_cast<uint32_t>(data.size());
    c.data_out_length = c.expected_transfer_length;
    c.data_out = std::move(data);
    return c;
}

inline trace::Command read16(uint64_t lba, std::vector<uint8_t> data, uint64_t medium_order) {
    trace::Command c =
        command(rw16(0x88, lba, static_cast<uint32_t>(data.size() / block)), 0, medium_order);
    c.direction = trace::Direction::read;
    c.expected_transfer_length = static_cast<uint32_t>(data.size());
    c.data_in_length = c.expected_transfer_length;
    c.data_in = std::move(data);
    return c;
}

// A one-block COMPARE AND WRITE of `expected` then `next`.
inline trace::Command ats(uint64_t lba, uint8_t expected, uint8_t next, uint64_t medium_order) {
    trace::Command c = command(compare_and_write(lba, 1), 0, medium_order);
    c.direction = trace::Direction::write;
    c.data_out = filled(expected);
    const std::vector<uint8_t> write = filled(next);
    c.data_out.insert(c.data_out.end(), write.begin(), write.end());
    c.expected_transfer_length = 2 * block;
    c.data_out_length = 2 * block;
    return c;
}

// The same, miscompared: the medium held `medium` (first differing byte 0).
inline trace::Command ats_miscompared(uint64_t lba, uint8_t expected, uint8_t next, uint8_t medium,
                                      uint64_t medium_order) {
    trace::Command c = ats(lba, expected, next, medium_order);
    c.status = 0x02;
    c.sense = fixed_sense(0x0e, 0x1d, 0x00, 0);
    c.medium_image = filled(medium);
    c.outcome = "miscompare";
    return c;
}

}  // namespace atsarray::replay::testing
