/* SPDX-License-Identifier: MIT */
/* A two-node domain (the Netra layout) with Corosync's quorum device:
 * corosync-qnetd on a third machine that is no Corosync node, qdevice
 * (model net, ffsplit) on both nodes. When the link between the two nodes
 * breaks but both still reach qnetd, qnetd gives its vote to one side (the
 * lowest node id on a tie): that side goes on, the other loses quorum. Seen
 * through cmm.h (a registered client per node, every notification recorded
 * in order) and GSAPI. Then the link heals and the lost node comes back.
 * Twice: the vice-master lost, then (after a switchover) the master. Last,
 * the witness alone is lost, which changes nothing. docs/cluster.md, "Two
 * nodes", describes the setup and these results. */
#include "domain.hpp"

#include <cmm.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <poll.h>
#include <sstream>
#include <string>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

/* Sequences print in full when a check fails. */
template <>
struct doctest::StringMaker<std::vector<std::string>> {
    static doctest::String convert(const std::vector<std::string> &lines)
    {
        std::string text = "{";
        for (size_t i = 0; i < lines.size(); ++i)
            text += (i ? ", " : "") + lines[i];
        return (text + "}").c_str();
    }
};

using namespace cluster;

namespace {

std::string kindName(cmm_cmchanges_t kind)
{
    switch (kind) {
    case CMM_MASTER_ELECTED:
        return "MASTER_ELECTED";
    case CMM_MASTER_DEMOTED:
        return "MASTER_DEMOTED";
    case CMM_VICEMASTER_ELECTED:
        return "VICEMASTER_ELECTED";
    case CMM_VICEMASTER_DEMOTED:
        return "VICEMASTER_DEMOTED";
    case CMM_MEMBER_JOINED:
        return "MEMBER_JOINED";
    case CMM_MEMBER_LEFT:
        return "MEMBER_LEFT";
    case CMM_STALE_CLUSTER:
        return "STALE_CLUSTER";
    case CMM_INVALID_CLUSTER:
        return "INVALID_CLUSTER";
    case CMM_VALID_CLUSTER:
        return "VALID_CLUSTER";
    default:
        return "KIND" + std::to_string(static_cast<int>(kind));
    }
}

/* In the recorder child: one line per notification, "KIND nodeid @ms" (ms on
 * the monotonic clock, which the test process shares). */
void recordNotification(const cmm_cmc_notification_t *change, void *data)
{
    const int fd = *static_cast<int *>(data);
    const std::string line = kindName(change->cmchange) + " " + std::to_string(change->nodeid) +
                             " @" + std::to_string(nowMs()) + "\n";
    const ssize_t n = write(fd, line.data(), line.size());
    (void)n;
}

/* A registered CMM client at one node, in a child process (the library's
 * connection is per process): cmm_cmc_register, cmm_notify_getfd, poll,
 * cmm_notify_dispatch; each notification appended to its file as a line.
 * Its first line is "READY", or "ERROR ..." if it could not register. */
class Recorder {
  public:
    Recorder(Cluster &c, int node)
        : node_(node), path_(c.workDir() + "/cmm-client-" + std::to_string(node))
    {
        const std::string ep = c.endpoint(node);
        std::fflush(nullptr);
        pid_ = fork();
        REQUIRE(pid_ >= 0);
        if (pid_ == 0)
            run(ep);
        const int64_t deadline = nowMs() + 10000;
        while (nowMs() < deadline && read().empty())
            sleepMs(20);
        const std::vector<std::string> first = read();
        REQUIRE_MESSAGE(!first.empty(), "the CMM client at node " << node << " did not start");
        REQUIRE_MESSAGE(first[0] == "READY", "CMM client at node " << node << ": " << first[0]);
    }
    ~Recorder()
    {
        kill(pid_, SIGKILL);
        waitpid(pid_, nullptr, 0);
    }
    Recorder(const Recorder &) = delete;
    Recorder &operator=(const Recorder &) = delete;

