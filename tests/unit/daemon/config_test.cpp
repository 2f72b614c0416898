#include "target/daemon/config.hpp"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>

#include "tests/unit/daemon/config_test_support.hpp"

namespace atsarray::daemon {
namespace {

TEST(ConfigTest, FullConfigParses) {
    const std::string text = R"(
log_level = "debug"
io_threads = 2
io_poll_us = 0
worker_threads = 8

[[portal]]
address = "192.168.1.10"
port = 3260

[[portal]]
address = "::1"
port = 3261

[iscsi]
max_recv_data_segment_length = 65536
max_burst_length = 524288
first_burst_length = 65536
max_outstanding_r2t = 4
initial_r2t = true
immediate_data = false
queue_depth = 64
nop_in_interval = 10
nop_in_timeout = 20
login_timeout = 5

[iscsi.discovery_chap]
user = "discovery"
secret = "discoverysecret1"

[[target]]
name = "iqn.2026-11.org.atsarray:lab"
alias = "lab"
portal_group_tag = 2
allowed_initiators = ["iqn.1993-08.org.debian:01:abc", "eui.02004567A425678D"]

[target.chap]
user = "initiator"
secret = "initiatorsecret"

[target.mutual_chap]
user = "target"
secret = "targetsecret12"

[[target.lun]]
id = 0
backend = "file"
path = "data/lun0.img"
size = "1GiB"
block_size = 512
serial = "SER0"
vendor = "ACME"
product = "DISK"
write_cache = false
read_only = true

[[target.lun]]
id = 7
backend = "memory"
size = 8388608
block_size = 4096

[[target]]
name = "naa.6001405abcdef0123456789abcdef012"
[[target.lun]]
id = 16383
path = "/srv/images/x.img"
size = "4 KiB"
)";
    const DaemonConfig c = parse(text);
    EXPECT_EQ(c.source_path, "t.toml");
    EXPECT_EQ(c.log_level, LogLevel::debug);
    EXPECT_EQ(c.io_threads, 2u);
    EXPECT_EQ(c.io_poll_us, 0u);
    EXPECT_EQ(c.worker_threads, 8u);

    ASSERT_EQ(c.portals.size(), 2u);
    EXPECT_EQ(c.portals[0].address, "192.168.1.10");
    EXPECT_EQ(c.portals[0].port, 3260);
    EXPECT_EQ(c.portals[1].address, "::1");
    EXPECT_EQ(c.portals[1].port, 3261);

    EXPECT_EQ(c.iscsi.max_recv_data_segment_length, 65536u);
    EXPECT_EQ(c.iscsi.max_burst_length, 524288u);
    EXPECT_EQ(c.iscsi.first_burst_length, 65536u);
    EXPECT_EQ(c.iscsi.max_outstanding_r2t, 4u);
    EXPECT_TRUE(c.iscsi.initial_r2t);
    EXPECT_FALSE(c.iscsi.immediate_data);
    EXPECT_EQ(c.iscsi.queue_depth, 64u);
    EXPECT_EQ(c.iscsi.nop_in_interval_s, 10u);
    EXPECT_EQ(c.iscsi.nop_in_timeout_s, 20u);
    EXPECT_EQ(c.iscsi.login_timeout_s, 5u);
    ASSERT_TRUE(c.iscsi.discovery_chap.has_value());
    EXPECT_EQ(c.iscsi.discovery_chap->user, "discovery");
    EXPECT_EQ(c.iscsi.discovery_chap->secret, "discoverysecret1");

    ASSERT_EQ(c.targets.size(), 2u);
    const TargetConfig& t = c.targets[0];
    EXPECT_EQ(t.name, lab);
    EXPECT_EQ(t.alias, "lab");
    EXPECT_EQ(t.portal_group_tag, 2);
    ASSERT_EQ(t.allowed_initiators.size(), 2u);
    EXPECT_EQ(t.allowed_initiators[0], "iqn.1993-08.org.debian:01:abc");
    EXPECT_EQ(t.allowed_initiators[1], "eui.02004567A425678D");
    ASSERT_TRUE(t.chap.has_value());
    EXPECT_EQ(t.chap->user, "initiator");
    EXPECT_EQ(t.chap->secret, "initiatorsecret");
    ASSERT_TRUE(t.mutual_chap.has_value());
    EXPECT_EQ(t.mutual_chap->user, "target");
    EXPECT_EQ(t.mutual_chap->secret, "targetsecret12");

    ASSERT_EQ(t.luns.size(), 2u);
    const LunConfig& l0 = t.luns[0];
    EXPECT_EQ(l0.id, 0u);
    EXPECT_EQ(l0.backend, BackendKind::file);
    EXPECT_EQ(l0.path, "/etc/atsarray/data/lun0.img");
    EXPECT_EQ(l0.size_bytes, 1ull << 30);
    EXPECT_EQ(l0.block_size, 512u);
    EXPECT_EQ(l0.serial, "SER0");
    EXPECT_EQ(l0.vendor, "ACME");
    EXPECT_EQ(l0.product, "DISK");
    EXPECT_FALSE(l0.write_cache);
    EXPECT_TRUE(l0.read_only);
    const LunConfig& l7 = t.luns[1];
    EXPECT_EQ(l7.id, 7u);
    EXPECT_EQ(l7.backend, BackendKind::memory);
    EXPECT_TRUE(l7.path.empty());
    EXPECT_EQ(l7.size_bytes, 8388608u);
    EXPECT_EQ(l7.block_size, 4096u);
    EXPECT_EQ(l7.vendor, "ATSARRAY");
    EXPECT_EQ(l7.product, "VIRTUAL-DISK");
    EXPECT_TRUE(l7.write_cache);
    EXPECT_FALSE(l7.read_only);

