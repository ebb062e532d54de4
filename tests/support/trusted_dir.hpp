/* SPDX-License-Identifier: MIT */
/* A temporary directory gsd accepts deactivate scripts from: it and every
 * directory above it owned by root or by this user and writable by nobody
 * else (so not under /tmp, whose files belong to whoever made them).
 * Removed at the end. */
#pragma once

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

namespace testing {

/* Whether `path` and each directory above it is owned by root or by this
 * user and not writable by its group or others. */
inline bool trustedChain(const std::filesystem::path &path)
{
    std::error_code error;
    std::filesystem::path at = std::filesystem::canonical(path, error);
    if (error)
        return false;
    for (;;) {
        struct stat st {};
        if (stat(at.c_str(), &st) != 0 || (st.st_uid != 0 && st.st_uid != geteuid()) ||
            (st.st_mode & (S_IWGRP | S_IWOTH)) != 0)
            return false;
        if (at == at.root_path())
            return true;
        at = at.parent_path();
    }
}

class TrustedDir {
  public:
    TrustedDir()
    {
        std::vector<std::string> bases = {"/run", "/var/lib", "/var/cache"};
        if (const char *home = std::getenv("HOME"))
            bases.emplace_back(home);
        for (const auto &base : bases) {
            if (access(base.c_str(), W_OK) != 0 || !trustedChain(base))
                continue;
            std::string templ = base + "/ha_gs-test-XXXXXX";
            if (mkdtemp(templ.data()) && chmod(templ.c_str(), 0755) == 0) {
                path_ = templ;
                return;
            }
        }
        throw std::runtime_error("no directory with a trusted chain to create scripts in");
    }
    ~TrustedDir()
    {
        std::error_code ignored;
        std::filesystem::remove_all(path_, ignored);
    }
    TrustedDir(const TrustedDir &) = delete;
    TrustedDir &operator=(const TrustedDir &) = delete;
    const std::string &path() const { return path_; }

  private:
    std::string path_;
};

} // namespace testing
