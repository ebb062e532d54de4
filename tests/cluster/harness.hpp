/* SPDX-License-Identifier: MIT */
/*
 * Harness of the cross-node tests: an N-node Corosync cluster in network
 * namespaces on one machine, one gsd --cluster per node.
 *
 * Layout of one Cluster (names carry a per-run prefix, e.g. "gs4711a", and
 * the subnet is derived from the pid, so parallel runs never meet):
 *   <prefix>br        a namespace holding the bridge br0 and one veth end
 *                     per node (p1..pN): cut(k)/heal(k) set pK down/up,
 *                     cutBetween/healBetween set ports isolated or not
 *   <prefix>n1..nN    one namespace per node: eth0 = 10.X.Y.k/24
 *   <prefix>q         with ClusterOptions::quorumDevice: corosync-qnetd,
 *                     eth0 = 10.X.Y.254/24 on the same bridge (port pq); it
 *                     is not a Corosync node. Each node runs corosync-qdevice
 *                     (model net, ffsplit, no TLS) next to its Corosync.
 * Corosync runs inside its node's namespace with a private /run (its pid
 * lock), /dev/shm stays shared (libqb ring buffers). gsd runs inside the
 * namespace too (libqb IPC sockets are abstract, per network namespace); its
 * ipc:// socket is a file under the cluster's work directory, visible from
 * every namespace, so test clients stay in the root namespace and pick their
 * node by endpoint(k) (HA_GS_SOCKET).
 *
 * Only processes this harness started are ever signalled, by pid. The
 * destructor tears everything down, also while a test fails; a reaper
 * process (its own session) does the same if the test process dies without
 * running destructors (a meson timeout, SIGKILL).
 *
 * Without root, `ip` or corosync the constructor fails the test with a clear
 * message: the cluster tests never skip.
 */
#pragma once

#include <csignal>
#include <cstdint>
#include <optional>
#include <string>
#include <sys/types.h>
#include <vector>

namespace cluster {

struct ClusterOptions {
    int nodes = 3;
    /* Totem token; token_coefficient is 0. 1000 ms (docs/cluster.md's LAN
     * setting): with 300 ms, a loaded two-core machine made Corosync
     * flap (rings of one node formed and replaced within 100 ms). */
    int tokenMs = 1000;
    bool crypto = true; /* knet aes256 + sha256 */
    std::string domain = "cl";
    int formTimeoutMs = 30000;
    bool startCorosync = true; /* start every node's Corosync and wait for quorum */
    /* Corosync's quorum device: qnetd in a namespace of its own on the
     * bridge, qdevice on every node (one vote, algorithm ffsplit, TLS off),
     * started with Corosync. Expected votes are then nodes + 1. */
    bool quorumDevice = false;
};

/* Result of a command run inside a node's namespace. */
struct Run {
    int status = -1; /* raw wait status */
    bool timedOut = false;
    std::string output; /* stdout and stderr */
    bool ok() const;    /* exited with 0 */
};

/* What corosync-quorumtool -s says on a node. */
struct QuorumView {
    bool reachable = false; /* the tool could talk to the node's Corosync */
    bool quorate = false;
    int totalVotes = 0;
    std::string text;
};

class Cluster {
  public:
    explicit Cluster(ClusterOptions options = {});
    ~Cluster();
    Cluster(const Cluster &) = delete;
    Cluster &operator=(const Cluster &) = delete;

    int size() const { return options_.nodes; }
    const ClusterOptions &options() const { return options_; }
    const std::string &prefix() const { return prefix_; }
    const std::string &workDir() const { return dir_; }
    std::string netns(int node) const; /* namespace name of node k (1-based) */
    std::string bridgeNetns() const;
    std::string address(int node) const;  /* ring0_addr */
    std::string nodeName(int node) const; /* nodelist name (differs from the host name) */
    std::vector<int> all() const;         /* 1..N */

    /* ---- Corosync ---- */
    void startCorosync(int node);
    /* Signals node k's Corosync. SIGKILL and SIGTERM wait for the exit and
     * then remove what libqb left in /dev/shm. */
    void killCorosync(int node, int sig);
    bool corosyncRunning(int node);
    pid_t corosyncPid(int node) const;
    std::string corosyncLog(int node) const;
    QuorumView quorum(int node);
    /* Until every node of `nodes` is quorate with exactly `votes` votes. */
    bool waitQuorate(const std::vector<int> &nodes, int votes, int timeoutMs = 30000);
    /* Until node k's Corosync says it is not quorate. */
    bool waitInquorate(int node, int timeoutMs = 30000);

