/* SPDX-License-Identifier: MIT */
/*
 * gsd as a service: its configuration file (--config) and its readiness
 * and stopping messages to a service manager (sd_notify, NOTIFY_SOCKET).
 */
#include "../support/notify_socket.hpp"
#include "harness.hpp"

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <memory>
#include <poll.h>
#include <string>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

using namespace api;
using test_support::NotifySocket;

namespace {

/* A file in a fresh temporary directory, removed with it. */
class TempFile {
  public:
    TempFile(const std::string &name, const std::string &text)
    {
        char templ[] = "/tmp/ha_gs-daemon.XXXXXX";
        REQUIRE(mkdtemp(templ) != nullptr);
        dir_ = templ;
        path_ = dir_ + "/" + name;
        std::ofstream(path_) << text;
    }
    ~TempFile()
    {
        std::remove(path_.c_str());
        rmdir(dir_.c_str());
    }
    TempFile(const TempFile &) = delete;
    TempFile &operator=(const TempFile &) = delete;
    const std::string &path() const { return path_; }
    const std::string &dir() const { return dir_; }

  private:
    std::string dir_, path_;
};

} // namespace

TEST_CASE("daemon: --config FILE sets the options its keys name")
{
    const TempFile config("gsd.conf", "# gsd's options, without their dashes\n"
                                      "max-clients = 2\n"
                                      "domain = \"alpha\"\n");
    PrivateGsd gsd({.args = {"--config", config.path()}});
    {
        ScopedEnv domain("HA_DOMAIN_NAME", "beta");
        LocalClient c("c", gsd, false);
        CHECK(c.rc("init") == "HA_GS_DOMAIN_NOT_RECOG");
    }
    ScopedEnv domain("HA_DOMAIN_NAME", "alpha");
    ClientProcess first("c1", gsd);
    ClientProcess second("c2", gsd);
    CHECK(first.rc("join g 1") == "HA_GS_OK");
    first.waitFor({"g: approved JOIN", {"chg=[1.1]"}});
    LocalClient third("c3", gsd, false);
    CHECK(third.rc("init") == "HA_GS_CONNECT_FAILED");
}

TEST_CASE("daemon: the command line wins over the configuration file")
{
    const TempFile config("gsd.conf", "domain = alpha\n");
    PrivateGsd gsd({.args = {"--config", config.path(), "--domain", "beta"}});
    ScopedEnv domain("HA_DOMAIN_NAME", "beta");
    LocalClient c("c", gsd, false);
    CHECK(c.rc("init") == "HA_GS_OK");
}

TEST_CASE("daemon: gsd refuses to start on an unknown key or a missing file")
{
    const TempFile config("gsd.conf", "max-client = 2\n");
    const GsdRun typo = runGsdOnce(
        {"--config", config.path(), "--socket", "ipc://" + config.dir() + "/gsd.sock"}, 10000);
    CHECK_FALSE(typo.timedOut);
    CHECK(WIFEXITED(typo.status));
    CHECK(WEXITSTATUS(typo.status) != 0);
    CHECK(typo.output.find("max-client") != std::string::npos);
    INFO("gsd said: " << typo.output);

    const GsdRun missing = runGsdOnce({"--config", config.dir() + "/absent.conf", "--socket",
                                       "ipc://" + config.dir() + "/gsd.sock"},
                                      10000);
    CHECK_FALSE(missing.timedOut);
    CHECK(WIFEXITED(missing.status));
    CHECK(WEXITSTATUS(missing.status) != 0);
    CHECK(missing.output.find("absent.conf") != std::string::npos);
}

TEST_CASE("daemon: every key of the example configuration file is one gsd takes")
{
    /* data/gsd.conf.example with its "# name = value" lines made active
     * (but the socket and the CMM table, which name machine paths). */
    const char *sourceRoot = std::getenv("HA_GS_SOURCE_ROOT");
    REQUIRE(sourceRoot != nullptr);
    std::ifstream example(std::string(sourceRoot) + "/data/gsd.conf.example");
    REQUIRE(example.good());
    std::string active;
    int keys = 0;
    for (std::string line; std::getline(example, line);) {
        const bool setting = line.rfind("# ", 0) == 0 && line.find(" = ") != std::string::npos &&
                             line.find(' ', 2) == line.find(" = ");
        if (setting && line.rfind("# socket", 0) != 0 && line.rfind("# cmm-nodes", 0) != 0) {
            active += line.substr(2) + "\n";
            ++keys;
        }
    }
    CHECK(keys >= 10);
    /* And the other way round: every option of gsd --help has its line. */
    const GsdRun help = runGsdOnce({"--help"}, 10000);
    REQUIRE_FALSE(help.timedOut);
    for (size_t at = help.output.find("\n  --"); at != std::string::npos;
         at = help.output.find("\n  --", at + 1)) {
        const size_t start = at + 5;
        const size_t end = help.output.find_first_of(" =\n", start);
        const std::string name = help.output.substr(start, end - start);
        if (name == "help" || name == "version" || name == "config")
            continue;
        const bool listed = active.find(name + " = ") != std::string::npos || name == "socket" ||
                            name == "cmm-nodes";
        CHECK_MESSAGE(listed, "gsd option --" << name << " is missing from data/gsd.conf.example");
    }
    const TempFile config("gsd.conf", active);
    PrivateGsd gsd({.args = {"--config", config.path()}});
    LocalClient c("c", gsd);
    CHECK(c.rc("node") == "HA_GS_OK");
}

