/* SPDX-License-Identifier: MIT */
/*
 * The filesystem side of gsd's ipc:// endpoint: its directory, the lock that
 * makes gsd the only server of the endpoint, and the cleanup of both files.
 *
 * libzmq's ipc bind unlinks whatever file sits at the path, a live server's
 * socket included, so the exclusive flock on "<path>.lock" is what keeps a
 * second gsd from silently stealing the endpoint.
 */
#pragma once

#include "gsd/unique_fd.hpp"

#include <string>

namespace gs::broker {

class IpcEndpoint {
  public:
    /* Validates the endpoint, creates missing directories (mode 0755 so
     * clients of other users can reach the socket) and takes the lock.
     * Throws gs::BrokerError. */
    explicit IpcEndpoint(std::string endpoint);
    ~IpcEndpoint();
    IpcEndpoint(const IpcEndpoint &) = delete;
    IpcEndpoint &operator=(const IpcEndpoint &) = delete;

    const std::string &endpoint() const { return endpoint_; }
    const std::string &path() const { return path_; }

    /* Once bound: every local user may connect (mode 0666); whether they
     * may talk is decided per connection from their credentials. */
    void bound();

    /* Removes the socket (if bound) and lock files, then drops the lock. */
    void release();

  private:
    std::string endpoint_;
    std::string path_;
    std::string lockPath_;
    UniqueFd lock_;
    bool bound_ = false;
};

} // namespace gs::broker
