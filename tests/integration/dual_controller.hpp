#pragma once
// A dual-controller array for the ALUA and path fault tests: the in-process daemon with two
// target port groups (controller A on its own portal, B on a second one) and one memory LUN, and
// libiscsi helpers for what ALUA adds (REPORT and SET TARGET PORT GROUPS, sense outcomes).

extern "C" {
#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>
}

#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "tests/integration/in_process_daemon.hpp"
#include "tools/libiscsi_handles.hpp"

namespace atsarray::testing {

using initiator::Context;
using initiator::Task;

inline constexpr const char* alua_target = "iqn.2026-11.org.atsarray:alua";
inline constexpr const char* host1 = "iqn.1998-01.com.vmware:esx-alua-1";
inline constexpr const char* host2 = "iqn.1998-01.com.vmware:esx-alua-2";

// ASYMMETRIC ACCESS STATE values (SPC-4 §6.36 Table 263).
inline constexpr uint8_t active_optimized = 0x0;
inline constexpr uint8_t active_non_optimized = 0x1;
inline constexpr uint8_t standby = 0x2;
inline constexpr uint8_t unavailable = 0x3;

// The in-process daemon's own portal (@PORT@) is controller A, group 1, active/optimized and
// preferred; a second portal is controller B, group 2, active/non-optimized.
inline std::string dual_controller_config(uint16_t port_b, const std::string& alua) {
    return "[[portal]]\naddress = \"127.0.0.1\"\nport = " + std::to_string(port_b) +
           "\n[[target_port_group]]\nid = 1\nname = \"controller-a\"\n"
           "portals = [\"127.0.0.1:@PORT@\"]\nstate = \"active_optimized\"\npreferred = true\n"
           "[[target_port_group]]\nid = 2\nname = \"controller-b\"\nportals = [\"127.0.0.1:" +
           std::to_string(port_b) + "\"]\nstate = \"active_non_optimized\"\n" + alua +
           "\n[[target]]\nname = \"" + alua_target +
           "\"\n[[target.lun]]\nid = 0\nbackend = \"memory\"\nsize = \"1MiB\"\n";
}

class DualController {
  public:
    // `extra`: sections after the groups ([alua], [console], [fault]...).
    explicit DualController(const std::string& extra = "")
        : port_b_(free_port()), daemon_(dual_controller_config(port_b_, extra)) {}

    std::string path_a() const { return daemon_.portal(); }
    std::string path_b() const { return "127.0.0.1:" + std::to_string(port_b_); }
    uint16_t port_a() const { return daemon_.port(); }
    uint16_t port_b() const { return port_b_; }
    daemon::Daemon& daemon() { return daemon_.daemon(); }

