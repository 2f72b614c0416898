#include "target/daemon/toml_reader.hpp"

#include <algorithm>

namespace atsarray::daemon {

std::string join_path(const std::string& prefix, std::string_view key) {
    if (prefix.empty()) {
        return std::string(key);
    }
    return prefix + "." + std::string(key);
}

std::string index_path(const std::string& prefix, size_t i) {
    return prefix + "[" + std::to_string(i) + "]";
}

std::string type_name(toml::node_type t) {
    switch (t) {
        case toml::node_type::string:
            return "a string";
        case toml::node_type::integer:
            return "an integer";
        case toml::node_type::floating_point:
            return "a floating-point number";
        case toml::node_type::boolean:
            return "a boolean";
        case toml::node_type::table:
            return "a table";
        case toml::node_type::array:
            return "an array";
        case toml::node_type::date:
            return "a date";
        case toml::node_type::time:
            return "a time";
        case toml::node_type::date_time:
            return "a date-time";
        case toml::node_type::none:
            break;
    }
    return "nothing";
}

void TomlReader::fail(const std::string& key_path, const std::string& what) const {
    throw ConfigError(origin_ + ": " + key_path + ": " + what);
}

void TomlReader::check_keys(const toml::table& table, const std::string& path,
                            std::initializer_list<std::string_view> allowed) const {
    for (const auto& [key, node] : table) {
        if (std::find(allowed.begin(), allowed.end(), key.str()) != allowed.end()) {
            continue;
        }
        std::string list;
        for (auto a : allowed) {
            list += list.empty() ? "" : ", ";
            list += a;
        }
        fail(join_path(path, key.str()), "unknown key; allowed keys: " + list);
    }
}

const toml::node* TomlReader::get_node(const toml::table& table, const std::string& path,
                                       std::string_view key, toml::node_type type,
                                       const std::string& expected) const {
    const toml::node* node = table.get(key);
    if (node == nullptr) {
        return nullptr;
    }
    if (node->type() != type) {
        fail(join_path(path, key), "expected " + expected + ", got " + type_name(node->type()));
    }
    return node;
}

std::optional<std::string> TomlReader::get_string(const toml::table& table, const std::string& path,
                                                  std::string_view key) const {
    const auto* node = get_node(table, path, key, toml::node_type::string, "a string");
    if (node == nullptr) {
        return std::nullopt;
    }
    return node->as_string()->get();
}

std::string TomlReader::require_string(const toml::table& table, const std::string& path,
                                       std::string_view key) const {
    auto value = get_string(table, path, key);
    if (!value) {
        fail(join_path(path, key), "required key is missing");
    }
    return *value;
}

bool TomlReader::get_bool(const toml::table& table, const std::string& path, std::string_view key,
                          bool fallback) const {
    const auto* node =
        get_node(table, path, key, toml::node_type::boolean, "a boolean (true or false)");
    if (node == nullptr) {
        return fallback;
    }
    return node->as_boolean()->get();
}

std::optional<uint64_t> TomlReader::get_optional_uint(const toml::table& table,
                                                      const std::string& path, std::string_view key,
                                                      uint64_t min, uint64_t max) const {
    const auto* node = get_node(table, path, key, toml::node_type::integer, "an integer");
    if (node == nullptr) {
        return std::nullopt;
    }
    const int64_t v = node->as_integer()->get();
    if (v < 0 || static_cast<uint64_t>(v) < min || static_cast<uint64_t>(v) > max) {
        fail(join_path(path, key), "must be between " + std::to_string(min) + " and " +
                                       std::to_string(max) + ", got " + std::to_string(v));
    }
    return static_cast<uint64_t>(v);
}

uint64_t TomlReader::get_uint(const toml::table& table, const std::string& path,
                              std::string_view key, uint64_t min, uint64_t max,
                              uint64_t fallback) const {
    return get_optional_uint(table, path, key, min, max).value_or(fallback);
}

const toml::table* TomlReader::get_table(const toml::table& table, const std::string& path,
                                         std::string_view key) const {
    const auto* node = get_node(table, path, key, toml::node_type::table, "a table");
    return node == nullptr ? nullptr : node->as_table();
}

std::vector<const toml::table*> TomlReader::get_table_array(const toml::table& table,
                                                            std::string_view key) const {
    std::vector<const toml::table*> tables;
    const toml::node* node = table.get(key);
    if (node == nullptr) {
        return tables;
    }
    const std::string expected = "an array of tables ([[" + std::string(key) + "]])";
    if (!node->is_array()) {
        fail(std::string(key), "expected " + expected + ", got " + type_name(node->type()));
    }
    const auto& array = *node->as_array();
    for (size_t i = 0; i < array.size(); ++i) {
        if (!array[i].is_table()) {
            fail(index_path(std::string(key), i),
                 "expected a table, got " + type_name(array[i].type()));
        }
        tables.push_back(array[i].as_table());
    }
    return tables;
}

}  // namespace atsarray::daemon
