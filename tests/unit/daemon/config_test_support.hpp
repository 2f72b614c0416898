#pragma once
// What the config tests share: the smallest valid config to append to, parsing from text, and
// checking the whole message of a ConfigError.

#include <string>

#include <gtest/gtest.h>

#include "target/daemon/config.hpp"

namespace atsarray::daemon {
namespace {

constexpr const char* lab = "iqn.2026-11.org.atsarray:lab";

// One target with one memory LUN: the smallest valid config; tests append to it or replace parts.
std::string target_with(const std::string& target_extra, const std::string& lun_body) {
    return "[[target]]\nname = \"" + std::string(lab) + "\"\n" + target_extra +
           "\n[[target.lun]]\n" + lun_body + "\n";
}

std::string memory_lun(const std::string& extra = "") {
    return "id = 0\nbackend = \"memory\"\nsize = \"1MiB\"\n" + extra;
}

const std::string minimal = target_with("", memory_lun());

DaemonConfig parse(const std::string& text, const std::string& base_dir = "/etc/atsarray") {
    return parse_config(text, "t.toml", base_dir);
}

// The whole message of the ConfigError `text` raises ("" if it parses).
std::string error_of(const std::string& text, const std::string& base_dir = "/etc/atsarray") {
    try {
        (void)parse(text, base_dir);
    } catch (const ConfigError& e) {
        return e.what();
    }
    return "";
}

#define EXPECT_CONFIG_ERROR(text, expected) EXPECT_EQ(error_of(text), expected)
#define EXPECT_CONFIG_ERROR_HAS(text, part)                                           \
    do {                                                                              \
        const std::string message_ = error_of(text);                                  \
        EXPECT_NE(message_.find(part), std::string::npos) << "message: " << message_; \
    } while (false)

}  // namespace
}  // namespace atsarray::daemon
