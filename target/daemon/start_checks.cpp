#include "target/daemon/start_checks.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <string>
#include <system_error>

namespace atsarray::daemon {

namespace {

namespace fs = std::filesystem;

std::string errno_text(int e) {
    return std::generic_category().message(e);
}

// `inner` is `outer` or lies below it (lexically, both absolute or both relative).
bool is_within(const fs::path& inner, const fs::path& outer) {
    const fs::path a = inner.lexically_normal();
    const fs::path b = outer.lexically_normal();
    auto ai = a.begin();
    for (auto bi = b.begin(); bi != b.end(); ++bi, ++ai) {
        if (bi->empty()) {
            continue;  // the trailing "" of "dir/"
        }
        if (ai == a.end() || *ai != *bi) {
            return false;
        }
    }
    return true;
}

fs::path folder_of(const std::string& file) {
    fs::path folder = fs::path(file).parent_path();
    return folder.empty() ? fs::path(".") : folder;
}

// The folder the config file is in: data_dir's missing parents may be made only below it.
fs::path config_folder(const DaemonConfig& config) {
    std::error_code ec;
    return fs::absolute(config.source_path, ec).parent_path().lexically_normal();
}

// The LUN needs data_dir made: it keeps its data there (RocksDB), or its image's folder does not
// exist yet and is data_dir or one of the folders made for it.
bool needs_data_dir(const LunConfig& lun, const DaemonConfig& config) {
    if (lun.backend == BackendKind::rocksdb) {
        return true;
    }
    if (lun.backend != BackendKind::file || lun.read_only) {
        return false;
    }
    std::error_code ec;
    const fs::path folder = folder_of(lun.path);
    return !fs::exists(folder, ec) && is_within(config.data_dir, folder);
}

class StartChecks {
  public:
    explicit StartChecks(const DaemonConfig& config) : config_(config) {}

    void run() const {
        for (const TargetConfig& target : config_.targets) {
            for (const LunConfig& lun : target.luns) {
                if (needs_data_dir(lun, config_)) {
                    check_data_dir();
                }
                if (lun.backend == BackendKind::file) {
                    check_image(lun);
                }
            }
        }
    }

  private:
    [[noreturn]] void fail(const std::string& key, const std::string& what) const {
        throw ConfigError(config_.source_path + ": " + key + ": " + what);
    }

    // data_dir is made at start (create_data_dir) with its missing parents, but those only
    // below the config's folder: elsewhere a missing parent is more likely a typo than a plan.
    void check_data_dir() const {
        const fs::path dir(config_.data_dir);
        struct stat st = {};
        if (::stat(dir.c_str(), &st) == 0) {
            if (!S_ISDIR(st.st_mode)) {
                fail("data_dir", config_.data_dir + " is not a folder");
            }
            const fs::path database = dir / "rocksdb";
            if (::stat(database.c_str(), &st) == 0 && !S_ISDIR(st.st_mode)) {
                fail("data_dir", database.string() + " is not a folder");
            }
            return;
        }
        if (errno != ENOTDIR && errno != ENOENT) {
            fail("data_dir", config_.data_dir + ": " + errno_text(errno));
        }
        const fs::path base = config_folder(config_);
        for (fs::path p = dir.parent_path(); !p.empty(); p = p.parent_path()) {
            if (::stat(p.c_str(), &st) == 0) {
                if (!S_ISDIR(st.st_mode)) {
                    fail("data_dir", p.string() + " is not a folder");
                }
                return;
            }
            if (!is_within(p, base)) {
                fail("data_dir", "folder " + p.string() +
                                     " does not exist (atsarray makes data_dir, and its missing "
                                     "folders only inside the config's folder " +
                                     base.string() + ")");
            }
            if (p == p.parent_path()) {
                break;
            }
        }
    }

