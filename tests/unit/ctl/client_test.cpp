// The console's URL and the token file, as atsarrayctl reads them.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

#include "ctl/client.hpp"
#include "ctl/commands.hpp"
#include "ctl/token.hpp"

namespace atsarray::ctl {
namespace {

TEST(Url, HostPortAndLoopback) {
    Url u = parse_url("http://127.0.0.1:8080/");
    EXPECT_EQ(u.host, "127.0.0.1");
    EXPECT_EQ(u.port, "8080");
    EXPECT_TRUE(u.loopback);
    EXPECT_EQ(u.text, "http://127.0.0.1:8080");
    u = parse_url("http://[::1]:9000");
    EXPECT_EQ(u.host, "::1");
    EXPECT_TRUE(u.loopback);
    u = parse_url("http://10.1.2.3");
    EXPECT_EQ(u.port, "80");
    EXPECT_FALSE(u.loopback);
    EXPECT_TRUE(parse_url("http://localhost:1").loopback);
    for (const char* bad : {"https://127.0.0.1", "127.0.0.1:8080", "http://", "http://h:0",
                            "http://h:65536", "http://h:80/api", "http://[::1"}) {
        EXPECT_THROW(parse_url(bad), UsageError) << bad;
    }
}

TEST(Url, PathSegmentKeepsIqnsAndPortals) {
    EXPECT_EQ(path_segment("iqn.2026-11.org.atsarray:lab"), "iqn.2026-11.org.atsarray:lab");
    EXPECT_EQ(path_segment("[::1]:3260"), "%5B::1%5D:3260");
    EXPECT_EQ(path_segment("a b/c"), "a%20b%2Fc");
}

TEST(TokenFile, OwnerOnly) {
    char name[] = "/tmp/atsarrayctl-token-XXXXXX";
    const int fd = ::mkstemp(name);
    ASSERT_GE(fd, 0);
    ::close(fd);
    std::ofstream(name) << "secret-token-value\n";
    ::chmod(name, 0600);
    EXPECT_EQ(read_token_file(name), "secret-token-value");
    for (const mode_t mode : {0644, 0640, 0604, 0620}) {
        ::chmod(name, mode);
        try {
            read_token_file(name);
            ADD_FAILURE() << "mode " << mode << " accepted";
        } catch (const UsageError& e) {
            EXPECT_NE(std::string(e.what()).find("by group or others"), std::string::npos);
            EXPECT_NE(std::string(e.what()).find("chmod 600"), std::string::npos);
        }
    }
    ::chmod(name, 0600);
    std::ofstream(name) << "\n";
    EXPECT_THROW(read_token_file(name), UsageError);
    ::unlink(name);
    EXPECT_THROW(read_token_file(name), UsageError);
}

TEST(LunSpec, KeysOfATargetLunTable) {
    EXPECT_EQ(lun_spec_body("id=2,backend=file,path=a.img,size=16GiB,direct=true,serial=0042,"
                            "block_size=4096"),
              nlohmann::json({{"id", 2},
                              {"backend", "file"},
                              {"path", "a.img"},
                              {"size", "16GiB"},
                              {"direct", true},
                              {"serial", "0042"},
                              {"block_size", 4096}}));
    EXPECT_EQ(lun_spec_body("id=0,backend=memory,size=1048576")["size"], 1048576);
    for (const char* bad : {"id=x", "colour=red", "direct=yes", "backend", "=1"}) {
        EXPECT_THROW(lun_spec_body(bad), UsageError) << bad;
    }
}

}  // namespace
}  // namespace atsarray::ctl
