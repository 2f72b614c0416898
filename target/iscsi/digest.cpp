#include "target/iscsi/digest.hpp"

#include <isa-l/crc.h>

#include <algorithm>
#include <limits>

namespace atsarray::iscsi {

void Crc32c::update(std::span<const uint8_t> data) noexcept {
    // ISA-L's crc32_iscsi neither inverts the seed nor the result, so the running state is the
    // un-inverted CRC register; it takes an int length, so feed it in bounded pieces.
    constexpr std::size_t max_piece = std::numeric_limits<int>::max();
    while (!data.empty()) {
        const std::size_t piece = std::min(data.size(), max_piece);
        state_ =
            crc32_iscsi(const_cast<unsigned char*>(data.data()), static_cast<int>(piece), state_);
        data = data.subspan(piece);
    }
}

uint32_t crc32c(std::span<const uint8_t> data) noexcept {
    Crc32c crc;
    crc.update(data);
    return crc.value();
}

void store_digest(uint8_t* p, uint32_t digest) noexcept {
    p[0] = static_cast<uint8_t>(digest);
    p[1] = static_cast<uint8_t>(digest >> 8);
    p[2] = static_cast<uint8_t>(digest >> 16);
    p[3] = static_cast<uint8_t>(digest >> 24);
}

uint32_t load_digest(const uint8_t* p) noexcept {
    return uint32_t{p[0]} | (uint32_t{p[1]} << 8) | (uint32_t{p[2]} << 16) | (uint32_t{p[3]} << 24);
}

}  // namespace atsarray::iscsi
