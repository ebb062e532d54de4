/* SPDX-License-Identifier: MIT */
/*
 * The filesystem side of gsd's ipc:// endpoint: its directory, the lock that
 * makes gsd the only server of the endpoint, and the cleanup of both files.
 *
 * libzmq's ipc bind unlinks whatever file sits at the path, a live server's
 * socket included, so the exclusive flock on "<path>.lock" is what keeps a
 * second gsd from silently stealing the endpoint.
 *
 * Whoever can write the socket's directory can replace the socket, hold or
 * plant the lock file, or swap in a symbolic link for gsd (often root) to
 * follow. So gsd uses only a directory that it owns and that nobody else
 * may write, under ancestors nobody else may rename it in, reached only
 * through symbolic links that nobody else may change or replace, and it
 * names files only relative to that directory, never following a symbolic
 * link (docs/security.md, "The socket directory, the socket and the lock
 * file").
 */
#pragma once

#include "gsd/unique_fd.hpp"

#include <string>
#include <sys/types.h>

namespace gs::broker {

class IpcEndpoint {
  public:
    /* Validates the endpoint, walks its path from "/" checking every
     * directory and symbolic link on the way and creating missing
     * directories (mode 0755 so clients of other users can reach the
     * socket), checks the directory (above) and takes the lock. Throws
     * gs::BrokerError. */
    explicit IpcEndpoint(std::string endpoint);
    ~IpcEndpoint();
    IpcEndpoint(const IpcEndpoint &) = delete;
    IpcEndpoint &operator=(const IpcEndpoint &) = delete;

    const std::string &endpoint() const { return endpoint_; }
    const std::string &path() const { return path_; }

    /* For the lifetime of the returned object, files are created with mode
     * 0666: every local user may connect to the socket bound meanwhile;
     * whether they may talk is decided per connection from their
     * credentials. (A mode set after the bind would be set by path.) */
    class SocketMode {
      public:
        SocketMode();
        ~SocketMode();
        SocketMode(const SocketMode &) = delete;
        SocketMode &operator=(const SocketMode &) = delete;

      private:
        mode_t previous_;
    };
    SocketMode socketMode() const { return {}; }

    /* What to bind: the socket's name in the checked directory, reached
     * through its descriptor (/proc/self/fd/N/name), so that nothing done
     * to the path after the checks can make libzmq unlink or bind
     * elsewhere; clients connect by the path, which leads to the same
     * directory. Without /proc (or if that name is too long for a Unix
     * socket) the endpoint itself, whose links were checked. */
    std::string bindEndpoint() const;

    /* Once bound: checks that the path holds gsd's socket, mode 0666. */
    void bound();

    /* Removes the socket (if bound) and lock files, then drops the lock. */
    void release();

  private:
    std::string endpoint_;
    std::string path_;
    std::string directoryPath_;
    std::string socketName_; /* in directory_ */
    std::string lockName_;   /* in directory_ */
    UniqueFd directory_;
    UniqueFd lock_;
    bool bound_ = false;
};

} // namespace gs::broker
