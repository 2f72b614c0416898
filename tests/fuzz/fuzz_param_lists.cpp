// libFuzzer harness for the Data-Out parameter lists of the SCSI layer: PERSISTENT RESERVE OUT
// (SPC-4 §6.16), UNMAP (SBC-4 §5.32), EXTENDED COPY(LID1) (SPC-4 §6.4), MODE SELECT(6)/(10)
// (SPC-4 §6.11, §6.12) and SET TARGET PORT GROUPS (SPC-4 §6.39), read back by PERSISTENT RESERVE
// IN, MODE SENSE(10) and REPORT TARGET PORT GROUPS. The CDB is built
// by the harness from a few input bytes, with the list length field naming the list, so the
// fuzzer spends its time in the lists instead of in CDB checks (fuzz_cdb covers those).
//
// The input is a sequence of records, run in order against a fresh target device (two memory
// LUNs, two I_T nexuses) so that state built by one list (registrations, a reservation, mode
// pages) meets the next:
//   [selector][field a][field b][length hi][length lo][length bytes of parameter list]
// selector bits 0-2: the command; bit 3: the second nexus; bit 4: LUN 1; bit 5: SET TARGET PORT
// GROUPS instead of the command, then REPORT TARGET PORT GROUPS (field b: allocation length) on
// both nexuses, which must get the same bytes; bit 7: Expected Data Transfer Length = the bytes
// present instead of the length field.
// The LUNs share two target port groups: group 1 holds the first nexus's port, group 2 the
// second's.

#include <algorithm>
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <span>
#include <vector>

#include "backend/memory_store.hpp"
#include "target/scsi/lun.hpp"
#include "target/scsi/target_device.hpp"

namespace {

using namespace atsarray;

constexpr uint64_t store_bytes = 256 * 1024;

// The NAA designators the seeds' EXTENDED COPY target descriptors name (SPC-4 §7.8.6.6).
constexpr std::array<uint8_t, 16> naa_of(uint8_t lun) {
    return {0x60, 0x01, 0x40, 0x5f, 0x00, 0x00, 0x00, 0x00,
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, lun};
}

const std::array<scsi::Nexus, 2> nexuses{
    scsi::Nexus{1, "iqn.2026-11.org.atsarray:fuzzer-a",
                "iqn.2026-11.org.atsarray:fuzzer-a,i,0x000000000001", "fuzz-a", 1},
    scsi::Nexus{2, "iqn.2026-11.org.atsarray:fuzzer-b",
                "iqn.2026-11.org.atsarray:fuzzer-b,i,0x000000000002", "fuzz-b", 2}};

struct Result {
    std::vector<uint8_t> data_in;
    int completions = 0;
    scsi::Status status = scsi::Status::good;
};

Result run(scsi::TargetDevice& device, const scsi::Nexus& nexus, uint64_t lun,
           std::vector<uint8_t> cdb, std::span<const uint8_t> data_out, uint32_t edtl) {
    Result r;
    scsi::Command cmd;
    cmd.cdb = std::move(cdb);
    cmd.lun = lun;
    cmd.nexus = &nexus;
    cmd.expected_transfer_length = edtl;
    cmd.direction =
        data_out.empty() ? scsi::DataDirection::from_device : scsi::DataDirection::to_device;
    // A copy of its own, so that a read past the list is a read past an allocation (ASan).
    const std::vector<uint8_t> list(data_out.begin(), data_out.end());
    cmd.data_out = list;
    cmd.data_in = &r.data_in;
    device.execute(cmd, [&r](scsi::Command& c) {
        ++r.completions;
        r.status = c.status;
    });
    // The memory store never blocks: every command completes inline, exactly once, with sense
    // that fits and no more Data-In than the initiator allowed.
    if (r.completions != 1 || cmd.sense.length > cmd.sense.bytes.size() ||
        r.data_in.size() > edtl) {
        std::abort();
    }
    return r;
}

void put_be16(std::vector<uint8_t>& cdb, size_t at, uint32_t v) {
    cdb[at] = static_cast<uint8_t>(v >> 8);
    cdb[at + 1] = static_cast<uint8_t>(v);
}

void put_be32(std::vector<uint8_t>& cdb, size_t at, uint32_t v) {
    put_be16(cdb, at, v >> 16);
    put_be16(cdb, at + 2, v & 0xFFFF);
}

// Two controllers, explicit ALUA: group 1 (port 1) active/optimized, group 2 (port 2)
// active/non-optimized; changes take effect at once (no clock in a fuzz run).
std::shared_ptr<scsi::TargetPortGroups> two_groups() {
    scsi::AluaConfig c;
    c.groups.resize(2);
    c.groups[0].id = 1;
    c.groups[0].relative_target_ports = {1};
    c.groups[0].preferred = true;
    c.groups[1].id = 2;
    c.groups[1].relative_target_ports = {2};
    c.groups[1].state = scsi::AluaState::active_non_optimized;
    c.implicit_transition_time = std::chrono::seconds(5);
    return std::make_shared<scsi::TargetPortGroups>(c);
}

std::unique_ptr<scsi::TargetDevice> fresh_device() {
    auto device = std::make_unique<scsi::TargetDevice>();
    scsi::LunServices services;
    services.port_groups = two_groups();
    for (uint8_t id : {0, 1}) {
        scsi::LunSettings s;
        s.id = id;
        s.block_size = id == 0 ? 512 : 4096;
        s.block_count = store_bytes / s.block_size;
        s.serial = "FUZZ" + std::to_string(id);
        s.target_name = "iqn.2026-11.org.atsarray:fuzz";
        s.naa = naa_of(id);
        device->add_lun(
            id, std::make_shared<scsi::Lun>(s, std::make_shared<backend::MemoryStore>(store_bytes),
                                            scsi::Lun::SubmitBlocking{}, services));
    }
    for (const scsi::Nexus& n : nexuses) {
        device->nexus_added(n);
        // Consume the POWER ON unit attention so that the lists themselves are reached.
        for (uint64_t lun : {0, 1}) {
            run(*device, n, lun, std::vector<uint8_t>(6, 0), {}, 0);
        }
    }
    return device;
}

}  // namespace

