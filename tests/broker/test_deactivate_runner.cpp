/* SPDX-License-Identifier: MIT */
/* The deactivate script runner on its own: outcomes, the time-limit kill
 * of the script and of what it leaves behind, the checks of the script and
 * its directories, and never running a script as gsd's user on behalf of
 * another. */
#include "../support/trusted_dir.hpp"
#include "gsd/deactivate.hpp"
#include "ha_gs.h"

#include <doctest/doctest.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <poll.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

using namespace gs;
using namespace gs::broker;
using testing::TrustedDir;

namespace {

DeactivateJob job(const std::string &script)
{
    DeactivateJob j;
    j.script = script;
    j.uid = geteuid();
    j.gid = getegid();
    j.clientPid = getpid();
    j.group = "g";
    j.flag = "f";
    j.instance = 1;
    j.node = 1;
    j.seconds = 10;
    return j;
}

using Outcomes = std::vector<std::pair<DeactivateId, uint32_t>>;

/* Waits for the runner's descriptor and collects what ended. */
std::vector<DeactivateEnd> awaitEnds(DeactivateRunner &runner, int timeoutMs = 5000)
{
    const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeoutMs);
    pollfd item{runner.fd(), POLLIN, 0};
    while (std::chrono::steady_clock::now() < until) {
        if (poll(&item, 1, 50) == 1)
            if (auto ends = runner.finished(); !ends.empty())
                return ends;
    }
    return {};
}

Outcomes awaitFinished(DeactivateRunner &runner, int timeoutMs = 5000)
{
    Outcomes out;
    for (const auto &end : awaitEnds(runner, timeoutMs))
        out.emplace_back(end.run, end.outcome);
    return out;
}

/* Writes an executable shell script; its path. */
std::string writeScript(const std::string &path, const std::string &body, mode_t mode = 0755)
{
    std::ofstream(path) << "#!/bin/sh\n" << body;
    chmod(path.c_str(), mode);
    return path;
}

pid_t readPid(const std::string &path)
{
    for (int i = 0; i < 250 && !std::filesystem::exists(path); ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    pid_t pid = 0;
    std::ifstream(path) >> pid;
    return pid;
}

/* Whether `pid` is gone within `ms` (reaped by whoever inherited it),
 * while the runner keeps being served as gsd's loop would. */
bool goneWithin(pid_t pid, DeactivateRunner &runner, int ms)
{
    const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
    while (std::chrono::steady_clock::now() < until) {
        if (kill(pid, 0) != 0 && errno == ESRCH)
            return true;
        pollfd item{runner.fd(), POLLIN, 0};
        if (poll(&item, 1, 20) == 1)
            runner.finished();
    }
    return false;
}

/* A script that starts a `sleep 60` in the background, records its pid in
 * `pidFile`, then ends with `last`. */
std::string leaveSleeper(const std::string &dir, const std::string &pidFile,
                         const std::string &last)
{
    return writeScript(dir + "/leave.sh", "sleep 60 &\necho $! > " + pidFile + ".tmp\nmv " +
                                              pidFile + ".tmp " + pidFile + "\n" + last + "\n");
}

} // namespace

TEST_CASE("deactivate runner: exit 0 is successful, anything else unsuccessful")
{
    DeactivateRunner runner;
    std::string error;
    TrustedDir dir;
    REQUIRE(runner.start(1, job(writeScript(dir.path() + "/ok.sh", "exit 0\n")), error));
    CHECK(awaitFinished(runner) == Outcomes{{1, HA_GS_DEACTIVATE_SUCCESSFUL}});
    REQUIRE(runner.start(2, job(writeScript(dir.path() + "/fail.sh", "exit 1\n")), error));
    CHECK(awaitFinished(runner) == Outcomes{{2, HA_GS_DEACTIVATE_UNSUCCESSFUL}});
    REQUIRE(runner.start(3, job("/nonexistent/script"), error));
    CHECK(awaitFinished(runner) == Outcomes{{3, HA_GS_DEACTIVATE_UNSUCCESSFUL}});
    CHECK(runner.running() == 0);
}

