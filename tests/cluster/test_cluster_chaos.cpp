/* SPDX-License-Identifier: MIT */
/*
 * The chaos test across the cluster (docs/testing.md, "Chaos test across the
 * cluster"): a three-node domain of the harness (Corosync + gsd --cluster per
 * network namespace), tests/chaos's chaos_client processes on every node
 * (each in the root namespace, at its node's gsd socket), and this driver:
 * it SIGKILLs random clients and starts new ones, SIGKILLs or stops (SIGTERM)
 * a node's gsd and restarts it, cuts a node's link and heals it, one node
 * disturbed at a time, and waits after each disturbance until the node's gsd
 * has re-synced. Then it stops everything and runs tests/chaos/checker.py
 * over every node's client logs: the test passes with 0 violations.
 *
 * The run directory has driver.jsonl (the events checker.py reads: each gsd
 * lifetime with its node, client spawns with their node, kills, cuts, heals,
 * re-syncs; CLOCK_MONOTONIC microseconds like the clients' logs),
 * client-<id>.jsonl and the nodes' gsd and Corosync logs. It is removed when
 * the run passes, unless GS_CHAOS_KEEP=1, and named when it fails.
 *
 * Knobs (environment; scripts/chaos-cluster.sh sets them for the long form):
 *   GS_CHAOS_SECONDS          seconds of chaos (default 60)
 *   GS_CHAOS_SEED             the driver's seed (default 1; printed)
 *   GS_CHAOS_CLIENTS          clients alive at once per node (default 4)
 *   GS_CHAOS_GROUPS           groups (default 4)
 *   GS_CHAOS_KILL_INTERVAL    mean seconds between client kills (default 2)
 *   GS_CHAOS_DISTURB_INTERVAL mean seconds between node disturbances (default 5)
 *   GS_CHAOS_TOKEN_MS         Corosync's totem token (default 300, the harness's)
 *   GS_CHAOS_KEEP=1           keep the run directory
 * and the programs, which meson test passes: GSD_PATH, GS_CHAOS_CLIENT,
 * GS_CHAOS_CLIENT_R (optional: clients with an even id run it),
 * GS_CHAOS_CHECKER, GS_CHAOS_PYTHON.
 *
 * Only processes started here are signalled, by pid; the clients also get
 * SIGKILL from the kernel if this process dies (PR_SET_PDEATHSIG), and the
 * harness's reaper takes down Corosync and gsd.
 */
#include "harness.hpp"

#include <doctest/doctest.h>

#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <vector>

using namespace cluster;

