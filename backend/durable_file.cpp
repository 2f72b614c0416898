#include "backend/durable_file.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>

namespace atsarray::backend {

namespace {

int sync_path(const std::string& path, int flags) {
    const int fd = ::open(path.c_str(), flags | O_CLOEXEC);
    if (fd < 0) {
        return errno;
    }
    const int rc = ::fsync(fd) == 0 ? 0 : errno;
    ::close(fd);
    return rc;
}

// The folder holding `path`, synced so that a rename or unlink in it survives a crash.
int sync_folder_of(const std::string& path) {
    const std::string folder = std::filesystem::path(path).parent_path().string();
    return sync_path(folder.empty() ? "." : folder, O_RDONLY | O_DIRECTORY);
}

}  // namespace

int write_file_durably(const std::string& path, const std::string& contents) {
    const std::string tmp = path + ".tmp";
    // 0666: the process umask (the daemon's config, 0077 by default) decides who else may read.
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (fd < 0) {
        return errno;
    }
    int error = 0;
    for (size_t done = 0; error == 0 && done < contents.size();) {
        const ssize_t n = ::write(fd, contents.data() + done, contents.size() - done);
        if (n > 0) {
            done += static_cast<size_t>(n);
        } else if (n < 0 && errno != EINTR) {
            error = errno;
        } else if (n == 0) {
            error = EIO;
        }
    }
    if (error == 0 && ::fsync(fd) != 0) {
        error = errno;
    }
    if (::close(fd) != 0 && error == 0) {
        error = errno;
    }
    if (error == 0 && ::rename(tmp.c_str(), path.c_str()) != 0) {
        error = errno;
    }
    if (error != 0) {
        ::unlink(tmp.c_str());
        return error;
    }
    return sync_folder_of(path);
}

int remove_file_durably(const std::string& path) {
    if (::unlink(path.c_str()) != 0) {
        return errno == ENOENT ? 0 : errno;
    }
    return sync_folder_of(path);
}

}  // namespace atsarray::backend
