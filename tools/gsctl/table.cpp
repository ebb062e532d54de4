/* SPDX-License-Identifier: MIT */
#include "tools/gsctl/table.hpp"

#include <algorithm>

namespace gs::gsctl {

Table::Table(std::vector<std::string> headings) : headings_(std::move(headings)) {}

void Table::add(std::vector<std::string> row)
{
    row.resize(headings_.size());
    rows_.push_back(std::move(row));
}

std::string Table::render() const
{
    std::vector<size_t> width(headings_.size());
    for (size_t c = 0; c < headings_.size(); ++c) {
        width[c] = headings_[c].size();
        for (const auto &row : rows_)
            width[c] = std::max(width[c], row[c].size());
    }
    std::string out;
    const auto line = [&](const std::vector<std::string> &cells) {
        std::string text;
        for (size_t c = 0; c < cells.size(); ++c) {
            text += cells[c];
            if (c + 1 < cells.size())
                text += std::string(width[c] - cells[c].size() + 2, ' ');
        }
        out += text + "\n";
    };
    line(headings_);
    for (const auto &row : rows_)
        line(row);
    return out;
}

} // namespace gs::gsctl
