// SPDX-License-Identifier: MIT
#include "cluster_bench.hpp"

#include "../tests/cluster/harness.hpp"
#include "cluster_cpg.hpp"
#include "gs_client.hpp"
#include "roles.hpp"
#include "scenarios.hpp"

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <set>
#include <stdexcept>

#include <sys/wait.h>
#include <unistd.h>
#include <zmq.hpp>

namespace bench {

namespace {

using cluster::Cluster;

void progress(const std::string &text)
{
    std::fprintf(stderr, "bench_cluster: %s\n", text.c_str());
}

/* ---- The local ZeroMQ round trips (bench_floor's rtt, in this run) ---- */

/* DEALERs in this process, each to its own echo process: roundTripUs()
 * is one round trip alone; parallelRoundTripsUs() is one on every pair at
 * once, until the last reply: the local round trips of an n-phase phase,
 * where each node's gsd and voter exchange a notification and a vote at the
 * same time on the same two cores. */
class ZmqProbe {
  public:
    static constexpr int kPairs = 3;

    ZmqProbe() : dir_(makeTempDir("bench_cluster-zmq"))
    {
        for (int i = 0; i < kPairs; i++) {
            const std::string path = dir_ + "/echo" + std::to_string(i) + ".sock";
            pids_.push_back(spawnSelf({"zmq-echo", "--endpoint", "ipc://" + path}));
            waitForSocket(path, pids_.back());
            zmq::socket_t &dealer = dealers_.emplace_back(ctx_, zmq::socket_type::dealer);
            dealer.set(zmq::sockopt::linger, 0);
            dealer.set(zmq::sockopt::rcvtimeo, 10000);
            dealer.connect("ipc://" + path);
        }
    }
    ~ZmqProbe()
    {
        killAndReap(pids_, SIGKILL);
        std::error_code ec;
        std::filesystem::remove_all(dir_, ec);
    }
    ZmqProbe(const ZmqProbe &) = delete;
    ZmqProbe &operator=(const ZmqProbe &) = delete;

    double roundTripUs() { return roundTripsUs(1); }
    double parallelRoundTripsUs() { return roundTripsUs(kPairs); }

  private:
    double roundTripsUs(int pairs)
    {
        static const std::string payload(16, 'x');
        const int64_t start = nowNs();
        for (int i = 0; i < pairs; i++)
            dealers_[static_cast<size_t>(i)].send(zmq::buffer(payload), zmq::send_flags::none);
        for (int i = 0; i < pairs; i++) {
            zmq::message_t reply;
            if (!dealers_[static_cast<size_t>(i)].recv(reply))
                throw std::runtime_error("no reply from a ZeroMQ echo process");
        }
        return toUs(nowNs() - start);
    }

    std::string dir_;
    zmq::context_t ctx_{1};
    std::vector<zmq::socket_t> dealers_;
    std::vector<pid_t> pids_;
};

/* ---- CPU time of the nodes' daemons -------------------------------------------- */

/* The CPU time of every thread of `pid` in microseconds: the scheduler's
 * run time (nanoseconds, /proc/PID/task/TID/schedstat), not the 10 ms
 * ticks of /proc/PID/stat, too coarse for one protocol. */
double cpuUs(pid_t pid)
{
    const std::string tasks = "/proc/" + std::to_string(pid) + "/task";
    std::error_code ec;
    double ns = 0;
    for (const auto &task : std::filesystem::directory_iterator(tasks, ec)) {
        FILE *f = std::fopen((task.path() / "schedstat").c_str(), "r");
        if (!f)
            continue; /* a thread that just ended */
        unsigned long long runNs = 0;
        if (std::fscanf(f, "%llu", &runNs) == 1)
            ns += static_cast<double>(runNs);
        std::fclose(f);
    }
    if (ec)
        throw std::runtime_error("cannot list " + tasks + ": " + ec.message());
    return ns / 1000;
}

/* The CPU time the gsds of every node used so far, summed. */
double gsdCpuUs(Cluster &cluster)
{
    double total = 0;
    for (int node : cluster.all())
        total += cpuUs(cluster.gsdPid(node));
    return total;
}

/* ---- The CPG agents, one per node ---------------------------------------- */

class CpgAgents {
  public:
    CpgAgents(Cluster &cluster, std::string group) : cluster_(cluster), group_(std::move(group)) {}
    ~CpgAgents()
    {
        for (auto &[node, pid] : pids_)
            killAndReap(pid, SIGKILL);
    }
    CpgAgents(const CpgAgents &) = delete;
    CpgAgents &operator=(const CpgAgents &) = delete;

