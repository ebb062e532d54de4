/* SPDX-License-Identifier: MIT */
/* The CMM samples across a domain, run as a user would (docs/cluster.md,
 * "Checking a domain"): cmm_check against every node's gsd prints the same
 * line, before and after the master's gsd is killed; cluster_monitor against
 * node 1 names the node whose gsd is killed. The samples' paths come from
 * meson (CMM_CHECK_PATH, CLUSTER_MONITOR_PATH); they run in the root
 * namespace and pick their node by HA_GS_SOCKET. */
#include "domain.hpp"

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <fcntl.h>
#include <map>
#include <optional>
#include <poll.h>
#include <sstream>
#include <stdexcept>
#include <string>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

using namespace cluster;

namespace {

std::string samplePath(const char *variable)
{
    const char *p = std::getenv(variable);
    if (!p || !*p)
        throw std::runtime_error(std::string(variable) +
                                 " is not set (run the tests through meson test)");
    return p;
}

/* A sample run against one node's gsd; stdout and stderr in one pipe. */
class Sample {
  public:
    Sample(const std::string &program, const std::vector<std::string> &args,
           const std::string &endpoint)
    {
        int fds[2];
        if (pipe2(fds, O_CLOEXEC) != 0)
            throw std::runtime_error("pipe2 failed");
        std::vector<std::string> argv{program};
        argv.insert(argv.end(), args.begin(), args.end());
        std::fflush(nullptr);
        pid_ = fork();
        if (pid_ < 0)
            throw std::runtime_error("fork failed");
        if (pid_ == 0) {
            dup2(fds[1], STDOUT_FILENO);
            dup2(fds[1], STDERR_FILENO);
            setenv("HA_GS_SOCKET", endpoint.c_str(), 1);
            std::vector<char *> raw;
            for (std::string &a : argv)
                raw.push_back(a.data());
            raw.push_back(nullptr);
            execv(raw[0], raw.data());
            _exit(127);
        }
        close(fds[1]);
        fd_ = fds[0];
    }
    ~Sample()
    {
        if (!reaped_) {
            kill(pid_, SIGKILL);
            waitpid(pid_, nullptr, 0);
        }
        if (fd_ >= 0)
            close(fd_);
    }
    Sample(const Sample &) = delete;
    Sample &operator=(const Sample &) = delete;

    /* Until the output holds `text` (true) or `timeoutMs` passed. */
    bool waitFor(const std::string &text, int timeoutMs)
    {
        const int64_t deadline = nowMs() + timeoutMs;
        while (output_.find(text) == std::string::npos) {
            if (!readSome(deadline))
                return output_.find(text) != std::string::npos;
        }
        return true;
    }

    /* Until the program exits (its raw wait status) or nullopt on timeout. */
    std::optional<int> finish(int timeoutMs)
    {
        const int64_t deadline = nowMs() + timeoutMs;
        while (readSome(deadline)) {
        }
        if (nowMs() >= deadline && !eof_)
            return std::nullopt;
        int status = 0;
        if (waitpid(pid_, &status, 0) != pid_)
            return std::nullopt;
        reaped_ = true;
        return status;
    }

    const std::string &output() const { return output_; }

  private:
    /* Reads what is there before `deadline`; false at EOF or deadline. */
    bool readSome(int64_t deadline)
    {
        if (eof_)
            return false;
        const int64_t left = deadline - nowMs();
        if (left <= 0)
            return false;
        pollfd p{fd_, POLLIN, 0};
        const int ready = poll(&p, 1, static_cast<int>(left));
        if (ready < 0 && errno == EINTR)
            return true;
        if (ready <= 0)
            return false;
        char buf[4096];
        const ssize_t n = read(fd_, buf, sizeof buf);
        if (n <= 0) {
            eof_ = true;
            return false;
        }
        output_.append(buf, static_cast<size_t>(n));
        return true;
    }

