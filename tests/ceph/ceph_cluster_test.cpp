// The way every rbd test finds the fixture's cluster (tests/integration/ceph_cluster.hpp) works:
// from the environment and, with CEPH_CONF unset, from the path file the fixture wrote.

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

#include "tests/integration/ceph_cluster.hpp"

namespace atsarray::testing {
namespace {

TEST(CephClusterTest, ConfPathFromEnvironmentOrFixture) {
    const std::string conf = ceph_conf_path();
    if (conf.empty()) {
        GTEST_SKIP() << "no Ceph cluster: set CEPH_CONF or run under ctest (fixture ceph_cluster)";
    }
    std::ifstream in(conf);
    std::stringstream text;
    text << in.rdbuf();
    EXPECT_NE(text.str().find("mon host"), std::string::npos) << conf;

    // The fixture's path file names the same cluster when the environment does not.
    const char* env = std::getenv("CEPH_CONF");
    const std::string saved = env != nullptr ? env : "";
    ::unsetenv("CEPH_CONF");
    const std::string from_file = ceph_conf_path();
    if (!saved.empty()) {
        ::setenv("CEPH_CONF", saved.c_str(), 1);
    }
    std::ifstream path_file(ATSARRAY_CEPH_CONF_PATH_FILE);
    if (path_file) {
        EXPECT_EQ(from_file, conf);
    }
}

TEST(CephClusterTest, NothingWhenEnvironmentNamesNoFile) {
    const char* env = std::getenv("CEPH_CONF");
    const std::string saved = env != nullptr ? env : "";
    ::setenv("CEPH_CONF", "/nonexistent/ceph.conf", 1);
    const std::string conf = ceph_conf_path();
    if (saved.empty()) {
        ::unsetenv("CEPH_CONF");
    } else {
        ::setenv("CEPH_CONF", saved.c_str(), 1);
    }
    EXPECT_NE(conf, "/nonexistent/ceph.conf");
}

}  // namespace
}  // namespace atsarray::testing
