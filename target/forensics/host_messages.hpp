#pragma once
// What one log line's message says, once host_log.cpp has read its head (time, host, module):
// the phrases of REFERENCES.md's "ESXi host logs" and of esxi-sim, and the tuples ESXi prints for
// a heartbeat slot and an on-disk lock (../shared/VMFS-ATS.md). Private to target/forensics.

#include <optional>
#include <string_view>

#include "target/forensics/host_log.hpp"

namespace atsarray::forensics {

// "[HB state abcdef02 offset 3866624 gen 4923 stampUS ... uuid ... jrnl <FB 41943053> drv
// 24.82 lockImpl 3 ip ...]" anywhere in `s`: known keys read, the others skipped.
std::optional<HeartbeatState> parse_heartbeat_tuple(std::string_view s);
// "[type 10c00001 offset 67555328 v 34, hb offset 3526656 gen 7154, mode 1, owner <uuid> mtime
// 4089393 num 0 ...]" anywhere in `s`.
std::optional<LockState> parse_lock_tuple(std::string_view s);

// Fills `e` (kind and what the message names) from a line's message; false when the parser does
// not know it.
bool classify_message(std::string_view body, HostEvent& e);

// An event's offset from its tuples when the message named none: the lock's own offset for a
// lock check, else the heartbeat slot's.
void settle_offset(HostEvent& e);

}  // namespace atsarray::forensics
