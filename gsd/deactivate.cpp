/* SPDX-License-Identifier: MIT */
#include "gsd/deactivate.hpp"

#include "ha_gs.h"

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <grp.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <system_error>
#include <unistd.h>

namespace gs::broker {

namespace {

/* The epoll tag of the sweep timer; run ids count up from 1. */
constexpr uint64_t kSweepTag = ~uint64_t{0};
/* How often groups whose first process ended are looked at: the delay
 * before an empty group is let go. */
constexpr long kSweepIntervalNs = 200'000'000;

/* Why the child did not execute the script, sent to gsd through a pipe. */
enum class ScriptRefusal : int32_t {
    Identity = 1,  /* err */
    Setup,         /* err: working directory, standard descriptors */
    OpenDirectory, /* err */
    OpenScript,    /* err */
    NotRegular,
    ScriptOwner,       /* owner */
    ScriptWritable,    /* mode */
    DirectoryOwner,    /* owner, where */
    DirectoryWritable, /* mode, where */
    Exec,              /* err */
};

struct RefusalReport {
    ScriptRefusal reason{};
    int32_t err = 0;
    uint32_t owner = 0;
    uint32_t mode = 0;
    char where[HA_GS_MAX_DEACTIVATE_SCRIPT_LENGTH + 1] = {}; /* a directory's path */
};

/* What the child needs, prepared by the parent: between fork and exec only
 * async-signal-safe calls are allowed (gsd has ZeroMQ threads). */
struct ChildPlan {
    const DeactivateJob *job = nullptr;
    bool switchUser = false;
    const char *directory = nullptr; /* of the script, as named */
    const char *name = nullptr;      /* the script's last component */
    char *const *argv = nullptr;
    char *const *envp = nullptr;
    int report = -1; /* write end of the refusal pipe */
};

[[noreturn]] void refuse(int report, RefusalReport &r, int status)
{
    [[maybe_unused]] const ssize_t ignored = write(report, &r, sizeof r);
    _exit(status);
}

[[noreturn]] void refuse(int report, ScriptRefusal reason, int err, int status)
{
    RefusalReport r;
    r.reason = reason;
    r.err = err;
    refuse(report, r, status);
}

/* The path of open descriptor `fd`, for the report ("" if /proc cannot
 * tell); async-signal-safe. */
void describe(int fd, char *out, size_t size)
{
    char link[32] = "/proc/self/fd/";
    char digits[12];
    int n = 0;
    for (unsigned v = static_cast<unsigned>(fd); n == 0 || v != 0; v /= 10)
        digits[n++] = static_cast<char>('0' + v % 10);
    size_t at = std::strlen(link);
    while (n > 0)
        link[at++] = digits[--n];
    link[at] = '\0';
    const ssize_t length = readlink(link, out, size - 1);
    out[length > 0 ? length : 0] = '\0';
}

bool trustedOwner(const struct stat &st, uid_t uid)
{
    return st.st_uid == 0 || st.st_uid == uid;
}

bool writableByOthers(const struct stat &st)
{
    return (st.st_mode & (S_IWGRP | S_IWOTH)) != 0;
}

/* Opens the script the client named and checks it and every directory up
 * to /: a regular file, itself and each directory owned by root or by the
 * client's user and writable by nobody else. Returns the descriptor to
 * execute; refuses (and exits) otherwise. The descriptor stays open across
 * exec: the interpreter of a "#!" script reads the script through it. */
int openTrustedScript(const ChildPlan &plan)
{
    const uid_t uid = plan.job->uid;
    int directory = open(plan.directory, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (directory < 0)
        refuse(plan.report, ScriptRefusal::OpenDirectory, errno, 127);
    /* O_PATH: no open side effect (a FIFO, a device); O_NOFOLLOW: the file
     * named, not where a link points. */
    const int script = openat(directory, plan.name, O_PATH | O_NOFOLLOW);
    if (script < 0)
        refuse(plan.report, ScriptRefusal::OpenScript, errno, 127);
    struct stat st {};
    if (fstat(script, &st) != 0)
        refuse(plan.report, ScriptRefusal::OpenScript, errno, 127);
    if (S_ISLNK(st.st_mode))
        refuse(plan.report, ScriptRefusal::OpenScript, ELOOP, 127);
    RefusalReport r;
    r.owner = st.st_uid;
    r.mode = st.st_mode & 07777;
    if (!S_ISREG(st.st_mode)) {
        r.reason = ScriptRefusal::NotRegular;
        refuse(plan.report, r, 127);
    }
    if (!trustedOwner(st, uid)) {
        r.reason = ScriptRefusal::ScriptOwner;
        refuse(plan.report, r, 127);
    }
    if (writableByOthers(st)) {
        r.reason = ScriptRefusal::ScriptWritable;
        refuse(plan.report, r, 127);
    }
    /* Up through "..", the directories that really hold it (a symbolic
     * link in the path was resolved by the open), each held open. */
    if (fstat(directory, &st) != 0)
        refuse(plan.report, ScriptRefusal::OpenDirectory, errno, 127);
    for (;;) {
        if (!trustedOwner(st, uid) || writableByOthers(st)) {
            r.reason = trustedOwner(st, uid) ? ScriptRefusal::DirectoryWritable
                                             : ScriptRefusal::DirectoryOwner;
            r.owner = st.st_uid;
            r.mode = st.st_mode & 07777;
            describe(directory, r.where, sizeof r.where);
            refuse(plan.report, r, 127);
        }
        const int parent = openat(directory, "..", O_PATH | O_DIRECTORY | O_CLOEXEC);
        struct stat above {};
        if (parent < 0 || fstat(parent, &above) != 0)
            refuse(plan.report, ScriptRefusal::OpenDirectory, errno, 127);
        close(directory);
        directory = parent;
        if (above.st_dev == st.st_dev && above.st_ino == st.st_ino)
            break; /* "/" is its own parent */
        st = above;
    }
    close(directory);
    return script;
}

/* The child between fork and exec. Exit status 126: the identity could not
 * be taken; 127: the script was refused or exec failed. */
[[noreturn]] void becomeScript(const ChildPlan &plan)
{
    const DeactivateJob &job = *plan.job;
    /* Its own session and process group: a kill of the group reaches
     * whatever the script started, and nothing it starts is in gsd's. */
    setsid();
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; ++sig)
        sigaction(sig, &dfl, nullptr); /* fails harmlessly for SIGKILL, SIGSTOP */
    /* The report descriptor moves to 3, out of the way of 0-2. */
    const int report = fcntl(plan.report, F_DUPFD_CLOEXEC, 3);
    if (report < 0)
        _exit(126);
    if (plan.switchUser) {
        if (setgroups(job.groups.size(), job.groups.data()) != 0 || setgid(job.gid) != 0 ||
            setuid(job.uid) != 0)
            refuse(report, ScriptRefusal::Identity, errno, 126);
        /* The switch must be complete and irreversible. */
        if (getuid() != job.uid || geteuid() != job.uid || getgid() != job.gid ||
            getegid() != job.gid || (job.uid != 0 && setuid(0) == 0))
            refuse(report, ScriptRefusal::Identity, EPERM, 126);
    } else if (getuid() != job.uid || geteuid() != job.uid) {
        refuse(report, ScriptRefusal::Identity, EPERM, 126);
    }
    if (chdir("/") != 0)
        refuse(report, ScriptRefusal::Setup, errno, 126);
    const int null = open("/dev/null", O_RDWR);
    if (null < 0 || dup2(null, 0) < 0 || dup2(null, 1) < 0 || dup2(null, 2) < 0)
        refuse(report, ScriptRefusal::Setup, errno, 126);
    if (report != 3 && (dup2(report, 3) < 0 || fcntl(3, F_SETFD, FD_CLOEXEC) != 0))
        _exit(126);
    /* Nothing of gsd's leaks into the script: not its socket, not the
     * pidfds of other clients. */
    syscall(SYS_close_range, 4u, ~0u, 0u);
    ChildPlan moved = plan;
    moved.report = 3;
    const int script = openTrustedScript(moved);
    fexecve(script, plan.argv, plan.envp);
    refuse(3, ScriptRefusal::Exec, errno, 127);
}

std::vector<char *> pointers(std::vector<std::string> &strings)
{
    std::vector<char *> out;
    for (auto &s : strings)
        out.push_back(s.data());
    out.push_back(nullptr);
    return out;
}

std::string modeOctal(uint32_t mode)
{
    char text[16];
    std::snprintf(text, sizeof text, "0%o", mode);
    return text;
}

/* What the log says about a refused script. */
std::string explain(const RefusalReport &r, uid_t uid)
{
    const std::string trusted = ", neither root nor uid " + std::to_string(uid);
    const std::string where = r.where[0] ? std::string(r.where) : std::string("above it");
    switch (r.reason) {
    case ScriptRefusal::Identity:
        return std::string("cannot become the client's user: ") + std::strerror(r.err);
    case ScriptRefusal::Setup:
        return std::string("cannot prepare its process: ") + std::strerror(r.err);
    case ScriptRefusal::OpenDirectory:
        return std::string("cannot open its directories: ") + std::strerror(r.err);
    case ScriptRefusal::OpenScript:
        if (r.err == ELOOP)
            return "it is a symbolic link";
        return std::string("cannot open it: ") + std::strerror(r.err);
    case ScriptRefusal::NotRegular:
        return "it is not a regular file";
    case ScriptRefusal::ScriptOwner:
        return "it is owned by uid " + std::to_string(r.owner) + trusted;
    case ScriptRefusal::ScriptWritable:
        return "it is writable by its group or others (mode " + modeOctal(r.mode) + ")";
    case ScriptRefusal::DirectoryOwner:
        return "directory " + where + " is owned by uid " + std::to_string(r.owner) + trusted;
    case ScriptRefusal::DirectoryWritable:
        return "directory " + where + " is writable by its group or others (mode " +
               modeOctal(r.mode) + ")";
    case ScriptRefusal::Exec:
        return std::string("cannot execute it: ") + std::strerror(r.err);
    }
    return "refused";
}

} // namespace

bool canRunAs(uid_t uid)
{
    return geteuid() == 0 || geteuid() == uid;
}

DeactivateRunner::DeactivateRunner()
    : epoll_(epoll_create1(EPOLL_CLOEXEC)),
      sweepTimer_(timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC))
{
    if (!epoll_)
        throw std::system_error(errno, std::generic_category(), "epoll_create1");
    if (!sweepTimer_)
        throw std::system_error(errno, std::generic_category(), "timerfd_create");
    epoll_event event{};
    event.events = EPOLLIN;
    event.data.u64 = kSweepTag;
    if (epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, sweepTimer_.get(), &event) != 0)
        throw std::system_error(errno, std::generic_category(), "epoll_ctl");
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
    if (job.script.empty() || job.script.front() != '/') {
        error = "the script's path is not absolute";
        return false;
    }
    /* gsd as the client's own user keeps its groups: it may not change them. */
    const bool switchUser = geteuid() == 0;
    const size_t slash = job.script.rfind('/');
    const std::string directory = slash == 0 ? "/" : job.script.substr(0, slash);
    const std::string name = job.script.substr(slash + 1);
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
    int refusalPipe[2];
    if (pipe2(refusalPipe, O_CLOEXEC | O_NONBLOCK) != 0) {
        error = std::string("pipe: ") + std::strerror(errno);
        return false;
    }
    UniqueFd refusal(refusalPipe[0]);
    UniqueFd report(refusalPipe[1]);

    const pid_t pid = fork();
    if (pid < 0) {
        error = std::string("fork: ") + std::strerror(errno);
        return false;
    }
    if (pid == 0)
        becomeScript(ChildPlan{&job, switchUser, directory.c_str(), name.c_str(), argv.data(),
                               envp.data(), report.get()});
    /* No setpgid from here: the child's setsid would fail on a process that
     * already leads a group. Until it runs, stop() kills the child itself. */
    report.reset();

    UniqueFd pidfd(static_cast<int>(syscall(SYS_pidfd_open, pid, 0)));
    epoll_event event{};
    event.events = EPOLLIN;
    event.data.u64 = run;
    if (!pidfd || epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, pidfd.get(), &event) != 0) {
        error = std::string("cannot watch the script: ") + std::strerror(errno);
        kill(-pid, SIGKILL);
        kill(pid, SIGKILL);
        waitpid(pid, nullptr, 0); /* killed: returns at once */
        return false;
    }
    Run &r = runs_[run];
    r.pid = pid;
    r.pidfd = std::move(pidfd);
    r.refusal = std::move(refusal);
    r.deadline = Clock::now() + std::chrono::seconds(job.seconds);
    r.script = job.script;
    r.uid = job.uid;
    return true;
}