    /* ---- The link of a node (its veth end in the bridge namespace) ---- */
    void cut(int node);
    void heal(int node);
    /* The bridge ports of `nodes` isolated (or no longer): those nodes stop
     * reaching each other, while each still reaches qnetd and every node
     * not listed. With two nodes, cutBetween({1, 2}) is a cut between them
     * that leaves both talking to qnetd (cut(k) would cut qnetd off too). */
    void cutBetween(const std::vector<int> &nodes);
    void healBetween(const std::vector<int> &nodes);

    /* ---- The quorum device (ClusterOptions::quorumDevice) ---- */
    int votes() const; /* expected votes: nodes, + 1 with a quorum device */
    std::string qnetdNetns() const;
    std::string qnetdAddress() const;
    void startQnetd();
    void stopQnetd(int sig = SIGTERM);
    pid_t qnetdPid() const { return qnetd_; }
    std::string qnetdLog() const;
    /* Starts corosync-qdevice on node k once its Corosync answers. */
    void startQdevice(int node);
    void stopQdevice(int node, int sig = SIGTERM);
    pid_t qdevicePid(int node) const;
    std::string qdeviceLog(int node) const;
    /* corosync-qdevice-tool -s -v on node k (the device's view: vote, state). */
    std::string qdeviceStatus(int node);

    /* ---- gsd ---- */
    std::string endpoint(int node) const; /* ipc://<dir>/nK.sock */
    std::string socketPath(int node) const;
    /* Starts gsd --cluster inside node k's namespace and waits until its
     * socket accepts connections (not until it is synced: waitSynced). */
    void startGsd(int node, const std::vector<std::string> &extraArgs = {});
    /* Starts it without waiting; for gsd runs expected to fail. */
    void spawnGsd(int node, const std::vector<std::string> &extraArgs = {});
    /* Until ha_gs_init succeeds at node k (the gsd holds the domain's state). */
    bool waitSynced(int node, int timeoutMs = 30000);
    /* One ha_gs_init + ha_gs_quit at node k, from a child process: its rc. */
    int probeInit(int node);
    void killGsd(int node, int sig);
    /* SIGTERM, wait; SIGKILL after 5 s. */
    void stopGsd(int node);
    /* Reaps gsd if it exited; raw status or nullopt on timeout. */
    std::optional<int> waitGsdExit(int node, int timeoutMs);
    bool gsdRunning(int node);
    pid_t gsdPid(int node) const;
    std::string gsdLog(int node) const;

    /* Runs argv inside node k's network namespace (root mount namespace). */
    Run runIn(int node, const std::vector<std::string> &argv, int timeoutMs = 10000);

    /* Everything a failing test may want to see: quorum views and log tails. */
    std::string describe();

    /* Stops every process started here, removes the namespaces, the work
     * directory and the /dev/shm files left by killed Corosyncs. Idempotent. */
    void teardown();

    /* Every pid this cluster ever started (for the leftovers test). */
    const std::vector<pid_t> &startedPids() const { return started_; }
    /* Names of the namespaces that exist now with this cluster's prefix. */
    std::vector<std::string> namespacesLeft() const;
    /* /dev/shm entries named after a pid in `pids`. */
    static std::vector<std::string> shmLeft(const std::vector<pid_t> &pids);

  private:
    struct Node {
        pid_t corosync = -1;
        pid_t gsd = -1;
        pid_t qdevice = -1;
        std::vector<pid_t> deadCorosyncs; /* killed: their /dev/shm files to remove */
    };
    void setUp();
    void ip(const std::vector<std::string> &args);
    void writeConfig(int node);
    void tellReaper(const std::string &line);
    void removeShmOf(pid_t pid);
    void stopPid(pid_t &pid, int sig, int graceMs);
    void startQuorumDevice();
    /* Forks argv[0] (a full path) as a daemon inside namespace ns, its
     * output appended to log, its working directory dir; tells the reaper. */
    pid_t spawnDaemon(const std::vector<std::string> &argv, const std::string &log,
                      const std::string &ns, const std::string &dir);

    ClusterOptions options_;
    std::string prefix_, dir_, subnet_;
    std::vector<Node> nodes_;
    std::vector<pid_t> started_;
    bool bridgeUp_ = false;
    std::vector<std::string> namespaces_;
    pid_t qnetd_ = -1;
    pid_t reaper_ = -1;
    int reaperFd_ = -1;
    bool tornDown_ = false;
};

/* Milliseconds on the monotonic clock. */
int64_t nowMs();
void sleepMs(int ms);

} // namespace cluster
