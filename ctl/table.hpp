#pragma once
// Aligned text tables for people (the --json output is the API's own), and the number formats
// the commands share.

#include <cstdint>
#include <iosfwd>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace atsarray::ctl {

class Table {
  public:
    enum class Align { left, right };
    struct Column {
        std::string header;
        Align align = Align::left;
    };

    explicit Table(std::vector<Column> columns) : columns_(std::move(columns)) {}
    // One cell per column (missing cells are empty).
    void add_row(std::vector<std::string> cells) { rows_.push_back(std::move(cells)); }
    bool empty() const { return rows_.empty(); }
    // The header and the rows, columns two spaces apart, no trailing blanks.
    void print(std::ostream& out) const;

  private:
    std::vector<Column> columns_;
    std::vector<std::vector<std::string>> rows_;
};

// A JSON value as a cell: strings without quotes, null as "-", numbers as they are.
std::string cell(const nlohmann::json& value);
// 1073741824 -> "1.0 GiB", 512 -> "512 B".
std::string bytes(uint64_t n);
// Microseconds as milliseconds with two decimals ("0.42"), esxtop's unit for latency.
std::string ms(double us);
// A fraction as a percentage with one decimal ("2.5").
std::string percent(double fraction);
// A flag as yes/no.
std::string yes_no(const nlohmann::json& value);

}  // namespace atsarray::ctl
