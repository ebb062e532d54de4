// SPDX-License-Identifier: MIT
/* roles - what a child process of bench_gs does. The parent starts this same
 * program as "bench_gs role NAME --child I --report-fd FD ..." (see
 * spawnRole) and learns about progress through Reports on the pipe. */
#pragma once

#include "harness.hpp"
#include <CLI/CLI.hpp>

#include <optional>
#include <string>
#include <vector>

namespace bench {

/* What "bench_gs role NAME ..." was asked to do; each role reads the
 * fields it needs (see addRoleOptions for the option names). */
struct RoleOptions {
    std::string role;
    int child = 0;
    int reportFd = -1;
    std::string group;
    std::vector<std::string> groups;
    long long groupCount = 1;
    long long flags = 0;
    bool each = false;
    /* Unset: subscribers wait for no count, bulk roles join none. */
    std::optional<long long> count;
    bool nPhase = false;
    short instance = 1;
    long long first = 0;
    int commandFd = -1;
};

/* Declares the options of the "role" subcommand on `app`, filling `options`. */
void addRoleOptions(CLI::App &app, RoleOptions &options);

/* Runs the role named in options.role; returns the exit code. */
int runRole(const RoleOptions &options);

/* Starts a child in `role` that reports to `pipe`. */
pid_t spawnRole(const std::string &role, int child, const ReportPipe &pipe,
                const std::vector<std::string> &args);

} // namespace bench
