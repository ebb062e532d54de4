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

    /* Stops watching a pidfd from watch(). Needed before closing it when a
     * copy of the descriptor may live on (a forked child's), which would
     * keep it in the epoll set. */
    void unwatch(const UniqueFd &pidfd);

    /* Clients whose process has exited since the last call. */
    std::vector<ClientId> exited();

  private:
    UniqueFd epoll_;
};

} // namespace gs::broker
