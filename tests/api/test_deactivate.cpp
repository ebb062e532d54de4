/* SPDX-License-Identifier: MIT */
/* Deactivate scripts: an expel runs the expelled client's script as that
 * client's user, with the documented arguments and environment, within the
 * expel's time limit, and reports the outcome in the summary code. */
#include "../support/trusted_dir.hpp"
#include "harness.hpp"

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <grp.h>
#include <sstream>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>

using namespace api;

namespace {

/* Scripts, in a directory gsd accepts them from (owned by root or this
 * user, mode 0755, and so is every directory above it), and a directory
 * for what they record, writable by every user; both removed at the end. */
class ScriptDir {
  public:
    ScriptDir() : path_(makeTempDir()) { chmod(path_.c_str(), 0777); }
    ~ScriptDir()
    {
        std::error_code ignored;
        std::filesystem::remove_all(path_, ignored);
    }
    /* Where the scripts write. */
    const std::string &path() const { return path_; }
    /* Writes an executable shell script `name` with `body`; its path. */
    std::string script(const std::string &name, const std::string &body) const
    {
        return writeScript(scripts_.path() + "/" + name, body);
    }
    /* The same in the world-writable directory, where gsd refuses it. */
    std::string untrustedScript(const std::string &name, const std::string &body) const
    {
        return writeScript(path_ + "/" + name, body);
    }
    std::string read(const std::string &name) const
    {
        std::ifstream in(path_ + "/" + name);
        std::stringstream text;
        text << in.rdbuf();
        return text.str();
    }
    /* Waits for a file the script writes last. */
    bool waitFor(const std::string &name) const
    {
        for (int i = 0; i < 500; ++i) {
            if (std::filesystem::exists(path_ + "/" + name))
                return true;
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
        return false;
    }

  private:
    static std::string writeScript(const std::string &file, const std::string &body)
    {
        std::ofstream(file) << "#!/bin/sh\n" << body;
        chmod(file.c_str(), 0755);
        return file;
    }
    testing::TrustedDir scripts_;
    std::string path_;
};

std::vector<std::string> linesWith(const std::string &text, const std::string &prefix)
{
    std::vector<std::string> out;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);)
        if (line.rfind(prefix, 0) == 0)
            out.push_back(line.substr(prefix.size()));
    return out;
}

/* Whether process `pid` is gone (or a zombie waiting for its reaper). */
bool gone(pid_t pid)
{
    std::ifstream status("/proc/" + std::to_string(pid) + "/status");
    if (!status)
        return true;
    for (std::string line; std::getline(status, line);)
        if (line.rfind("State:", 0) == 0)
            return line.find('Z') != std::string::npos || line.find('X') != std::string::npos;
    return true;
}

/* Expels provider 2 of "g" from client `a` and returns a's approved line. */
std::string expelTwo(Client &a, const std::string &options)
{
    REQUIRE(a.rc("expel g 2 " + options) == "HA_GS_OK");
    return a.waitFor("g: approved EXPEL", 20000);
}

} // namespace

