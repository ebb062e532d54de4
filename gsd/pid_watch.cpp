/* SPDX-License-Identifier: MIT */
#include "gsd/pid_watch.hpp"

#include <cerrno>
#include <fcntl.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <system_error>
#include <unistd.h>

namespace gs::broker {

PidWatch::PidWatch() : epoll_(epoll_create1(EPOLL_CLOEXEC))
{
    if (!epoll_)
        throw std::system_error(errno, std::generic_category(), "epoll_create1");
}

UniqueFd PidWatch::watch(pid_t pid, ClientId client)
{
    /* glibc 2.36 has no pidfd_open wrapper everywhere; the syscall is stable
     * since Linux 5.3. pidfds are close-on-exec by definition. */
    return watch(UniqueFd(static_cast<int>(syscall(SYS_pidfd_open, pid, 0))), client);
}

UniqueFd PidWatch::watch(UniqueFd pidfd, ClientId client)
{
    if (!pidfd)
        return pidfd;
    epoll_event event{};
    event.events = EPOLLIN;
    event.data.u64 = client;
    if (epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, pidfd.get(), &event) != 0)
        return UniqueFd();
    return pidfd;
}

void PidWatch::unwatch(const UniqueFd &pidfd)
{
    if (pidfd)
        epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, pidfd.get(), nullptr);
}

std::vector<ClientId> PidWatch::exited()
{
    /* One batch per poll turn: the epoll fd stays readable while more exits
     * wait, so the next turn takes them. Looping here would spin forever,
     * since level-triggered epoll keeps returning the same ready entries
     * until their pidfds are unwatched. */
    epoll_event events[256];
    std::vector<ClientId> out;
    const int count = epoll_wait(epoll_.get(), events, 256, 0);
    for (int i = 0; i < count; ++i)
        out.push_back(events[i].data.u64);
    return out;
}

UniqueFd peerPidfd(int socketFd)
{
#ifndef SO_PEERPIDFD
    /* glibc's headers may lag the kernel's; the value is part of the ABI. */
    constexpr int SO_PEERPIDFD = 77;
#endif
    int pidfd = -1;
    socklen_t size = sizeof pidfd;
    if (getsockopt(socketFd, SOL_SOCKET, SO_PEERPIDFD, &pidfd, &size) != 0)
        return UniqueFd();
    /* The kernel makes it close-on-exec; say so anyway for older ones. */
    fcntl(pidfd, F_SETFD, FD_CLOEXEC);
    return UniqueFd(pidfd);
}

bool processExited(const UniqueFd &pidfd)
{
    pollfd item{pidfd.get(), POLLIN, 0};
    return ::poll(&item, 1, 0) != 0;
}

uint64_t processIdentity(const UniqueFd &pidfd)
{
    struct stat st {};
    if (!pidfd || fstat(pidfd.get(), &st) != 0)
        return 0;
    return st.st_ino;
}

} // namespace gs::broker
