// SPDX-License-Identifier: MIT
#include "harness.hpp"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include <fcntl.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

namespace bench {

namespace {

std::runtime_error systemError(const std::string &what)
{
    return std::runtime_error(what + ": " + std::strerror(errno));
}

/* The precision the report prints: more digits would be noise. */
double rounded(double value, double scale)
{
    return std::round(value * scale) / scale;
}

void printLine(const nlohmann::json &line)
{
    std::printf("%s\n", line.dump().c_str());
    std::fflush(stdout);
}

} // namespace

void dieWithParent()
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
}

int64_t nowNs()
{
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

double toUs(int64_t ns)
{
    return static_cast<double>(ns) / 1000.0;
}

Summary summarize(std::vector<double> samplesUs)
{
    if (samplesUs.empty())
        throw std::runtime_error("no samples");
    std::sort(samplesUs.begin(), samplesUs.end());
    const size_t n = samplesUs.size();
    const size_t p99 = static_cast<size_t>(std::ceil(0.99 * static_cast<double>(n))) - 1;
    const double median =
        n % 2 ? samplesUs[n / 2] : (samplesUs[n / 2 - 1] + samplesUs[n / 2]) / 2.0;
    return {n, median, samplesUs[std::min(p99, n - 1)]};
}

void emitLatency(const std::string &id, const Summary &summary)
{
    printLine({{"id", id},
               {"n", summary.count},
               {"median_us", rounded(summary.medianUs, 100)},
               {"p99_us", rounded(summary.p99Us, 100)}});
}

void emitValues(const std::string &id,
                std::initializer_list<std::pair<const char *, double>> values)
{
    nlohmann::json line = {{"id", id}};
    for (const auto &[name, value] : values)
        line[name] = rounded(value, 1000);
    printLine(line);
}

ReportPipe::ReportPipe()
{
    /* The read end closes on exec; the write end is inherited by children. */
    if (pipe(fds_) != 0)
        throw systemError("pipe");
    fcntl(fds_[0], F_SETFD, FD_CLOEXEC);
}

ReportPipe::~ReportPipe()
{
    close(fds_[0]);
    close(fds_[1]);
}

Report ReportPipe::read(int timeoutMs)
{
    Report report{};
    size_t got = 0;
    auto *bytes = reinterpret_cast<char *>(&report);
    while (got < sizeof report) {
        pollfd pfd{fds_[0], POLLIN, 0};
        const int ready = poll(&pfd, 1, timeoutMs);
        if (ready < 0 && errno == EINTR)
            continue;
        if (ready < 0)
            throw systemError("poll");
        if (ready == 0)
            throw std::runtime_error("no report from a child within " + std::to_string(timeoutMs) +
                                     " ms");
        const ssize_t n = ::read(fds_[0], bytes + got, sizeof report - got);
        if (n < 0 && errno != EINTR)
            throw systemError("read");
        if (n > 0)
            got += static_cast<size_t>(n);
    }
    return report;
}

void sendReport(int fd, const Report &report)
{
    /* One write of less than PIPE_BUF bytes is atomic. */
    while (write(fd, &report, sizeof report) < 0 && errno == EINTR) {
    }
}

CommandPipe::CommandPipe()
{
    if (pipe(fds_) != 0)
        throw systemError("pipe");
    fcntl(fds_[1], F_SETFD, FD_CLOEXEC);
}

CommandPipe::~CommandPipe()
{
    childStarted();
    close(fds_[1]);
}

void CommandPipe::childStarted()
{
    if (fds_[0] >= 0)
        close(fds_[0]);
    fds_[0] = -1;
}

void CommandPipe::send(int32_t command)
{
    while (write(fds_[1], &command, sizeof command) < 0 && errno == EINTR) {
    }
}

int32_t readCommand(int fd)
{
    int32_t command = 0;
    size_t got = 0;
    while (got < sizeof command) {
        const ssize_t n =
            ::read(fd, reinterpret_cast<char *>(&command) + got, sizeof command - got);
        if (n == 0)
            return 0;
        if (n < 0 && errno != EINTR)
            throw systemError("read");
        if (n > 0)
            got += static_cast<size_t>(n);
    }
    return command;
}

pid_t forkChild(const char *what, const std::function<void()> &body)
{
    const pid_t pid = fork();
    if (pid < 0)
        throw systemError(std::string("fork: ") + what);
    if (pid > 0)
        return pid;
    dieWithParent();
    int status = 0;
    try {
        body();
    } catch (const std::exception &e) {
        std::fprintf(stderr, "%s: %s\n", what, e.what());
        status = 1;
    }
    _exit(status);
}

pid_t spawnSelf(const std::vector<std::string> &args)
{
    std::vector<char *> argv;
    std::string self = "/proc/self/exe";
    argv.push_back(self.data());
    std::vector<std::string> copies = args;
    for (std::string &arg : copies)
        argv.push_back(arg.data());
    argv.push_back(nullptr);
    const pid_t pid = fork();
    if (pid < 0)
        throw systemError("fork");
    if (pid == 0) {
        dieWithParent();
        execv(argv[0], argv.data());
        std::fprintf(stderr, "exec %s: %s\n", argv[0], std::strerror(errno));
        _exit(127);
    }
    return pid;
}

void killAndReap(pid_t pid, int signal)
{
    if (pid <= 0)
        return;
    kill(pid, signal);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
}

void killAndReap(const std::vector<pid_t> &pids, int signal)
{
    /* Signal all first so they exit in parallel, then reap. */
    for (pid_t pid : pids)
        if (pid > 0)
            kill(pid, signal);
    for (pid_t pid : pids) {
        int status = 0;
        if (pid > 0)
            while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
            }
    }
}