TEST_CASE("deactivate runner: a stopped run is killed with what it started and not reported")
{
    DeactivateRunner runner;
    std::string error;
    TrustedDir dir;
    const std::string pidFile = dir.path() + "/sleeper";
    REQUIRE(runner.start(8, job(leaveSleeper(dir.path(), pidFile, "sleep 30")), error));
    const pid_t sleeper = readPid(pidFile);
    REQUIRE(sleeper > 0);
    CHECK(awaitFinished(runner, 300).empty()); /* still running */
    const auto start = std::chrono::steady_clock::now();
    runner.stop(8);
    CHECK(goneWithin(sleeper, runner, 5000));
    /* Let go once its group is empty (what init has not reaped yet counts). */
    for (int i = 0; i < 5 && runner.running() != 0; ++i)
        CHECK(awaitEnds(runner, 1000).empty());
    CHECK(runner.running() == 0);
    CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(5));
    kill(sleeper, SIGKILL);
}

TEST_CASE("deactivate runner: a script that exits 0 leaving a process behind is successful, and "
          "the process is killed at the time limit, outside gsd's session")
{
    DeactivateRunner runner;
    std::string error;
    TrustedDir dir;
    const std::string pidFile = dir.path() + "/sleeper";
    DeactivateJob leave = job(leaveSleeper(dir.path(), pidFile, "exit 0"));
    leave.seconds = 2;
    const auto start = std::chrono::steady_clock::now();
    REQUIRE(runner.start(5, leave, error));
    CHECK(awaitFinished(runner) == Outcomes{{5, HA_GS_DEACTIVATE_SUCCESSFUL}});
    const pid_t sleeper = readPid(pidFile);
    REQUIRE(sleeper > 0);
    /* Its own session: nothing the script starts is in gsd's. */
    CHECK(getsid(sleeper) != getsid(0));
    CHECK(getpgid(sleeper) != getpgid(0));
    CHECK(kill(sleeper, 0) == 0); /* alive until the limit */
    CHECK(goneWithin(sleeper, runner, 6000));
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    MESSAGE("the left-behind sleep was gone " << seconds << " s after the start (limit 2 s)");
    CHECK(seconds >= 1.9);
    for (int i = 0; i < 5 && runner.running() != 0; ++i)
        CHECK(awaitEnds(runner, 1000).empty());
    CHECK(runner.running() == 0);
    kill(sleeper, SIGKILL);
}

