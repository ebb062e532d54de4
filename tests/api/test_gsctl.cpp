/* SPDX-License-Identifier: MIT */
/*
 * gsctl against a live gsd: what an operator sees of groups, protocols,
 * clients, events and counters, read from gsctl's JSON output. The
 * clients are the public-API agents (harness.hpp); gsctl is the built
 * program ($GSCTL_PATH), run as a separate process as an operator would.
 */
#include "../support/gsctl_json.hpp"
#include "harness.hpp"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

using namespace api;
using nlohmann::json;
using test_support::gsctlPath;
using test_support::providerOf;
using namespace std::chrono_literals;

namespace {

struct Run {
    int status = -1; /* exit status; -1: killed by `signal`; -2: did not end in time */
    int signal = 0;
    std::string out, err;
};

/* A gsctl process: started with its output to pipes, read until it ends. */
class Gsctl {
  public:
    Gsctl(const PrivateGsd &gsd, std::vector<std::string> args,
          std::function<void()> setup = nullptr)
    {
        int out[2], err[2];
        REQUIRE(pipe2(out, O_CLOEXEC) == 0);
        REQUIRE(pipe2(err, O_CLOEXEC) == 0);
        const std::string path = gsctlPath();
        pid_ = fork();
        REQUIRE(pid_ >= 0);
        if (pid_ == 0) {
            dup2(out[1], 1);
            dup2(err[1], 2);
            if (setup)
                setup();
            std::vector<std::string> all{path, "--socket", gsd.endpoint()};
            all.insert(all.end(), args.begin(), args.end());
            std::vector<char *> argv;
            for (auto &a : all)
                argv.push_back(a.data());
            argv.push_back(nullptr);
            execv(path.c_str(), argv.data());
            _exit(127);
        }
        ::close(out[1]);
        ::close(err[1]);
        out_ = out[0];
        err_ = err[0];
    }
    ~Gsctl()
    {
        if (pid_ > 0) {
            ::kill(pid_, SIGKILL);
            waitpid(pid_, nullptr, 0);
        }
        if (out_ >= 0)
            ::close(out_);
        ::close(err_);
    }
    void interrupt() { ::kill(pid_, SIGINT); }
    void signal(int sig) { ::kill(pid_, sig); }
    /* Closes the reading end of its standard output, as `| head -1` does
     * once it has its line. */
    void closeOutput()
    {
        ::close(out_);
        out_ = -1;
    }
    /* Reads both pipes until gsctl exits (at most timeoutMs; then it is
     * killed and the status is -2). */
    Run finish(int timeoutMs = 20000)
    {
        const auto deadline =
            std::chrono::steady_clock::now() + std::chrono::milliseconds(timeoutMs);
        bool outOpen = out_ >= 0, errOpen = true;
        while ((outOpen || errOpen) && std::chrono::steady_clock::now() < deadline) {
            pollfd fds[] = {{outOpen ? out_ : -1, POLLIN, 0}, {errOpen ? err_ : -1, POLLIN, 0}};
            poll(fds, 2, 100);
            char buffer[4096];
            for (int i = 0; i < 2; ++i) {
                if (!(fds[i].revents & (POLLIN | POLLHUP)))
                    continue;
                const ssize_t n = read(fds[i].fd, buffer, sizeof buffer);
                if (n > 0)
                    (i == 0 ? run_.out : run_.err).append(buffer, static_cast<size_t>(n));
                else
                    (i == 0 ? outOpen : errOpen) = false;
            }
        }
        int status = 0;
        while (waitpid(pid_, &status, WNOHANG) == 0) {
            if (std::chrono::steady_clock::now() >= deadline) {
                ::kill(pid_, SIGKILL);
                waitpid(pid_, &status, 0);
                pid_ = -1;
                run_.status = -2;
                return run_;
            }
            std::this_thread::sleep_for(10ms);
        }
        pid_ = -1;
        run_.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        run_.signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
        return run_;
    }

