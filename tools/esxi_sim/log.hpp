#pragma once
// The simulator's log: one line per event in vmkernel.log's shape
// ("2026-11-03T10:00:00.123Z esx-01-2 HBX: ..."), written to a stream and optionally kept in
// memory (the tests look for the field's words in it). Shared by every host thread.

#include <cstdio>
#include <mutex>
#include <string>

namespace atsarray::sim {

class Log {
  public:
    // `out` may be nullptr (silent); `keep` also keeps every line in memory.
    explicit Log(std::FILE* out, bool keep = false) : out_(out), keep_(keep) {}

    void line(const std::string& host, const char* module, const char* format, ...)
        __attribute__((format(printf, 4, 5)));

    // Everything logged so far when `keep` is set.
    std::string text() const;

  private:
    std::FILE* out_;
    bool keep_;
    mutable std::mutex mutex_;
    std::string kept_;
};

}  // namespace atsarray::sim