    /* Every notification so far, "KIND nodeid", in order. */
    std::vector<std::string> seen() const
    {
        std::vector<std::string> out;
        for (const std::string &line : read())
            if (line != "READY")
                out.push_back(line.substr(0, line.find(" @")));
        return out;
    }
    /* When the latest notification `what` ("KIND nodeid") came, or -1. */
    int64_t when(const std::string &what) const
    {
        int64_t at = -1;
        for (const std::string &line : read())
            if (line.rfind(what + " @", 0) == 0)
                at = std::atoll(line.c_str() + what.size() + 2);
        return at;
    }
    /* Until `count` notifications are in, then `settleMs` more for any
     * that should not come; returns them all. */
    std::vector<std::string> waitFor(size_t count, int settleMs = 1500, int timeoutMs = 20000) const
    {
        const int64_t deadline = nowMs() + timeoutMs;
        while (seen().size() < count && nowMs() < deadline)
            sleepMs(20);
        sleepMs(settleMs);
        return seen();
    }
    int node() const { return node_; }

  private:
    [[noreturn]] void run(const std::string &ep)
    {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        int fd = open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
        if (fd < 0)
            _exit(1);
        const auto fail = [&](const std::string &call, cmm_error_t rc) {
            const std::string line = "ERROR " + call + " " + std::to_string(rc) + "\n";
            const ssize_t n = write(fd, line.data(), line.size());
            (void)n;
            _exit(1);
        };
        setenv("HA_GS_SOCKET", ep.c_str(), 1);
        timespec_t timeout{5, 0};
        if (const cmm_error_t rc = cmm_connect(timeout); rc != CMM_OK)
            fail("cmm_connect", rc);
        if (const cmm_error_t rc = cmm_cmc_register(recordNotification, &fd); rc != CMM_OK)
            fail("cmm_cmc_register", rc);
        int notifyFd = -1;
        if (const cmm_error_t rc = cmm_notify_getfd(&notifyFd); rc != CMM_OK)
            fail("cmm_notify_getfd", rc);
        const std::string ready = "READY\n";
        if (write(fd, ready.data(), ready.size()) < 0)
            _exit(1);
        for (;;) {
            pollfd p{notifyFd, POLLIN, 0};
            if (poll(&p, 1, 1000) < 0 && errno != EINTR)
                fail("poll", CMM_EOTHER);
            if (p.revents == 0)
                continue;
            if (const cmm_error_t rc = cmm_notify_dispatch(); rc != CMM_OK)
                fail("cmm_notify_dispatch", rc);
        }
    }
    std::vector<std::string> read() const
    {
        std::ifstream in(path_);
        std::vector<std::string> lines;
        for (std::string line; std::getline(in, line);)
            lines.push_back(line);
        return lines;
    }

    int node_;
    std::string path_;
    pid_t pid_ = -1;
};

/* What a node's CMM says, as one line: "count=N [id:name:R ...]
 * master=ID|rc vice=ID|rc" (R: M master, V vice-master, - neither), or
 * "error <call> <rc>". One child per query: the connection is per process. */
std::string cmmView(Cluster &c, int node)
{
    int fds[2];
    REQUIRE(pipe(fds) == 0);
    const std::string ep = c.endpoint(node);
    std::fflush(nullptr);
    const pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        setenv("HA_GS_SOCKET", ep.c_str(), 1);
        const auto finish = [&](const std::string &text) {
            const ssize_t n = write(fds[1], text.data(), text.size());
            (void)n;
            _exit(0);
        };
        timespec_t timeout{5, 0};
        if (const cmm_error_t rc = cmm_connect(timeout); rc != CMM_OK)
            finish("error cmm_connect " + std::to_string(rc));
        cmm_member_t table[8];
        uint32_t count = 0;
        if (const cmm_error_t rc = cmm_member_getall(8, table, &count); rc != CMM_OK)
            finish("error cmm_member_getall " + std::to_string(rc));
        std::string out = "count=" + std::to_string(count) + " [";
        for (uint32_t i = 0; i < count; ++i)
            out += (i ? " " : "") + std::to_string(table[i].nodeid) + ":" + table[i].name + ":" +
                   (cmm_member_ismaster(&table[i])       ? "M"
                    : cmm_member_isvicemaster(&table[i]) ? "V"
                                                         : "-");
        cmm_member_t m{};
        const cmm_error_t masterRc = cmm_master_getinfo(&m);
        out += "] master=" + (masterRc == CMM_OK ? std::to_string(m.nodeid)
                                                 : std::string(cmm_strerror(masterRc)));
        const cmm_error_t viceRc = cmm_vicemaster_getinfo(&m);
        out += " vice=" +
               (viceRc == CMM_OK ? std::to_string(m.nodeid) : std::string(cmm_strerror(viceRc)));
        cmm_disconnect();
        finish(out);
    }
    close(fds[1]);
    std::string text;
    char buf[1024];
    const int64_t deadline = nowMs() + 20000;
    for (;;) {
        pollfd p{fds[0], POLLIN, 0};
        const int64_t left = deadline - nowMs();
        if (left <= 0 || poll(&p, 1, static_cast<int>(left)) <= 0)
            break;
        const ssize_t n = read(fds[0], buf, sizeof buf);
        if (n <= 0)
            break;
        text.append(buf, static_cast<size_t>(n));
    }
    close(fds[0]);
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
    return text;
}