  private:
    pid_t pid_ = -1;
    int out_ = -1, err_ = -1;
    Run run_;
};

Run gsctl(const PrivateGsd &gsd, std::vector<std::string> args)
{
    return Gsctl(gsd, std::move(args)).finish();
}

json gsctlJson(const PrivateGsd &gsd, std::vector<std::string> args)
{
    args.insert(args.begin(), "--json");
    const Run run = gsctl(gsd, args);
    INFO("gsctl stderr: " << run.err);
    REQUIRE(run.status == 0);
    return json::parse(run.out);
}

/* The agent joins `group` as `instance` and waits for its join's approval. */
void joinAndWait(Client &client, const std::string &group, int instance, const std::string &options)
{
    REQUIRE(client.rc("join " + group + " " + std::to_string(instance) + " " + options) ==
            "HA_GS_OK");
    client.waitFor(Match(group + ": approved", {"JOIN"}));
}

/* An event reduced to what the script decides (not its time or latency). */
std::string shape(const json &e)
{
    std::string text = e.at("event").get<std::string>();
    if (e.contains("protocol"))
        text += " " + e.at("protocol").get<std::string>();
    if (e.contains("phase"))
        text += " phase=" + e.at("phase").dump();
    if (e.contains("phases"))
        text += " phases=" + e.at("phases").dump();
    const auto instances = [](const json &list) {
        std::string out;
        for (const auto &p : list)
            out += (out.empty() ? "" : ",") + p.at("instance").dump();
        return "[" + out + "]";
    };
    if (e.contains("by"))
        text +=
            " by=" + (e.at("by").is_null() ? std::string("-") : e.at("by").at("instance").dump());
    if (e.contains("changing"))
        text += " changing=" + instances(e.at("changing"));
    if (e.contains("voters"))
        text += " voters=" + instances(e.at("voters"));
    if (e.contains("provider"))
        text += " provider=" + e.at("provider").at("instance").dump();
    if (e.contains("vote"))
        text += " " + e.at("vote").get<std::string>();
    if (e.contains("late"))
        text += " late=" + instances(e.at("late"));
    if (e.contains("summary")) {
        std::string bits;
        for (const auto &b : e.at("summary"))
            bits += (bits.empty() ? "" : "|") + b.get<std::string>();
        text += " summary=" + (bits.empty() ? std::string("0") : bits);
    }
    return text;
}

/* Waits until gsd has an admin session streaming events (gsctl events
 * started and was answered). */
void waitForStreamer(const PrivateGsd &gsd, Gsctl &stream)
{
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (std::chrono::steady_clock::now() < deadline) {
        const json clients = gsctlJson(gsd, {"clients"});
        for (const auto &s : clients.at("sessions"))
            if (s.at("streaming").get<bool>())
                return;
        std::this_thread::sleep_for(50ms);
    }
    stream.interrupt();
    const Run run = stream.finish();
    FAIL("gsctl events never started streaming: status " << run.status << ", " << run.err);
}

} // namespace

