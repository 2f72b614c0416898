#include "target/iscsi/pdu.hpp"

namespace atsarray::iscsi {

bool decode_lun(uint64_t field, uint64_t& lun) {
    const auto first = static_cast<uint16_t>(field >> 48);
    if ((field & 0x0000ffffffffffffULL) != 0) {
        return false;  // second..fourth level addressing: not supported (single level LUNs only,
                       // SAM-5 §4.7)
    }
    switch (first >> 14) {
        case 0:  // peripheral device addressing: bus 0 only
            if (((first >> 8) & 0x3f) != 0) {
                return false;
            }
            lun = first & 0xff;
            return true;
        case 1:  // flat space addressing
            lun = first & 0x3fff;
            return true;
        default:
            return false;
    }
}

uint64_t encode_lun(uint64_t lun) {
    if (lun < 256) {
        return lun << 48;
    }
    return (0x4000ULL | (lun & 0x3fff)) << 48;
}

}  // namespace atsarray::iscsi