    void check_image(const LunConfig& lun) const {
        const std::string path_key = lun.key + ".path";
        const std::string size_key = lun.key + ".size";
        const fs::path folder = folder_of(lun.path);
        struct stat st = {};
        if (::stat(folder.c_str(), &st) != 0) {
            const int e = errno;
            if (e == ENOENT && needs_data_dir(lun, config_)) {
                return;  // data_dir, or a folder on its way, made at start (checked above)
            }
            if (e == ENOENT || e == ENOTDIR) {
                fail(path_key, "folder " + folder.string() +
                                   " does not exist (atsarray makes the image, never its folder: "
                                   "check the path)");
            }
            fail(path_key, "folder " + folder.string() + ": " + errno_text(e));
        }
        if (!S_ISDIR(st.st_mode)) {
            fail(path_key, folder.string() + " is not a folder");
        }
        if (::stat(lun.path.c_str(), &st) == 0) {
            if (S_ISDIR(st.st_mode)) {
                fail(path_key, lun.path + " is a folder, not an image file");
            }
            if (!S_ISREG(st.st_mode)) {
                fail(path_key, lun.path + " is not a regular file");
            }
            const auto existing = static_cast<uint64_t>(st.st_size);
            if (existing > lun.size_bytes) {
                fail(size_key, std::to_string(lun.size_bytes) +
                                   " bytes is smaller than the image " + lun.path + " (" +
                                   std::to_string(existing) + " bytes); shrinking would lose data");
            }
            if (existing < lun.size_bytes && lun.read_only) {
                fail(size_key, std::to_string(lun.size_bytes) + " bytes is larger than the image " +
                                   lun.path + " (" + std::to_string(existing) +
                                   " bytes), and a read-only LUN cannot grow it");
            }
            if (existing < lun.size_bytes) {
                check_size_fits(folder, lun, size_key);
            }
        } else if (errno != ENOENT) {
            fail(path_key, lun.path + ": " + errno_text(errno));
        } else if (lun.read_only) {
            fail(path_key, lun.path + " does not exist, and a read-only LUN needs its image");
        } else {
            check_size_fits(folder, lun, size_key);
        }
        // The identity, the reservations and the sanitize state are written beside the image.
        if (!lun.read_only && ::access(folder.c_str(), W_OK | X_OK) != 0) {
            fail(path_key, "folder " + folder.string() + " is not writable: " + errno_text(errno));
        }
    }

    // Images are thin (ftruncate), so the size is held against the largest file the file system
    // takes (ext4: 16 TiB with 4 KiB blocks), not against its free space. Tried on an unnamed
    // O_TMPFILE in the image's folder: nothing appears there, and it is gone on close.
    void check_size_fits(const fs::path& folder, const LunConfig& lun,
                         const std::string& size_key) const {
        const int fd = ::open(folder.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
        if (fd < 0) {
            return;  // a file system without O_TMPFILE: FileStore::open reports it
        }
        int rc = 0;
        do {
            rc = ::ftruncate(fd, static_cast<off_t>(lun.size_bytes));
        } while (rc != 0 && errno == EINTR);
        const int e = rc == 0 ? 0 : errno;
        ::close(fd);
        if (e == EFBIG || e == EINVAL) {
            fail(size_key, std::to_string(lun.size_bytes) +
                               " bytes is more than one file can hold on the file system of " +
                               folder.string());
        }
    }

    const DaemonConfig& config_;
};

}  // namespace

void check_start_paths(const DaemonConfig& config) {
    StartChecks(config).run();
}

void create_data_dir(const DaemonConfig& config) {
    for (const TargetConfig& target : config.targets) {
        for (const LunConfig& lun : target.luns) {
            if (!needs_data_dir(lun, config)) {
                continue;
            }
            std::error_code ec;
            fs::create_directories(config.data_dir, ec);
            if (ec) {
                throw ConfigError(config.source_path + ": data_dir: cannot create " +
                                  config.data_dir + ": " + ec.message());
            }
            return;
        }
    }
}

}  // namespace atsarray::daemon