TEST_CASE("gsctl group: a stuck n-phase protocol shows the exact missing voter and the time "
          "left")
{
    PrivateGsd gsd;
    ClientProcess a("a", gsd), b("b", gsd);
    REQUIRE(a.rc("autovote stuck approve") == "HA_GS_OK");
    REQUIRE(b.rc("autovote stuck approve") == "HA_GS_OK");
    joinAndWait(a, "stuck", 1, "phases=n tl=30 local=alpha");
    joinAndWait(b, "stuck", 2, "phases=n tl=30 local=beta");
    a.waitFor(Match("stuck: approved", {"JOIN"}));
    /* b stops voting; a proposes a state value and votes for it. */
    REQUIRE(b.rc("autovote stuck none") == "HA_GS_OK");
    REQUIRE(a.rc("state stuck v2 phases=n tl=30") == "HA_GS_OK");
    b.waitFor(Match("stuck: nphase", {"STATE_VALUE_CHANGE"}));
    a.waitFor(Match("stuck: nphase", {"STATE_VALUE_CHANGE"}));

    /* a's vote is in once the group shows it; then only b is missing. */
    json group;
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    do {
        group = gsctlJson(gsd, {"group", "stuck"});
    } while (providerOf(group.at("protocol").at("voters"), 1).at("voted") != true &&
             std::chrono::steady_clock::now() < deadline);
    INFO(group.dump(2));
    const json &protocol = group.at("protocol");
    CHECK(protocol.at("type") == "HA_GS_STATE_VALUE_CHANGE");
    CHECK(protocol.at("n_phase") == true);
    CHECK(protocol.at("phase") == 1);
    CHECK(protocol.at("time_limit") == 30);
    const json &missing = protocol.at("not_voted");
    REQUIRE(missing.size() == 1);
    CHECK(missing[0].at("instance") == 2);
    CHECK(missing[0].at("node") == 1);
    CHECK(missing[0].at("pid") == b.pid());
    const auto left = protocol.at("time_left_ms").get<int64_t>();
    CHECK(left > 0);
    CHECK(left <= 30000);
    CHECK(left > 15000); /* 30 s limit, read within seconds of the phase's start */
    CHECK(providerOf(protocol.at("voters"), 1).at("vote") == "HA_GS_VOTE_APPROVE");
    CHECK(providerOf(protocol.at("voters"), 2).at("vote").is_null());
    CHECK(protocol.at("proposed_state").at("text") == "v2");
    /* The members as the group has them, with what only this node knows. */
    CHECK(providerOf(group.at("providers"), 1).at("local_name") == "alpha");
    CHECK(providerOf(group.at("providers"), 2).at("local_name") == "beta");
    CHECK(providerOf(group.at("providers"), 1).at("pid") == a.pid());
    CHECK(group.at("attributes").at("num_phases") == "n");
    CHECK(group.at("queue").empty());

    /* Time passes: it is told less time left. */
    std::this_thread::sleep_for(1200ms);
    const json later = gsctlJson(gsd, {"group", "stuck"});
    CHECK(later.at("protocol").at("time_left_ms").get<int64_t>() < left);

    /* The same for people: the missing voter by instance, node and pid. */
    const Run table = gsctl(gsd, {"group", "stuck"});
    CHECK(table.status == 0);
    CHECK(table.out.find("not voted yet: 2@1 (pid " + std::to_string(b.pid()) + ")") !=
          std::string::npos);
    CHECK(table.out.find("s left") != std::string::npos);

    /* SIGUSR1 writes the same to the log. */
    gsd.kill(SIGUSR1);
    const auto logged = std::chrono::steady_clock::now() + 10s;
    const std::string dump = "group 'stuck': 2 providers, 0 subscribers, 0 queued, "
                             "HA_GS_STATE_VALUE_CHANGE in phase 1, not voted yet: 2 on node 1";
    while (gsd.log().find(dump) == std::string::npos && std::chrono::steady_clock::now() < logged)
        std::this_thread::sleep_for(50ms);
    CHECK(gsd.log().find(dump) != std::string::npos);

    /* b votes: the protocol ends, the value is the group's. */
    REQUIRE(b.rc("vote stuck approve") == "HA_GS_OK");
    b.waitFor(Match("stuck: approved", {"STATE_VALUE_CHANGE"}));
    const json after = gsctlJson(gsd, {"group", "stuck"});
    CHECK(after.at("protocol").is_null());
    CHECK(after.at("state").at("text") == "v2");
    const json groups = gsctlJson(gsd, {"groups"});
    REQUIRE(groups.at("groups").size() == 1);
    CHECK(groups.at("groups")[0].at("providers") == 2);
}

