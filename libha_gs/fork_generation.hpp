/* SPDX-License-Identifier: MIT */
/*
 * Which side of fork() this process is on, without a system call.
 *
 * The library must notice that it runs in the child of a fork (the session
 * and its ZeroMQ objects belong to the parent). Asking getpid() on every
 * API call and after every callback cost a system call each time; this
 * number changes in the child of every fork() instead (a pthread_atfork
 * child handler), so the check is one load. A child made by a raw clone
 * system call runs no atfork handlers: like a vfork child, it must not call
 * the library.
 */
#pragma once

namespace gs::client {

/* 0 in the process that loaded the library; one more in each child of a
 * fork() from there on. */
unsigned forkGeneration();

} // namespace gs::client
