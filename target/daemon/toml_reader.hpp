#pragma once
// Reading a TOML table with the config's messages: every getter checks the value's type and range
// and fails with ConfigError "<file>: <key path>: <what is wrong>" (config.hpp). The parsers of
// config.cpp and config_alua.cpp read through it.

#include <array>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <toml++/toml.h>

#include "target/daemon/config.hpp"
#include "target/daemon/config_schema.hpp"

namespace atsarray::daemon {

// "a.b" from "a" and "b"; "b" when the prefix is empty.
std::string join_path(const std::string& prefix, std::string_view key);
// "a[i]".
std::string index_path(const std::string& prefix, size_t i);
// "a string", "an integer"...: a TOML type in a message.
std::string type_name(toml::node_type t);

class TomlReader {
  public:
    explicit TomlReader(std::string origin) : origin_(std::move(origin)) {}
    const std::string& origin() const { return origin_; }

    [[noreturn]] void fail(const std::string& key_path, const std::string& what) const;

    void check_keys(const toml::table& table, const std::string& path,
                    std::initializer_list<std::string_view> allowed) const;

    const toml::node* get_node(const toml::table& table, const std::string& path,
                               std::string_view key, toml::node_type type,
                               const std::string& expected) const;

    std::optional<std::string> get_string(const toml::table& table, const std::string& path,
                                          std::string_view key) const;

    std::string require_string(const toml::table& table, const std::string& path,
                               std::string_view key) const;

    bool get_bool(const toml::table& table, const std::string& path, std::string_view key,
                  bool fallback) const;

    std::optional<uint64_t> get_optional_uint(const toml::table& table, const std::string& path,
                                              std::string_view key, uint64_t min,
                                              uint64_t max) const;

    uint64_t get_uint(const toml::table& table, const std::string& path, std::string_view key,
                      uint64_t min, uint64_t max, uint64_t fallback) const;

    const toml::table* get_table(const toml::table& table, const std::string& path,
                                 std::string_view key) const;

    // [[name]] sections: an array whose every element is a table.
    std::vector<const toml::table*> get_table_array(const toml::table& table,
                                                    std::string_view key) const;

    // A name from `table` (config_schema.hpp); anything else fails listing the names.
    template <typename Enum, size_t n>
    Enum get_choice(const std::string& value, const std::string& key_path,
                    const std::array<Choice<Enum>, n>& table) const {
        const std::optional<Enum> choice = value_in(table, value);
        if (!choice) {
            fail(key_path,
                 "must be one of " + comma_list(names_of(table)) + ", got " + in_quotes(value));
        }
        return *choice;
    }

  private:
    std::string origin_;  // the file, first in every message
};

}  // namespace atsarray::daemon