TEST_CASE("deactivate: the script runs as the expelled client's user with the documented "
          "arguments and environment")
{
    if (geteuid() != 0) {
        MESSAGE("needs root to run a client as another user: skipped");
        return;
    }
    const group *users = getgrnam("users");
    REQUIRE(users != nullptr);
    const gid_t usersGid = users->gr_gid;
    ScriptDir dir;
    const std::string script =
        dir.script("record.sh",
                   "out=" + dir.path() +
                       "\n{ echo \"uid=$(id -u)\"; echo \"gid=$(id -g)\"; echo \"groups=$(id -G)\";"
                       " echo \"argc=$#\"; for a in \"$0\" \"$@\"; do echo \"arg=$a\"; done;"
                       " echo \"pgid=$(cut -d' ' -f5 /proc/$$/stat)\"; echo \"pid=$$\";"
                       " env | sed 's/^/env=/'; } > $out/record.tmp\n"
                       "mv $out/record.tmp $out/record\n");
    /* Something of gsd's environment that must not reach the script. */
    ScopedEnv secret("H5_GSD_ONLY", "leak");
    PrivateGsd gsd({.args = {"--auth-group", "users"}, .worldAccessible = true});
    ClientProcess a("a", gsd);
    ClientProcess victim("victim", gsd, {.autoInit = false, .setup = [usersGid] {
                                             if (setgroups(1, &usersGid) != 0 ||
                                                 setgid(65534) != 0 || setuid(65534) != 0)
                                                 _exit(3);
                                         }});
    REQUIRE(victim.rc("init script=" + script) == "HA_GS_OK");
    joinInOrder({&a, &victim}, "g");

    const std::string approved = expelTwo(a, "dphase=1 dflag=stop-it tl=10");
    CHECK(hasFlag(approved, "summary", "DEACTIVATE_SUCCESSFUL"));
    CHECK_FALSE(hasFlag(approved, "summary", "DEACTIVATE_UNSUCCESSFUL"));
    victim.waitFor({"g: approved EXPEL", {"DEACTIVATE_SUCCESSFUL"}});

    REQUIRE(dir.waitFor("record"));
    const std::string record = dir.read("record");
    INFO(record);
    CHECK(linesWith(record, "uid=") == std::vector<std::string>{"65534"});
    CHECK(linesWith(record, "gid=") == std::vector<std::string>{"65534"});
    CHECK(linesWith(record, "groups=").at(0).find(std::to_string(usersGid)) != std::string::npos);
    /* Executed through its descriptor (fexecve), a "#!" script gets the
     * descriptor's name as $0 from the kernel; the rest as documented. */
    std::vector<std::string> args = linesWith(record, "arg=");
    REQUIRE(args.size() == 5);
    CHECK(args[0].rfind("/dev/fd/", 0) == 0);
    CHECK(std::vector<std::string>(args.begin() + 1, args.end()) ==
          std::vector<std::string>{"stop-it", "g", "2", "1"});
    /* Its own process group. */
    CHECK(linesWith(record, "pgid=") == linesWith(record, "pid="));
    std::vector<std::string> env = linesWith(record, "env=");
    auto has = [&](const std::string &entry) {
        return std::find(env.begin(), env.end(), entry) != env.end();
    };
    CHECK(has("HA_GS_GROUP=g"));
    CHECK(has("HA_GS_DEACTIVATE_FLAG=stop-it"));
    CHECK(has("HA_GS_PROVIDER_INSTANCE=2"));
    CHECK(has("HA_GS_PROVIDER_NODE=1"));
    CHECK(has("HA_GS_PROVIDER_PID=" + std::to_string(victim.pid())));
    CHECK(has("PATH=/usr/local/bin:/usr/bin:/bin"));
    for (const auto &entry : env) {
        CHECK(entry.find("H5_GSD_ONLY") == std::string::npos);
        CHECK(entry.find("HA_GS_SOCKET") == std::string::npos);
    }
}

