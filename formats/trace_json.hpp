#pragma once
// A command trace (trace.hpp) as JSON, the form the array exports and the replayer reads.
//
// {"format": "atsarray-trace", "version": 1, "id", "started_unix_us", "ended_unix_us", "target",
//  "lun" (absent: all), "initiator", "stop_reason",
//  "luns": [{"target", "lun", "block_size", "blocks"}],
//  "sessions": [{"initiator_name", "isid" ("0x" + 12 hex digits), "address", "portal", "target",
//                "relative_target_port"}],
//  "commands": [{"session", "lun", "itt", "cmd_sn", "cdb" (hex), "direction" ("none", "write",
//                "read"), "expected_transfer_length", "arrived_us", "answered_us",
//                "medium_order", "status", "sense" (hex), "data_out_length", "data_out_crc32c",
//                "data_out" (base64, absent when not kept), "data_in_length", "data_in_crc32c",
//                "data_in" (base64, absent when not kept), "medium_image" (base64, absent when
//                empty), "outcome", "fault_rule" (absent when none), "status_seen"}]}

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "formats/trace.hpp"

namespace atsarray::trace {

std::string to_json(const Trace& trace);  // one line, no trailing newline

// Throws std::invalid_argument naming the first field that is missing, of the wrong type, out of
// range (a session index past the sessions, a CDB of more than 260 bytes, data whose length
// disagrees with its *_length), or a format or version this build does not read.
Trace from_json(std::string_view text);

// CRC32C (Castagnoli, as iSCSI's digests), over `bytes`.
uint32_t crc32c(std::span<const uint8_t> bytes);

std::string to_base64(std::span<const uint8_t> bytes);
// Throws std::invalid_argument on a character outside RFC 4648's alphabet or bad padding.
std::vector<uint8_t> from_base64(std::string_view text);

}  // namespace atsarray::trace
