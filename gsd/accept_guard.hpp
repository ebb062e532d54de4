/* SPDX-License-Identifier: MIT */
/*
 * libzmq 4.3.4 aborts the process when accept() on a listening socket fails
 * with EMFILE (ipc_listener.cpp asserts on errno), and its I/O thread
 * accepts connections as fast as they come, before gsd's loop can close the
 * excess. gsd keeps its descriptors within a plan (docs/security.md), but a
 * flood from many processes can outrun the loop; this is the last line.
 *
 * gsd defines accept() and accept4() itself; an executable's definitions
 * take precedence over libc's for the libraries it loads, libzmq included.
 * They call the system call; when it fails for lack of descriptors (or
 * memory), they take the waiting connection off the queue with a spare
 * descriptor kept for that, close it (the peer sees its connection closed)
 * and report ECONNABORTED, which libzmq tolerates. gsd never aborts for lack
 * of descriptors.
 */
#pragma once

#include <cstdint>

namespace gs::broker {

/* Opens the spare descriptor (idempotent); returns false when it cannot. */
bool armAcceptGuard();

/* Connections dropped by the guard since the last call. */
uint64_t takeAcceptGuardDrops();

} // namespace gs::broker