TEST_CASE("gsctl events: the stream of a scripted sequence of protocols is exactly that sequence")
{
    PrivateGsd gsd;
    ClientProcess a("a", gsd), b("b", gsd);
    Gsctl stream(gsd, {"--json", "events", "--group", "seq"});
    waitForStreamer(gsd, stream);

    /* Who votes when is the script's: a, then b, each vote answered (so
     * applied) before the next. */
    const auto phase = [&](const std::string &what, const char *aVote, const char *bVote) {
        a.waitFor(Match("seq: nphase", {what}));
        b.waitFor(Match("seq: nphase", {what}));
        REQUIRE(a.rc(std::string("vote seq ") + aVote) == "HA_GS_OK");
        if (bVote)
            REQUIRE(b.rc(std::string("vote seq ") + bVote) == "HA_GS_OK");
    };
    REQUIRE(a.rc("autovote seq approve") == "HA_GS_OK");
    joinAndWait(a, "seq", 1, "phases=n tl=20");
    REQUIRE(a.rc("autovote seq none") == "HA_GS_OK");
    REQUIRE(b.rc("join seq 2 phases=n tl=20") == "HA_GS_OK");
    phase("JOIN", "approve", "approve");
    a.waitFor(Match("seq: approved", {"JOIN"}));
    /* A state change b rejects, a provider message both approve, then a
     * state change b does not vote on runs into its time limit. */
    REQUIRE(a.rc("state seq x phases=n tl=20") == "HA_GS_OK");
    phase("STATE_VALUE_CHANGE", "approve", "reject");
    a.waitFor(Match("seq: rejected", {"STATE_VALUE_CHANGE"}));
    REQUIRE(a.rc("msg seq hello phases=n tl=20") == "HA_GS_OK");
    phase("PROVIDER_MESSAGE", "approve", "approve");
    a.waitFor(Match("seq: approved", {"PROVIDER_MESSAGE"}));
    REQUIRE(a.rc("state seq y phases=n tl=1") == "HA_GS_OK");
    phase("STATE_VALUE_CHANGE", "approve", nullptr);
    a.waitFor(Match("seq: approved", {"STATE_VALUE_CHANGE"}));
    /* An event of another group is not in this stream. */
    REQUIRE(a.rc("join other 1") == "HA_GS_OK");
    a.waitFor(Match("other: approved", {"JOIN"}));
    /* b leaves, then a (one-phase leaves): the group dissolves. */
    REQUIRE(b.rc("leave seq phases=1") == "HA_GS_OK");
    b.waitFor(Match("seq: approved", {"LEAVE"}));
    REQUIRE(a.rc("leave seq phases=1") == "HA_GS_OK");
    a.waitFor(Match("seq: approved", {"LEAVE"}));

    std::this_thread::sleep_for(500ms);
    stream.interrupt();
    const Run run = stream.finish();
    INFO("gsctl stderr: " << run.err);
    CHECK(run.status == 0);
    std::vector<std::string> seen;
    size_t start = 0;
    for (size_t end; (end = run.out.find('\n', start)) != std::string::npos; start = end + 1) {
        const json e = json::parse(run.out.substr(start, end - start));
        INFO(e.dump());
        CHECK(e.at("group") == "seq");
        CHECK(e.at("node") == 1);
        CHECK(e.at("time").get<std::string>().size() == 24);
        seen.push_back(shape(e));
    }
    const std::vector<std::string> expected{
        "group_created",
        "protocol_proposed HA_GS_JOIN by=- changing=[1]",
        "phase_opened HA_GS_JOIN phase=1 voters=[1]",
        "vote phase=1 provider=1 HA_GS_VOTE_APPROVE",
        "protocol_approved HA_GS_JOIN phases=1 changing=[1] summary=HA_GS_EXPLICIT_APPROVE",
        "protocol_proposed HA_GS_JOIN by=- changing=[2]",
        "phase_opened HA_GS_JOIN phase=1 voters=[1,2]",
        "vote phase=1 provider=1 HA_GS_VOTE_APPROVE",
        "vote phase=1 provider=2 HA_GS_VOTE_APPROVE",
        "protocol_approved HA_GS_JOIN phases=1 changing=[2] summary=HA_GS_EXPLICIT_APPROVE",
        "protocol_proposed HA_GS_STATE_VALUE_CHANGE by=1 changing=[]",
        "phase_opened HA_GS_STATE_VALUE_CHANGE phase=1 voters=[1,2]",
        "vote phase=1 provider=1 HA_GS_VOTE_APPROVE",
        "vote phase=1 provider=2 HA_GS_VOTE_REJECT",
        "protocol_rejected HA_GS_STATE_VALUE_CHANGE phases=1 changing=[] "
        "summary=HA_GS_EXPLICIT_REJECT",
        "protocol_proposed HA_GS_PROVIDER_MESSAGE by=1 changing=[]",
        "phase_opened HA_GS_PROVIDER_MESSAGE phase=1 voters=[1,2]",
        "vote phase=1 provider=1 HA_GS_VOTE_APPROVE",
        "vote phase=1 provider=2 HA_GS_VOTE_APPROVE",
        "protocol_approved HA_GS_PROVIDER_MESSAGE phases=1 changing=[] "
        "summary=HA_GS_EXPLICIT_APPROVE",
        "protocol_proposed HA_GS_STATE_VALUE_CHANGE by=1 changing=[]",
        "phase_opened HA_GS_STATE_VALUE_CHANGE phase=1 voters=[1,2]",
        "vote phase=1 provider=1 HA_GS_VOTE_APPROVE",
        "time_limit_exceeded HA_GS_STATE_VALUE_CHANGE phase=1 late=[2]",
        "protocol_approved HA_GS_STATE_VALUE_CHANGE phases=1 changing=[] "
        "summary=HA_GS_DEFAULT_APPROVE|HA_GS_TIME_LIMIT_EXCEEDED",
        "protocol_proposed HA_GS_LEAVE by=2 changing=[2]",
        "protocol_approved HA_GS_LEAVE phases=1 changing=[2] summary=0",
        "protocol_proposed HA_GS_LEAVE by=1 changing=[1]",
        "protocol_approved HA_GS_LEAVE phases=1 changing=[1] summary=HA_GS_GROUP_DISSOLVED",
        "group_dissolved",
    };
    CHECK(seen == expected);
    if (seen != expected)
        for (const auto &line : seen)
            MESSAGE(line);

    /* The log names the late provider with its pid, and no number stands
     * for a name. */
    const std::string log = gsd.log();
    CHECK(log.find("group 'seq': phase 1 of HA_GS_STATE_VALUE_CHANGE exceeded its time limit: "
                   "provider 2 on node 1 (pid " +
                   std::to_string(b.pid()) + ") did not vote") != std::string::npos);
    CHECK(log.find("group 'seq' created") != std::string::npos);
    CHECK(log.find("group 'seq' dissolved") != std::string::npos);
    CHECK(log.find("HA_GS_STATE_VALUE_CHANGE rejected after 1 phase: HA_GS_EXPLICIT_REJECT") !=
          std::string::npos);

    /* The counters saw the same protocols. */
    const json stats = gsctlJson(gsd, {"stats"});
    const auto count = [&](const std::string &type, const std::string &outcome) {
        for (const auto &p : stats.at("protocols"))
            if (p.at("type") == type && p.at("outcome") == outcome)
                return p.at("count").get<int>();
        return 0;
    };
    CHECK(count("HA_GS_JOIN", "approved") == 3);
    CHECK(count("HA_GS_STATE_VALUE_CHANGE", "approved") == 1);
    CHECK(count("HA_GS_STATE_VALUE_CHANGE", "rejected") == 1);
    CHECK(count("HA_GS_PROVIDER_MESSAGE", "approved") == 1);
    CHECK(count("HA_GS_LEAVE", "approved") == 2);
    CHECK(stats.at("time_limits_exceeded") == 1);
    CHECK(stats.at("groups") == 1); /* "other" */
}

