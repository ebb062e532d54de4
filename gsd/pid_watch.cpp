/* SPDX-License-Identifier: MIT */
#include "gsd/pid_watch.hpp"

#include <cerrno>
#include <sys/epoll.h>
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
    UniqueFd pidfd(static_cast<int>(syscall(SYS_pidfd_open, pid, 0)));
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

} // namespace gs::broker
