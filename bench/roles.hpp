// SPDX-License-Identifier: MIT
/* roles - what a child process of bench_gs does. The parent starts this same
 * program as "bench_gs role NAME --child I --report-fd FD ..." (see
 * spawnRole) and learns about progress through Reports on the pipe. */
#pragma once

#include "harness.hpp"
#include "options.hpp"

#include <string>
#include <vector>

namespace bench {

/* Runs the role named in options.positional[1]; returns the exit code. */
int runRole(const Options &options);

/* Starts a child in `role` that reports to `pipe`. */
pid_t spawnRole(const std::string &role, int child, const ReportPipe &pipe,
                const std::vector<std::string> &args);

} // namespace bench