TEST_CASE("gsctl metrics: Prometheus text with the protocols, collisions and vote latencies")
{
    PrivateGsd gsd;
    ClientProcess a("a", gsd), b("b", gsd);
    REQUIRE(a.rc("autovote m approve") == "HA_GS_OK");
    REQUIRE(b.rc("autovote m none") == "HA_GS_OK");
    joinAndWait(a, "m", 1, "phases=n tl=20");
    REQUIRE(b.rc("join m 2 phases=n tl=20") == "HA_GS_OK");
    REQUIRE(b.rc("vote m approve") == "HA_GS_OK");
    b.waitFor(Match("m: approved", {"JOIN"}));
    REQUIRE(a.rc("state m busy phases=n tl=20") == "HA_GS_OK");
    b.waitFor(Match("m: nphase", {"STATE_VALUE_CHANGE"}));
    /* The group is busy: b's proposal collides. */
    CHECK(b.rc("state m other phases=n tl=20") == "HA_GS_COLLIDE");
    REQUIRE(b.rc("vote m approve") == "HA_GS_OK");
    b.waitFor(Match("m: approved", {"STATE_VALUE_CHANGE"}));

    const Run text = gsctl(gsd, {"metrics"});
    REQUIRE(text.status == 0);
    INFO(text.out);
    CHECK(text.out.find("# TYPE gsd_protocols_total counter\n") != std::string::npos);
    CHECK(text.out.find("gsd_protocols_total{type=\"HA_GS_STATE_VALUE_CHANGE\",outcome="
                        "\"approved\"} 1\n") != std::string::npos);
    CHECK(text.out.find("gsd_collisions_total 1\n") != std::string::npos);
    CHECK(text.out.find("gsd_refusals_total{reason=\"HA_GS_COLLIDE\"} 1\n") != std::string::npos);
    CHECK(text.out.find("gsd_groups 1\n") != std::string::npos);
    CHECK(text.out.find("gsd_sessions{kind=\"gsapi\"} 2\n") != std::string::npos);
    /* Every line is a comment or "name{labels} value". */
    size_t start = 0;
    for (size_t end; (end = text.out.find('\n', start)) != std::string::npos; start = end + 1) {
        const std::string line = text.out.substr(start, end - start);
        CHECK((line.rfind("# HELP gsd_", 0) == 0 || line.rfind("# TYPE gsd_", 0) == 0 ||
               (line.rfind("gsd_", 0) == 0 && line.find(' ') != std::string::npos)));
    }
    /* The same samples as JSON: phase 1 saw five votes (a's join: a; b's
     * join: a and b; the state change: a and b). */
    const json samples = gsctlJson(gsd, {"metrics"});
    double votes = -1;
    for (const auto &s : samples)
        if (s.at("name") == "gsd_vote_latency_seconds_count" && s.at("labels").at("phase") == "1")
            votes = s.at("value").get<double>();
    CHECK(votes == 5);
}