namespace {

constexpr int kMaxClientId = 1023; /* chaos_client: instance numbers id*32 + k fit in a short */
constexpr int kRecoverMs = 60000;  /* a disturbed node must be synced again within this */

int64_t monoUs()
{
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<int64_t>(ts.tv_sec) * 1000000 + ts.tv_nsec / 1000;
}

std::string env(const char *name, const std::string &fallback = "")
{
    const char *v = std::getenv(name);
    return v && *v ? v : fallback;
}

/* A wait status the way Python's Popen.returncode gives it (checker.py). */
int returnCode(int status)
{
    if (WIFSIGNALED(status))
        return -WTERMSIG(status);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::string readFile(const std::string &path)
{
    std::ifstream in(path, std::ios::binary);
    std::ostringstream os;
    os << in.rdbuf();
    return os.str();
}

size_t countOf(const std::string &text, const std::string &what)
{
    size_t n = 0;
    for (size_t pos = text.find(what); pos != std::string::npos; pos = text.find(what, pos + 1))
        ++n;
    return n;
}

struct Settings {
    double seconds = 60;
    uint64_t seed = 1;
    int clientsPerNode = 4;
    int groups = 4;
    double killInterval = 2;
    double disturbInterval = 5;
    int tokenMs = 300;
    bool keep = false;
    std::string client, clientR, checker, python;

    static Settings fromEnvironment()
    {
        Settings s;
        s.seconds = std::stod(env("GS_CHAOS_SECONDS", "60"));
        s.seed = std::stoull(env("GS_CHAOS_SEED", "1"));
        s.clientsPerNode = std::stoi(env("GS_CHAOS_CLIENTS", "4"));
        s.groups = std::stoi(env("GS_CHAOS_GROUPS", "4"));
        s.killInterval = std::stod(env("GS_CHAOS_KILL_INTERVAL", "2"));
        s.disturbInterval = std::stod(env("GS_CHAOS_DISTURB_INTERVAL", "5"));
        s.tokenMs = std::stoi(env("GS_CHAOS_TOKEN_MS", "300"));
        s.keep = env("GS_CHAOS_KEEP") == "1";
        s.client = env("GS_CHAOS_CLIENT");
        s.clientR = env("GS_CHAOS_CLIENT_R");
        s.checker = env("GS_CHAOS_CHECKER");
        s.python = env("GS_CHAOS_PYTHON", "/usr/bin/python3");
        return s;
    }
};

/* What disturbs one node at a time: its gsd killed or stopped, or its link
 * cut; then the way back (restart or heal) and the wait for its re-sync. */
enum class Kind { GsdKill, GsdStop, Cut };
enum class Phase { Idle, Down, Recovering };

class ChaosDriver {
  public:
    ChaosDriver(Cluster &c, Settings s) : c_(c), s_(std::move(s)), rng_(s_.seed)
    {
        char tmpl[] = "/tmp/ha_gs-chaos-cluster-XXXXXX";
        REQUIRE_MESSAGE(mkdtemp(tmpl) != nullptr, "mkdtemp: " << std::strerror(errno));
        dir_ = tmpl;
        log_ = std::fopen((dir_ + "/driver.jsonl").c_str(), "a");
        REQUIRE(log_ != nullptr);
    }

    /* Also while a check fails: no client outlives the driver; the node logs
     * are saved before the cluster's teardown removes them. */
    ~ChaosDriver()
    {
        for (auto &[id, cl] : clients_) {
            kill(cl.pid, SIGKILL);
            waitpid(cl.pid, nullptr, 0);
        }
        saveNodeLogs();
        if (log_)
            std::fclose(log_);
        if (passed_ && !s_.keep)
            std::filesystem::remove_all(dir_);
        else
            std::printf("chaos-cluster: logs kept in %s\n", dir_.c_str());
        std::fflush(stdout);
    }

    const std::string &dir() const { return dir_; }

    void run();
    int check();

  private:
    struct ClientProc {
        pid_t pid;
        int node;
    };

    double uniform(double a, double b)
    {
        return std::uniform_real_distribution<double>(a, b)(rng_);
    }
    int pick(int n) { return std::uniform_int_distribution<int>(0, n - 1)(rng_); }

    void record(const std::string &fields)
    {
        std::fprintf(log_, "{%s}\n", fields.c_str());
        std::fflush(log_);
    }
    static std::string q(const std::string &s) { return "\"" + s + "\""; }

    void startGsd(int node);
    void stopGsd(int node, int sig);
    void spawnClient(int node);
    void killClient();
    void reap(int64_t now);
    void disturb(int64_t now);
    void watchGsds();
    void stopAll();
    void saveNodeLogs();

    Cluster &c_;
    Settings s_;
    std::mt19937_64 rng_;
    std::string dir_;
    FILE *log_ = nullptr;
    bool passed_ = false, saved_ = false;

    std::map<int, ClientProc> clients_;
    std::vector<std::pair<int64_t, int>> pendingSpawns_; /* (time, node) */
    int nextId_ = 1;
    bool exhausted_ = false;
    int lifetime_ = 0;
    std::map<int, int> lifeOf_; /* node -> its gsd's lifetime */

    Phase phase_ = Phase::Idle;
    Kind kind_ = Kind::GsdKill;
    int node_ = 0;
    int64_t t0_ = 0, phaseUntil_ = 0, nextProbe_ = 0, downAt_ = 0;

    int spawned_ = 0, kills_ = 0, gsdKills_ = 0, gsdStops_ = 0, cuts_ = 0, resyncs_ = 0,
        gsdDied_ = 0;
};

void ChaosDriver::startGsd(int node)
{
    const int life = ++lifetime_;
    const int64_t t = monoUs();
    c_.startGsd(node);
    lifeOf_[node] = life;
    record("\"ev\":\"gsd_start\",\"node\":" + std::to_string(node) +
           ",\"life\":" + std::to_string(life) + ",\"pid\":" + std::to_string(c_.gsdPid(node)) +
           ",\"t\":" + std::to_string(t));
}

void ChaosDriver::stopGsd(int node, int sig)
{
    const int64_t t = monoUs();
    c_.killGsd(node, sig);
    auto status = c_.waitGsdExit(node, 20000);
    if (!status) {
        record("\"ev\":\"gsd_hung\",\"life\":" + std::to_string(lifeOf_[node]));
        c_.killGsd(node, SIGKILL);
        status = c_.waitGsdExit(node, 20000);
    }
    record("\"ev\":\"gsd_stop\",\"node\":" + std::to_string(node) +
           ",\"life\":" + std::to_string(lifeOf_[node]) + ",\"sig\":" + std::to_string(sig) +
           ",\"t_signal\":" + std::to_string(t) + ",\"t_exit\":" + std::to_string(monoUs()) +
           ",\"status\":" + std::to_string(status ? returnCode(*status) : -9));
}

void ChaosDriver::spawnClient(int node)
{
    if (nextId_ > kMaxClientId) {
        if (!exhausted_)
            record("\"ev\":\"ids_exhausted\"");
        exhausted_ = true;
        return;
    }
    const int id = nextId_++;
    const uint64_t seed = std::uniform_int_distribution<uint64_t>(1, (1ULL << 62) - 1)(rng_);
    const double r = uniform(0, 1);
    const std::string role = r < 0.5 ? "provider" : (r < 0.75 ? "subscriber" : "mixed");
    const int n = std::min(s_.groups, std::vector<int>{1, 2, 2, 3}[static_cast<size_t>(pick(4))]);
    std::vector<int> all(static_cast<size_t>(s_.groups));
    for (int i = 0; i < s_.groups; ++i)
        all[static_cast<size_t>(i)] = i;
    std::shuffle(all.begin(), all.end(), rng_);
    std::vector<int> groups(all.begin(), all.begin() + n);
    std::sort(groups.begin(), groups.end());
    std::string groupList, groupJson;
    for (int g : groups) {
        groupList += (groupList.empty() ? "" : ",") + std::to_string(g);
        groupJson += (groupJson.empty() ? "" : ",") + std::to_string(g);
    }
    const std::string program = !s_.clientR.empty() && id % 2 == 0 ? s_.clientR : s_.client;
    const std::string logPath = dir_ + "/client-" + std::to_string(id) + ".jsonl";
    const std::string errPath = dir_ + "/client-" + std::to_string(id) + ".err";
    const std::string endpoint = c_.endpoint(node);
    std::vector<std::string> argv{
        program,    "--id",    std::to_string(id), "--seed", std::to_string(seed),
        "--groups", groupList, "--role",           role,     "--log",
        logPath};
    std::vector<char *> args;
    for (auto &a : argv)
        args.push_back(a.data());
    args.push_back(nullptr);
    const pid_t parent = getpid();
    const int64_t t = monoUs();
    std::fflush(nullptr);
    const pid_t pid = fork();
    REQUIRE_MESSAGE(pid >= 0, "fork: " << std::strerror(errno));
    if (pid == 0) {
        /* Dies with the driver, whatever kills it. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(125);
        const int fd = open(errPath.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        const int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (devnull >= 0)
            dup2(devnull, 0);
        for (int f = 3; f < 1024; ++f)
            close(f);
        setenv("HA_GS_SOCKET", endpoint.c_str(), 1);
        std::signal(SIGPIPE, SIG_DFL);
        std::signal(SIGTERM, SIG_DFL);
        execv(args[0], args.data());
        std::fprintf(stderr, "exec %s: %s\n", args[0], std::strerror(errno));
        _exit(127);
    }
    clients_[id] = {pid, node};
    ++spawned_;
    record("\"ev\":\"client_spawn\",\"id\":" + std::to_string(id) +
           ",\"node\":" + std::to_string(node) + ",\"pid\":" + std::to_string(pid) +
           ",\"seed\":" + std::to_string(seed) + ",\"role\":" + q(role) + ",\"groups\":[" +
           groupJson + "],\"program\":" + q(std::filesystem::path(program).filename()) +
           ",\"t\":" + std::to_string(t));
}

void ChaosDriver::killClient()
{
    if (clients_.empty())
        return;
    auto it = clients_.begin();
    std::advance(it, pick(static_cast<int>(clients_.size())));
    const int64_t t = monoUs();
    kill(it->second.pid, SIGKILL);
    ++kills_;
    record("\"ev\":\"client_kill\",\"id\":" + std::to_string(it->first) +
           ",\"t\":" + std::to_string(t));
}

/* Records exited clients (only ours: waitpid by pid, never -1, which would
 * reap the harness's children) and plans a replacement on the same node. */
void ChaosDriver::reap(int64_t now)
{
    for (auto it = clients_.begin(); it != clients_.end();) {
        int status = 0;
        if (waitpid(it->second.pid, &status, WNOHANG) == it->second.pid) {
            record("\"ev\":\"client_exit\",\"id\":" + std::to_string(it->first) +
                   ",\"status\":" + std::to_string(returnCode(status)));
            pendingSpawns_.emplace_back(now + static_cast<int64_t>(uniform(0.1, 1.0) * 1e6),
                                        it->second.node);
            it = clients_.erase(it);
        } else {
            ++it;
        }
    }
}

/* One node disturbed at a time, so that two nodes (a quorate majority with
 * their gsds) always carry the domain and its groups live through the run. */
void ChaosDriver::disturb(int64_t now)
{
    switch (phase_) {
    case Phase::Idle: {
        if (now < phaseUntil_)
            return;
        node_ = 1 + pick(c_.size());
        const double r = uniform(0, 1);
        kind_ = r < 0.4 ? Kind::GsdKill : (r < 0.55 ? Kind::GsdStop : Kind::Cut);
        downAt_ = now;
        if (kind_ == Kind::Cut) {
            ++cuts_;
            record("\"ev\":\"cut\",\"node\":" + std::to_string(node_) +
                   ",\"t\":" + std::to_string(monoUs()));
            c_.cut(node_);
            /* Long enough for Corosync to see it (token + consensus, 2.2 tokens). */
            phaseUntil_ =
                now + static_cast<int64_t>(uniform(2.0, 6.0) * 1e6) + int64_t{s_.tokenMs} * 2200;
        } else {
            const int sig = kind_ == Kind::GsdKill ? SIGKILL : SIGTERM;
            (kind_ == Kind::GsdKill ? gsdKills_ : gsdStops_)++;
            stopGsd(node_, sig);
            phaseUntil_ = now + static_cast<int64_t>(uniform(0.3, 2.0) * 1e6);
        }
        std::printf("chaos-cluster: %.1f s: %s node %d\n", static_cast<double>(now - t0_) / 1e6,
                    kind_ == Kind::Cut
                        ? "cut"
                        : (kind_ == Kind::GsdKill ? "SIGKILL gsd of" : "SIGTERM gsd of"),
                    node_);
        std::fflush(stdout);
        phase_ = Phase::Down;
        return;
    }
    case Phase::Down:
        if (now < phaseUntil_)
            return;
        if (kind_ == Kind::Cut) {
            c_.heal(node_);
            record("\"ev\":\"heal\",\"node\":" + std::to_string(node_) +
                   ",\"t\":" + std::to_string(monoUs()));
        } else {
            startGsd(node_);
        }
        phase_ = Phase::Recovering;
        phaseUntil_ = now + int64_t{kRecoverMs} * 1000;
        nextProbe_ = 0;
        return;
    case Phase::Recovering:
        if (now < nextProbe_)
            return;
        nextProbe_ = now + 200000;
        if (c_.probeInit(node_) == 0 /* HA_GS_OK */) {
            ++resyncs_;
            const int64_t t = monoUs();
            record("\"ev\":\"synced\",\"node\":" + std::to_string(node_) +
                   ",\"t\":" + std::to_string(t) + ",\"down_us\":" + std::to_string(t - downAt_));
            phase_ = Phase::Idle;
            phaseUntil_ = t + static_cast<int64_t>(uniform(0.5, 1.5) * s_.disturbInterval * 1e6);
            return;
        }
        if (now > phaseUntil_) {
            saveNodeLogs();
            std::string state;
            try {
                state = c_.describe();
            } catch (const std::exception &e) {
                state = std::string("(the cluster cannot be described: ") + e.what() + ")";
            }
            const std::string what = kind_ == Kind::Cut ? "heal" : "gsd restart";
            const bool workDir = std::filesystem::exists(c_.workDir() + "/n1");
            FAIL("node " << node_ << " was not synced again within " << kRecoverMs / 1000
                         << " s after its " << what << "; logs in " << dir_
                         << (workDir ? "" : "; the cluster's work directory is gone") << "\n"
                         << state);
        }
        return;
    }
}

/* A gsd that died by itself is a violation (the checker reports it); it is
 * restarted so that the run goes on. */
void ChaosDriver::watchGsds()
{
    for (int k : c_.all()) {
        if (phase_ == Phase::Down && kind_ != Kind::Cut && k == node_)
            continue;
        if (!c_.gsdRunning(k)) {
            ++gsdDied_;
            record("\"ev\":\"gsd_died\",\"node\":" + std::to_string(k) + ",\"life\":" +
                   std::to_string(lifeOf_[k]) + ",\"status\":-1,\"t\":" + std::to_string(monoUs()));
            std::printf("chaos-cluster: gsd of node %d died by itself\n", k);
            startGsd(k);
        }
    }
}

void ChaosDriver::run()
{
    t0_ = monoUs();
    timespec real{};
    clock_gettime(CLOCK_REALTIME, &real);
    /* The gsd logs have wall-clock times: the checker maps them with this. */
    const int64_t realUs = static_cast<int64_t>(real.tv_sec) * 1000000 + real.tv_nsec / 1000;
    record("\"ev\":\"run\",\"seed\":" + std::to_string(s_.seed) +
           ",\"mono_us\":" + std::to_string(monoUs()) + ",\"real_us\":" + std::to_string(realUs) +
           ",\"nodes\":" + std::to_string(c_.size()) +
           ",\"clients\":" + std::to_string(s_.clientsPerNode * c_.size()) + ",\"groups\":" +
           std::to_string(s_.groups) + ",\"duration\":" + std::to_string(s_.seconds) +
           ",\"kill_interval\":" + std::to_string(s_.killInterval) + ",\"disturb_interval\":" +
           std::to_string(s_.disturbInterval) + ",\"cluster\":\"" + c_.prefix() + "\"");
    for (int k : c_.all())
        startGsd(k);
    for (int k : c_.all())
        REQUIRE_MESSAGE(c_.waitSynced(k, 30000), "gsd on node " << k << " did not sync\n"
                                                                << c_.describe());
    for (int k : c_.all())
        for (int i = 0; i < s_.clientsPerNode; ++i)
            spawnClient(k);
    const int64_t end = t0_ + static_cast<int64_t>(s_.seconds * 1e6);
    int64_t nextKill = t0_ + static_cast<int64_t>(uniform(0.5, 1.5) * s_.killInterval * 1e6);
    phaseUntil_ = t0_ + static_cast<int64_t>(uniform(0.5, 1.5) * s_.disturbInterval * 1e6);
    /* After the end, only the disturbance under way is finished. */
    for (;;) {
        const int64_t now = monoUs();
        const bool over = now >= end;
        if (over && phase_ == Phase::Idle)
            break;
        reap(now);
        disturb(now);
        watchGsds();
        if (!over && s_.killInterval > 0 && now >= nextKill) {
            killClient();
            nextKill = now + static_cast<int64_t>(uniform(0.5, 1.5) * s_.killInterval * 1e6);
        }
        std::sort(pendingSpawns_.begin(), pendingSpawns_.end());
        while (!pendingSpawns_.empty() && pendingSpawns_.front().first <= now) {
            const int node = pendingSpawns_.front().second;
            pendingSpawns_.erase(pendingSpawns_.begin());
            if (!over)
                spawnClient(node);
        }
        sleepMs(20);
    }
    stopAll();
}

/* Clients first (SIGTERM: they quit and log their end), then every gsd. */
void ChaosDriver::stopAll()
{
    record("\"ev\":\"stopping\",\"t\":" + std::to_string(monoUs()));
    for (auto &[id, cl] : clients_)
        kill(cl.pid, SIGTERM);
    const int64_t deadline = monoUs() + 30000000;
    while (!clients_.empty() && monoUs() < deadline) {
        reap(monoUs());
        sleepMs(20);
    }
    for (auto &[id, cl] : clients_) {
        record("\"ev\":\"client_hung\",\"id\":" + std::to_string(id));
        kill(cl.pid, SIGKILL);
    }
    sleepMs(100);
    reap(monoUs());
    for (int k : c_.all())
        stopGsd(k, SIGTERM);
    record("\"ev\":\"done\"");
    saveNodeLogs();
}

void ChaosDriver::saveNodeLogs()
{
    if (saved_)
        return;
    saved_ = true;
    for (int k : c_.all()) {
        std::ofstream(dir_ + "/gsd-n" + std::to_string(k) + ".log") << c_.gsdLog(k);
        std::ofstream(dir_ + "/corosync-n" + std::to_string(k) + ".log") << c_.corosyncLog(k);
    }
}

/* Prints the driver's figures, runs the checker; its exit status. */
int ChaosDriver::check()
{
    size_t syncLines = 0;
    for (int k : c_.all())
        syncLines +=
            countOf(readFile(dir_ + "/gsd-n" + std::to_string(k) + ".log"), "domain: synced from");
    std::printf("chaos-cluster: ran %.1f s: nodes %d, clients started %d, client kills %d, "
                "gsd kills %d (SIGKILL) + %d (SIGTERM), partitions %d, resyncs %d "
                "(gsd logs: %zu syncs from a donor), gsd deaths %d; checking\n",
                static_cast<double>(monoUs() - t0_) / 1e6, c_.size(), spawned_, kills_, gsdKills_,
                gsdStops_, cuts_, resyncs_, syncLines, gsdDied_);
    std::fflush(stdout);
    const pid_t pid = fork();
    if (pid == 0) {
        execl(s_.python.c_str(), s_.python.c_str(), s_.checker.c_str(), dir_.c_str(),
              static_cast<char *>(nullptr));
        std::fprintf(stderr, "exec %s: %s\n", s_.python.c_str(), std::strerror(errno));
        _exit(127);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    const int rc = returnCode(status);
    passed_ = rc == 0;
    return rc;
}

} // namespace

TEST_CASE("cluster chaos: random client kills, gsd kills and restarts, link cuts and heals; "
          "the checker finds 0 violations in every node's client logs")
{
    const Settings s = Settings::fromEnvironment();
    REQUIRE_MESSAGE(!s.client.empty(), "GS_CHAOS_CLIENT is not set (run through meson test or "
                                       "scripts/chaos-cluster.sh)");
    REQUIRE_MESSAGE(!s.checker.empty(), "GS_CHAOS_CHECKER is not set");
    ClusterOptions options;
    options.tokenMs = s.tokenMs;
    Cluster c(options);
    ChaosDriver d(c, s);
    std::printf("chaos-cluster: seed %llu, %d nodes, %d clients per node, %d groups, %g s, "
                "token %d ms; logs in %s\n",
                static_cast<unsigned long long>(s.seed), c.size(), s.clientsPerNode, s.groups,
                s.seconds, s.tokenMs, d.dir().c_str());
    std::fflush(stdout);
    d.run();
    CHECK_MESSAGE(d.check() == 0, "the checker found violations (seed " << s.seed << ")");
}