  private:
    uint16_t port_b_;
    InProcessDaemon daemon_;
};

inline Context login(const std::string& portal, const std::string& initiator) {
    std::string error;
    Context ctx = initiator::login(portal, alua_target, initiator, 0, 10, error);
    EXPECT_TRUE(ctx) << portal << ": " << error;
    return ctx;
}

// A command libiscsi has no helper for: `cdb` with `in` bytes to read or `out` to write.
inline Task command(const Context& ctx, std::vector<uint8_t> cdb, uint32_t in,
                    std::vector<uint8_t> out = {}) {
    auto* task = static_cast<scsi_task*>(std::calloc(1, sizeof(scsi_task)));
    std::memcpy(task->cdb, cdb.data(), cdb.size());
    task->cdb_size = static_cast<int>(cdb.size());
    task->xfer_dir = !out.empty() ? SCSI_XFER_WRITE : (in > 0 ? SCSI_XFER_READ : SCSI_XFER_NONE);
    task->expxferlen = !out.empty() ? static_cast<int>(out.size()) : static_cast<int>(in);
    iscsi_data data{static_cast<size_t>(out.size()), out.data()};
    scsi_task* done = iscsi_scsi_command_sync(ctx.get(), 0, task, out.empty() ? nullptr : &data);
    if (done == nullptr) {
        scsi_free_scsi_task(task);
        ADD_FAILURE() << "command failed: " << iscsi_get_error(ctx.get());
        return nullptr;
    }
    return Task(done);
}

// REPORT TARGET PORT GROUPS (MAINTENANCE IN, SPC-4 §6.36), length-only or extended header.
// A pending unit attention answers it first (it is not exempt, SAM-5 §5.14): asked again then,
// as hosts do.
inline std::vector<uint8_t> report_groups(const Context& ctx, bool extended) {
    constexpr uint32_t length = 1024;
    Task t;
    for (int attempt = 0; attempt < 3; ++attempt) {
        t = command(ctx,
                    {0xA3, static_cast<uint8_t>(0x0A | (extended ? 0x20 : 0x00)), 0, 0, 0, 0, 0, 0,
                     length >> 8, length & 0xFF, 0, 0},
                    length);
        if (!t || t->status != SCSI_STATUS_CHECK_CONDITION ||
            t->sense.key != SCSI_SENSE_UNIT_ATTENTION) {
            break;
        }
    }
    if (!t || t->status != SCSI_STATUS_GOOD) {
        ADD_FAILURE() << "REPORT TARGET PORT GROUPS failed";
        return {};
    }
    return {t->datain.data, t->datain.data + t->datain.size};
}

// SET TARGET PORT GROUPS (MAINTENANCE OUT, SPC-4 §6.39): (group, state) pairs.
inline Task set_groups(const Context& ctx,
                       const std::vector<std::pair<uint16_t, uint8_t>>& groups) {
    std::vector<uint8_t> list(4, 0);
    for (const auto& [group, state] : groups) {
        list.insert(list.end(), {state, 0, static_cast<uint8_t>(group >> 8),
                                 static_cast<uint8_t>(group & 0xFF)});
    }
    const auto n = static_cast<uint32_t>(list.size());
    return command(
        ctx,
        {0xA4, 0x0A, 0, 0, 0, 0, static_cast<uint8_t>(n >> 24), static_cast<uint8_t>(n >> 16),
         static_cast<uint8_t>(n >> 8), static_cast<uint8_t>(n), 0, 0},
        0, list);
}

struct GroupSeen {
    uint8_t state = 0xFF;
    bool preferred = false;
    uint8_t supported = 0;
    uint16_t id = 0;
    uint8_t status_code = 0;
    std::vector<uint16_t> ports;
};

// The descriptors of REPORT TARGET PORT GROUPS parameter data (SPC-4 §6.36 Tables 260-262).
inline std::vector<GroupSeen> parse_groups(const std::vector<uint8_t>& d) {
    std::vector<GroupSeen> out;
    if (d.size() < 4) {
        return out;
    }
    const size_t end =
        std::min<size_t>(d.size(), 4 + ((size_t{d[0]} << 24) | (d[1] << 16) | (d[2] << 8) | d[3]));
    size_t at = (d.size() >= 8 && (d[4] & 0x70) == 0x10) ? 8 : 4;
    while (at + 8 <= end) {
        GroupSeen g;
        g.preferred = (d[at] & 0x80) != 0;
        g.state = d[at] & 0x0F;
        g.supported = d[at + 1];
        g.id = static_cast<uint16_t>(d[at + 2] << 8 | d[at + 3]);
        g.status_code = d[at + 5];
        const size_t ports = d[at + 7];
        for (size_t p = 0; p < ports && at + 8 + 4 * p + 4 <= end; ++p) {
            g.ports.push_back(
                static_cast<uint16_t>(d[at + 8 + 4 * p + 2] << 8 | d[at + 8 + 4 * p + 3]));
        }
        out.push_back(g);
        at += 8 + 4 * ports;
    }
    return out;
}

struct SenseSeen {
    int status = -1;
    int key = -1;
    int asc_ascq = -1;  // ASC << 8 | ASCQ
};

inline SenseSeen outcome(const Task& t) {
    if (!t) {
        return {};
    }
    return {t->status,
            t->status == SCSI_STATUS_CHECK_CONDITION ? static_cast<int>(t->sense.key) : -1,
            t->status == SCSI_STATUS_CHECK_CONDITION ? static_cast<int>(t->sense.ascq) : -1};
}

inline SenseSeen read_block(const Context& ctx) {
    return outcome(Task(iscsi_read16_sync(ctx.get(), 0, 0, 512, 512, 0, 0, 0, 0, 0)));
}

inline SenseSeen test_unit_ready(const Context& ctx) {
    return outcome(Task(iscsi_testunitready_sync(ctx.get(), 0)));
}

// Takes the POWER ON unit attention a new nexus gets.
inline void clear_unit_attention(const Context& ctx) {
    for (int i = 0; i < 3 && test_unit_ready(ctx).status != SCSI_STATUS_GOOD; ++i) {
    }
}

inline constexpr SenseSeen good{SCSI_STATUS_GOOD, -1, -1};
inline constexpr SenseSeen state_changed{SCSI_STATUS_CHECK_CONDITION, 0x6, 0x2A06};
inline constexpr SenseSeen in_standby{SCSI_STATUS_CHECK_CONDITION, 0x2, 0x040B};
inline constexpr SenseSeen in_unavailable{SCSI_STATUS_CHECK_CONDITION, 0x2, 0x040C};
inline constexpr SenseSeen in_transition{SCSI_STATUS_CHECK_CONDITION, 0x2, 0x040A};

inline bool operator==(const SenseSeen& a, const SenseSeen& b) {
    return a.status == b.status && a.key == b.key && a.asc_ascq == b.asc_ascq;
}
inline std::ostream& operator<<(std::ostream& o, const SenseSeen& s) {
    return o << "status " << s.status << " key " << s.key << " asc/ascq " << std::hex << s.asc_ascq
             << std::dec;
}

}  // namespace atsarray::testing