TEST_CASE("gsctl clients and nodes: the sessions with pid, uid and tokens; one node, no domain")
{
    PrivateGsd gsd;
    ClientProcess a("a", gsd);
    REQUIRE(a.rc("join c1 1") == "HA_GS_OK");
    REQUIRE(a.rc("subscribe c1 all") == "HA_GS_OK");
    a.waitFor(Match("c1: approved", {"JOIN"}));
    const json clients = gsctlJson(gsd, {"clients"});
    bool found = false;
    for (const auto &s : clients.at("sessions"))
        if (s.at("pid") == a.pid()) {
            found = true;
            CHECK(s.at("kind") == "gsapi");
            CHECK(s.at("uid") == getuid());
            CHECK(s.at("tokens") == 2);
        }
    CHECK(found);
    CHECK(clients.at("other_nodes").empty());

    const json nodes = gsctlJson(gsd, {"nodes"});
    CHECK(nodes.at("node") == 1);
    CHECK(nodes.at("cluster") == false);
    CHECK(nodes.at("domain").is_null());
    CHECK(nodes.at("synced") == true);
    CHECK(nodes.at("hosts") == json::array({1}));
    CHECK(nodes.at("cmm").at("master") == 1);

    const json group = gsctlJson(gsd, {"group", "c1"});
    REQUIRE(group.at("subscribers").size() == 1);
    CHECK(group.at("subscribers")[0].at("node") == 1);
    CHECK(group.at("subscribers")[0].at("subscriptions")[0].at("pid") == a.pid());
}

TEST_CASE("gsctl: no gsd, no such group, and who may not use it")
{
    PrivateGsd gsd({.args = {"--auth-group", "users"}, .worldAccessible = true});
    const Run unknown = gsctl(gsd, {"group", "nope"});
    CHECK(unknown.status == 4);
    CHECK(unknown.err == "gsctl: no group 'nope'\n");

    const auto asNobody = [&](std::vector<gid_t> groups) {
        return [groups] {
            if (setgroups(groups.size(), groups.data()) != 0 || setgid(65534) != 0 ||
                setuid(65534) != 0)
                _exit(126);
        };
    };
    /* nobody, in no group gsd knows: refused at the handshake. */
    const Run stranger = Gsctl(gsd, {"groups"}, asNobody({})).finish();
    CHECK(stranger.status == 3);
    CHECK(stranger.err.find("not authorized") != std::string::npos);
    /* A member of the auth group may use the group services, not gsctl. */
    const group *users = getgrnam("users");
    REQUIRE(users != nullptr);
    const Run member = Gsctl(gsd, {"groups"}, asNobody({users->gr_gid})).finish();
    CHECK(member.status == 3);
    CHECK(member.err.find("not authorized") != std::string::npos);
    /* With the admin group its members may. */
    PrivateGsd admin({.args = {"--admin-group", "users"}, .worldAccessible = true});
    const Run allowed = Gsctl(admin, {"--json", "stats"}, asNobody({users->gr_gid})).finish();
    CHECK(allowed.status == 0);
    CHECK(json::parse(allowed.out).at("sessions").at("admin") == 1);

    /* No gsd at the endpoint. */
    const std::string endpoint = gsd.endpoint();
    gsd.kill(SIGTERM);
    REQUIRE(gsd.waitExit());
    const Run gone = gsctl(gsd, {"groups"});
    CHECK(gone.status == 1);
    CHECK(gone.err.find("cannot reach gsd") != std::string::npos);
}