// NOLINTNEXTLINE(readability-identifier-naming): libFuzzer names the entry point
extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::unique_ptr<scsi::TargetDevice> device = fresh_device();
    size_t pos = 0;
    for (unsigned records = 0; pos + 5 <= size && records < 16; ++records) {
        const uint8_t selector = data[pos];
        const uint8_t a = data[pos + 1];
        const uint8_t b = data[pos + 2];
        const uint32_t length = static_cast<uint32_t>(data[pos + 3]) << 8 | data[pos + 4];
        pos += 5;
        const size_t present = std::min<size_t>(length, size - pos);
        const std::span<const uint8_t> list(data + pos, present);
        pos += present;
        const scsi::Nexus& nexus = nexuses[(selector >> 3) & 1];
        const uint64_t lun = (selector >> 4) & 1;
        uint32_t edtl = (selector & 0x80) != 0 ? static_cast<uint32_t>(present) : length;
        std::vector<uint8_t> cdb;
        std::span<const uint8_t> data_out = list;
        if ((selector & 0x20) != 0) {
            // SET TARGET PORT GROUPS (MAINTENANCE OUT 0Ah), then REPORT TARGET PORT GROUPS on
            // both nexuses: SPC-4 §6.36 data is the same whichever port asks.
            cdb.assign(12, 0);
            cdb[0] = 0xA4;
            cdb[1] = 0x0A;
            put_be32(cdb, 6, length);
            run(*device, nexus, lun, std::move(cdb), data_out, edtl);
            std::vector<uint8_t> rtpg(12, 0);
            rtpg[0] = 0xA3;
            rtpg[1] = static_cast<uint8_t>((a & 0x20) | 0x0A);
            put_be32(rtpg, 6, b);
            // A change leaves the other nexus a unit attention (and LUN 1 has one for both)
            // that ends its next command first: past them RTPG answers GOOD.
            auto report = [&](const scsi::Nexus& n) {
                Result r = run(*device, n, lun, rtpg, {}, b);
                for (int tries = 0; r.status != scsi::Status::good && tries < 16; ++tries) {
                    r = run(*device, n, lun, rtpg, {}, b);
                }
                return r;
            };
            const Result first = report(nexuses[0]);
            const Result second = report(nexuses[1]);
            if (first.status != scsi::Status::good || first.data_in != second.data_in) {
                std::abort();
            }
            continue;
        }
        switch (selector & 7) {
            case 0:  // PERSISTENT RESERVE OUT: service action, scope and type
                cdb.assign(10, 0);
                cdb[0] = 0x5F;
                cdb[1] = a & 0x1F;
                cdb[2] = b;
                put_be32(cdb, 5, length);
                break;
            case 1:  // UNMAP: ANCHOR, group number
                cdb.assign(10, 0);
                cdb[0] = 0x42;
                cdb[1] = a & 0x01;
                cdb[6] = b & 0x3F;
                put_be16(cdb, 7, length);
                break;
            case 2:  // EXTENDED COPY(LID1)
                cdb.assign(16, 0);
                cdb[0] = 0x83;
                put_be32(cdb, 10, length);
                break;
            case 3:  // MODE SELECT(6): PF, SP
                cdb.assign(6, 0);
                cdb[0] = 0x15;
                cdb[1] = a & 0x11;
                cdb[4] = static_cast<uint8_t>(length);
                edtl = std::min<uint32_t>(edtl, 255);
                data_out = list.first(std::min<size_t>(list.size(), 255));
                break;
            case 4:  // MODE SELECT(10): PF, SP
                cdb.assign(10, 0);
                cdb[0] = 0x55;
                cdb[1] = a & 0x11;
                put_be16(cdb, 7, length);
                break;
            case 5:  // PERSISTENT RESERVE IN: service action; the list bytes are not sent
                cdb.assign(10, 0);
                cdb[0] = 0x5E;
                cdb[1] = a & 0x1F;
                put_be16(cdb, 7, length);
                data_out = {};
                edtl = length;
                break;
            default:  // MODE SENSE(10): DBD, PC and page code, subpage
                cdb.assign(10, 0);
                cdb[0] = 0x5A;
                cdb[1] = a & 0x18;
                cdb[2] = b;
                cdb[3] = (selector & 1) != 0 ? 0xFF : 0x00;
                put_be16(cdb, 7, length);
                data_out = {};
                edtl = length;
                break;
        }
        run(*device, nexus, lun, std::move(cdb), data_out, edtl);
    }
    return 0;
}