    void start(int node)
    {
        auto command = std::make_unique<CommandPipe>();
        pids_[node] =
            spawnSelf({"cpg-agent", "--netns", cluster_.netns(node), "--group", group_, "--node",
                       std::to_string(node), "--report-fd", std::to_string(pipe_.writeFd()),
                       "--command-fd", std::to_string(command->childFd())});
        command->childStarted();
        commands_[node] = std::move(command);
    }

    void kill(int node)
    {
        killAndReap(pids_[node], SIGKILL);
        pids_.erase(node);
        commands_.erase(node);
    }

    /* Until every running agent reported a confchg of `count` members
     * after this call. */
    void waitMembers(int count)
    {
        members_.clear();
        const int64_t deadline = nowNs() + 30'000'000'000;
        for (;;) {
            bool all = true;
            for (auto &[node, pid] : pids_)
                all = all && members_[node] == count;
            if (all)
                return;
            if (nowNs() > deadline)
                throw std::runtime_error("the CPG agents did not see " + std::to_string(count) +
                                         " members within 30 s");
            next();
        }
    }

    /* The times at which each of `nodes` reported `kind` with `count`. */
    std::map<int, int64_t> awaitFrom(int32_t kind, const std::set<int> &nodes, int64_t count)
    {
        std::map<int, int64_t> at;
        while (at.size() < nodes.size()) {
            const Report r = next();
            if (r.kind == kind && r.count == count && nodes.count(r.child))
                at.emplace(r.child, r.atNs);
        }
        return at;
    }

    /* One round: node 1 multicasts; {own delivery, delivery at node 3} in
     * microseconds from just before the multicast. */
    std::pair<double, double> round()
    {
        commands_.at(1)->send(cpg::kRound);
        const Report sent = awaitKind(cpg::kSent, 1);
        const auto at = awaitFrom(cpg::kDelivered, {1, 3}, sent.count);
        return {toUs(at.at(1) - sent.atNs), toUs(at.at(3) - sent.atNs)};
    }

    /* A vote run of `phases` phases proposed by node 1, in microseconds. */
    double voteRun(int phases)
    {
        commands_.at(1)->send(cpg::kVotesBase + phases);
        const Report sent = awaitKind(cpg::kSent, 1);
        const auto at = awaitFrom(cpg::kVotesDone, {1}, sent.count);
        return toUs(at.at(1) - sent.atNs);
    }

  private:
    Report next()
    {
        const Report r = pipe_.read(30000);
        if (r.kind == cpg::kMembers)
            members_[r.child] = r.count;
        return r;
    }
    Report awaitKind(int32_t kind, int node)
    {
        for (;;) {
            const Report r = next();
            if (r.kind == kind && r.child == node)
                return r;
        }
    }

