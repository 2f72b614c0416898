// libFuzzer harness for the SCSI command layer: arbitrary CDBs, Expected Data Transfer Lengths
// and Data-Out (parameter lists, write data) against a target device with two memory LUNs. Every
// command must complete exactly once, with sense data that fits, and never touch memory it should
// not.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <vector>

#include "backend/memory_store.hpp"
#include "target/scsi/lun.hpp"
#include "target/scsi/target_device.hpp"

namespace {

using namespace atsarray;

scsi::TargetDevice& device() {
    static scsi::TargetDevice* d = [] {
        auto* dev = new scsi::TargetDevice();
        for (uint32_t id : {0U, 1U}) {
            scsi::LunSettings s;
            s.id = id;
            s.block_size = id == 0 ? 512 : 4096;
            s.block_count = (1U << 20) / s.block_size;
            s.serial = "FUZZ" + std::to_string(id);
            s.target_name = "iqn.2026-11.org.atsarray:fuzz";
            dev->add_lun(id, std::make_shared<scsi::Lun>(
                                 s, std::make_shared<backend::MemoryStore>(1U << 20)));
        }
        return dev;
    }();
    return *d;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 4) {
        return 0;
    }
    static scsi::Nexus nexus{1, "iqn.2026-11.org.atsarray:fuzzer",
                             "iqn.2026-11.org.atsarray:fuzzer,i,0x000000000001", "fuzz", 1};
    static bool added = [] {
        device().nexus_added(nexus);
        return true;
    }();
    (void)added;
    // Layout: [lun][cdb length][edtl hi][edtl lo][cdb...][data-out...]
    const uint64_t lun = data[0] % 3;  // LUN 2 does not exist
    const size_t cdb_length = 6 + data[1] % 27;
    const uint32_t edtl = (static_cast<uint32_t>(data[2]) << 8 | data[3]) * 16U;
    if (size < 4 + cdb_length) {
        return 0;
    }
    std::vector<uint8_t> cdb(data + 4, data + 4 + cdb_length);
    std::vector<uint8_t> data_out(data + 4 + cdb_length, data + size);
    std::vector<uint8_t> data_in;
    scsi::Command cmd;
    cmd.cdb = cdb;
    cmd.lun = lun;
    cmd.nexus = &nexus;
    cmd.expected_transfer_length = edtl;
    cmd.direction =
        data_out.empty() ? scsi::DataDirection::from_device : scsi::DataDirection::to_device;
    cmd.data_out = data_out;
    cmd.data_in = &data_in;
    int completions = 0;
    device().execute(cmd, [&completions](scsi::Command&) { ++completions; });
    // The memory store never blocks, so every command completes inline, exactly once.
    if (completions != 1 || cmd.sense.length > cmd.sense.bytes.size()) {
        std::abort();
    }
    return 0;
}
