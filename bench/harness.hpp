// SPDX-License-Identifier: MIT
/* harness - what every benchmark program shares: the monotonic clock,
 * summaries (median, p99), result lines, child processes and the pipe they
 * report on, and a private gsd. Nothing here knows about GSAPI. */
#pragma once

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

#include <sys/types.h>

namespace bench {

/* CLOCK_MONOTONIC in nanoseconds: comparable across the processes of one
 * machine, which is what "time until the last subscriber has it" needs. */
int64_t nowNs();
double toUs(int64_t ns);

struct Summary {
    size_t count;
    double medianUs;
    double p99Us;
};
Summary summarize(std::vector<double> samplesUs);

/* One JSON object per line on stdout; scripts/bench_report.py reads them.
 * A latency line has median_us and p99_us; a value line has named numbers. */
void emitLatency(const std::string &id, const Summary &summary);
void emitValues(const std::string &id,
                std::initializer_list<std::pair<const char *, double>> values);

/* What a child tells its parent. 24 bytes, below PIPE_BUF, so writes from
 * many children to one pipe never interleave. */
struct Report {
    int32_t child; /* index the parent gave the child */
    int32_t kind;  /* Report::Ready, Report::Done or a notification type */
    int64_t count; /* notifications seen so far */
    int64_t atNs;  /* nowNs() when it happened */
    static constexpr int32_t Ready = -1;
    static constexpr int32_t Done = -2;
    static constexpr int32_t Sample = -3; /* atNs holds a duration */
};

/* The pipe children write Reports to. The write end stays open across exec
 * (children are this same program started with a role, see spawnSelf). */
class ReportPipe {
  public:
    ReportPipe();
    ~ReportPipe();
    ReportPipe(const ReportPipe &) = delete;
    ReportPipe &operator=(const ReportPipe &) = delete;
    int writeFd() const { return fds_[1]; }
    int readFd() const { return fds_[0]; }
    /* Blocks until a report arrives; throws after timeoutMs. */
    Report read(int timeoutMs = 20000);

  private:
    int fds_[2];
};

void sendReport(int fd, const Report &report);

/* Orders from a parent to one child: numbers written to a pipe whose read
 * end the child inherits (CommandPipe::childFd, closed here once the child
 * is started) and reads with readCommand. */
class CommandPipe {
  public:
    CommandPipe();
    ~CommandPipe();
    CommandPipe(const CommandPipe &) = delete;
    CommandPipe &operator=(const CommandPipe &) = delete;
    int childFd() const { return fds_[0]; }
    void childStarted();
    void send(int32_t command);

  private:
    int fds_[2];
};
/* Blocks for the next command; 0 when the parent closed the pipe. */
int32_t readCommand(int fd);

/* In a child after fork: SIGKILL when the parent dies, so that a benchmark
 * killed halfway (Ctrl-C, a closed pipe) leaves no gsd or child behind. */
void dieWithParent();

/* Runs `body` in a forked child (dying with its parent) that exits when
 * `body` returns, 1 if it throws (the error on stderr, prefixed by `what`).
 * No ZeroMQ context teardown in the child. Fork only while the calling
 * process has no ZeroMQ context. */
pid_t forkChild(const char *what, const std::function<void()> &body);

/* Starts this program again (/proc/self/exe) with the given arguments: each
 * child gets a fresh process, with no ZeroMQ context inherited. */
pid_t spawnSelf(const std::vector<std::string> &args);
void killAndReap(pid_t pid, int signal);
void killAndReap(const std::vector<pid_t> &pids, int signal);

/* VmRSS of a process in bytes, from /proc/PID/status. */
int64_t residentBytes(pid_t pid);
/* CPU time (user + system) a process has used so far, in seconds. */
double cpuSeconds(pid_t pid);

/* A gsd of its own in a temporary directory, stopped with SIGTERM and the
 * directory removed on destruction. Sets HA_GS_SOCKET for this process and
 * its children. */
class PrivateGsd {
  public:
    PrivateGsd(const std::string &gsdPath, const std::vector<std::string> &extraArgs = {});
    ~PrivateGsd();
    PrivateGsd(const PrivateGsd &) = delete;
    PrivateGsd &operator=(const PrivateGsd &) = delete;
    pid_t pid() const { return pid_; }
    /* Points HA_GS_SOCKET (this process and children started later) at
     * this gsd; the constructor does it too. */
    void select() const;
    /* SIGTERM and wait; the destructor does it if not done before. */
    void stop();

  private:
    std::string dir_;
    std::string endpoint_;
    pid_t pid_ = -1;
};

std::string makeTempDir(const char *prefix);
void waitForSocket(const std::string &path, pid_t owner);

} // namespace bench