void DeactivateRunner::killGroup(const Run &run)
{
    kill(-run.pid, SIGKILL);
    /* Before its setsid the first process is not a group yet; once reaped
     * its pid is no longer ours to signal. */
    if (!run.reaped)
        kill(run.pid, SIGKILL);
}

void DeactivateRunner::stop(DeactivateId run)
{
    auto it = runs_.find(run);
    if (it == runs_.end() || it->second.stopped)
        return;
    killGroup(it->second);
    if (it->second.reaped) {
        runs_.erase(it);
        armSweep();
        return;
    }
    it->second.stopped = true;
}

void DeactivateRunner::stopAll()
{
    for (auto &[id, run] : runs_) {
        killGroup(run);
        if (!run.reaped)
            waitpid(run.pid, nullptr, 0);
    }
    runs_.clear();
    armSweep();
}

void DeactivateRunner::armSweep()
{
    bool lingering = false;
    for (const auto &[id, run] : runs_)
        lingering = lingering || run.reaped;
    itimerspec spec{};
    if (lingering)
        spec.it_value.tv_nsec = spec.it_interval.tv_nsec = kSweepIntervalNs;
    timerfd_settime(sweepTimer_.get(), 0, &spec, nullptr);
}

void DeactivateRunner::sweep()
{
    const auto now = Clock::now();
    for (auto it = runs_.begin(); it != runs_.end();) {
        const Run &run = it->second;
        /* The group's id stays reserved while it has a member: only once it
         * is empty could the number name somebody else's group. */
        const bool empty = run.reaped && kill(-run.pid, 0) != 0 && errno == ESRCH;
        if (run.reaped && !empty && now >= run.deadline)
            killGroup(run);
        if (run.reaped && (empty || now >= run.deadline))
            it = runs_.erase(it);
        else
            ++it;
    }
}