TEST_CASE("deactivate: outcomes: a failing script, a missing one, one past the time limit")
{
    ScriptDir dir;
    PrivateGsd gsd;
    ClientProcess a("a", gsd);
    ClientProcess victim("victim", gsd, {.autoInit = false});

    SUBCASE("exit status 1 is unsuccessful")
    {
        REQUIRE(victim.rc("init script=" + dir.script("fail.sh", "exit 1\n")) == "HA_GS_OK");
        joinInOrder({&a, &victim}, "g");
        const std::string approved = expelTwo(a, "dphase=1 tl=10");
        CHECK(hasFlag(approved, "summary", "DEACTIVATE_UNSUCCESSFUL"));
        CHECK_FALSE(hasFlag(approved, "summary", "DEACTIVATE_SUCCESSFUL"));
    }
    SUBCASE("a path that does not exist is unsuccessful")
    {
        REQUIRE(victim.rc("init script=" + dir.path() + "/missing.sh") == "HA_GS_OK");
        joinInOrder({&a, &victim}, "g");
        CHECK(hasFlag(expelTwo(a, "dphase=1 tl=10"), "summary", "DEACTIVATE_UNSUCCESSFUL"));
    }
    SUBCASE("a script that outlives the limit is killed with its process group")
    {
        const std::string pids = dir.path() + "/pids";
        REQUIRE(victim.rc("init script=" +
                          dir.script("hang.sh", "sleep 60 &\necho $$ $! > " + pids + ".tmp\nmv " +
                                                    pids + ".tmp " + pids + "\nwait\n")) ==
                "HA_GS_OK");
        joinInOrder({&a, &victim}, "g");
        const auto start = std::chrono::steady_clock::now();
        REQUIRE(a.rc("expel g 2 dphase=1 tl=1") == "HA_GS_OK");
        REQUIRE(dir.waitFor("pids"));
        const std::string approved = a.waitFor("g: approved EXPEL");
        const double seconds =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        CHECK(hasFlag(approved, "summary", "DEACTIVATE_TIME_LIMIT_EXCEEDED"));
        MESSAGE("an expel with a 1 s limit and a hanging script was approved after " << seconds
                                                                                     << " s");
        CHECK(seconds >= 0.9);
        CHECK(seconds < 5);
        pid_t script = 0, sleeper = 0;
        std::istringstream(dir.read("pids")) >> script >> sleeper;
        REQUIRE(script > 0);
        REQUIRE(sleeper > 0);
        bool allGone = false;
        for (int i = 0; i < 100 && !allGone; ++i) {
            allGone = gone(script) && gone(sleeper) && (kill(-script, 0) != 0 || errno == ESRCH);
            if (!allGone)
                std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
        CHECK(allGone);
    }
    SUBCASE("a script in a world-writable directory is not run, and gsd says why")
    {
        const std::string script = dir.untrustedScript("open.sh", "touch " + dir.path() + "/ran\n");
        REQUIRE(victim.rc("init script=" + script) == "HA_GS_OK");
        joinInOrder({&a, &victim}, "g");
        const std::string approved = expelTwo(a, "dphase=1 tl=10");
        CHECK(hasFlag(approved, "summary", "DEACTIVATE_UNSUCCESSFUL"));
        CHECK_FALSE(hasFlag(approved, "summary", "DEACTIVATE_SUCCESSFUL"));
        CHECK_FALSE(std::filesystem::exists(dir.path() + "/ran"));
        const std::string log = gsd.log();
        INFO(log);
        CHECK(log.find("deactivate script " + script + " not run") != std::string::npos);
        CHECK(log.find("directory " + dir.path() + " is writable by its group or others") !=
              std::string::npos);
    }
    SUBCASE("deactivate phase 0 runs no script")
    {
        REQUIRE(victim.rc("init script=" +
                          dir.script("never.sh", "touch " + dir.path() + "/ran\n")) == "HA_GS_OK");
        joinInOrder({&a, &victim}, "g");
        const std::string approved = expelTwo(a, "dphase=0 tl=10");
        CHECK_FALSE(hasFlag(approved, "summary", "DEACTIVATE_SUCCESSFUL"));
        CHECK_FALSE(std::filesystem::exists(dir.path() + "/ran"));
    }
}

TEST_CASE("deactivate: ha_gs_init refuses a relative or too long script path")
{
    PrivateGsd gsd;
    LocalClient c("c", gsd, false);
    CHECK(c.rc("init script=relative/path.sh") == "HA_GS_BAD_PARAMETER");
    CHECK(c.rc("init script=/" + std::string(HA_GS_MAX_DEACTIVATE_SCRIPT_LENGTH, 'x')) ==
          "HA_GS_BAD_PARAMETER");
    CHECK(c.rc("init script=/" + std::string(HA_GS_MAX_DEACTIVATE_SCRIPT_LENGTH - 1, 'x')) ==
          "HA_GS_OK");
}
