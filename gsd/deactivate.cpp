/* SPDX-License-Identifier: MIT */
#include "gsd/deactivate.hpp"

#include "ha_gs.h"

#include <cerrno>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <grp.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <system_error>
#include <unistd.h>

namespace gs::broker {

namespace {

/* The child between fork and exec. gsd has threads (ZeroMQ's), so only
 * async-signal-safe calls are allowed here: everything was prepared by the
 * parent. Exit status 126: the identity could not be taken; 127: exec
 * failed. */
[[noreturn]] void becomeScript(const DeactivateJob &job, bool switchUser, char *const argv[],
                               char *const envp[])
{
    /* Its own process group, so that a time-limit kill reaches whatever the
     * script started. */
    setpgid(0, 0);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; ++sig)
        sigaction(sig, &dfl, nullptr); /* fails harmlessly for SIGKILL, SIGSTOP */
    if (switchUser) {
        if (setgroups(job.groups.size(), job.groups.data()) != 0 || setgid(job.gid) != 0 ||
            setuid(job.uid) != 0)
            _exit(126);
        /* The switch must be complete and irreversible. */
        if (getuid() != job.uid || geteuid() != job.uid || getgid() != job.gid ||
            getegid() != job.gid || (job.uid != 0 && setuid(0) == 0))
            _exit(126);
    } else if (getuid() != job.uid || geteuid() != job.uid) {
        _exit(126);
    }
    if (chdir("/") != 0)
        _exit(126);
    const int null = open("/dev/null", O_RDWR);
    if (null < 0 || dup2(null, 0) < 0 || dup2(null, 1) < 0 || dup2(null, 2) < 0)
        _exit(126);
    /* Nothing of gsd's leaks into the script: not its socket, not the
     * pidfds of other clients. */
    syscall(SYS_close_range, 3u, ~0u, 0u);
    execve(job.script.c_str(), argv, envp);
    _exit(127);
}

std::vector<char *> pointers(std::vector<std::string> &strings)
{
    std::vector<char *> out;
    for (auto &s : strings)
        out.push_back(s.data());
    out.push_back(nullptr);
    return out;
}

} // namespace

bool canRunAs(uid_t uid)
{
    return geteuid() == 0 || geteuid() == uid;
}

DeactivateRunner::DeactivateRunner() : epoll_(epoll_create1(EPOLL_CLOEXEC))
{
    if (!epoll_)
        throw std::system_error(errno, std::generic_category(), "epoll_create1");
}

DeactivateRunner::~DeactivateRunner()
{
    stopAll();
}

bool DeactivateRunner::start(DeactivateId run, const DeactivateJob &job, std::string &error)
{
    if (!canRunAs(job.uid)) {
        error = "gsd (uid " + std::to_string(geteuid()) + ") cannot run it as uid " +
                std::to_string(job.uid);
        return false;
    }
    /* gsd as the client's own user keeps its groups: it may not change them. */
    const bool switchUser = geteuid() == 0;
    std::vector<std::string> args = {job.script, job.flag, job.group, std::to_string(job.instance),
                                     std::to_string(job.node)};
    std::vector<std::string> env = {
        "HA_GS_GROUP=" + job.group,
        "HA_GS_DEACTIVATE_FLAG=" + job.flag,
        "HA_GS_PROVIDER_INSTANCE=" + std::to_string(job.instance),
        "HA_GS_PROVIDER_NODE=" + std::to_string(job.node),
        "HA_GS_PROVIDER_PID=" + std::to_string(job.clientPid),
        "PATH=/usr/local/bin:/usr/bin:/bin",
    };
    const std::vector<char *> argv = pointers(args);
    const std::vector<char *> envp = pointers(env);

    const pid_t pid = fork();
    if (pid < 0) {
        error = std::string("fork: ") + std::strerror(errno);
        return false;
    }
    if (pid == 0)
        becomeScript(job, switchUser, argv.data(), envp.data());
    /* Also from the parent, so a kill right after start reaches the group. */
    setpgid(pid, pid);

    UniqueFd pidfd(static_cast<int>(syscall(SYS_pidfd_open, pid, 0)));
    epoll_event event{};
    event.events = EPOLLIN;
    event.data.u64 = run;
    if (!pidfd || epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, pidfd.get(), &event) != 0) {
        error = std::string("cannot watch the script: ") + std::strerror(errno);
        kill(-pid, SIGKILL);
        waitpid(pid, nullptr, 0); /* killed: returns at once */
        return false;
    }
    children_[run] = Child{pid, std::move(pidfd), false};
    return true;
}

void DeactivateRunner::stop(DeactivateId run)
{
    auto it = children_.find(run);
    if (it == children_.end() || it->second.stopped)
        return;
    it->second.stopped = true;
    kill(-it->second.pid, SIGKILL);
}

void DeactivateRunner::stopAll()
{
    for (auto &[run, child] : children_) {
        kill(-child.pid, SIGKILL);
        waitpid(child.pid, nullptr, 0);
    }
    children_.clear();
}

std::vector<std::pair<DeactivateId, uint32_t>> DeactivateRunner::finished()
{
    std::vector<std::pair<DeactivateId, uint32_t>> out;
    epoll_event events[64];
    const int count = epoll_wait(epoll_.get(), events, 64, 0);
    for (int i = 0; i < count; ++i) {
        auto it = children_.find(events[i].data.u64);
        if (it == children_.end())
            continue;
        int status = 0;
        const pid_t reaped = waitpid(it->second.pid, &status, WNOHANG);
        if (reaped == 0 || (reaped < 0 && errno == EINTR))
            continue; /* not reapable yet: the next turn */
        if (reaped < 0)
            status = -1; /* reaped elsewhere: its status is lost, count it a failure */
        epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, it->second.pidfd.get(), nullptr);
        /* A stopped run was decided by the engine already (time limit). */
        if (!it->second.stopped) {
            out.emplace_back(it->first, WIFEXITED(status) && WEXITSTATUS(status) == 0
                                            ? HA_GS_DEACTIVATE_SUCCESSFUL
                                            : HA_GS_DEACTIVATE_UNSUCCESSFUL);
        }
        children_.erase(it);
    }
    return out;
}

} // namespace gs::broker
