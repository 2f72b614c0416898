#pragma once
// Serial number arithmetic for CmdSN, StatSN, DataSN and R2TSN (RFC 7143 §4.2.2.1 -> RFC 1982,
// SERIAL_BITS = 32). Comparisons wrap at 2^32; two numbers 2^31 apart are incomparable and
// treated as "not less, not greater".

#include <cstdint>

namespace atsarray::iscsi {

constexpr bool serial_lt(uint32_t a, uint32_t b) {
    return a != b && ((a < b && b - a < (1U << 31)) || (a > b && a - b > (1U << 31)));
}
constexpr bool serial_gt(uint32_t a, uint32_t b) {
    return a != b && ((a < b && b - a > (1U << 31)) || (a > b && a - b < (1U << 31)));
}
constexpr bool serial_le(uint32_t a, uint32_t b) {
    return a == b || serial_lt(a, b);
}

// True when sn lies in the command window [exp, max] (RFC 7143 §4.2.2.1).
constexpr bool in_window(uint32_t sn, uint32_t exp, uint32_t max) {
    return serial_le(exp, sn) && serial_le(sn, max);
}

}  // namespace atsarray::iscsi