    pid_t pid_ = -1;
    int fd_ = -1;
    bool eof_ = false;
    bool reaped_ = false;
    std::string output_;
};

/* cmm_check against node k: its output, or "exit <status>: <output>" when it
 * did not exit 0. */
std::string checkAt(Cluster &c, int node)
{
    Sample check(samplePath("CMM_CHECK_PATH"), {}, c.endpoint(node));
    const std::optional<int> status = check.finish(15000);
    if (!status)
        return "timeout: " + check.output();
    if (!WIFEXITED(*status) || WEXITSTATUS(*status) != 0)
        return "exit " + std::to_string(*status) + ": " + check.output();
    return check.output();
}

/* Until cmm_check prints the same line with `count` nodes on every node of
 * `nodes` (a change takes a moment to reach every node: the user's "run it
 * again"). Returns the line without its newline; fails the test with every
 * node's last answer otherwise. */
std::string agreedLine(Cluster &c, const std::vector<int> &nodes, int count, int timeoutMs = 20000)
{
    const std::string prefix = "nodes=" + std::to_string(count) + " ";
    const int64_t deadline = nowMs() + timeoutMs;
    std::vector<std::string> lines;
    for (;;) {
        lines.clear();
        bool agreed = true;
        for (int k : nodes) {
            lines.push_back(checkAt(c, k));
            agreed = agreed && lines.back().rfind(prefix, 0) == 0 && lines.back() == lines.front();
        }
        if (agreed && lines.front().size() > 1 && lines.front().back() == '\n' &&
            std::count(lines.front().begin(), lines.front().end(), '\n') == 1)
            return lines.front().substr(0, lines.front().size() - 1);
        if (nowMs() >= deadline)
            break;
        sleepMs(200);
    }
    std::string all;
    for (size_t i = 0; i < nodes.size(); ++i)
        all += "node " + std::to_string(nodes[i]) + ": " + lines[i];
    FAIL("the nodes never agreed on " << count << " nodes:\n" << all << c.describe());
    return "";
}

/* "key=value ..." as a map. */
std::map<std::string, std::string> fields(const std::string &line)
{
    std::map<std::string, std::string> out;
    std::istringstream is(line);
    std::string token;
    while (is >> token) {
        const size_t eq = token.find('=');
        if (eq != std::string::npos)
            out[token.substr(0, eq)] = token.substr(eq + 1);
    }
    return out;
}

std::string joined(const std::vector<std::string> &items)
{
    std::string out;
    for (const std::string &item : items)
        out += (out.empty() ? "" : ",") + item;
    return out;
}

/* Checks what a line says against the nodes that should be members. */
void checkLine(Cluster &c, const std::string &line, const std::vector<int> &members)
{
    INFO("line: " << line);
    std::vector<std::string> ids, names;
    for (int k : members) {
        ids.push_back(std::to_string(k));
        names.push_back(c.nodeName(k));
    }
    auto f = fields(line);
    CHECK(f.size() == 5);
    CHECK(f["nodes"] == std::to_string(members.size()));
    CHECK(f["members"] == joined(ids));
    CHECK(f["names"] == joined(names));
    CHECK(std::find(ids.begin(), ids.end(), f["master"]) != ids.end());
    CHECK(f["vicemaster"] != f["master"]);
    if (members.size() > 1) /* every node is eligible: a vice-master exists */
        CHECK(std::find(ids.begin(), ids.end(), f["vicemaster"]) != ids.end());
}

std::vector<int> without(const std::vector<int> &nodes, int gone)
{
    std::vector<int> out;
    for (int k : nodes)
        if (k != gone)
            out.push_back(k);
    return out;
}

} // namespace

