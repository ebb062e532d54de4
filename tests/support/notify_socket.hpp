/* SPDX-License-Identifier: MIT */
/* The service manager's end of sd_notify for tests of gsd as a service. */
#pragma once

#include <doctest/doctest.h>

#include <cstring>
#include <poll.h>
#include <string>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

namespace test_support {

/* The service manager's end of sd_notify: a datagram socket whose path goes
 * to gsd in NOTIFY_SOCKET. */
class NotifySocket {
  public:
    explicit NotifySocket(const std::string &path) : path_(path)
    {
        fd_ = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        REQUIRE(fd_ >= 0);
        sockaddr_un address{};
        address.sun_family = AF_UNIX;
        REQUIRE(path.size() < sizeof address.sun_path);
        std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
        REQUIRE(bind(fd_, reinterpret_cast<const sockaddr *>(&address), sizeof address) == 0);
    }
    ~NotifySocket()
    {
        close(fd_);
        unlink(path_.c_str());
    }
    NotifySocket(const NotifySocket &) = delete;
    NotifySocket &operator=(const NotifySocket &) = delete;

    /* The next message, or "" when none came within timeoutMs. */
    std::string receive(int timeoutMs)
    {
        pollfd ready{fd_, POLLIN, 0};
        if (poll(&ready, 1, timeoutMs) != 1)
            return "";
        char buffer[4096];
        const ssize_t n = recv(fd_, buffer, sizeof buffer, 0);
        return n > 0 ? std::string(buffer, static_cast<size_t>(n)) : "";
    }

  private:
    std::string path_;
    int fd_ = -1;
};

} // namespace test_support
