#pragma once
// A fresh folder under the system temp dir per test, removed afterwards.

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <string>

namespace atsarray::backend::test {

class TempDir {
  public:
    TempDir() : TempDir(std::filesystem::temp_directory_path()) {}
    // Under `base` instead (O_DIRECT tests want a disk file system, and /tmp may be tmpfs).
    explicit TempDir(const std::filesystem::path& base) {
        static std::atomic<unsigned> counter{0};
        path_ = base / ("atsarray-backend-" + std::to_string(::getpid()) + "-" +
                        std::to_string(counter.fetch_add(1)));
        std::filesystem::create_directories(path_);
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path_, ec);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;

    std::string file(const std::string& name) const { return (path_ / name).string(); }

  private:
    std::filesystem::path path_;
};

}  // namespace atsarray::backend::test