    const TargetConfig& naa = c.targets[1];
    EXPECT_EQ(naa.portal_group_tag, 1);
    EXPECT_TRUE(naa.allowed_initiators.empty());
    EXPECT_FALSE(naa.chap.has_value());
    ASSERT_EQ(naa.luns.size(), 1u);
    EXPECT_EQ(naa.luns[0].id, 16383u);
    EXPECT_EQ(naa.luns[0].backend, BackendKind::file);  // the default backend
    EXPECT_EQ(naa.luns[0].path, "/srv/images/x.img");
    EXPECT_EQ(naa.luns[0].size_bytes, 4096u);
}

TEST(ConfigTest, DefaultsForAMinimalConfig) {
    const DaemonConfig c = parse(minimal);
    EXPECT_EQ(c.log_level, LogLevel::info);
    EXPECT_EQ(c.io_threads, 0u);
    EXPECT_EQ(c.io_poll_us, 200u);
    EXPECT_EQ(c.worker_threads, 4u);
    ASSERT_EQ(c.portals.size(), 1u);  // no [[portal]]: 0.0.0.0:3260
    EXPECT_EQ(c.portals[0].address, "0.0.0.0");
    EXPECT_EQ(c.portals[0].port, 3260);
    const IscsiConfig defaults;
    EXPECT_EQ(c.iscsi.max_recv_data_segment_length, defaults.max_recv_data_segment_length);
    EXPECT_EQ(c.iscsi.first_burst_length, defaults.first_burst_length);
    EXPECT_EQ(c.iscsi.queue_depth, defaults.queue_depth);
    EXPECT_FALSE(c.iscsi.discovery_chap.has_value());
    ASSERT_EQ(c.targets.size(), 1u);
    EXPECT_EQ(c.targets[0].alias, "");
    EXPECT_EQ(c.targets[0].portal_group_tag, 1);
    EXPECT_EQ(c.targets[0].luns[0].block_size, 512u);
    EXPECT_EQ(c.targets[0].luns[0].key, "target[0].lun[0]");
    EXPECT_EQ(c.umask, 0077u);  // files 0600, folders 0700
}

TEST(ConfigTest, Umask) {
    EXPECT_EQ(parse("umask = \"0027\"\n" + minimal).umask, 0027u);
    EXPECT_EQ(parse("umask = \"077\"\n" + minimal).umask, 0077u);
    EXPECT_EQ(parse("umask = \"0\"\n" + minimal).umask, 0u);
    EXPECT_CONFIG_ERROR("umask = \"0o77\"\n" + minimal,
                        "t.toml: umask: expected an octal mask like \"0077\", got \"0o77\"");
    EXPECT_CONFIG_ERROR_HAS("umask = \"0089\"\n" + minimal, "t.toml: umask: expected an octal");
    EXPECT_CONFIG_ERROR_HAS("umask = \"00077\"\n" + minimal, "t.toml: umask: expected an octal");
    EXPECT_CONFIG_ERROR("umask = \"1077\"\n" + minimal,
                        "t.toml: umask: must be at most 0777, got \"1077\"");
    EXPECT_CONFIG_ERROR_HAS("umask = \"0277\"\n" + minimal,
                            "t.toml: umask: \"0277\" takes the owner's read or write permission");
    EXPECT_CONFIG_ERROR_HAS("umask = 77\n" + minimal, "t.toml: umask: expected a string");
}

TEST(ConfigTest, SerialIsDerivedStableAndDistinct) {
    const std::string text = "[[target]]\nname = \"" + std::string(lab) + "\"\n[[target.lun]]\n" +
                             memory_lun() +
                             "[[target.lun]]\nid = 1\nbackend = \"memory\"\nsize = 4096\n";
    const DaemonConfig a = parse(text);
    const DaemonConfig b = parse(text);
    const std::string& s0 = a.targets[0].luns[0].serial;
    const std::string& s1 = a.targets[0].luns[1].serial;
    EXPECT_EQ(s0.size(), 19u);
    EXPECT_EQ(s0.rfind("ATS", 0), 0u);
    EXPECT_EQ(s0, b.targets[0].luns[0].serial);
    EXPECT_NE(s0, s1);
    EXPECT_LE(s1.size(), 20u);
}

TEST(ConfigTest, SyntaxErrorNamesLineAndColumn) {
    const std::string message = error_of("log_level = \"info\"\nio_threads = = 3\n");
    EXPECT_EQ(message.rfind("t.toml:2:", 0), 0u) << message;
}

TEST(ConfigTest, UnknownKeysAreRejectedWithTheAllowedList) {
    EXPECT_CONFIG_ERROR("log_levle = \"info\"\n" + minimal,
                        "t.toml: log_levle: unknown key; allowed keys: log_level, io_threads, "
                        "io_poll_us, worker_threads, data_dir, umask, rocksdb, ats, console, "
                        "fault, portal, target_port_group, alua, iscsi, target");
    EXPECT_CONFIG_ERROR("[[portal]]\nadress = \"0.0.0.0\"\n" + minimal,
                        "t.toml: portal[0].adress: unknown key; allowed keys: address, port");
    EXPECT_CONFIG_ERROR(target_with("", memory_lun("blocksize = 4096")),
                        "t.toml: target[0].lun[0].blocksize: unknown key; allowed keys: id, "
                        "backend, path, direct, size, block_size, serial, vendor, product, "
                        "write_cache, read_only, removable, read_delay_us, write_delay_us, pool, "
                        "image, ceph_conf, client, keyring, create, timeout_s");
    EXPECT_CONFIG_ERROR_HAS("[iscsi]\nqueuedepth = 3\n" + minimal,
                            "t.toml: iscsi.queuedepth: unknown key; allowed keys: "
                            "max_recv_data_segment_length,");
    EXPECT_CONFIG_ERROR(target_with("[target.chap]\nuser = \"u\"\nsecret = \"123456789012\"\n"
                                    "password = \"x\"",
                                    memory_lun()),
                        "t.toml: target[0].chap.password: unknown key; allowed keys: user, "
                        "secret");
}

TEST(ConfigTest, WrongTypes) {
    EXPECT_CONFIG_ERROR("[[portal]]\nport = \"3260\"\n" + minimal,
                        "t.toml: portal[0].port: expected an integer, got a string");
    EXPECT_CONFIG_ERROR("io_threads = 1.5\n" + minimal,
                        "t.toml: io_threads: expected an integer, got a floating-point number");
    EXPECT_CONFIG_ERROR("[iscsi]\ninitial_r2t = \"yes\"\n" + minimal,
                        "t.toml: iscsi.initial_r2t: expected a boolean (true or false), got a "
                        "string");
    EXPECT_CONFIG_ERROR("iscsi = 3\n" + minimal, "t.toml: iscsi: expected a table, got an integer");
    EXPECT_CONFIG_ERROR("portal = \"0.0.0.0\"\n" + minimal,
                        "t.toml: portal: expected an array of tables ([[portal]]), got a string");
    EXPECT_CONFIG_ERROR(
        target_with("allowed_initiators = \"iqn.1993-08.org.debian:01:abc\"", memory_lun()),
        "t.toml: target[0].allowed_initiators: expected an array of strings, got "
        "a string");
    EXPECT_CONFIG_ERROR(target_with("allowed_initiators = [1]", memory_lun()),
                        "t.toml: target[0].allowed_initiators[0]: expected a string, got an "
                        "integer");
    EXPECT_CONFIG_ERROR(target_with("", memory_lun("read_only = 1")),
                        "t.toml: target[0].lun[0].read_only: expected a boolean (true or false), "
                        "got an integer");
    EXPECT_CONFIG_ERROR("io_threads = -1\n" + minimal,
                        "t.toml: io_threads: must be between 0 and 1024, got -1");
    EXPECT_CONFIG_ERROR("io_poll_us = 20000\n" + minimal,
                        "t.toml: io_poll_us: must be between 0 and 10000, got 20000");
    EXPECT_CONFIG_ERROR("worker_threads = 0\n" + minimal,
                        "t.toml: worker_threads: must be between 1 and 1024, got 0");
}

TEST(ConfigTest, TargetNameFormat) {
    const auto name_error = [](const std::string& name) {
        return error_of("[[target]]\nname = \"" + name + "\"\n[[target.lun]]\n" + memory_lun());
    };
    // Valid names (RFC 3720 §3.2.6.3).
    EXPECT_EQ(name_error("iqn.2026-11.org.atsarray"), "");
    EXPECT_EQ(name_error("iqn.2001-04.com.example:storage:diskarrays-sn-a8675309"), "");
    EXPECT_EQ(name_error("eui.02004567A425678D"), "");
    EXPECT_EQ(name_error("naa.52004567BA64678D"), "");
    EXPECT_EQ(name_error("naa.6001405abcdef0123456789abcdef012"), "");

    EXPECT_EQ(
        name_error("IQN.2026-11.org.atsarray:lab")
            .rfind("t.toml: target[0].name: invalid iSCSI name \"IQN.2026-11.org.atsarray:lab\"",
                   0),
        0u);
    EXPECT_EQ(name_error("iqn.2026-11.org.Atsarray:lab"),
              "t.toml: target[0].name: invalid iSCSI name \"iqn.2026-11.org.Atsarray:lab\": must "
              "be lowercase (names are compared after RFC 3722 normalization)");
    EXPECT_EQ(name_error("iqn.2026-13.org.atsarray:lab"),
              "t.toml: target[0].name: invalid iSCSI name \"iqn.2026-13.org.atsarray:lab\": month "
              "13 is not 01..12");
    EXPECT_EQ(name_error("iqn.26-11.org.atsarray:lab"),
              "t.toml: target[0].name: invalid iSCSI name \"iqn.26-11.org.atsarray:lab\": "
              "expected iqn.yyyy-mm.reversed.domain[:identifier] (RFC 3720 §3.2.6.3.1)");
    EXPECT_NE(name_error("iqn.2026-11:lab").find("expected iqn.yyyy-mm"), std::string::npos);
    EXPECT_NE(name_error("iqn.2026-11.org..atsarray").find("empty label"), std::string::npos);
    EXPECT_NE(name_error("iqn.2026-11.org.atsarray:").find("nothing after ':'"), std::string::npos);
    EXPECT_NE(name_error("iqn.2026-11.org.atsarray:a b").find("only a-z, 0-9"), std::string::npos);
    EXPECT_EQ(name_error("eui.02004567A425678"),
              "t.toml: target[0].name: invalid EUI name \"eui.02004567A425678\": expected eui. + "
              "16 hex digits");
    EXPECT_EQ(name_error("naa.52004567BA64678D0"),
              "t.toml: target[0].name: invalid NAA name \"naa.52004567BA64678D0\": expected naa. "
              "+ 16 or 32 hex digits");
    EXPECT_NE(name_error("eui.0200456XA425678D").find("invalid EUI name"), std::string::npos);
    EXPECT_NE(name_error("lab").find("invalid iSCSI name \"lab\": expected iqn."),
              std::string::npos);
    EXPECT_NE(name_error("iqn.2026-11.org.atsarray:" + std::string(220, 'x'))
                  .find("longer than 223 bytes"),
              std::string::npos);
    EXPECT_EQ(error_of("[[target]]\nalias = \"x\"\n[[target.lun]]\n" + memory_lun()),
              "t.toml: target[0].name: required key is missing");
}

TEST(ConfigTest, AllowedInitiatorsAreValidated) {
    EXPECT_CONFIG_ERROR_HAS(
        target_with("allowed_initiators = [\"iqn.1993-08.org.debian:01:abc\", \"bogus\"]",
                    memory_lun()),
        "t.toml: target[0].allowed_initiators[1]: invalid iSCSI name \"bogus\"");
    EXPECT_CONFIG_ERROR(target_with("allowed_initiators = [\"iqn.1993-08.org.debian:01:abc\", "
                                    "\"iqn.1993-08.org.debian:01:abc\"]",
                                    memory_lun()),
                        "t.toml: target[0].allowed_initiators[1]: duplicate initiator "
                        "\"iqn.1993-08.org.debian:01:abc\" (also target[0].allowed_initiators[0])");
    const DaemonConfig c = parse(target_with("allowed_initiators = []", memory_lun()));
    EXPECT_TRUE(c.targets[0].allowed_initiators.empty());
}

TEST(ConfigTest, DuplicateTargetNames) {
    EXPECT_CONFIG_ERROR(minimal + minimal,
                        "t.toml: target[1].name: duplicate target name "
                        "\"iqn.2026-11.org.atsarray:lab\" (also target[0].name)");
    // eui./naa. hex digits compare case-insensitively.
    const std::string eui =
        "[[target]]\nname = \"eui.02004567A425678D\"\n[[target.lun]]\n" + memory_lun() +
        "[[target]]\nname = \"eui.02004567a425678d\"\n[[target.lun]]\n" + memory_lun();
    EXPECT_CONFIG_ERROR_HAS(eui, "t.toml: target[1].name: duplicate target name");
}

TEST(ConfigTest, LunIds) {
    const std::string two = target_with("", memory_lun()) + "[[target.lun]]\n" + memory_lun();
    EXPECT_CONFIG_ERROR(two,
                        "t.toml: target[0].lun[1].id: duplicate LUN id 0 (also "
                        "target[0].lun[0])");
    EXPECT_CONFIG_ERROR(target_with("", "id = 16384\nbackend = \"memory\"\nsize = 4096"),
                        "t.toml: target[0].lun[0].id: must be between 0 and 16383, got 16384");
    EXPECT_CONFIG_ERROR(target_with("", "backend = \"memory\"\nsize = 4096"),
                        "t.toml: target[0].lun[0].id: required key is missing");
    // The same id in two targets is fine: LUNs are numbered per target.
    const std::string other =
        "[[target]]\nname = \"iqn.2026-11.org.atsarray:other\"\n"
        "[[target.lun]]\n" +
        memory_lun();
    EXPECT_EQ(error_of(minimal + other), "");
}

TEST(ConfigTest, TargetNeedsLuns) {
    EXPECT_CONFIG_ERROR("[[target]]\nname = \"iqn.2026-11.org.atsarray:lab\"\n",
                        "t.toml: target[0].lun: at least one [[target.lun]] is required");
    EXPECT_CONFIG_ERROR("[[target]]\nname = \"iqn.2026-11.org.atsarray:lab\"\nlun = 3\n",
                        "t.toml: target[0].lun: expected an array of tables ([[target.lun]]), "
                        "got an integer");
}

TEST(ConfigTest, NoTargetIsAnError) {
    EXPECT_CONFIG_ERROR("log_level = \"info\"\n",
                        "t.toml: target: at least one [[target]] is required");
    EXPECT_CONFIG_ERROR("", "t.toml: target: at least one [[target]] is required");
}

TEST(ConfigTest, SizeSuffixes) {
    const auto size_of = [](const std::string& size) {
        return parse(target_with("", "id = 0\nbackend = \"memory\"\nsize = " + size))
            .targets[0]
            .luns[0]
            .size_bytes;
    };
    EXPECT_EQ(size_of("4096"), 4096u);
    EXPECT_EQ(size_of("\"4096\""), 4096u);
    EXPECT_EQ(size_of("\"1KiB\""), 1024u);
    EXPECT_EQ(size_of("\"3MiB\""), 3u << 20);
    EXPECT_EQ(size_of("\"1 GiB\""), 1ull << 30);
    EXPECT_EQ(size_of("\"2TiB\""), 2ull << 40);
    EXPECT_EQ(size_of("\"1048576 KiB\""), 1ull << 30);

    const auto size_error = [](const std::string& size) {
        return error_of(target_with("", "id = 0\nbackend = \"memory\"\nsize = " + size));
    };
    const std::string bad = "expected bytes or a whole number with suffix KiB, MiB, GiB or TiB";
    EXPECT_EQ(size_error("\"1GB\""), "t.toml: target[0].lun[0].size: invalid size \"1GB\": " + bad);
    EXPECT_EQ(size_error("\"1.5GiB\""),
              "t.toml: target[0].lun[0].size: invalid size \"1.5GiB\": " + bad);
    EXPECT_EQ(size_error("\"GiB\""), "t.toml: target[0].lun[0].size: invalid size \"GiB\": " + bad);
    EXPECT_EQ(size_error("\"-1GiB\""),
              "t.toml: target[0].lun[0].size: invalid size \"-1GiB\": " + bad);
    EXPECT_EQ(size_error("0"), "t.toml: target[0].lun[0].size: must be greater than 0, got 0");
    EXPECT_EQ(size_error("-512"),
              "t.toml: target[0].lun[0].size: must be greater than 0, got -512");
    EXPECT_EQ(size_error("\"0MiB\""),
              "t.toml: target[0].lun[0].size: must be greater than 0, got \"0MiB\"");
    EXPECT_EQ(size_error("1.0"),
              "t.toml: target[0].lun[0].size: expected an integer or a string like \"1GiB\", "
              "got a floating-point number");
    EXPECT_EQ(size_error("\"8388608TiB\""),
              "t.toml: target[0].lun[0].size: size \"8388608TiB\" is too large");
    EXPECT_EQ(size_error("\"99999999999999999999999\""),
              "t.toml: target[0].lun[0].size: size \"99999999999999999999999\" is too large");
    EXPECT_EQ(error_of(target_with("", "id = 0\nbackend = \"memory\"")),
              "t.toml: target[0].lun[0].size: required key is missing");
}

TEST(ConfigTest, SizeAndBlockSize) {
    EXPECT_CONFIG_ERROR(target_with("", memory_lun()) + "[[target.lun]]\n" +
                            "id = 1\nbackend = \"memory\"\nsize = 4096\nblock_size = 1000\n",
                        "t.toml: target[0].lun[1].block_size: must be 512 or 4096, got 1000");
    EXPECT_CONFIG_ERROR(target_with("", "id = 0\nbackend = \"memory\"\nsize = 1000"),
                        "t.toml: target[0].lun[0].size: size 1000 is not a multiple of "
                        "block_size 512");
    EXPECT_CONFIG_ERROR(
        target_with("", "id = 0\nbackend = \"memory\"\nsize = 6144\nblock_size = 4096"),
        "t.toml: target[0].lun[0].size: size 6144 is not a multiple of block_size 4096");
}

TEST(ConfigTest, BackendAndPath) {
    EXPECT_CONFIG_ERROR(target_with("", "id = 0\nsize = 4096"),
                        "t.toml: target[0].lun[0].path: required for backend \"file\"");
    EXPECT_CONFIG_ERROR(target_with("", "id = 0\nbackend = \"file\"\npath = \"\"\nsize = 4096"),
                        "t.toml: target[0].lun[0].path: required for backend \"file\"");
    EXPECT_CONFIG_ERROR(target_with("", memory_lun("path = \"x.img\"")),
                        "t.toml: target[0].lun[0].path: not allowed for backend \"memory\" (it "
                        "keeps data in RAM)");
    EXPECT_CONFIG_ERROR(target_with("", "id = 0\nbackend = \"leveldb\"\nsize = 4096"),
                        "t.toml: target[0].lun[0].backend: must be \"file\", \"memory\", "
                        "\"rocksdb\" or \"rbd\", got \"leveldb\"");
    EXPECT_CONFIG_ERROR(
        target_with("", "id = 0\nbackend = \"rocksdb\"\npath = \"x\"\nsize = 4096"),
        "t.toml: target[0].lun[0].path: not allowed for backend \"rocksdb\" (its data lives in "
        "data_dir)");
    const std::string two = target_with("", "id = 0\npath = \"a.img\"\nsize = 4096") +
                            "[[target.lun]]\nid = 1\npath = \"./x/../a.img\"\nsize = 4096\n";
    EXPECT_CONFIG_ERROR(two,
                        "t.toml: target[0].lun[1].path: image \"/etc/atsarray/a.img\" is "
                        "already used by target[0].lun[0].path");
}

// `direct` (O_DIRECT) is a file-backend key: false unless set, refused elsewhere by name.
TEST(ConfigTest, DirectIsForFileLunsOnly) {
    const std::string file_lun = "id = 0\nbackend = \"file\"\npath = \"a.img\"\nsize = 4096\n";
    EXPECT_FALSE(parse(target_with("", file_lun)).targets[0].luns[0].direct);
    EXPECT_TRUE(parse(target_with("", file_lun + "direct = true")).targets[0].luns[0].direct);
    EXPECT_FALSE(parse(target_with("", file_lun + "direct = false")).targets[0].luns[0].direct);
    EXPECT_CONFIG_ERROR(target_with("", file_lun + "direct = 1"),
                        "t.toml: target[0].lun[0].direct: expected a boolean (true or false), "
                        "got an integer");
    EXPECT_CONFIG_ERROR(target_with("", memory_lun("direct = true")),
                        "t.toml: target[0].lun[0].direct: not allowed for backend \"memory\" "
                        "(O_DIRECT applies to image files)");
    const std::string rocksdb_lun = "id = 0\nbackend = \"rocksdb\"\nsize = 4096\n";
    EXPECT_CONFIG_ERROR(target_with("", rocksdb_lun + "direct = false"),
                        "t.toml: target[0].lun[0].direct: not allowed for backend \"rocksdb\" "
                        "(O_DIRECT applies to image files)");
}

TEST(ConfigTest, RocksDbLunsGetDataDirAndOptions) {
    const std::string rocksdb_lun = "id = 0\nbackend = \"rocksdb\"\nsize = \"8GiB\"";
    // Defaults: data_dir "data" next to the config, the [rocksdb] defaults.
    DaemonConfig c = parse(target_with("", rocksdb_lun));
    EXPECT_EQ(c.data_dir, "/etc/atsarray/data");
    const LunConfig& lun = c.targets[0].luns[0];
    EXPECT_EQ(lun.backend, BackendKind::rocksdb);
    EXPECT_EQ(lun.data_dir, "/etc/atsarray/data");
    EXPECT_TRUE(lun.path.empty());
    const RocksDbConfig defaults;
    EXPECT_EQ(lun.rocksdb.block_cache_bytes, 0u);  // "auto": sized to the machine
    EXPECT_EQ(lun.rocksdb.compression, defaults.compression);
    EXPECT_EQ(lun.rocksdb.background_jobs, 2u);
    EXPECT_EQ(lun.rocksdb.chunk_bytes, 4096u);

    c = parse("data_dir = \"../var/atsarray\"\n" + target_with("", rocksdb_lun) +
              "[rocksdb]\nblock_cache = \"256MiB\"\ncompression = \"zstd\"\n"
              "background_jobs = 4\nchunk_size = \"16KiB\"\n");
    EXPECT_EQ(c.data_dir, "/etc/var/atsarray");
    EXPECT_EQ(c.rocksdb.compression, RocksDbCompression::zstd);
    const LunConfig& tuned = c.targets[0].luns[0];
    EXPECT_EQ(tuned.data_dir, "/etc/var/atsarray");
    EXPECT_EQ(tuned.rocksdb.block_cache_bytes, 256ull << 20);
    EXPECT_EQ(tuned.rocksdb.compression, RocksDbCompression::zstd);
    EXPECT_EQ(tuned.rocksdb.background_jobs, 4u);
    EXPECT_EQ(tuned.rocksdb.chunk_bytes, 16384u);
    EXPECT_EQ(parse("data_dir = \"/srv/ats\"\n" + minimal).data_dir, "/srv/ats");
    EXPECT_EQ(parse(minimal + "[rocksdb]\nblock_cache = \"auto\"\n").rocksdb.block_cache_bytes, 0u);
}

TEST(ConfigTest, RocksDbKeysAreChecked) {
    EXPECT_CONFIG_ERROR("[rocksdb]\ncache = \"1GiB\"\n" + minimal,
                        "t.toml: rocksdb.cache: unknown key; allowed keys: block_cache, "
                        "compression, background_jobs, chunk_size");
    EXPECT_CONFIG_ERROR("[rocksdb]\ncompression = \"lzma\"\n" + minimal,
                        "t.toml: rocksdb.compression: must be one of lz4, zstd, snappy, none, got "
                        "\"lzma\"");
    EXPECT_CONFIG_ERROR("[rocksdb]\nchunk_size = 3000\n" + minimal,
                        "t.toml: rocksdb.chunk_size: must be a power of two from 512 to 1MiB, got "
                        "3000");
    EXPECT_CONFIG_ERROR("[rocksdb]\nchunk_size = \"2MiB\"\n" + minimal,
                        "t.toml: rocksdb.chunk_size: must be a power of two from 512 to 1MiB, got "
                        "2097152");
    EXPECT_CONFIG_ERROR("[rocksdb]\nbackground_jobs = 0\n" + minimal,
                        "t.toml: rocksdb.background_jobs: must be between 1 and 64, got 0");
    EXPECT_CONFIG_ERROR("[rocksdb]\nblock_cache = \"64KiB\"\n" + minimal,
                        "t.toml: rocksdb.block_cache: must be at least 1MiB, got 65536");
    EXPECT_CONFIG_ERROR_HAS("[rocksdb]\nblock_cache = \"lots\"\n" + minimal,
                            "t.toml: rocksdb.block_cache: invalid size \"lots\"");
    EXPECT_CONFIG_ERROR("rocksdb = 3\n" + minimal,
                        "t.toml: rocksdb: expected a table, got an integer");
    EXPECT_CONFIG_ERROR("data_dir = \"\"\n" + minimal, "t.toml: data_dir: must not be empty");
    EXPECT_CONFIG_ERROR("data_dir = 1\n" + minimal,
                        "t.toml: data_dir: expected a string, got an integer");
}

TEST(ConfigTest, RelativePathsResolveAgainstTheConfigFolder) {
    const auto path_of = [](const std::string& image, const std::string& base) {
        return parse(target_with("", "id = 0\npath = \"" + image + "\"\nsize = 4096"), base)
            .targets[0]
            .luns[0]
            .path;
    };
    EXPECT_EQ(path_of("data/lun0.img", "/etc/atsarray"), "/etc/atsarray/data/lun0.img");
    EXPECT_EQ(path_of("../images/lun0.img", "/etc/atsarray"), "/etc/images/lun0.img");
    EXPECT_EQ(path_of("/srv/lun0.img", "/etc/atsarray"), "/srv/lun0.img");
    EXPECT_EQ(path_of("data/lun0.img", "configs"), "configs/data/lun0.img");
    EXPECT_EQ(path_of("data/lun0.img", ""), "data/lun0.img");
}

TEST(ConfigTest, LoadConfigResolvesAgainstTheFilesFolder) {
    const auto dir =
        std::filesystem::temp_directory_path() / ("atsarray-config-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir / "etc");
    const auto file = dir / "etc" / "a.toml";
    {
        std::ofstream out(file);
        out << target_with("", "id = 0\npath = \"data/lun0.img\"\nsize = \"1MiB\"");
    }
    const DaemonConfig c = load_config(file.string());
    EXPECT_EQ(c.source_path, file.string());
    EXPECT_EQ(c.targets[0].luns[0].path, (dir / "etc" / "data" / "lun0.img").string());

    {
        std::ofstream out(file);
        out << "[[target]]\nname = \"bad\"\n";
    }
    try {
        (void)load_config(file.string());
        ADD_FAILURE() << "expected a ConfigError";
    } catch (const ConfigError& e) {
        EXPECT_EQ(std::string(e.what()).rfind(file.string() + ": target[0].name: ", 0), 0u)
            << e.what();
    }
    std::filesystem::remove_all(dir);
}

TEST(ConfigTest, MissingFileCannotBeRead) {
    try {
        (void)load_config("/nonexistent/atsarray.toml");
        ADD_FAILURE() << "expected a ConfigError";
    } catch (const ConfigError& e) {
        EXPECT_EQ(std::string(e.what()),
                  "cannot read /nonexistent/atsarray.toml: No such file or directory");
    }
    EXPECT_THROW((void)load_config(std::filesystem::temp_directory_path().string()), ConfigError);
}

TEST(ConfigTest, Portals) {
    EXPECT_CONFIG_ERROR("[[portal]]\nport = 0\n" + minimal,
                        "t.toml: portal[0].port: must be between 1 and 65535, got 0");
    EXPECT_CONFIG_ERROR("[[portal]]\nport = 65536\n" + minimal,
                        "t.toml: portal[0].port: must be between 1 and 65535, got 65536");
    EXPECT_CONFIG_ERROR(
        "[[portal]]\naddress = \"0.0.0.0\"\n[[portal]]\naddress = \"300.1.1.1\"\n" + minimal,
        "t.toml: portal[1].address: not an IPv4 or IPv6 address: \"300.1.1.1\"");
    EXPECT_CONFIG_ERROR("[[portal]]\naddress = \"localhost\"\n" + minimal,
                        "t.toml: portal[0].address: not an IPv4 or IPv6 address: \"localhost\"");
    EXPECT_CONFIG_ERROR("[[portal]]\n[[portal]]\nport = 3260\n" + minimal,
                        "t.toml: portal[1]: duplicate of portal[0] (0.0.0.0 port 3260)");
    const DaemonConfig c =
        parse("[[portal]]\naddress = \"::\"\n[[portal]]\nport = 3261\n" + minimal);
    ASSERT_EQ(c.portals.size(), 2u);
    EXPECT_EQ(c.portals[0].address, "::");
    EXPECT_EQ(c.portals[0].port, 3260);
    EXPECT_EQ(c.portals[1].address, "0.0.0.0");
    EXPECT_EQ(c.portals[1].port, 3261);
}

TEST(ConfigTest, ChapSecrets) {
    const auto chap = [](const std::string& secret) {
        return "[target.chap]\nuser = \"u\"\nsecret = \"" + secret + "\"";
    };
    EXPECT_CONFIG_ERROR(target_with(chap("short"), memory_lun()),
                        "t.toml: target[0].chap.secret: must be 12 to 255 bytes long (RFC 7143 "
                        "§9.2.1), got 5");
    EXPECT_CONFIG_ERROR(target_with(chap(std::string(256, 's')), memory_lun()),
                        "t.toml: target[0].chap.secret: must be 12 to 255 bytes long (RFC 7143 "
                        "§9.2.1), got 256");
    EXPECT_EQ(error_of(target_with(chap(std::string(12, 's')), memory_lun())), "");
    EXPECT_EQ(error_of(target_with(chap(std::string(255, 's')), memory_lun())), "");
    EXPECT_CONFIG_ERROR(target_with("[target.chap]\nsecret = \"123456789012\"", memory_lun()),
                        "t.toml: target[0].chap.user: required key is missing");
    EXPECT_CONFIG_ERROR(
        target_with("[target.chap]\nuser = \"\"\nsecret = \"123456789012\"", memory_lun()),
        "t.toml: target[0].chap.user: must be 1 to 255 printable ASCII "
        "characters");
    EXPECT_CONFIG_ERROR(
        target_with("[target.mutual_chap]\nuser = \"t\"\nsecret = \"targetsecret12\"",
                    memory_lun()),
        "t.toml: target[0].mutual_chap: requires [target.chap]: the initiator authenticates "
        "first, then the target");
    EXPECT_CONFIG_ERROR(
        target_with(chap("samesecret123") +
                        "\n[target.mutual_chap]\nuser = \"t\"\nsecret = \"samesecret123\"",
                    memory_lun()),
        "t.toml: target[0].mutual_chap.secret: must differ from chap.secret (RFC 7143 §9.2.1: "
        "one secret per direction)");
    EXPECT_CONFIG_ERROR("[iscsi.discovery_chap]\nuser = \"d\"\nsecret = \"tiny\"\n" + minimal,
                        "t.toml: iscsi.discovery_chap.secret: must be 12 to 255 bytes long (RFC "
                        "7143 §9.2.1), got 4");
    // Inline tables work as well as sections.
    const DaemonConfig c =
        parse(target_with("chap = { user = \"u\", secret = \"123456789012\" }", memory_lun()));
    ASSERT_TRUE(c.targets[0].chap.has_value());
    EXPECT_EQ(c.targets[0].chap->secret, "123456789012");
}

TEST(ConfigTest, IscsiLimits) {
    EXPECT_CONFIG_ERROR("[iscsi]\nfirst_burst_length = 2097152\n" + minimal,
                        "t.toml: iscsi.first_burst_length: must not exceed max_burst_length "
                        "(1048576), got 2097152 (RFC 7143 §13.14)");
    EXPECT_CONFIG_ERROR("[iscsi]\nmax_recv_data_segment_length = 511\n" + minimal,
                        "t.toml: iscsi.max_recv_data_segment_length: must be between 512 and "
                        "16777215, got 511");
    EXPECT_CONFIG_ERROR("[iscsi]\nmax_recv_data_segment_length = 16777216\n" + minimal,
                        "t.toml: iscsi.max_recv_data_segment_length: must be between 512 and "
                        "16777215, got 16777216");
    EXPECT_EQ(error_of("[iscsi]\nmax_recv_data_segment_length = 512\n" + minimal), "");
    EXPECT_EQ(error_of("[iscsi]\nmax_recv_data_segment_length = 16777215\n" + minimal), "");
    EXPECT_CONFIG_ERROR("[iscsi]\nqueue_depth = 0\n" + minimal,
                        "t.toml: iscsi.queue_depth: must be between 1 and 1024, got 0");
    EXPECT_CONFIG_ERROR("[iscsi]\nqueue_depth = 1025\n" + minimal,
                        "t.toml: iscsi.queue_depth: must be between 1 and 1024, got 1025");
    EXPECT_EQ(error_of("[iscsi]\nqueue_depth = 1024\n" + minimal), "");
}

TEST(ConfigTest, InquiryStrings) {
    EXPECT_CONFIG_ERROR(target_with("", memory_lun("vendor = \"ABCDEFGHI\"")),
                        "t.toml: target[0].lun[0].vendor: must be at most 8 characters, got 9 "
                        "(\"ABCDEFGHI\")");
    EXPECT_CONFIG_ERROR(target_with("", memory_lun("product = \"ABCDEFGHIJKLMNOPQ\"")),
                        "t.toml: target[0].lun[0].product: must be at most 16 characters, got "
                        "17 (\"ABCDEFGHIJKLMNOPQ\")");
    EXPECT_CONFIG_ERROR(target_with("", memory_lun("serial = \"123456789012345678901\"")),
                        "t.toml: target[0].lun[0].serial: must be at most 20 characters, got "
                        "21 (\"123456789012345678901\")");
    EXPECT_CONFIG_ERROR(target_with("", memory_lun("vendor = \"AC\\tME\"")),
                        "t.toml: target[0].lun[0].vendor: must be printable ASCII (0x20..0x7e)");
    EXPECT_CONFIG_ERROR(target_with("", memory_lun("product = \"DISK\u00e9\"")),
                        "t.toml: target[0].lun[0].product: must be printable ASCII (0x20..0x7e)");
    EXPECT_CONFIG_ERROR(target_with("", memory_lun("vendor = \"\"")),
                        "t.toml: target[0].lun[0].vendor: must not be empty");
    EXPECT_EQ(error_of(target_with("", memory_lun("vendor = \"ABCDEFGH\"\nproduct = "
                                                  "\"ABCDEFGHIJKLMNOP\"\nserial = "
                                                  "\"12345678901234567890\""))),
              "");
    const std::string two = target_with("", memory_lun("serial = \"S1\"")) +
                            "[[target.lun]]\nid = 1\nbackend = \"memory\"\nsize = 4096\n"
                            "serial = \"S1\"\n";
    EXPECT_CONFIG_ERROR(two,
                        "t.toml: target[0].lun[1].serial: serial \"S1\" is already used by "
                        "target[0].lun[0].serial");
}

TEST(ConfigTest, LogLevel) {
    EXPECT_CONFIG_ERROR("log_level = \"verbose\"\n" + minimal,
                        "t.toml: log_level: must be one of trace, debug, info, warn, error, got "
                        "\"verbose\"");
    for (const char* level : {"trace", "debug", "info", "warn", "error"}) {
        EXPECT_EQ(
            to_string(parse("log_level = \"" + std::string(level) + "\"\n" + minimal).log_level),
            level);
    }
}

TEST(ConfigTest, AtsLockStripes) {
    EXPECT_EQ(parse(minimal).ats.lock_stripes, 4096U);
    EXPECT_EQ(parse("[ats]\nlock_stripes = 256\n" + minimal).ats.lock_stripes, 256U);
    EXPECT_CONFIG_ERROR("[ats]\nlock_stripes = 1000\n" + minimal,
                        "t.toml: ats.lock_stripes: must be a power of two, got 1000");
    EXPECT_CONFIG_ERROR_HAS("[ats]\nlock_stripes = 0\n" + minimal, "ats.lock_stripes");
    EXPECT_CONFIG_ERROR_HAS("[ats]\nstripes = 64\n" + minimal, "stripes");
}

TEST(ConfigTest, MediumDelays) {
    const DaemonConfig c =
        parse(target_with("", memory_lun("read_delay_us = 1500\nwrite_delay_us = 20\n")));
    EXPECT_EQ(c.targets[0].luns[0].read_delay_us, 1500U);
    EXPECT_EQ(c.targets[0].luns[0].write_delay_us, 20U);
    EXPECT_EQ(parse(minimal).targets[0].luns[0].read_delay_us, 0U);
    EXPECT_CONFIG_ERROR_HAS(target_with("", memory_lun("read_delay_us = -1\n")), "read_delay_us");
    EXPECT_CONFIG_ERROR_HAS(target_with("", memory_lun("write_delay_us = 20000000\n")),
                            "write_delay_us");
}

TEST(ConfigTest, Console) {
    EXPECT_FALSE(parse(minimal).console.enabled);
    const DaemonConfig c = parse("[console]\nport = 9090\n" + minimal);
    EXPECT_TRUE(c.console.enabled);
    EXPECT_EQ(c.console.address, "127.0.0.1");
    EXPECT_EQ(c.console.port, 9090);
    EXPECT_TRUE(c.console.token.empty());
    EXPECT_CONFIG_ERROR("[console]\naddress = \"0.0.0.0\"\n" + minimal,
                        "t.toml: console.token: required when console.address is not a loopback "
                        "address (the console would be open to the network)");
    EXPECT_EQ(parse("[console]\naddress = \"0.0.0.0\"\ntoken = \"0123456789abcdef\"\n" + minimal)
                  .console.token,
              "0123456789abcdef");
    EXPECT_CONFIG_ERROR("[console]\ntoken = \"short\"\n" + minimal,
                        "t.toml: console.token: must be 16..256 characters");
    EXPECT_CONFIG_ERROR_HAS("[console]\ntoken = \"0123456789 abcdef\"\n" + minimal,
                            "printable ASCII without spaces");
    EXPECT_CONFIG_ERROR_HAS("[console]\naddress = \"localhost\"\n" + minimal,
                            "console.address: must be an IPv4 or IPv6 address");
    EXPECT_CONFIG_ERROR_HAS("[console]\nport = 0\n" + minimal, "console.port");
    // How long an ended session stays in the console's per-initiator views (issue 19).
    EXPECT_EQ(c.console.keep_ended_sessions_s, 60U);
    EXPECT_EQ(
        parse("[console]\nkeep_ended_sessions_s = 5\n" + minimal).console.keep_ended_sessions_s,
        5U);
    EXPECT_CONFIG_ERROR_HAS("[console]\nkeep_ended_sessions_s = 0\n" + minimal,
                            "console.keep_ended_sessions_s");
}

TEST(ConfigTest, FaultRulesAndPresets) {
    EXPECT_FALSE(parse(minimal).fault.enabled);
    const DaemonConfig c = parse(
        "[fault]\nenabled = true\npresets = [\"lost-ats-ack\"]\n[[fault.rule]]\nname = "
        "\"slow\"\naction = \"delay\"\ncommand = \"read\"\ndelay_ms = 50\nlun = 0\n" +
        minimal);
    ASSERT_EQ(c.fault.rules.size(), 2U);
    EXPECT_EQ(c.fault.rules[0].name, "slow");
    EXPECT_EQ(c.fault.rules[0].delay_ms, 50U);
    EXPECT_EQ(c.fault.rules[1].action, fault::Action::drop_status);
    EXPECT_CONFIG_ERROR_HAS("[fault]\n[[fault.rule]]\nname = \"x\"\naction = \"delay\"\n" + minimal,
                            "fault injection is off");
    EXPECT_CONFIG_ERROR_HAS(
        "[fault]\nenabled = true\n[[fault.rule]]\nname = \"x\"\naction = "
        "\"explode\"\n" +
            minimal,
        "fault.rule[0].action: must be one of");
    EXPECT_CONFIG_ERROR_HAS(
        "[fault]\nenabled = true\n[[fault.rule]]\nname = \"x\"\naction = "
        "\"false_miscompare\"\ncommand = \"read\"\n" +
            minimal,
        "applies to \"ats\" only");
    EXPECT_CONFIG_ERROR_HAS("[fault]\nenabled = true\npresets = [\"nope\"]\n" + minimal,
                            "unknown preset; known: esxi-heartbeat-timeout");
}

}  // namespace
}  // namespace atsarray::daemon

