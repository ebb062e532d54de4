/* SPDX-License-Identifier: MIT */
/* The raw ZeroMQ baseline's other end, shared by bench_floor and
 * bench_cluster: a ROUTER that sends every message back to its sender. */
#pragma once

#include <string>

namespace bench {

/* Binds `endpoint` and echoes until the process is killed. */
[[noreturn]] void runZmqEcho(const std::string &endpoint);

} // namespace bench
