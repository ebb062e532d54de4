/* SPDX-License-Identifier: MIT */
/*
 * Client liveness through pidfds: a pidfd becomes readable the moment its
 * process exits, SIGKILL included. All of them sit in one epoll set, so gsd
 * polls a single descriptor however many clients it serves.
 */
#pragma once

#include "common/model.hpp"
#include "gsd/unique_fd.hpp"

#include <sys/types.h>
#include <vector>

namespace gs::broker {

class PidWatch {
  public:
    PidWatch(); /* throws std::system_error */

    /* The epoll descriptor to poll for readability. */
    int fd() const { return epoll_.get(); }

    /* A pidfd for `pid`, watched under `client`; an empty UniqueFd (errno
     * set) when the process is already gone or pidfds are unavailable.
     * Closing the returned descriptor stops the watch. */
    UniqueFd watch(pid_t pid, ClientId client);
    /* Watches a pidfd the caller already has (peerPidfd); an empty UniqueFd
     * (errno set) when it cannot. */
    UniqueFd watch(UniqueFd pidfd, ClientId client);

    /* Stops watching a pidfd from watch(). Needed before closing it when a
     * copy of the descriptor may live on (a forked child's), which would
     * keep it in the epoll set. */
    void unwatch(const UniqueFd &pidfd);

    /* Clients whose process has exited since the last call. */
    std::vector<ClientId> exited();

  private:
    UniqueFd epoll_;
};

/* A pidfd for the process that connected the peer of a Unix socket
 * (SO_PEERPIDFD, Linux 6.5): the process itself, whatever has become of its
 * pid number since. An empty UniqueFd (errno set) when the kernel has none
 * (e.g. ENOPROTOOPT before 6.5). */
UniqueFd peerPidfd(int socketFd);

/* Whether the process of a pidfd has exited. */
bool processExited(const UniqueFd &pidfd);

/* What identifies the process of a pidfd for as long as gsd runs: its pidfs
 * inode (unique per process since Linux 6.9; two pidfds of one process share
 * it). 0 when unknown. */
uint64_t processIdentity(const UniqueFd &pidfd);

} // namespace gs::broker
