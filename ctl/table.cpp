#include "ctl/table.hpp"

#include <algorithm>
#include <cstdio>
#include <ostream>

namespace atsarray::ctl {

void Table::print(std::ostream& out) const {
    std::vector<size_t> width(columns_.size());
    for (size_t c = 0; c < columns_.size(); ++c) {
        width[c] = columns_[c].header.size();
        for (const auto& row : rows_) {
            if (c < row.size()) {
                width[c] = std::max(width[c], row[c].size());
            }
        }
    }
    const auto line = [&](const auto& text_of) {
        std::string text;
        for (size_t c = 0; c < columns_.size(); ++c) {
            const std::string value = text_of(c);
            const std::string pad(width[c] - std::min(width[c], value.size()), ' ');
            if (c > 0) {
                text += "  ";
            }
            text += columns_[c].align == Align::right ? pad + value : value + pad;
        }
        while (!text.empty() && text.back() == ' ') {
            text.pop_back();
        }
        out << text << '\n';
    };
    line([&](size_t c) { return columns_[c].header; });
    for (const auto& row : rows_) {
        line([&](size_t c) { return c < row.size() ? row[c] : std::string(); });
    }
}

std::string cell(const nlohmann::json& value) {
    if (value.is_null()) {
        return "-";
    }
    if (value.is_string()) {
        return value.get<std::string>();
    }
    if (value.is_boolean()) {
        return value.get<bool>() ? "yes" : "no";
    }
    return value.dump();
}

std::string bytes(uint64_t n) {
    static constexpr const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
    if (n < 1024) {
        return std::to_string(n) + " B";
    }
    double value = static_cast<double>(n);
    size_t unit = 0;
    while (value >= 1024 && unit + 1 < std::size(units)) {
        value /= 1024;
        ++unit;
    }
    char text[32];
    std::snprintf(text, sizeof text, "%.1f %s", value, units[unit]);
    return text;
}

std::string ms(double us) {
    char text[32];
    std::snprintf(text, sizeof text, "%.2f", us / 1000.0);
    return text;
}

std::string percent(double fraction) {
    char text[32];
    std::snprintf(text, sizeof text, "%.1f", fraction * 100.0);
    return text;
}

std::string yes_no(const nlohmann::json& value) {
    return value.is_boolean() ? (value.get<bool>() ? "yes" : "no") : "-";
}

}  // namespace atsarray::ctl