/* Until both nodes' CMM views are `expected`; returns node 1's and node 2's. */
std::pair<std::string, std::string> waitViews(Cluster &c, const std::string &expected,
                                              int timeoutMs = 15000)
{
    const int64_t deadline = nowMs() + timeoutMs;
    for (;;) {
        std::pair<std::string, std::string> views{cmmView(c, 1), cmmView(c, 2)};
        if ((views.first == expected && views.second == expected) || nowMs() >= deadline)
            return views;
        sleepMs(100);
    }
}

/* cmm_mastership_release on node k, from a child: its rc. */
cmm_error_t releaseMastership(Cluster &c, int node)
{
    const std::string ep = c.endpoint(node);
    std::fflush(nullptr);
    const pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        setenv("HA_GS_SOCKET", ep.c_str(), 1);
        _exit(static_cast<int>(-cmm_mastership_release()));
    }
    int status = 0;
    waitpid(pid, &status, 0);
    REQUIRE(WIFEXITED(status));
    return static_cast<cmm_error_t>(-WEXITSTATUS(status));
}

using Lines = std::vector<std::string>;

/* Pids of the processes whose command line mentions `text`. */
std::vector<pid_t> processesNaming(const std::string &text)
{
    std::vector<pid_t> found;
    for (const auto &entry : std::filesystem::directory_iterator("/proc")) {
        const std::string name = entry.path().filename().string();
        if (name.find_first_not_of("0123456789") != std::string::npos)
            continue;
        std::ifstream in(entry.path() / "cmdline", std::ios::binary);
        std::stringstream cmdline;
        cmdline << in.rdbuf();
        if (cmdline.str().find(text) != std::string::npos)
            found.push_back(static_cast<pid_t>(std::stol(name)));
    }
    return found;
}

/* The value of "key:" in corosync-qdevice-tool -s output ("" if absent). */
std::string statusField(const std::string &status, const std::string &key)
{
    std::istringstream is(status);
    for (std::string line; std::getline(is, line);) {
        if (line.rfind(key + ":", 0) != 0)
            continue;
        const size_t value = line.find_first_not_of(" \t", key.size() + 1);
        return value == std::string::npos ? "" : line.substr(value);
    }
    return "";
}

/* Until node k's Corosync says it is not quorate: when (monotonic ms). */
int64_t inquorateAt(Cluster &c, int node)
{
    REQUIRE_MESSAGE(c.waitInquorate(node, 30000), c.describe());
    return nowMs();
}

} // namespace

