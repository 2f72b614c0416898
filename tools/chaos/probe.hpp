#pragma once
// What the chaos command reads of the daemon from outside: its resident memory (/proc) and the
// gauges of its console's /metrics that return to rest when nothing runs.

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>

namespace atsarray::chaos {

// VmRSS of /proc/PID/status in bytes; nullopt when the process is gone.
std::optional<uint64_t> resident_bytes(pid_t pid);

// The unlabelled samples of GET http://host:port/metrics ("name value" lines); nullopt and a
// sentence in `error` when the console does not answer.
std::optional<std::map<std::string, double>> scrape_metrics(const std::string& host, uint16_t port,
                                                            std::string& error);

}  // namespace atsarray::chaos