TEST_CASE("cluster samples: cmm_check agrees on every node, also after the master's gsd dies; "
          "cluster_monitor names the node whose gsd is killed")
{
    Cluster c;
    const int64_t started = nowMs();
    startDomain(c, c.all());

    /* Every node prints the same line. */
    const std::string three = agreedLine(c, c.all(), 3);
    checkLine(c, three, c.all());
    const int master = std::atoi(fields(three)["master"].c_str());
    MESSAGE("3 nodes: " << three);

    /* cluster_monitor -s bounces the master role on a one-node domain only:
     * elsewhere it refuses, before changing anything, with the reason. */
    for (int k : c.all()) {
        Sample exercise(samplePath("CLUSTER_MONITOR_PATH"), {"-s", "-n", "1"}, c.endpoint(k));
        const std::optional<int> status = exercise.finish(15000);
        INFO("cluster_monitor -s at node " << k << ":\n" << exercise.output());
        REQUIRE(status.has_value());
        CHECK(WIFEXITED(*status));
        CHECK(WEXITSTATUS(*status) == 1);
        CHECK(exercise.output().find(k == master
                                         ? "-s needs a domain without a vice-master"
                                         : "-s must run on the master") != std::string::npos);
    }
    CHECK(agreedLine(c, c.all(), 3) == three); /* nothing changed */

    /* The master's gsd dies: the two survivors agree on a new master. */
    c.killGsd(master, SIGKILL);
    const std::vector<int> survivors = without(c.all(), master);
    const std::string two = agreedLine(c, survivors, 2);
    checkLine(c, two, survivors);
    CHECK(fields(two)["master"] != std::to_string(master));
    MESSAGE("master " << master << " killed: " << two);

    /* Back with its gsd: three nodes again (it comes back without a role,
     * roles are never pre-empted). */
    REQUIRE(c.waitGsdExit(master, 5000).has_value());
    c.startGsd(master);
    REQUIRE_MESSAGE(c.waitSynced(master), c.describe());
    const std::string again = agreedLine(c, c.all(), 3);
    checkLine(c, again, c.all());

    /* cluster_monitor against node 1 while another node's gsd is killed:
     * the vice-master if it is not node 1, else the role-less node. What
     * the monitor must print follows from the victim's role (cmm.h: role
     * losses, MEMBER_LEFT, then the election that fills the vacancy). */
    const auto roles = fields(again);
    const auto id = [](int k) { return std::to_string(k); };
    int victim = 0;
    for (int k : without(c.all(), 1))
        if (id(k) != roles.at("master") && (victim == 0 || id(k) == roles.at("vicemaster")))
            victim = k;
    REQUIRE(victim != 0);
    const auto named = [&](int k) { return " node " + id(k) + " (" + c.nodeName(k) + ")"; };
    std::vector<std::string> expected;
    if (id(victim) == roles.at("vicemaster")) {
        /* The one node left without a role (node 1 here) takes its place. */
        int next = 0;
        for (int k : without(c.all(), victim))
            if (id(k) != roles.at("master"))
                next = k;
        expected = {"notification: VICEMASTER_DEMOTED" + named(victim),
                    "notification: MEMBER_LEFT" + named(victim),
                    "notification: VICEMASTER_ELECTED" + named(next)};
    } else {
        expected = {"notification: MEMBER_LEFT" + named(victim)};
    }
    const std::string count = std::to_string(expected.size());

    Sample monitor(samplePath("CLUSTER_MONITOR_PATH"), {"-n", count}, c.endpoint(1));
    REQUIRE_MESSAGE(monitor.waitFor("monitoring from node 1\n", 10000), monitor.output());
    c.killGsd(victim, SIGKILL);
    const std::optional<int> status = monitor.finish(20000);
    const std::string out = monitor.output();
    INFO("victim " << victim << "; cluster_monitor printed:\n" << out);
    REQUIRE(status.has_value());
    CHECK(WIFEXITED(*status));
    CHECK(WEXITSTATUS(*status) == 0);
    size_t at = 0;
    for (const std::string &line : expected) {
        at = out.find(line + "\n", at);
        REQUIRE_MESSAGE(at != std::string::npos, "missing (in order): " << line);
    }
    /* The member table printed with the last one no longer lists it. */
    const size_t table = out.find("  cluster: 2 member(s)\n", at);
    CHECK(table != std::string::npos);
    CHECK(out.find("    node " + std::to_string(victim) + " ", table) == std::string::npos);
    CHECK(out.find("done after " + count + " notification(s)") != std::string::npos);

    /* And the two nodes left agree again. */
    checkLine(c, agreedLine(c, without(c.all(), victim), 2), without(c.all(), victim));
    MESSAGE("run took " << nowMs() - started << " ms");
}