std::vector<DeactivateEnd> DeactivateRunner::finished()
{
    std::vector<DeactivateEnd> out;
    epoll_event events[64];
    const int count = epoll_wait(epoll_.get(), events, 64, 0);
    for (int i = 0; i < count; ++i) {
        if (events[i].data.u64 == kSweepTag) {
            uint64_t expirations = 0;
            [[maybe_unused]] const ssize_t ignored =
                read(sweepTimer_.get(), &expirations, sizeof expirations);
            continue;
        }
        auto it = runs_.find(events[i].data.u64);
        if (it == runs_.end() || it->second.reaped)
            continue;
        Run &run = it->second;
        int status = 0;
        const pid_t reaped = waitpid(run.pid, &status, WNOHANG);
        if (reaped == 0 || (reaped < 0 && errno == EINTR))
            continue; /* not reapable yet: the next turn */
        if (reaped < 0)
            status = -1; /* reaped elsewhere: its status is lost, count it a failure */
        run.reaped = true;
        epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, run.pidfd.get(), nullptr);
        run.pidfd.reset();
        /* The child has ended: its report, if any, is complete. */
        RefusalReport report;
        const bool refused =
            read(run.refusal.get(), &report, sizeof report) == static_cast<ssize_t>(sizeof report);
        run.refusal.reset();
        /* A stopped run was decided by the engine already (time limit). */
        if (!run.stopped) {
            DeactivateEnd end;
            end.run = it->first;
            end.script = run.script;
            end.outcome = WIFEXITED(status) && WEXITSTATUS(status) == 0 && !refused
                              ? HA_GS_DEACTIVATE_SUCCESSFUL
                              : HA_GS_DEACTIVATE_UNSUCCESSFUL;
            if (refused) {
                report.where[sizeof report.where - 1] = '\0';
                end.refusal = explain(report, run.uid);
            }
            out.push_back(std::move(end));
        }
    }
    sweep();
    armSweep();
    return out;
}

} // namespace gs::broker