TEST_CASE("deactivate runner: what a script left behind is killed when gsd stops")
{
    TrustedDir dir;
    const std::string pidFile = dir.path() + "/sleeper";
    pid_t sleeper = 0;
    {
        DeactivateRunner runner;
        std::string error;
        DeactivateJob leave = job(leaveSleeper(dir.path(), pidFile, "exit 0"));
        leave.seconds = 60;
        REQUIRE(runner.start(6, leave, error));
        CHECK(awaitFinished(runner) == Outcomes{{6, HA_GS_DEACTIVATE_SUCCESSFUL}});
        sleeper = readPid(pidFile);
        REQUIRE(sleeper > 0);
        CHECK(kill(sleeper, 0) == 0);
        CHECK(runner.running() == 1); /* its group is still watched */
    }                                 /* the destructor is gsd's stopAll */
    bool gone = false;
    for (int i = 0; i < 250 && !gone; ++i) {
        gone = kill(sleeper, 0) != 0 && errno == ESRCH;
        if (!gone)
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    CHECK(gone);
    kill(sleeper, SIGKILL);
}

TEST_CASE("deactivate runner: a script anybody but root and its user could change is not run")
{
    DeactivateRunner runner;
    std::string error;
    TrustedDir dir;
    const std::string marker = dir.path() + "/ran";
    DeactivateId next = 20;
    /* Runs `script` and expects it refused for `reason`. */
    auto refused = [&](const std::string &script, const std::string &reason) {
        INFO(script);
        const DeactivateId run = next++;
        REQUIRE(runner.start(run, job(script), error));
        const auto ends = awaitEnds(runner);
        REQUIRE(ends.size() == 1);
        CHECK(ends[0].run == run);
        CHECK(ends[0].outcome == HA_GS_DEACTIVATE_UNSUCCESSFUL);
        CHECK(ends[0].script == script);
        INFO(ends[0].refusal);
        CHECK(ends[0].refusal.find(reason) != std::string::npos);
        CHECK_FALSE(std::filesystem::exists(marker));
    };
    const std::string body = "touch " + marker + "\n";

    SUBCASE("a valid script in a root-owned 0755 directory runs")
    {
        const auto ends = [&] {
            REQUIRE(runner.start(10, job(writeScript(dir.path() + "/valid.sh", body)), error));
            return awaitEnds(runner);
        }();
        REQUIRE(ends.size() == 1);
        CHECK(ends[0].outcome == HA_GS_DEACTIVATE_SUCCESSFUL);
        CHECK(ends[0].refusal.empty());
        CHECK(std::filesystem::exists(marker));
    }
    SUBCASE("in a world-writable directory")
    {
        const std::string open = dir.path() + "/open";
        REQUIRE(mkdir(open.c_str(), 0755) == 0);
        REQUIRE(chmod(open.c_str(), 0777) == 0);
        refused(writeScript(open + "/s.sh", body),
                "directory " + open + " is writable by its group or others (mode 0777)");
    }
    SUBCASE("in a sticky world-writable directory such as /tmp")
    {
        std::string templ = "/tmp/ha_gs-test-XXXXXX";
        REQUIRE(mkdtemp(templ.data()) != nullptr);
        chmod(templ.c_str(), 0755);
        refused(writeScript(templ + "/s.sh", body), "directory /tmp is writable");
        std::filesystem::remove_all(templ);
    }
    SUBCASE("a group-writable script")
    {
        refused(writeScript(dir.path() + "/g.sh", body, 0775),
                "it is writable by its group or others (mode 0775)");
    }
    SUBCASE("a symbolic link to a valid script")
    {
        const std::string link = dir.path() + "/link.sh";
        REQUIRE(symlink(writeScript(dir.path() + "/target.sh", body).c_str(), link.c_str()) == 0);
        refused(link, "it is a symbolic link");
    }
    SUBCASE("a FIFO is refused without blocking")
    {
        const std::string fifo = dir.path() + "/fifo";
        REQUIRE(mkfifo(fifo.c_str(), 0755) == 0);
        refused(fifo, "it is not a regular file");
    }
    if (geteuid() == 0) {
        SUBCASE("in a directory another user owns")
        {
            const std::string theirs = dir.path() + "/theirs";
            REQUIRE(mkdir(theirs.c_str(), 0755) == 0);
            REQUIRE(chown(theirs.c_str(), 65534, 65534) == 0);
            refused(writeScript(theirs + "/s.sh", body),
                    "directory " + theirs + " is owned by uid 65534, neither root nor uid 0");
        }
        SUBCASE("a script another user owns")
        {
            const std::string script = writeScript(dir.path() + "/theirs.sh", body);
            REQUIRE(chown(script.c_str(), 65534, 65534) == 0);
            refused(script, "it is owned by uid 65534, neither root nor uid 0");
        }
    }
}

TEST_CASE("deactivate runner: gsd that is not root refuses to run another user's script")
{
    /* A child process plays a non-root gsd. */
    const pid_t child = fork();
    REQUIRE(child >= 0);
    if (child == 0) {
        if (geteuid() == 0 && setuid(65534) != 0)
            _exit(2);
        DeactivateRunner runner;
        DeactivateJob other = job("/bin/true");
        other.uid = geteuid() == 0 ? 1 : 0; /* anybody else */
        std::string error;
        if (canRunAs(other.uid) || runner.start(1, other, error))
            _exit(1);
        if (error.find("cannot run it as uid") == std::string::npos)
            _exit(3);
        _exit(0);
    }
    int status = 0;
    REQUIRE(waitpid(child, &status, 0) == child);
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
}