TEST_CASE("cluster qdevice: two nodes and qnetd: cut between the nodes, qnetd's side goes on; "
          "healed, the other comes back")
{
    const int64_t programStart = nowMs();
    ClusterOptions options;
    options.nodes = 2;
    options.quorumDevice = true;
    Cluster c(options); /* both nodes quorate with 3 votes (2 nodes + the device) */
    for (int k : c.all()) {
        CAPTURE(k);
        const QuorumView q = c.quorum(k);
        CHECK(q.quorate);
        CHECK(q.totalVotes == 3);
        INFO(q.text);
        CHECK(q.text.find("Qdevice") != std::string::npos);
        const std::string status = c.qdeviceStatus(k);
        INFO(status);
        CHECK(statusField(status, "State") == "Connected");
        CHECK(statusField(status, "Algorithm") == "Fifty-Fifty split");
        CHECK(statusField(status, "Poll timer running") == "Yes (cast vote)");
    }
    MESSAGE("two nodes and qnetd quorate with 3 votes after " << nowMs() - programStart << " ms");

    /* One after the other: node 1 is master, node 2 vice-master. */
    startDomain(c, {1});
    startDomain(c, {2});
    const std::string pair = "count=2 [1:gsnode1:M 2:gsnode2:V] master=1 vice=2";
    auto views = waitViews(c, pair);
    CHECK(views.first == pair);
    CHECK(views.second == pair);

    auto a = clientAt(c, 1, "a");
    auto b = clientAt(c, 2, "b");
    joinAcross({{a.get(), 1, 1}, {b.get(), 1, 2}}, "g");
    Recorder r1(c, 1);
    Recorder r2(c, 2);

    /* ---- Round 1: the vice-master is on the losing side. ---- */
    const int64_t cut1 = nowMs();
    c.cutBetween({1, 2});
    const int64_t lost1 = inquorateAt(c, 2);
    /* Everything each client is to have been told so far, in order. */
    Lines loser{"STALE_CLUSTER 0", "INVALID_CLUSTER 0"};
    CHECK(r2.waitFor(loser.size()) == loser);
    Lines winner{"VICEMASTER_DEMOTED 2", "MEMBER_LEFT 2"};
    CHECK(r1.waitFor(winner.size()) == winner);
    MESSAGE("round 1: cut -> node 2 not quorate "
            << lost1 - cut1 << " ms, -> STALE at node 2 " << r2.when("STALE_CLUSTER 0") - cut1
            << " ms; cut -> MEMBER_LEFT(2) at node 1 " << r1.when("MEMBER_LEFT 2") - cut1 << " ms");
    {
        const QuorumView q1 = c.quorum(1);
        CHECK(q1.quorate);
        CHECK(q1.totalVotes == 2); /* its own and qnetd's */
        const QuorumView q2 = c.quorum(2);
        CHECK(!q2.quorate);
        CHECK(q2.totalVotes == 1);
        /* Both devices still talk to qnetd: it voted for node 1 only. */
        const std::string s1 = c.qdeviceStatus(1), s2 = c.qdeviceStatus(2);
        INFO(s1 << s2);
        CHECK(statusField(s1, "State") == "Connected");
        CHECK(statusField(s2, "State") == "Connected");
        CHECK(statusField(s1, "Poll timer running") == "Yes (cast vote)");
        CHECK(statusField(s2, "Poll timer running") == "Yes");
    }
    /* GSAPI: node 1 goes on, node 2 ended its sessions and takes no client. */
    a->waitFor({"g: approved FAILURE_LEAVE", {"chg=[1.2]"}});
    b->waitFor("*: dispatch HA_GS_NOT_OK");
    CHECK(b->rc("state g cut") == "HA_GS_NOT_OK");
    CHECK(api::rcName(c.probeInit(2)) == "HA_GS_CONNECT_FAILED");
    CHECK(api::rcName(c.probeInit(1)) == "HA_GS_OK");
    CHECK(cmmView(c, 2) == "error cmm_member_getall " + std::to_string(CMM_ENOCLUSTER));
    REQUIRE(a->rc("state g alone") == "HA_GS_OK");
    a->waitFor({"g: approved STATE_VALUE_CHANGE", {"prop=\"alone\""}});
    CHECK(cmmView(c, 1) ==
          "count=1 [1:gsnode1:M] master=1 vice=" + std::string(cmm_strerror(CMM_ESRCH)));

    const int64_t heal1 = nowMs();
    c.healBetween({1, 2});
    REQUIRE_MESSAGE(c.waitQuorate(c.all(), 3), c.describe());
    REQUIRE_MESSAGE(c.waitSynced(2), c.describe());
    /* Node 2 is told it is valid again, then of its own election, as node
     * 1 was. */
    loser.insert(loser.end(), {"VALID_CLUSTER 0", "VICEMASTER_ELECTED 2"});
    CHECK(r2.waitFor(loser.size()) == loser);
    winner.push_back("VICEMASTER_ELECTED 2");
    CHECK(r1.waitFor(winner.size()) == winner);
    MESSAGE("round 1: heal -> VALID at node 2 "
            << r2.when("VALID_CLUSTER 0") - heal1 << " ms, -> VICEMASTER_ELECTED(2) at node 1 "
            << r1.when("VICEMASTER_ELECTED 2") - heal1 << " ms");
    views = waitViews(c, pair);
    CHECK(views.first == pair);
    CHECK(views.second == pair);

    /* ---- Round 2: a switchover makes node 2 master; the master is on the
     * losing side. qnetd still favours the lowest node id: both halves come
     * from the quorate partition, so only its tie-breaker decides. ---- */
    REQUIRE(releaseMastership(c, 1) == CMM_OK);
    const Lines switchover{"MASTER_DEMOTED 1", "MASTER_ELECTED 2", "VICEMASTER_ELECTED 1"};
    winner.insert(winner.end(), switchover.begin(), switchover.end());
    CHECK(r1.waitFor(winner.size()) == winner);
    loser.insert(loser.end(), switchover.begin(), switchover.end());
    CHECK(r2.waitFor(loser.size()) == loser);
    const std::string swapped = "count=2 [1:gsnode1:V 2:gsnode2:M] master=2 vice=1";
    views = waitViews(c, swapped);
    CHECK(views.first == swapped);
    CHECK(views.second == swapped);

    const int64_t cut2 = nowMs();
    c.cutBetween({1, 2});
    const int64_t lost2 = inquorateAt(c, 2);
    loser.insert(loser.end(), {"STALE_CLUSTER 0", "INVALID_CLUSTER 0"});
    CHECK(r2.waitFor(loser.size()) == loser);
    winner.insert(winner.end(), {"MASTER_DEMOTED 2", "MEMBER_LEFT 2", "MASTER_ELECTED 1"});
    CHECK(r1.waitFor(winner.size()) == winner);
    MESSAGE("round 2: cut -> node 2 not quorate "
            << lost2 - cut2 << " ms, -> STALE at node 2 " << r2.when("STALE_CLUSTER 0") - cut2
            << " ms; cut -> MEMBER_LEFT(2) at node 1 " << r1.when("MEMBER_LEFT 2") - cut2
            << " ms, -> MASTER_ELECTED(1) " << r1.when("MASTER_ELECTED 1") - cut2 << " ms");
    CHECK(c.quorum(1).quorate);
    CHECK(cmmView(c, 1) ==
          "count=1 [1:gsnode1:M] master=1 vice=" + std::string(cmm_strerror(CMM_ESRCH)));

    c.healBetween({1, 2});
    REQUIRE_MESSAGE(c.waitQuorate(c.all(), 3), c.describe());
    REQUIRE_MESSAGE(c.waitSynced(2), c.describe());
    loser.insert(loser.end(), {"VALID_CLUSTER 0", "VICEMASTER_ELECTED 2"});
    CHECK(r2.waitFor(loser.size()) == loser);
    winner.push_back("VICEMASTER_ELECTED 2");
    CHECK(r1.waitFor(winner.size()) == winner);
    views = waitViews(c, pair);
    CHECK(views.first == pair);
    CHECK(views.second == pair);

    /* ---- The witness alone lost: the two nodes hold 2 of 3 votes and go
     * on, nobody is told anything. ---- */
    c.stopQnetd();
    REQUIRE_MESSAGE(c.waitQuorate(c.all(), 2), c.describe());
    CHECK(r1.waitFor(winner.size()) == winner);
    CHECK(r2.waitFor(loser.size()) == loser);
    CHECK(api::rcName(c.probeInit(1)) == "HA_GS_OK");
    CHECK(api::rcName(c.probeInit(2)) == "HA_GS_OK");
    views = waitViews(c, pair);
    CHECK(views.first == pair);
    CHECK(views.second == pair);
    MESSAGE("whole test: " << nowMs() - programStart << " ms");

    /* Teardown leaves nothing: qnetd, the devices (and their heuristics
     * workers, which name the work directory too), Corosync, gsd. */
    const std::string dir = c.workDir();
    CHECK(processesNaming(dir).size() >= c.startedPids().size());
    c.teardown();
    CHECK(c.startedPids().size() == 7);
    for (pid_t p : c.startedPids()) {
        INFO("pid " << p);
        CHECK((kill(p, 0) != 0 && errno == ESRCH));
    }
    CHECK(processesNaming(dir).empty());
    CHECK(c.namespacesLeft().empty());
    CHECK_FALSE(std::filesystem::exists(dir));
}
