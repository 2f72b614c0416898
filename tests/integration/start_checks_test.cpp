// Start-up checks (issue 12, finding 3) and file modes (finding 5), on the real binary: a config
// whose paths cannot work ends the start with exit status 2 and a message naming the config file,
// the key and the problem, and leaves nothing behind; what a good start creates is the daemon
// user's alone (umask 0077 by default: files 0600, folders 0700).
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <string>

#include "tests/integration/daemon_process.hpp"

namespace atsarray::testing {
namespace {

namespace fs = std::filesystem;

constexpr const char* target_name = "iqn.2026-11.org.atsarray:start";

// Every path under `dir`, relative to it.
std::set<std::string> tree_of(const fs::path& dir) {
    std::set<std::string> out;
    for (const auto& entry : fs::recursive_directory_iterator(dir)) {
        out.insert(fs::relative(entry.path(), dir).string());
    }
    return out;
}

struct StartResult {
    int status = -1;
    std::string output;
};

// Writes `body` as dir/atsarray.toml (with a loopback portal) and runs the daemon on it; a config
// it accepts would keep running, so the test gives it no chance: every case here must be refused.
StartResult start_with(const fs::path& dir, const std::string& body) {
    const fs::path config = dir / "atsarray.toml";
    // The portal last: top-level keys of `body` (data_dir) must come before any table.
    std::ofstream(config) << body << "\n[[portal]]\naddress = \"127.0.0.1\"\nport = " << free_port()
                          << "\n";
    StartResult r;
    r.status = run_command(
        "timeout 20 " + std::string(ATSARRAY_BINARY) + " --config " + config.string(), r.output);
    return r;
}

std::string file_lun(const std::string& path, const std::string& size,
                     const std::string& extra = "") {
    return "[[target]]\nname = \"" + std::string(target_name) +
           "\"\n[[target.lun]]\nid = 0\nbackend = \"memory\"\nsize = \"1MiB\"\n"
           "[[target.lun]]\nid = 1\nbackend = \"file\"\npath = \"" +
           path + "\"\nsize = " + size + "\n" + extra;
}

std::string rocksdb_lun(const std::string& data_dir) {
    return "data_dir = \"" + data_dir + "\"\n[[target]]\nname = \"" + std::string(target_name) +
           "\"\n[[target.lun]]\nid = 0\nbackend = \"rocksdb\"\nsize = \"1MiB\"\n";
}

// Exit status 2, the config file, the key and the problem in the message, nothing created.
void expect_refused(const fs::path& dir, const std::string& body, const std::string& key,
                    const std::string& problem) {
    const std::set<std::string> before = tree_of(dir);
    const StartResult r = start_with(dir, body);
    EXPECT_EQ(r.status, 2) << r.output;
    const std::string config = (dir / "atsarray.toml").string();
    EXPECT_NE(r.output.find(config + ": " + key + ": "), std::string::npos)
        << "expected \"" << config << ": " << key << ": \" in: " << r.output;
    EXPECT_NE(r.output.find(problem), std::string::npos)
        << "expected \"" << problem << "\" in: " << r.output;
    std::set<std::string> after = tree_of(dir);
    after.erase("atsarray.toml");
    std::set<std::string> expected = before;
    expected.erase("atsarray.toml");
    EXPECT_EQ(after, expected) << "the refused start created or removed something";
}

TEST(StartChecks, ImageInAFolderThatDoesNotExistIsRefused) {
    TempDir dir;
    expect_refused(dir.path(), file_lun("luns/typo/lun1.img", "\"1MiB\""), "target[0].lun[1].path",
                   "folder " + (dir.path() / "luns/typo").string() + " does not exist");
    EXPECT_FALSE(fs::exists(dir.path() / "luns"));
}

TEST(StartChecks, ImagePathThatIsAFolderIsRefused) {
    TempDir dir;
    fs::create_directory(dir.path() / "images");
    expect_refused(dir.path(), file_lun("images", "\"1MiB\""), "target[0].lun[1].path",
                   (dir.path() / "images").string() + " is a folder, not an image file");
}

TEST(StartChecks, DataDirThatIsAFileIsRefused) {
    TempDir dir;
    std::ofstream(dir.path() / "state") << "not a folder\n";
    expect_refused(dir.path(), rocksdb_lun("state"), "data_dir",
                   (dir.path() / "state").string() + " is not a folder");
}

TEST(StartChecks, DataDirInAFolderThatDoesNotExistIsRefused) {
    // data_dir is made with its missing parents only inside the config's folder.
    TempDir dir;
    const fs::path outside = dir.path().parent_path() / (dir.path().filename().string() + "-typo");
    expect_refused(dir.path(), rocksdb_lun((outside / "data").string()), "data_dir",
                   "folder " + outside.string() + " does not exist");
    EXPECT_FALSE(fs::exists(outside));
}

TEST(StartChecks, SizeLargerThanAFileCanBeIsRefused) {
    TempDir dir;
    // 8191 TiB (8 PiB) passes the parser (below 2^63) but no ext4 or XFS file holds it.
    expect_refused(dir.path(), file_lun("lun1.img", "\"8191TiB\""), "target[0].lun[1].size",
                   "more than one file can hold on the file system of");
}

TEST(StartChecks, ImpossibleSizesAreRefusedByTheParser) {
    TempDir dir;
    // 8 EiB: past what a file offset (off_t) can address.
    expect_refused(dir.path(), file_lun("lun1.img", "\"8388608TiB\""), "target[0].lun[1].size",
                   "is too large");
    expect_refused(dir.path(), file_lun("lun1.img", "1000"), "target[0].lun[1].size",
                   "is not a multiple of block_size 512");
}

TEST(StartChecks, ReadOnlyLunWithoutItsImageIsRefused) {
    TempDir dir;
    expect_refused(dir.path(), file_lun("lun1.img", "\"1MiB\"", "read_only = true\n"),
                   "target[0].lun[1].path", "does not exist, and a read-only LUN needs its image");
}

TEST(StartChecks, ImageLargerThanTheSizeIsRefused) {
    TempDir dir;
    std::ofstream(dir.path() / "lun1.img").close();
    fs::resize_file(dir.path() / "lun1.img", 2 << 20);
    expect_refused(dir.path(), file_lun("lun1.img", "\"1MiB\""), "target[0].lun[1].size",
                   "1048576 bytes is smaller than the image");
    EXPECT_EQ(fs::file_size(dir.path() / "lun1.img"), 2u << 20);
}

// What a start creates (images, identities, RocksDB's database) has no group or other bits,
// whatever the umask of whoever started the daemon.
TEST(FileModes, EverythingTheDaemonCreatesIsTheOwnersAlone) {
    const mode_t old_mask = ::umask(0022);  // the usual login umask, inherited by the daemon
    fs::path root;
    std::set<std::string> made;
    {
        // data_dir is the default, "data" next to the config, made at start with the image in it.
        DaemonProcess d("[[target]]\nname = \"" + std::string(target_name) +
                        "\"\n[[target.lun]]\nid = 0\nbackend = \"rocksdb\"\nsize = \"1MiB\"\n"
                        "[[target.lun]]\nid = 1\nbackend = \"file\"\npath = \"data/lun1.img\"\n"
                        "size = \"1MiB\"\n");
        root = d.dir();
        EXPECT_EQ(d.stop(), 0) << d.log();
        for (const auto& entry : fs::recursive_directory_iterator(root)) {
            const std::string name = fs::relative(entry.path(), root).string();
            if (name == "atsarray.toml" || name == "daemon.log") {
                continue;  // written by the test, not the daemon
            }
            made.insert(name);
            struct stat st = {};
            ASSERT_EQ(::lstat(entry.path().c_str(), &st), 0) << name;
            EXPECT_EQ(st.st_mode & 077, 0u)
                << name << " has mode " << std::oct << (st.st_mode & 07777);
        }
    }
    ::umask(old_mask);
    EXPECT_TRUE(made.count("data/lun1.img")) << "the image was not created";
    EXPECT_TRUE(made.count("data/lun1.img.identity"));
    EXPECT_TRUE(made.count("data"));
    EXPECT_TRUE(made.count("data/rocksdb/CURRENT"));
    EXPECT_GT(made.size(), 6u);
}

}  // namespace
}  // namespace atsarray::testing
