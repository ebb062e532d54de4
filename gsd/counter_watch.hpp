/* SPDX-License-Identifier: MIT */
/*
 * Counter responsiveness (HA_GS_COUNTER_RESPONSIVENESS): the application
 * changes a counter in its own memory; gsd reads it with process_vm_readv,
 * every interval, and again a response time limit later. A counter that did
 * not change between the two reads is a missed check, reported to the
 * engine exactly like an unanswered ping.
 *
 * gsd reads the counter itself rather than have the library report it: the
 * library has no thread of its own, so a value it sends could only come
 * from inside the application's calls, and a sampler thread would need a
 * connection of its own. The kernel's read needs no help from the client.
 */
#pragma once

#include <cstdint>
#include <string>
#include <sys/types.h>

namespace gs::broker {

/* The `length` bytes at `address` in process `pid`; on failure an empty
 * string and `error` = errno (EFAULT: a bad address; EPERM, ESRCH: gsd may
 * not read that process, or it is gone). */
std::string readCounter(pid_t pid, uint64_t address, int length, int &error);

} // namespace gs::broker