TEST_CASE("gsctl: what an adversarial review found (slow streams, hostile local names, pipes, "
          "Ctrl-C, a full gsd)")
{
    SUBCASE("streams that stop reading are cut, several in one event, and gsd goes on")
    {
        PrivateGsd gsd({.args = {"--send-queue-limit", "20"}});
        const auto alive = [&] { return !gsd.waitExit(0).has_value(); };
        ClientProcess a("a", gsd);
        std::vector<std::unique_ptr<Gsctl>> stopped;
        for (int i = 0; i < 3; ++i)
            stopped.push_back(std::make_unique<Gsctl>(gsd, std::vector<std::string>{"events"}));
        const auto streamers = [&] {
            size_t n = 0;
            const json clients = gsctlJson(gsd, {"clients"});
            for (const auto &c : clients.at("sessions"))
                n += c.at("streaming").get<bool>() ? 1 : 0;
            return n;
        };
        const auto started = std::chrono::steady_clock::now() + 10s;
        while (streamers() < 3 && std::chrono::steady_clock::now() < started)
            std::this_thread::sleep_for(50ms);
        REQUIRE(streamers() == 3);
        for (auto &g : stopped)
            g->signal(SIGSTOP);
        /* Each join is several events for each stream; they overflow at
         * the same event. */
        for (int i = 0; i < 400 && alive(); ++i)
            REQUIRE(a.rc("join flood" + std::to_string(i) + " 1") == "HA_GS_OK");
        REQUIRE(alive());
        CHECK(streamers() == 0);
        for (auto &g : stopped) {
            g->signal(SIGCONT);
            const Run run = g->finish();
            CHECK(run.status == 1);
        }
        CHECK(alive());
    }

    SUBCASE("a local name that is not UTF-8 and holds escape codes is answered, and shown "
            "escaped")
    {
        PrivateGsd gsd;
        ClientProcess a("a", gsd);
        REQUIRE(a.rc("join evil 1 local=\\xff\\x1b[2J\\x0a99@1") == "HA_GS_OK");
        a.waitFor(Match("evil: approved", {"JOIN"}));
        const json group = gsctlJson(gsd, {"group", "evil"});
        const std::string name = providerOf(group.at("providers"), 1).at("local_name");
        CHECK(name == "\xEF\xBF\xBD\x1b[2J\n99@1"); /* U+FFFD for the byte 0xff */
        const Run table = gsctl(gsd, {"group", "evil"});
        CHECK(table.status == 0);
        CHECK(table.out.find('\x1b') == std::string::npos);
        CHECK(table.out.find("\\x1b[2J\\x0a99@1") != std::string::npos);
    }

    SUBCASE("gsctl events | head -1 ends with head; every event has a group field")
    {
        PrivateGsd gsd;
        ClientProcess a("a", gsd);
        Gsctl stream(gsd, {"events", "--json"});
        waitForStreamer(gsd, stream);
        stream.closeOutput();
        REQUIRE(a.rc("join piped 1") == "HA_GS_OK");
        const Run run = stream.finish(10000);
        CHECK(run.status == -1);
        CHECK(run.signal == SIGPIPE);

        Gsctl all(gsd, {"events", "--count", "1"}); /* the global --json after the command */
        waitForStreamer(gsd, all);
        Gsctl asJson(gsd, {"events", "--json", "--count", "1"});
        waitForStreamer(gsd, asJson);
        std::this_thread::sleep_for(200ms);
        REQUIRE(a.rc("quit") == "HA_GS_OK");
        const Run gone = asJson.finish();
        CHECK(gone.status == 0);
        const auto event = json::parse(gone.out);
        CHECK(event.at("event") == "client_gone");
        CHECK(event.at("group") == "");
        CHECK(event.at("pid") == a.pid());
        CHECK(all.finish().status == 0);
    }

    SUBCASE("Ctrl-C ends a wait for a gsd that does not answer")
    {
        PrivateGsd gsd;
        gsd.kill(SIGSTOP);
        Gsctl waiting(gsd, {"--timeout", "60", "groups"});
        std::this_thread::sleep_for(500ms);
        waiting.interrupt();
        const Run run = waiting.finish(10000);
        gsd.kill(SIGCONT);
        CHECK(run.status == 130);
        CHECK(run.err == "gsctl: interrupted\n");
    }

    SUBCASE("root may look when clients fill gsd to --max-clients")
    {
        PrivateGsd gsd({.args = {"--max-clients", "2"}});
        ClientProcess a("a", gsd), b("b", gsd);
        const json clients = gsctlJson(gsd, {"clients"});
        CHECK(clients.at("sessions").size() == 3);
    }
}
