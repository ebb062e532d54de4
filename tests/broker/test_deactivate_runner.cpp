/* SPDX-License-Identifier: MIT */
/* The deactivate script runner on its own: outcomes, the time-limit kill,
 * and never running a script as gsd's user on behalf of another. */
#include "gsd/deactivate.hpp"
#include "ha_gs.h"

#include <doctest/doctest.h>

#include <chrono>
#include <csignal>
#include <poll.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

using namespace gs;
using namespace gs::broker;

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
    return j;
}

/* Waits for the runner's descriptor and collects what ended. */
std::vector<std::pair<DeactivateId, uint32_t>> awaitFinished(DeactivateRunner &runner,
                                                             int timeoutMs = 5000)
{
    pollfd item{runner.fd(), POLLIN, 0};
    if (poll(&item, 1, timeoutMs) != 1)
        return {};
    return runner.finished();
}

} // namespace

TEST_CASE("deactivate runner: exit 0 is successful, anything else unsuccessful")
{
    DeactivateRunner runner;
    std::string error;
    REQUIRE(runner.start(1, job("/bin/true"), error));
    CHECK(awaitFinished(runner) ==
          std::vector<std::pair<DeactivateId, uint32_t>>{{1, HA_GS_DEACTIVATE_SUCCESSFUL}});
    REQUIRE(runner.start(2, job("/bin/false"), error));
    CHECK(awaitFinished(runner) ==
          std::vector<std::pair<DeactivateId, uint32_t>>{{2, HA_GS_DEACTIVATE_UNSUCCESSFUL}});
    REQUIRE(runner.start(3, job("/nonexistent/script"), error));
    CHECK(awaitFinished(runner) ==
          std::vector<std::pair<DeactivateId, uint32_t>>{{3, HA_GS_DEACTIVATE_UNSUCCESSFUL}});
    CHECK(runner.running() == 0);
}

TEST_CASE("deactivate runner: a stopped run is killed and not reported")
{
    DeactivateRunner runner;
    std::string error;
    /* argv: sh, flag, group, ...: "sh -c 'sleep 30'". */
    DeactivateJob hang = job("/bin/sh");
    hang.flag = "-c";
    hang.group = "sleep 30";
    REQUIRE(runner.start(8, hang, error));
    CHECK(awaitFinished(runner, 300).empty()); /* still running */
    const auto start = std::chrono::steady_clock::now();
    runner.stop(8);
    pollfd item{runner.fd(), POLLIN, 0};
    REQUIRE(poll(&item, 1, 5000) == 1);
    CHECK(runner.finished().empty());
    CHECK(runner.running() == 0);
    CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(5));
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
