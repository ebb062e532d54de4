// SPDX-License-Identifier: MIT
/* options - "--name value" and "--flag" arguments, for the benchmark
 * programs and the child roles they start. */
#pragma once

#include <map>
#include <stdexcept>
#include <string>
#include <vector>

namespace bench {

class Options {
  public:
    /* Words not starting with "--" are positional; "--name" takes the next
     * word as its value unless that starts with "--" too (then it is a flag). */
    Options(int argc, char **argv, int first)
    {
        for (int i = first; i < argc; i++) {
            const std::string word = argv[i];
            if (word.rfind("--", 0) != 0) {
                positional.push_back(word);
            } else if (i + 1 < argc && std::string(argv[i + 1]).rfind("--", 0) != 0) {
                named_[word.substr(2)] = argv[++i];
            } else {
                named_[word.substr(2)] = "";
            }
        }
    }
    bool has(const std::string &name) const { return named_.count(name) != 0; }
    std::string text(const std::string &name, const std::string &fallback) const
    {
        const auto it = named_.find(name);
        return it == named_.end() ? fallback : it->second;
    }
    long long number(const std::string &name, long long fallback) const
    {
        const auto it = named_.find(name);
        if (it == named_.end())
            return fallback;
        try {
            return std::stoll(it->second);
        } catch (const std::exception &) {
            throw std::runtime_error("--" + name + " needs a number, not '" + it->second + "'");
        }
    }
    std::vector<std::string> positional;

  private:
    std::map<std::string, std::string> named_;
};

} // namespace bench
