#pragma once
// CRC32C header and data digests (RFC 7143 §11.1, §13.1; RFC 3720 Appendix B.4) via ISA-L.

#include <cstddef>
#include <cstdint>
#include <span>

namespace atsarray::iscsi {

inline constexpr std::size_t digest_length = 4;

// The CRC32C of `data` (initial value and final XOR 0xffffffff, reflected): 32 zero bytes give
// 0x8a9136aa (RFC 3720 Appendix B.4).
uint32_t crc32c(std::span<const uint8_t> data) noexcept;

// Incremental form for data that arrives in pieces (a data segment and its padding).
class Crc32c {
  public:
    void update(std::span<const uint8_t> data) noexcept;
    uint32_t value() const noexcept { return ~state_; }
    void reset() noexcept { state_ = 0xffffffffu; }

  private:
    uint32_t state_ = 0xffffffffu;
};

// The digest's wire order is least significant byte first: RFC 3720 Appendix B.4 shows CRC
// 0x8a9136aa as "aa 36 91 8a" (the order Linux and libiscsi use).
void store_digest(uint8_t* p, uint32_t digest) noexcept;
uint32_t load_digest(const uint8_t* p) noexcept;

}  // namespace atsarray::iscsi
