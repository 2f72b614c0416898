// A LUN's identity (VPD 0x80 serial, VPD 0x83 NAA) is kept with its data: a restart, even with
// the target renamed, shows initiators the same device; a config that contradicts it is refused.
#include <gtest/gtest.h>

extern "C" {
#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>
}

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "target/daemon/config.hpp"
#include "target/daemon/daemon.hpp"
#include "tests/integration/in_process_daemon.hpp"
#include "tools/libiscsi_handles.hpp"

namespace atsarray::testing {
namespace {

using initiator::Context;
using initiator::Task;

struct Seen {
    std::string serial;
    std::vector<uint8_t> naa;
};

// VPD 0x80's PRODUCT SERIAL NUMBER and the NAA designator (type 3) of VPD 0x83, as an initiator
// reads them.
Seen identity_of(const InProcessDaemon& d, const std::string& target) {
    Seen seen;
    std::string error;
    Context ctx =
        initiator::login(d.portal(), target, "iqn.2026-11.org.atsarray:identity", 0, 10, error);
    if (!ctx) {
        ADD_FAILURE() << error;
        return seen;
    }
    Task usn(iscsi_inquiry_sync(ctx.get(), 0, 1, 0x80, 255));
    if (usn && usn->status == SCSI_STATUS_GOOD && usn->datain.size >= 4) {
        const uint8_t* p = usn->datain.data;
        seen.serial.assign(reinterpret_cast<const char*>(p + 4),
                           std::min<size_t>(p[3], usn->datain.size - 4));
    }
    Task ids(iscsi_inquiry_sync(ctx.get(), 0, 1, 0x83, 255));
    if (ids && ids->status == SCSI_STATUS_GOOD) {
        const uint8_t* p = ids->datain.data;
        const size_t end = std::min<size_t>(4 + (p[2] << 8 | p[3]), ids->datain.size);
        for (size_t at = 4; at + 4 <= end; at += 4 + p[at + 3]) {
            if ((p[at + 1] & 0x0F) == 0x3 && at + 4 + p[at + 3] <= end) {
                seen.naa.assign(p + at + 4, p + at + 4 + p[at + 3]);
            }
        }
    }
    return seen;
}

std::string lun_config(const std::string& target, const std::string& lun) {
    return "[[target]]\nname = \"" + target + "\"\n[[target.lun]]\nid = 0\nsize = \"1MiB\"\n" + lun;
}

TEST(LunIdentity, FileLunKeepsSerialAndNaaWhenTheTargetIsRenamed) {
    TempDir data;
    const std::string image = (data.path() / "lun0.img").string();
    const std::string lun = "backend = \"file\"\npath = \"" + image + "\"\n";
    Seen first;
    {
        InProcessDaemon d(lun_config("iqn.2026-11.org.atsarray:before", lun));
        first = identity_of(d, "iqn.2026-11.org.atsarray:before");
    }
    ASSERT_FALSE(first.serial.empty());
    ASSERT_EQ(first.naa.size(), 16U);
    EXPECT_EQ(first.naa[0] >> 4, 0x6);  // NAA 6
    std::ifstream stored(image + ".identity");
    std::stringstream text;
    text << stored.rdbuf();
    EXPECT_NE(text.str().find("serial = \"" + first.serial + "\""), std::string::npos)
        << text.str();
    {
        // Without a stored identity the rename would derive another serial and NAA: a new disk
        // to ESXi, its datastore gone.
        InProcessDaemon d(lun_config("iqn.2026-11.org.atsarray:after", lun));
        const Seen again = identity_of(d, "iqn.2026-11.org.atsarray:after");
        EXPECT_EQ(again.serial, first.serial);
        EXPECT_EQ(again.naa, first.naa);
    }
    // A configured serial that contradicts the stored one stops the start, naming both.
    try {
        InProcessDaemon d(
            lun_config("iqn.2026-11.org.atsarray:after", lun + "serial = \"OTHER\"\n"));
        ADD_FAILURE() << "the daemon started with a serial that contradicts the stored one";
    } catch (const daemon::ConfigError& e) {
        EXPECT_NE(std::string(e.what()).find(first.serial), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find("OTHER"), std::string::npos) << e.what();
    }
}

TEST(LunIdentity, RocksDbLunKeepsItsIdentityAcrossRestarts) {
    TempDir data;
    const std::string data_dir = "data_dir = \"" + data.path().string() + "\"\n";
    const std::string config = lun_config("iqn.2026-11.org.atsarray:rocks",
                                          "backend = \"rocksdb\"\nserial = \"MY-SERIAL-1\"\n");
    Seen first;
    {
        InProcessDaemon d(config, data_dir);
        first = identity_of(d, "iqn.2026-11.org.atsarray:rocks");
    }
    EXPECT_EQ(first.serial, "MY-SERIAL-1");
    ASSERT_EQ(first.naa.size(), 16U);
    EXPECT_TRUE(
        std::filesystem::exists(data.path() / "iqn.2026-11.org.atsarray:rocks-lun0.identity"));
    InProcessDaemon d(config, data_dir);
    const Seen again = identity_of(d, "iqn.2026-11.org.atsarray:rocks");
    EXPECT_EQ(again.serial, first.serial);
    EXPECT_EQ(again.naa, first.naa);
}

TEST(LunIdentity, DamagedIdentityStopsTheStart) {
    TempDir data;
    const std::string image = (data.path() / "lun0.img").string();
    std::ofstream(image + ".identity") << "serial = \"X\"\nnaa = \"not hex\"\n";
    try {
        InProcessDaemon d(lun_config("iqn.2026-11.org.atsarray:damaged",
                                     "backend = \"file\"\npath = \"" + image + "\"\n"));
        ADD_FAILURE() << "the daemon started with a damaged identity";
    } catch (const daemon::ConfigError& e) {
        EXPECT_NE(std::string(e.what()).find("damaged LUN identity"), std::string::npos)
            << e.what();
    }
}

}  // namespace
}  // namespace atsarray::testing