int64_t residentBytes(pid_t pid)
{
    std::ifstream status("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(status, line))
        if (line.rfind("VmRSS:", 0) == 0)
            return std::stoll(line.substr(6)) * 1024;
    throw std::runtime_error("no VmRSS for pid " + std::to_string(pid));
}

double cpuSeconds(pid_t pid)
{
    /* utime + stime in clock ticks, fields 14 and 15 of /proc/PID/stat; the
     * command name (field 2) may hold spaces, so count from its closing ')'. */
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string text;
    std::getline(stat, text);
    std::istringstream fields(text.substr(text.rfind(')') + 2));
    std::string field;
    long long ticks = 0;
    for (int i = 3; i <= 15 && fields >> field; i++)
        if (i >= 14)
            ticks += std::stoll(field);
    return static_cast<double>(ticks) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

std::string makeTempDir(const char *prefix)
{
    /* mkdtemp replaces the six trailing X characters. */
    std::string path = std::string("/tmp/") + prefix + ".XXXXXX";
    if (mkdtemp(path.data()) == nullptr)
        throw systemError("mkdtemp");
    return path;
}

void waitForSocket(const std::string &path, pid_t owner)
{
    for (int i = 0; i < 400; i++) {
        struct stat st {};
        if (stat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode))
            return;
        int status = 0;
        if (owner > 0 && waitpid(owner, &status, WNOHANG) == owner)
            throw std::runtime_error("process exited before creating " + path);
        std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
    throw std::runtime_error("no socket at " + path + " after 10 s");
}

PrivateGsd::PrivateGsd(const std::string &gsdPath, const std::vector<std::string> &extraArgs)
    : dir_(makeTempDir("ha_gs-bench"))
{
    endpoint_ = "ipc://" + dir_ + "/gsd.sock";
    const std::string log = dir_ + "/gsd.log";
    std::vector<std::string> args = {gsdPath, "--socket", endpoint_, "--log-level", "warn"};
    args.insert(args.end(), extraArgs.begin(), extraArgs.end());
    std::vector<char *> argv;
    for (std::string &arg : args)
        argv.push_back(arg.data());
    argv.push_back(nullptr);
    pid_ = fork();
    if (pid_ < 0)
        throw systemError("fork");
    if (pid_ == 0) {
        dieWithParent();
        const int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd >= 0) {
            dup2(fd, STDOUT_FILENO);
            dup2(fd, STDERR_FILENO);
            close(fd);
        }
        execv(argv[0], argv.data());
        std::fprintf(stderr, "exec %s: %s\n", argv[0], std::strerror(errno));
        _exit(127);
    }
    try {
        waitForSocket(dir_ + "/gsd.sock", pid_);
    } catch (...) {
        /* The destructor does not run for a constructor that throws. */
        stop();
        std::error_code ec;
        std::filesystem::remove_all(dir_, ec);
        throw;
    }
    select();
}

void PrivateGsd::select() const
{
    setenv("HA_GS_SOCKET", endpoint_.c_str(), 1);
}

void PrivateGsd::stop()
{
    killAndReap(pid_, SIGTERM);
    pid_ = -1;
}

PrivateGsd::~PrivateGsd()
{
    stop();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
}

} // namespace bench
