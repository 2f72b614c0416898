#pragma once
// EXTENDED COPY(LID1) and RECEIVE COPY RESULTS (SPC-4 §6.4, §6.18; SPC-3 §6.3, §6.17): the copy
// manager of a target device. Copies run block device to block device (segment descriptor 02h)
// between LUNs of the SAME target, named by identification descriptor CSCD descriptors (E4h) with
// their VPD 0x83 NAA designator. The limits below are what RECEIVE COPY RESULTS (OPERATING
// PARAMETERS), the Third-party Copy VPD page (0x8F) and the parameter list checks all use.

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <tuple>
#include <vector>

#include "target/scsi/command.hpp"

namespace atsarray::scsi {

class Lun;

namespace xcopy {
// ESXi sends two CSCD descriptors (source, destination) and one segment per command.
inline constexpr uint16_t max_cscd_descriptors = 8;
inline constexpr uint16_t max_segment_descriptors = 64;
inline constexpr uint32_t cscd_descriptor_length = 32;
inline constexpr uint32_t block_to_block_segment_length = 28;
// Bytes of CSCD and segment descriptors together (SPC-4 §6.18.4 MAXIMUM DESCRIPTOR LIST LENGTH).
inline constexpr uint32_t max_descriptor_list_length =
    max_cscd_descriptors * cscd_descriptor_length +
    max_segment_descriptors * block_to_block_segment_length;
// Bytes one segment may move (ESXi's MaxHWTransferSize is at most 16 MiB).
inline constexpr uint32_t max_segment_length = 16u << 20;
// Bytes read and written per step of a segment.
inline constexpr uint32_t copy_chunk_bytes = 1u << 20;
inline constexpr uint8_t max_concurrent_copies = 16;
// Descriptor type codes implemented (SPC-4 §6.18.4 IMPLEMENTED DESCRIPTOR LIST).
inline constexpr uint8_t segment_block_to_block = 0x02;
inline constexpr uint8_t cscd_identification = 0xE4;

// The Third-party Copy VPD page (SPC-4 §7.8.17), header included.
std::vector<uint8_t> third_party_copy_vpd_page(uint8_t peripheral);
}  // namespace xcopy

// What RECEIVE COPY RESULTS reports of a finished copy (SPC-4 §6.18.2, §6.18.5).
struct CopyRecord {
    uint8_t copy_manager_status = 0;  // 01h completed without error, 02h with error
    uint16_t segments_processed = 0;
    uint64_t bytes_transferred = 0;
    Status command_status = Status::good;
    SenseData sense;
};

// Held copy results and the copies in progress, keyed by (LUN, I_T nexus, LIST IDENTIFIER)
// (SPC-4 §6.4.3: a list identifier is unique per I_T nexus). Thread safe.
class CopyManager {
  public:
    // False when a copy with this key is already in progress (OPERATION IN PROGRESS).
    bool begin(uint64_t lun, uint64_t nexus, uint8_t list_id);
    // Ends a begun copy; holds `record` for RECEIVE COPY RESULTS when given.
    void finish(uint64_t lun, uint64_t nexus, uint8_t list_id, std::optional<CopyRecord> record);
    std::optional<CopyRecord> find(uint64_t lun, uint64_t nexus, uint8_t list_id) const;

    void nexus_removed(uint64_t nexus);
    void lun_reset(uint64_t lun);
    void clear();

  private:
    using Key = std::tuple<uint64_t, uint64_t, uint8_t>;
    mutable std::mutex mutex_;
    std::set<Key> active_;
    std::map<Key, CopyRecord> held_;
};

}  // namespace atsarray::scsi
