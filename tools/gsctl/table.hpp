/* SPDX-License-Identifier: MIT */
/* A table for people: columns padded to their widest cell. */
#pragma once

#include <string>
#include <vector>

namespace gs::gsctl {

class Table {
  public:
    explicit Table(std::vector<std::string> headings);
    void add(std::vector<std::string> row);
    /* The headings and rows, two spaces between columns; nothing but the
     * headings when there are no rows. */
    std::string render() const;
    bool empty() const { return rows_.empty(); }

  private:
    std::vector<std::string> headings_;
    std::vector<std::vector<std::string>> rows_;
};

} // namespace gs::gsctl