namespace atsarray::daemon {
namespace {

TEST(ConfigTest, MemoryBoundsOfConnections) {
    const DaemonConfig defaults = parse(minimal);
    EXPECT_EQ(defaults.iscsi.connection_buffer_bytes, 64ULL << 20);
    EXPECT_EQ(defaults.iscsi.buffer_budget_bytes, 1ULL << 30);
    EXPECT_EQ(defaults.iscsi.max_immediate_commands, 16U);
    EXPECT_EQ(defaults.iscsi.send_timeout_s, 30U);
    const DaemonConfig c = parse(
        "[iscsi]\nconnection_buffer = \"8MiB\"\nbuffer_budget = \"128MiB\"\n"
        "immediate_commands = 4\nsend_timeout = 5\n" +
        minimal);
    EXPECT_EQ(c.iscsi.connection_buffer_bytes, 8ULL << 20);
    EXPECT_EQ(c.iscsi.buffer_budget_bytes, 128ULL << 20);
    EXPECT_EQ(c.iscsi.max_immediate_commands, 4U);
    EXPECT_EQ(c.iscsi.send_timeout_s, 5U);
    EXPECT_CONFIG_ERROR("[iscsi]\nconnection_buffer = \"2GiB\"\n" + minimal,
                        "t.toml: iscsi.buffer_budget: must be at least iscsi.connection_buffer "
                        "(2147483648 bytes), got 1073741824");
    EXPECT_CONFIG_ERROR("[iscsi]\nimmediate_commands = 0\n" + minimal,
                        "t.toml: iscsi.immediate_commands: must be between 1 and 1024, got 0");
    EXPECT_CONFIG_ERROR_HAS("[iscsi]\nconnection_buffer = \"lots\"\n" + minimal,
                            "iscsi.connection_buffer: invalid size \"lots\"");
}

}  // namespace
}  // namespace atsarray::daemon