#ifdef HA_GS_HAVE_LIBSYSTEMD

TEST_CASE("daemon: gsd tells the service manager READY=1 once it serves, STOPPING=1 on SIGTERM")
{
    const TempFile dir("unused", "");
    NotifySocket manager(dir.dir() + "/notify");
    ScopedEnv notifySocket("NOTIFY_SOCKET", dir.dir() + "/notify");
    PrivateGsd gsd;
    const std::string ready = manager.receive(kWaitMs);
    CHECK(ready.find("READY=1") != std::string::npos);
    CHECK(ready.find("STATUS=serving " + gsd.endpoint()) != std::string::npos);
    /* Ready means serving: a client gets in right away. */
    {
        LocalClient c("c", gsd);
        CHECK(c.rc("node") == "HA_GS_OK");
    }
    CHECK(manager.receive(100).empty());
    gsd.kill(SIGTERM);
    const std::string stopping = manager.receive(kWaitMs);
    CHECK(stopping.find("STOPPING=1") != std::string::npos);
    const auto status = gsd.waitExit();
    REQUIRE(status.has_value());
    CHECK(WIFEXITED(*status));
    CHECK(WEXITSTATUS(*status) == 0);
}

TEST_CASE("daemon: a gsd that cannot start says why in its STATUS line")
{
    const TempFile dir("unused", "");
    NotifySocket manager(dir.dir() + "/notify");
    ScopedEnv notifySocket("NOTIFY_SOCKET", dir.dir() + "/notify");
    const GsdRun run = runGsdOnce({"--socket", "tcp://127.0.0.1:1"}, 10000);
    CHECK(WIFEXITED(run.status));
    CHECK(WEXITSTATUS(run.status) != 0);
    const std::string message = manager.receive(kWaitMs);
    CHECK(message.find("STATUS=failed: ") != std::string::npos);
    CHECK(message.find("READY=1") == std::string::npos);
}
#endif

TEST_CASE("daemon: on the journal's stream each log line carries its syslog priority")
{
    /* JOURNAL_STREAM names gsd's stderr (device:inode), as systemd sets it
     * for a service whose output goes to the journal: lines start with
     * "<P>" (sd-daemon(3)) and leave the time and pid to the journal. */
    const TempFile log("stderr", "");
    const std::string path = log.dir() + "/stderr";
    const pid_t child = fork();
    REQUIRE(child >= 0);
    if (child == 0) {
        const int fd = open(path.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC);
        struct stat st {};
        if (fd < 0 || fstat(fd, &st) != 0 || dup2(fd, 2) < 0)
            _exit(126);
        const std::string stream = std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino);
        setenv("JOURNAL_STREAM", stream.c_str(), 1);
        const std::string gsd = gsdPath();
        /* A relative ipc path: refused at start with a critical line. */
        execl(gsd.c_str(), gsd.c_str(), "--socket", "ipc://relative.sock", "--log-level", "debug",
              static_cast<char *>(nullptr));
        _exit(127);
    }
    int status = 0;
    REQUIRE(waitpid(child, &status, 0) == child);
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 1);
    std::ifstream in(path);
    std::string line;
    std::vector<std::string> lines;
    while (std::getline(in, line))
        lines.push_back(line);
    REQUIRE_FALSE(lines.empty());
    CHECK(lines.back().rfind("<2>critical: ", 0) == 0);
    for (const std::string &l : lines) {
        INFO(l);
        CHECK(l.size() > 3);
        CHECK(l[0] == '<');
        CHECK(l.find("gsd[") == std::string::npos);
    }

    /* Anywhere else (here: JOURNAL_STREAM naming another file) the lines
     * keep their time and pid. */
    const pid_t other = fork();
    REQUIRE(other >= 0);
    if (other == 0) {
        const int fd = open(path.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC);
        if (fd < 0 || dup2(fd, 2) < 0)
            _exit(126);
        setenv("JOURNAL_STREAM", "1:1", 1);
        const std::string gsd = gsdPath();
        execl(gsd.c_str(), gsd.c_str(), "--socket", "ipc://relative.sock",
              static_cast<char *>(nullptr));
        _exit(127);
    }
    REQUIRE(waitpid(other, &status, 0) == other);
    std::ifstream again(path);
    REQUIRE(std::getline(again, line));
    CHECK(line.find(" gsd[") != std::string::npos);
    CHECK(line.find("critical: ") != std::string::npos);
}
