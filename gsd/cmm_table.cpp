/* SPDX-License-Identifier: MIT */
#include "gsd/cmm_table.hpp"

#include <charconv>
#include <fstream>
#include <sstream>
#include <unistd.h>
#include <vector>

namespace gs::broker {
namespace {

std::string hostName()
{
    char name[256] = {};
    if (gethostname(name, sizeof name - 1) != 0 || name[0] == '\0')
        return "localhost";
    return name;
}

bool parseNumber(const std::string &text, uint32_t &out)
{
    const char *end = text.data() + text.size();
    const auto [ptr, ec] = std::from_chars(text.data(), end, out);
    return ec == std::errc() && ptr == end;
}

void applyAttribute(const std::string &item, cmm::NodeConfig &row, const std::string &where)
{
    if (item == "eligible")
        row.eligible = true;
    else if (item == "frozen")
        row.frozen = true;
    else if (item == "excluded")
        row.excluded = true;
    else if (item == "disqualified")
        row.disqualified = true;
    else if (item == "synchro_needed")
        row.synchroNeeded = true;
    else if (item.rfind("addr=", 0) == 0)
        row.address = item.substr(5);
    else if (item.rfind("swload=", 0) == 0)
        row.softwareLoad = item.substr(7);
    else
        throw CmmTableError(where + ": unknown attribute '" + item + "'");
}

cmm::NodeTable readFile(const std::string &path)
{
    std::ifstream in(path);
    if (!in)
        throw CmmTableError("cannot read the CMM node table " + path);
    cmm::NodeTable table;
    std::string line;
    for (int number = 1; std::getline(in, line); ++number) {
        const std::string where = path + ":" + std::to_string(number);
        std::istringstream fields(line);
        std::vector<std::string> words;
        for (std::string word; fields >> word;)
            words.push_back(word);
        if (words.empty() || words[0][0] == '#')
            continue;
        if (words.size() != 4)
            throw CmmTableError(where + ": expected 'NodeId Domain_id Name Attributes', got " +
                                std::to_string(words.size()) + " fields");
        cmm::NodeConfig row;
        row.eligible = false;
        if (!parseNumber(words[0], row.id))
            throw CmmTableError(where + ": bad node id '" + words[0] + "'");
        if (!parseNumber(words[1], row.domain))
            throw CmmTableError(where + ": bad domain id '" + words[1] + "'");
        row.name = words[2];
        if (words[3] != "-") {
            std::istringstream items(words[3]);
            for (std::string item; std::getline(items, item, ',');)
                applyAttribute(item, row, where);
        }
        table.push_back(std::move(row));
    }
    if (table.empty())
        throw CmmTableError("the CMM node table " + path + " has no node");
    return table;
}

} // namespace

cmm::NodeTable loadCmmTable(const CmmTableSource &source)
{
    cmm::NodeTable table;
    if (source.file.empty()) {
        cmm::NodeConfig self;
        self.id = static_cast<cmm_nodeid_t>(source.node);
        self.name = hostName().substr(0, CMM_MAX_NAME_SIZE - 1);
        self.domain = 1;
        table.push_back(std::move(self));
    } else {
        table = readFile(source.file);
    }
    if (source.ineligible)
        for (cmm::NodeConfig &row : table)
            if (row.id == static_cast<cmm_nodeid_t>(source.node))
                row.eligible = false;
    if (const std::string why = cmm::validateTable(table); !why.empty())
        throw CmmTableError("unusable CMM node table" +
                            (source.file.empty() ? std::string() : " " + source.file) + ": " + why);
    return table;
}

} // namespace gs::broker
