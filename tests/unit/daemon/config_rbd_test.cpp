// target.lun with backend "rbd": an RBD image that several gateways export.

#include <cstdlib>
#include <string>

#include <gtest/gtest.h>

#include "target/daemon/config.hpp"
#include "tests/unit/daemon/config_test_support.hpp"

namespace atsarray::daemon {
namespace {

std::string rbd_lun(const std::string& extra) {
    return "id = 0\nbackend = \"rbd\"\n" + extra;
}

TEST(ConfigRbdTest, EveryKey) {
    const DaemonConfig c = parse(
        target_with("", rbd_lun("pool = \"rbd\"\nimage = \"lun0\"\nceph_conf = \"ceph/ceph.conf\"\n"
                                "client = \"gw1\"\nkeyring = \"/k/keyring\"\ncreate = true\n"
                                "size = \"1GiB\"\nblock_size = 4096\ntimeout_s = 5\n")));
    const LunConfig& lun = c.targets[0].luns[0];
    EXPECT_EQ(lun.backend, BackendKind::rbd);
    EXPECT_EQ(lun.rbd.pool, "rbd");
    EXPECT_EQ(lun.rbd.image, "lun0");
    EXPECT_EQ(lun.rbd.ceph_conf, "/etc/atsarray/ceph/ceph.conf");  // from the config's folder
    EXPECT_EQ(lun.rbd.client, "gw1");
    EXPECT_EQ(lun.rbd.keyring, "/k/keyring");
    EXPECT_TRUE(lun.rbd.create);
    EXPECT_EQ(lun.rbd.timeout_s, 5u);
    EXPECT_EQ(lun.size_bytes, 1ull << 30);
    EXPECT_EQ(lun.block_size, 4096u);
}

TEST(ConfigRbdTest, AnExistingImageIsSizedByTheCluster) {
    ::setenv("CEPH_CONF", "/run/lab/ceph.conf", 1);
    const DaemonConfig c = parse(target_with("", rbd_lun("pool = \"p\"\nimage = \"i\"\n")));
    ::unsetenv("CEPH_CONF");
    const LunConfig& lun = c.targets[0].luns[0];
    EXPECT_EQ(lun.size_bytes, 0u);  // the image's size, read when it is opened
    EXPECT_EQ(lun.rbd.ceph_conf, "/run/lab/ceph.conf");
    EXPECT_EQ(lun.rbd.client, "admin");
    EXPECT_FALSE(lun.rbd.create);
    EXPECT_EQ(lun.rbd.timeout_s, 30u);
    const DaemonConfig d = parse(target_with("", rbd_lun("pool = \"p\"\nimage = \"i\"\n")));
    EXPECT_EQ(d.targets[0].luns[0].rbd.ceph_conf, "/etc/ceph/ceph.conf");
}

TEST(ConfigRbdTest, MistakesNameTheKey) {
    EXPECT_CONFIG_ERROR(target_with("", rbd_lun("image = \"i\"\n")),
                        "t.toml: target[0].lun[0].pool: required key is missing");
    EXPECT_CONFIG_ERROR(target_with("", rbd_lun("pool = \"rbd\"\nimage = \"rbd/i\"\n")),
                        "t.toml: target[0].lun[0].image: must be a Ceph image name (printable, "
                        "no spaces, '/' or '@'), got \"rbd/i\"");
    EXPECT_CONFIG_ERROR(target_with("", rbd_lun("pool = \"p\"\nimage = \"i\"\ncreate = true\n")),
                        "t.toml: target[0].lun[0].size: required with create = true (the size "
                        "of the image to create)");
    EXPECT_CONFIG_ERROR(
        target_with("", rbd_lun("pool = \"p\"\nimage = \"i\"\nclient = \"client.admin\"\n")),
        "t.toml: target[0].lun[0].client: must be the cephx name without \"client.\" (e.g. "
        "\"admin\"), got \"client.admin\"");
    EXPECT_CONFIG_ERROR(target_with("", rbd_lun("pool = \"p\"\nimage = \"i\"\ntimeout_s = 0\n")),
                        "t.toml: target[0].lun[0].timeout_s: must be between 1 and 3600, got 0");
    EXPECT_CONFIG_ERROR(target_with("", memory_lun("pool = \"rbd\"\n")),
                        "t.toml: target[0].lun[0].pool: only for backend \"rbd\", not \"memory\"");
    EXPECT_CONFIG_ERROR(target_with("", rbd_lun("pool = \"p\"\nimage = \"i\"\npath = \"x\"\n")),
                        "t.toml: target[0].lun[0].path: not allowed for backend \"rbd\" (its data "
                        "is the image named by pool and image)");
    // One image, two LUNs of one gateway.
    EXPECT_CONFIG_ERROR(
        target_with("", rbd_lun("pool = \"p\"\nimage = \"i\"\n") +
                            "[[target.lun]]\nid = 1\nbackend = \"rbd\"\npool = \"p\"\nimage = "
                            "\"i\"\n"),
        "t.toml: target[0].lun[1].image: image \"p/i\" is already used by target[0].lun[0].image");
}

}  // namespace
}  // namespace atsarray::daemon
