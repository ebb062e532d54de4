/* SPDX-License-Identifier: MIT */
#include "gsd/accept_guard.hpp"

#include <atomic>
#include <cerrno>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace gs::broker {

bool outOfDescriptors(int error);
int dropOne(int listener);

namespace {

std::atomic<int> spare{-1};
std::atomic<uint64_t> drops{0};

int openSpare()
{
    return ::open("/dev/null", O_RDONLY | O_CLOEXEC);
}

} // namespace

bool outOfDescriptors(int error)
{
    return error == EMFILE || error == ENFILE || error == ENOBUFS || error == ENOMEM;
}

/* Called after the system call failed: drops one waiting connection with
 * the spare descriptor, then reports ECONNABORTED. */
int dropOne(int listener)
{
    const int descriptor = spare.exchange(-1);
    if (descriptor >= 0) {
        ::close(descriptor);
        const int connection =
            static_cast<int>(syscall(SYS_accept4, listener, nullptr, nullptr, SOCK_CLOEXEC));
        if (connection >= 0) {
            ::close(connection);
            drops.fetch_add(1, std::memory_order_relaxed);
        }
        spare.store(openSpare());
    }
    errno = ECONNABORTED;
    return -1;
}

bool armAcceptGuard()
{
    if (spare.load() >= 0)
        return true;
    const int descriptor = openSpare();
    if (descriptor < 0)
        return false;
    int expected = -1;
    if (!spare.compare_exchange_strong(expected, descriptor))
        ::close(descriptor);
    return true;
}

uint64_t takeAcceptGuardDrops()
{
    return drops.exchange(0, std::memory_order_relaxed);
}

} // namespace gs::broker

/* The interposed functions (see accept_guard.hpp). */
extern "C" int accept4(int fd, sockaddr *address, socklen_t *length, int flags)
{
    const int connection = static_cast<int>(syscall(SYS_accept4, fd, address, length, flags));
    if (connection >= 0 || !gs::broker::outOfDescriptors(errno))
        return connection;
    return gs::broker::dropOne(fd);
}

extern "C" int accept(int fd, sockaddr *address, socklen_t *length)
{
    return accept4(fd, address, length, 0);
}