namespace atsarray::daemon {
namespace {

TEST(ConfigTest, ConnectionLimits) {
    const DaemonConfig defaults = parse(minimal);
    EXPECT_EQ(defaults.iscsi.max_connections, 1024U);
    EXPECT_EQ(defaults.iscsi.max_connections_per_initiator, 128U);
    const DaemonConfig c =
        parse("[iscsi]\nmax_connections = 16\nmax_connections_per_initiator = 4\n" + minimal);
    EXPECT_EQ(c.iscsi.max_connections, 16U);
    EXPECT_EQ(c.iscsi.max_connections_per_initiator, 4U);
    EXPECT_CONFIG_ERROR("[iscsi]\nmax_connections = 0\n" + minimal,
                        "t.toml: iscsi.max_connections: must be between 1 and 65535, got 0");
    EXPECT_CONFIG_ERROR(
        "[iscsi]\nmax_connections_per_initiator = 70000\n" + minimal,
        "t.toml: iscsi.max_connections_per_initiator: must be between 1 and 65535, got 70000");
}

TEST(ConfigTest, RequireMutualNeedsMutualChap) {
    const std::string chap = "[target.chap]\nuser = \"host1\"\nsecret = \"initiator-secret-1\"\n";
    const std::string mutual =
        "[target.mutual_chap]\nuser = \"array\"\nsecret = \"target-secret-22\"\n";
    EXPECT_FALSE(parse(target_with(chap + mutual, memory_lun())).targets[0].require_mutual);
    const DaemonConfig c =
        parse(target_with("require_mutual = true\n" + chap + mutual, memory_lun()));
    EXPECT_TRUE(c.targets[0].require_mutual);
    EXPECT_CONFIG_ERROR(target_with("require_mutual = true\n" + chap, memory_lun()),
                        "t.toml: target[0].require_mutual: requires [target.mutual_chap]: the "
                        "target needs a secret to authenticate itself");
    EXPECT_CONFIG_ERROR(target_with("require_mutual = true", memory_lun()),
                        "t.toml: target[0].require_mutual: requires [target.mutual_chap]: the "
                        "target needs a secret to authenticate itself");
    EXPECT_CONFIG_ERROR_HAS(target_with("require_mutual = \"yes\"", memory_lun()),
                            "target[0].require_mutual");
}

}  // namespace
}  // namespace atsarray::daemon