    Cluster &cluster_;
    std::string group_;
    ReportPipe pipe_;
    std::map<int, pid_t> pids_;
    std::map<int, std::unique_ptr<CommandPipe>> commands_;
    std::map<int, int64_t> members_;
};

/* ---- GSAPI clients on a node ----------------------------------------------- */

/* This process is the GSAPI client on node 1; children pick their node by
 * HA_GS_SOCKET at their start. */
pid_t spawnOn(Cluster &cluster, int node, const std::string &role, int child, ReportPipe &pipe,
              const std::vector<std::string> &args)
{
    setenv("HA_GS_SOCKET", cluster.endpoint(node).c_str(), 1);
    const pid_t pid = spawnRole(role, child, pipe, args);
    setenv("HA_GS_SOCKET", cluster.endpoint(1).c_str(), 1);
    awaitReports(pipe, 1, {Report::Ready});
    return pid;
}

void startGsd(Cluster &cluster, int node)
{
    cluster.startGsd(node, {"--log-level", "warn"});
}

void waitSynced(Cluster &cluster, int node)
{
    if (!cluster.waitSynced(node, 30000))
        throw std::runtime_error("gsd on node " + std::to_string(node) +
                                 " did not admit clients within 30 s:\n" + cluster.describe());
}

/* ---- Rows ----------------------------------------------------------------------- */

std::string fmtUs(double us)
{
    char buffer[32];
    if (us >= 1000)
        std::snprintf(buffer, sizeof buffer, "%.2f ms", us / 1000);
    else
        std::snprintf(buffer, sizeof buffer, "%.1f µs", us);
    return buffer;
}

Row plainRow(const std::string &what, const std::vector<double> &samples)
{
    return Row{what, summarize(samples), "", 0, "", std::nullopt};
}

/* A CPU time per protocol run, mean over the run: one value. */
Row cpuRow(const std::string &what, double totalUs, int runs)
{
    const double mean = runs > 0 ? totalUs / runs : 0;
    return Row{what, Summary{1, mean, mean}, "", 0, "", std::nullopt};
}

/* ours against baseline (same iterations); met when median ≤ factor ×
 * baseline median (factor 0: no target). */
Row ratioRow(const std::string &what, const std::vector<double> &ours,
             const std::string &baselineWhat, const std::vector<double> &baseline, double factor)
{
    Row row{what, summarize(ours), baselineWhat, summarize(baseline).medianUs, "", std::nullopt};
    if (factor > 0) {
        char buffer[64];
        std::snprintf(buffer, sizeof buffer, "≤ %.1f × baseline", factor);
        row.target = buffer;
        row.met = row.ours.medianUs <= factor * row.baselineUs;
    }
    return row;
}

/* ours against an absolute bound, with the CPG event as reference. */
Row boundRow(const std::string &what, const std::vector<double> &ours, const std::string &cpgWhat,
             const std::vector<double> &cpg, double boundUs, const std::string &boundWhy)
{
    Row row{what, summarize(ours), cpgWhat, summarize(cpg).medianUs, "", std::nullopt};
    row.target = "≤ " + fmtUs(boundUs) + boundWhy;
    row.met = row.ours.medianUs <= boundUs;
    return row;
}

std::vector<double> sum(const std::vector<double> &a, const std::vector<double> &b,
                        double bFactor = 1)
{
    std::vector<double> out;
    for (size_t i = 0; i < a.size() && i < b.size(); i++)
        out.push_back(a[i] + bFactor * b[i]);
    return out;
}

/* (long - short) / steps, per iteration. */
std::vector<double> perStep(const std::vector<double> &longRuns,
                            const std::vector<double> &shortRuns, int steps)
{
    std::vector<double> out;
    for (size_t i = 0; i < longRuns.size() && i < shortRuns.size(); i++)
        out.push_back((longRuns[i] - shortRuns[i]) / steps);
    return out;
}

/* ---- The scenarios ---------------------------------------------------------- */

struct Setup {
    const ClusterConfig &config;
    Cluster &cluster;
    CpgAgents &agents;
    ZmqProbe &zmq;
    std::vector<Row> &rows;
    bool gsd() const { return !config.cpgOnly; }
};

/* One-phase state change and join by this process (node 1), a subscriber
 * on node 3; per iteration: the GSAPI protocol, one CPG round, one ZeroMQ
 * round trip. */
void onePhase(Setup &run)
{
    const int total = run.config.warmup + run.config.iterations;
    std::vector<double> rtt, cpgOwn, cpgRemote, stateApproved, stateSub, joinApproved, joinSub;
    ReportPipe pipe;
    std::vector<pid_t> children;
    ha_gs_token_t stateToken = 0;
    const std::string stateGroup = "cl-state", joinGroup = "cl-join";
    if (run.gsd()) {
        stateToken = gs::joinAndAwait(stateGroup, 1, HA_GS_1_PHASE);
        children.push_back(spawnOn(
            run.cluster, 3, "subscriber", 1, pipe,
            {"--group", stateGroup, "--flags", std::to_string(HA_GS_SUBSCRIBE_STATE), "--each"}));
        /* A standing provider on node 2 keeps the join group alive. */
        children.push_back(spawnOn(run.cluster, 2, "provider", 2, pipe,
                                   {"--group", joinGroup, "--instance", "1"}));
        children.push_back(spawnOn(
            run.cluster, 3, "subscriber", 3, pipe,
            {"--group", joinGroup, "--flags",
             std::to_string(HA_GS_SUBSCRIBE_DELTA_JOIN | HA_GS_SUBSCRIBE_DELTA_LEAVE), "--each"}));
    }
    progress("one-phase state change and join, " + std::to_string(total) + " rounds");
    double gsdCpu = 0;
    for (int i = 0; i < total; i++) {
        const bool timed = i >= run.config.warmup;
        if (run.gsd()) {
            const double cpuBefore = gsdCpuUs(run.cluster);
            int64_t seen = gs::approvedCount(HA_GS_STATE_VALUE_CHANGE);
            int64_t start = nowNs();
            gs::changeState(stateToken, HA_GS_1_PHASE, i);
            int64_t approved = gs::awaitApproved(HA_GS_STATE_VALUE_CHANGE, seen, "state change");
            int64_t notified = awaitReports(pipe, 1, {HA_GS_SUBSCRIPTION_STATE});
            if (timed) {
                stateApproved.push_back(toUs(approved - start));
                stateSub.push_back(toUs(notified - start));
            }
            seen = gs::approvedCount(HA_GS_JOIN);
            start = nowNs();
            const ha_gs_token_t token =
                gs::join(joinGroup, static_cast<short>(2 + i % 2), HA_GS_1_PHASE);
            approved = gs::awaitApproved(HA_GS_JOIN, seen, "join");
            notified = awaitReports(pipe, 1, {HA_GS_SUBSCRIPTION_DELTA_JOIN});
            if (timed) {
                joinApproved.push_back(toUs(approved - start));
                joinSub.push_back(toUs(notified - start));
            }
            /* Untimed: the leave is over before the next join. */
            gs::check(ha_gs_goodbye(token), "ha_gs_goodbye");
            awaitReports(pipe, 1, {HA_GS_SUBSCRIPTION_DELTA_LEAVE});
            if (timed)
                gsdCpu += gsdCpuUs(run.cluster) - cpuBefore;
        }
        const auto [own, remote] = run.agents.round();
        const double zmqUs = run.zmq.roundTripUs();
        if (timed) {
            cpgOwn.push_back(own);
            cpgRemote.push_back(remote);
            rtt.push_back(zmqUs);
        }
    }
    killAndReap(children, SIGTERM);
    if (run.gsd())
        gs::check(ha_gs_goodbye(stateToken), "ha_gs_goodbye");

    auto &rows = run.rows;
    rows.push_back(plainRow("local ZeroMQ DEALER→ROUTER round trip, ipc://", rtt));
    rows.push_back(plainRow("CPG agreed multicast n1 → delivered at n3", cpgRemote));
    rows.push_back(plainRow("CPG agreed multicast n1 → own delivery at n1", cpgOwn));
    if (!run.gsd())
        return;
    const auto remoteBase = sum(cpgRemote, rtt), ownBase = sum(cpgOwn, rtt);
    const std::string remoteWhat = "CPG n1 → n3 + ZeroMQ round trip";
    const std::string ownWhat = "CPG n1 → own delivery + ZeroMQ round trip";
    rows.push_back(ratioRow("one-phase state change at n1 → subscriber on n3 notified", stateSub,
                            remoteWhat, remoteBase, 1.3));
    rows.push_back(ratioRow("one-phase state change at n1 → proposer's approved callback",
                            stateApproved, ownWhat, ownBase, 1.3));
    rows.push_back(ratioRow("one-phase join at n1 → subscriber on n3 has the delta-join", joinSub,
                            remoteWhat, remoteBase, 1.3));
    rows.push_back(ratioRow("one-phase join at n1 → joiner's approved callback", joinApproved,
                            ownWhat, ownBase, 1.3));
    rows.push_back(cpuRow("CPU of the three gsds, summed, per state change + join + leave (mean)",
                          gsdCpu, run.config.iterations));
}

/* An n-phase state change with providers (voters) on nodes 1, 2 and 3,
 * running 1 and `votePhases` phases; CPG vote runs of as many phases. */
void nPhase(Setup &run)
{
    const int total = run.config.warmup + run.config.iterations;
    const int phases = run.config.votePhases;
    std::vector<double> rtt, rtt3, ours1, oursN, cpg1, cpgN;
    double gsdCpu1 = 0, gsdCpuN = 0;
    ReportPipe pipe;
    std::vector<pid_t> voters;
    ha_gs_token_t token = 0;
    const std::string group = "cl-vote";
    if (run.gsd()) {
        token = gs::joinAndAwait(group, 1, HA_GS_N_PHASE);
        for (int node : {2, 3})
            voters.push_back(
                spawnOn(run.cluster, node, "provider", node, pipe,
                        {"--group", group, "--instance", std::to_string(node), "--n-phase"}));
    }
    progress("n-phase protocols of 1 and " + std::to_string(phases) + " phases, " +
             std::to_string(total) + " rounds");
    for (int i = 0; i < total; i++) {
        const bool timed = i >= run.config.warmup;
        for (int p : {1, phases}) {
            if (run.gsd()) {
                const double cpuBefore = gsdCpuUs(run.cluster);
                const int64_t seen = gs::approvedCount(HA_GS_STATE_VALUE_CHANGE);
                const int64_t start = nowNs();
                gs::changeStateInPhases(token, static_cast<unsigned>(p), i);
                const int64_t approved =
                    gs::awaitApproved(HA_GS_STATE_VALUE_CHANGE, seen, "n-phase state change");
                if (timed) {
                    (p == 1 ? ours1 : oursN).push_back(toUs(approved - start));
                    (p == 1 ? gsdCpu1 : gsdCpuN) += gsdCpuUs(run.cluster) - cpuBefore;
                }
            }
            const double cpgUs = run.agents.voteRun(p);
            if (timed)
                (p == 1 ? cpg1 : cpgN).push_back(cpgUs);
        }
        const double zmqUs = run.zmq.roundTripUs();
        const double zmq3Us = run.zmq.parallelRoundTripsUs();
        if (timed) {
            rtt.push_back(zmqUs);
            rtt3.push_back(zmq3Us);
        }
    }
    killAndReap(voters, SIGTERM);
    if (run.gsd())
        gs::check(ha_gs_goodbye(token), "ha_gs_goodbye");

    const std::string n = std::to_string(phases);
    auto &rows = run.rows;
    rows.push_back(
        plainRow("CPG vote run, members on n1 n2 n3, 1 phase (proposal + 1 vote round)", cpg1));
    rows.push_back(plainRow("CPG vote run, " + n + " phases", cpgN));
    const auto cpgPerPhase = perStep(cpgN, cpg1, phases - 1);
    rows.push_back(plainRow("CPG vote run: per phase ((" + n + " − 1 phase) / " +
                                std::to_string(phases - 1) + ")",
                            cpgPerPhase));
    if (!run.gsd())
        return;
    rows.push_back(ratioRow("n-phase state change, voters on n1 n2 n3, 1 phase → approved", ours1,
                            "CPG vote run of 1 phase + 2 ZeroMQ round trips", sum(cpg1, rtt, 2),
                            0));
    rows.push_back(ratioRow("n-phase state change, " + n + " phases → approved", oursN,
                            "CPG vote run of " + n + " phases + " + std::to_string(phases + 1) +
                                " ZeroMQ round trips",
                            sum(cpgN, rtt, phases + 1), 0));
    const auto oursPerPhase = perStep(oursN, ours1, phases - 1);
    rows.push_back(ratioRow("n-phase state change: per phase ((" + n + " − 1 phase) / " +
                                std::to_string(phases - 1) + ")",
                            oursPerPhase, "CPG vote run per phase + 1 ZeroMQ round trip",
                            sum(cpgPerPhase, rtt), 1.0));
    /* Not the target's baseline: what the same local exchanges cost when
     * three of them run at once on this machine, as in a phase. */
    rows.push_back(
        plainRow("3 local ZeroMQ round trips at once (3 echo processes), until the last", rtt3));
    rows.push_back(ratioRow("n-phase state change: per phase (as above)", oursPerPhase,
                            "CPG vote run per phase + 3 ZeroMQ round trips at once",
                            sum(cpgPerPhase, rtt3), 0));
    const int runs = run.config.iterations;
    rows.push_back(
        cpuRow("CPU of the three gsds, summed, per n-phase state change of 1 phase (mean)", gsdCpu1,
               runs));
    rows.push_back(cpuRow("CPU of the three gsds, summed, per phase beyond the first (mean)",
                          (gsdCpuN - gsdCpu1) / (phases - 1), runs));
}

struct Totem {
    int tokenMs = 0;
    int consensusMs = 0;
};

/* gsd on node 2 SIGKILLed; then (same round) the CPG agent on node 2
 * SIGKILLed. */
void gsdDeath(Setup &run, const Totem &totem)
{
    ReportPipe pipe;
    std::vector<double> approved, notified, cpgAt1, cpgAt3;
    ha_gs_token_t token = 0;
    pid_t subscriber = -1;
    const std::string group = "cl-fail";
    if (run.gsd()) {
        token = gs::joinAndAwait(group, 1, HA_GS_1_PHASE);
        subscriber = spawnOn(
            run.cluster, 3, "subscriber", 3, pipe,
            {"--group", group, "--flags", std::to_string(HA_GS_SUBSCRIBE_DELTA_LEAVE), "--each"});
    }
    const std::string tokenNote = " (token " + std::to_string(totem.tokenMs) + " ms)";
    progress("gsd and CPG member deaths on n2" + tokenNote + ", " +
             std::to_string(run.config.killRounds) + " rounds");
    for (int round = 0; round < run.config.killRounds; round++) {
        if (run.gsd()) {
            const int64_t joins = gs::approvedCount(HA_GS_JOIN);
            const pid_t victim =
                spawnOn(run.cluster, 2, "provider", 2, pipe,
                        {"--group", group, "--instance", std::to_string(2 + round % 2)});
            gs::awaitApproved(HA_GS_JOIN, joins, "the victim's join");
            const int64_t leaves = gs::approvedCount(HA_GS_FAILURE_LEAVE);
            const int64_t start = nowNs();
            run.cluster.killGsd(2, SIGKILL);
            const int64_t approvedAt =
                gs::awaitApproved(HA_GS_FAILURE_LEAVE, leaves, "failure leave");
            const int64_t notifiedAt = awaitReports(pipe, 1, {HA_GS_SUBSCRIPTION_DELTA_LEAVE});
            approved.push_back(toUs(approvedAt - start));
            notified.push_back(toUs(notifiedAt - start));
            killAndReap(victim, SIGKILL);
            run.cluster.waitGsdExit(2, 5000);
        }
        const int64_t start = nowNs();
        run.agents.kill(2);
        const auto at = run.agents.awaitFrom(cpg::kLeft, {1, 3}, 2);
        cpgAt1.push_back(toUs(at.at(1) - start));
        cpgAt3.push_back(toUs(at.at(3) - start));
        run.agents.start(2);
        run.agents.waitMembers(3);
        if (run.gsd()) {
            startGsd(run.cluster, 2);
            waitSynced(run.cluster, 2);
        }
    }
    killAndReap(subscriber, SIGTERM);
    if (run.gsd())
        gs::check(ha_gs_goodbye(token), "ha_gs_goodbye");

    auto &rows = run.rows;
    rows.push_back(plainRow("CPG member on n2 SIGKILLed → confchg at n1" + tokenNote, cpgAt1));
    rows.push_back(plainRow("CPG member on n2 SIGKILLed → confchg at n3" + tokenNote, cpgAt3));
    if (!run.gsd())
        return;
    rows.push_back(
        boundRow("gsd on n2 SIGKILLed → failure leave approved at n1 (provider)" + tokenNote,
                 approved, "CPG member killed → confchg at n1", cpgAt1, 50000, ""));
    rows.push_back(boundRow("gsd on n2 SIGKILLed → delta-leave at the subscriber on n3" + tokenNote,
                            notified, "CPG member killed → confchg at n3", cpgAt3, 50000, ""));
}

int cmapValue(Cluster &cluster, const std::string &key)
{
    const auto r = cluster.runIn(1, {"corosync-cmapctl", "-g", key});
    const auto eq = r.output.rfind('=');
    if (!r.ok() || eq == std::string::npos)
        throw std::runtime_error("corosync-cmapctl -g " + key + ": " + r.output);
    return std::atoi(r.output.c_str() + eq + 1);
}

Totem readTotem(Cluster &cluster)
{
    return {cmapValue(cluster, "runtime.config.totem.token"),
            cmapValue(cluster, "runtime.config.totem.consensus")};
}

/* Corosync and gsd of node 2 (and its CPG agent) SIGKILLed at once: the
 * GSAPI failure leave and the CPG confchg at the other nodes, from the same
 * event. */
void nodeDeath(Setup &run, const Totem &totem)
{
    ReportPipe pipe;
    std::vector<double> approved, notified, cpgAt1, cpgAt3;
    ha_gs_token_t token = 0;
    pid_t subscriber = -1;
    const std::string group = "cl-node";
    if (run.gsd()) {
        token = gs::joinAndAwait(group, 1, HA_GS_1_PHASE);
        subscriber = spawnOn(
            run.cluster, 3, "subscriber", 3, pipe,
            {"--group", group, "--flags", std::to_string(HA_GS_SUBSCRIBE_DELTA_LEAVE), "--each"});
    }
    const std::string token_ = std::to_string(totem.tokenMs);
    progress("node deaths (n2) at token " + token_ + " ms, " +
             std::to_string(run.config.nodeKillRounds) + " rounds");
    for (int round = 0; round < run.config.nodeKillRounds; round++) {
        pid_t victim = -1;
        int64_t leaves = 0;
        if (run.gsd()) {
            const int64_t joins = gs::approvedCount(HA_GS_JOIN);
            victim = spawnOn(run.cluster, 2, "provider", 2, pipe,
                             {"--group", group, "--instance", std::to_string(2 + round % 2)});
            gs::awaitApproved(HA_GS_JOIN, joins, "the victim's join");
            leaves = gs::approvedCount(HA_GS_FAILURE_LEAVE);
        }
        const int64_t start = nowNs();
        run.cluster.killCorosync(2, SIGKILL);
        run.cluster.killGsd(2, SIGKILL);
        run.agents.kill(2);
        if (run.gsd()) {
            const int64_t approvedAt =
                gs::awaitApproved(HA_GS_FAILURE_LEAVE, leaves, "failure leave");
            const int64_t notifiedAt = awaitReports(pipe, 1, {HA_GS_SUBSCRIPTION_DELTA_LEAVE});
            approved.push_back(toUs(approvedAt - start));
            notified.push_back(toUs(notifiedAt - start));
            killAndReap(victim, SIGKILL);
            run.cluster.waitGsdExit(2, 5000);
        }
        const auto at = run.agents.awaitFrom(cpg::kLeft, {1, 3}, 2);
        cpgAt1.push_back(toUs(at.at(1) - start));
        cpgAt3.push_back(toUs(at.at(3) - start));

        run.cluster.startCorosync(2);
        if (!run.cluster.waitQuorate(run.cluster.all(), 3, 30000))
            throw std::runtime_error("node 2 did not rejoin within 30 s:\n" +
                                     run.cluster.describe());
        run.agents.start(2);
        run.agents.waitMembers(3);
        if (run.gsd()) {
            startGsd(run.cluster, 2);
            waitSynced(run.cluster, 2);
        }
        /* The next death only once the ring has been steady for a while:
         * --node-settle. */
        cluster::sleepMs(run.config.nodeSettleMs);
    }
    killAndReap(subscriber, SIGTERM);
    if (run.gsd())
        gs::check(ha_gs_goodbye(token), "ha_gs_goodbye");

    const std::string at = " (token " + token_ + " ms)";
    const double bound = (totem.tokenMs + totem.consensusMs + 100) * 1000.0;
    const std::string why =
        " (token " + token_ + " + consensus " + std::to_string(totem.consensusMs) + " + 100 ms)";
    auto &rows = run.rows;
    /* Raw CPG against the same bound: how much of it Corosync itself uses. */
    for (const auto &[where, samples] : {std::pair{"n1", &cpgAt1}, std::pair{"n3", &cpgAt3}}) {
        Row row = plainRow(std::string("node n2 killed (Corosync SIGKILL) → CPG confchg at ") +
                               where + at,
                           *samples);
        row.target = "≤ " + fmtUs(bound) + why;
        row.met = row.ours.medianUs <= bound;
        rows.push_back(row);
    }
    if (!run.gsd())
        return;
    rows.push_back(boundRow("node n2 killed (Corosync + gsd) → failure leave approved at n1" + at,
                            approved, "CPG confchg at n1, same event", cpgAt1, bound, why));
    rows.push_back(boundRow("node n2 killed → delta-leave at the subscriber on n3" + at, notified,
                            "CPG confchg at n3, same event", cpgAt3, bound, why));
}

/* Everything measured in one cluster of token `tokenMs`; throws on any
 * failure, with the nodes' logs. */
std::vector<Row> runOneCluster(const ClusterConfig &config, int tokenMs, ZmqProbe &zmq)
{
    std::vector<Row> rows;
    cluster::ClusterOptions options;
    options.nodes = 3;
    options.tokenMs = tokenMs;
    options.domain = "bench";
    progress("forming a 3-node cluster, token " + std::to_string(tokenMs) + " ms");
    Cluster cluster(options);
    const Totem totem = readTotem(cluster);
    CpgAgents agents(cluster, "bench." + cluster.prefix());
    for (int node : cluster.all())
        agents.start(node);
    agents.waitMembers(3);
    if (!config.cpgOnly) {
        for (int node : cluster.all())
            startGsd(cluster, node);
        for (int node : cluster.all())
            waitSynced(cluster, node);
        setenv("HA_GS_SOCKET", cluster.endpoint(1).c_str(), 1);
        gs::init();
    }
    Setup run{config, cluster, agents, zmq, rows};
    try {
        if (tokenMs == config.latencyToken) {
            onePhase(run);
            nPhase(run);
        }
        gsdDeath(run, totem);
        nodeDeath(run, totem);
    } catch (const std::exception &error) {
        if (!config.cpgOnly)
            ha_gs_quit();
        /* The nodes' logs go before the teardown removes them. */
        throw std::runtime_error(std::string(error.what()) + "\n" + cluster.describe());
    }
    if (!config.cpgOnly)
        ha_gs_quit();
    return rows;
}

std::string firstLine(const std::string &text)
{
    return text.substr(0, text.find('\n'));
}

} // namespace

ClusterResult runClusterBench(const ClusterConfig &config)
{
    /* gsd starts inside each node's namespace from another directory: a
     * relative path is made absolute here. */
    std::string gsd = config.gsd;
    if (gsd.find('/') != std::string::npos)
        gsd = std::filesystem::absolute(gsd).string();
    setenv("GSD_PATH", gsd.c_str(), 1);
    if (std::find(config.tokens.begin(), config.tokens.end(), config.latencyToken) ==
        config.tokens.end())
        throw std::runtime_error("--latency-token " + std::to_string(config.latencyToken) +
                                 " is not one of --tokens");
    ClusterResult result;
    ZmqProbe zmq;
    for (int tokenMs : config.tokens) {
        /* A cluster that breaks under the machine's load (knet links
         * declared down, quorum lost) is formed again, up to
         * config.attempts times; the table says so. */
        for (int attempt = 1;; attempt++) {
            try {
                for (Row &row : runOneCluster(config, tokenMs, zmq))
                    result.rows.push_back(std::move(row));
                break;
            } catch (const std::exception &error) {
                std::fprintf(stderr, "bench_cluster: attempt %d at token %d ms failed: %s\n",
                             attempt, tokenMs, error.what());
                result.notes.push_back(
                    "token " + std::to_string(tokenMs) + " ms, attempt " + std::to_string(attempt) +
                    " failed and its rows were dropped: " + firstLine(error.what()));
                if (attempt >= config.attempts) {
                    /* The other tokens still run; the exit status says. */
                    result.notes.push_back("token " + std::to_string(tokenMs) +
                                           " ms: not measured");
                    result.complete = false;
                    break;
                }
            }
        }
    }
    return result;
}

} // namespace bench
