/* SPDX-License-Identifier: MIT */
#include "harness.hpp"

#include <ha_gs.h>

#include <doctest/doctest.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <poll.h>
#include <sched.h>
#include <set>
#include <sstream>
#include <stdexcept>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

namespace cluster {

int64_t nowMs()
{
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

void sleepMs(int ms)
{
    std::this_thread::sleep_for(std::chrono::milliseconds(ms));
}

bool Run::ok() const
{
    return !timedOut && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

namespace {

std::string readFile(const std::string &path)
{
    std::ifstream in(path, std::ios::binary);
    std::ostringstream os;
    os << in.rdbuf();
    return os.str();
}

std::string tail(const std::string &text, size_t lines)
{
    if (text.empty())
        return text;
    size_t pos = text.size();
    for (size_t n = 0; pos > 0 && n <= lines; ++n) {
        pos = text.rfind('\n', pos - 1);
        if (pos == std::string::npos)
            return text;
    }
    return text.substr(pos + 1);
}

/* The full path of a program found in PATH or the sbin directories ("" if
 * none): tests may run with a PATH that lacks /usr/sbin. */
std::string findProgram(const std::string &name)
{
    std::string path = std::getenv("PATH") ? std::getenv("PATH") : "";
    path += ":/usr/sbin:/sbin:/usr/bin:/bin";
    std::istringstream is(path);
    std::string dir;
    while (std::getline(is, dir, ':')) {
        if (dir.empty())
            continue;
        const std::string full = dir + "/" + name;
        if (access(full.c_str(), X_OK) == 0)
            return full;
    }
    return "";
}

std::string requireProgram(const std::string &name)
{
    const std::string p = findProgram(name);
    if (p.empty())
        throw std::runtime_error(name + " not found (scripts/install-deps.sh installs corosync and "
                                        "iproute2); the cluster tests need it");
    return p;
}

/* In a forked child: every descriptor but 0-2 closed. */
void closeFdsFrom3()
{
    std::vector<int> fds;
    if (DIR *d = opendir("/proc/self/fd")) {
        const int self = dirfd(d);
        while (dirent *e = readdir(d)) {
            if (e->d_name[0] == '.')
                continue;
            const int fd = std::atoi(e->d_name);
            if (fd > 2 && fd != self)
                fds.push_back(fd);
        }
        closedir(d);
    }
    for (int fd : fds)
        close(fd);
}

/* In a forked child: enter the network namespace `ns` (or _exit). */
void enterNetns(const std::string &ns)
{
    const std::string path = "/run/netns/" + ns;
    const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0 || setns(fd, CLONE_NEWNET) != 0) {
        std::fprintf(stderr, "enter %s: %s\n", path.c_str(), std::strerror(errno));
        _exit(126);
    }
    close(fd);
}

/* In a forked child that becomes a node's daemon: stdout and stderr
 * appended to `log`, stdin /dev/null, every other descriptor closed, inside
 * the node's network namespace `ns` (or _exit). */
void daemonChild(const std::string &log, const std::string &ns)
{
    const int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
        dup2(fd, 1);
        dup2(fd, 2);
    }
    const int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0)
        dup2(devnull, 0);
    closeFdsFrom3();
    enterNetns(ns);
}

std::vector<char *> argvOf(const std::vector<std::string> &args)
{
    std::vector<char *> v;
    for (const auto &a : args)
        v.push_back(const_cast<char *>(a.c_str()));
    v.push_back(nullptr);
    return v;
}

std::optional<int> waitPidFor(pid_t pid, int timeoutMs)
{
    const int64_t deadline = nowMs() + timeoutMs;
    for (;;) {
        int status = 0;
        const pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid)
            return status;
        if (r < 0 && errno != EINTR)
            return -1;
        if (nowMs() >= deadline)
            return std::nullopt;
        sleepMs(2);
    }
}

/* Runs argv (argv[0] a full path) in namespace ns ("" = here), collecting
 * stdout and stderr. */
Run runCommand(const std::string &ns, const std::vector<std::string> &argv, int timeoutMs)
{
    int out[2];
    if (pipe2(out, O_CLOEXEC) != 0)
        throw std::runtime_error(std::string("pipe2: ") + std::strerror(errno));
    auto args = argvOf(argv);
    std::fflush(nullptr);
    const pid_t pid = fork();
    if (pid < 0)
        throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
    if (pid == 0) {
        dup2(out[1], 1);
        dup2(out[1], 2);
        const int devnull = open("/dev/null", O_RDONLY);
        if (devnull >= 0)
            dup2(devnull, 0);
        closeFdsFrom3();
        if (!ns.empty())
            enterNetns(ns);
        std::signal(SIGPIPE, SIG_DFL);
        execv(args[0], args.data());
        std::fprintf(stderr, "exec %s: %s\n", args[0], std::strerror(errno));
        _exit(127);
    }
    close(out[1]);
    Run run;
    const int64_t deadline = nowMs() + timeoutMs;
    for (;;) {
        const int64_t left = deadline - nowMs();
        if (left <= 0) {
            run.timedOut = true;
            break;
        }
        pollfd p{out[0], POLLIN, 0};
        if (poll(&p, 1, static_cast<int>(left)) <= 0)
            continue;
        char buf[4096];
        const ssize_t n = read(out[0], buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        run.output.append(buf, static_cast<size_t>(n));
    }
    close(out[0]);
    if (run.timedOut)
        kill(pid, SIGKILL);
    run.status = waitPidFor(pid, run.timedOut ? 5000 : timeoutMs + 5000).value_or(-1);
    return run;
}

std::string commOf(pid_t pid)
{
    std::string comm = readFile("/proc/" + std::to_string(pid) + "/comm");
    while (!comm.empty() && comm.back() == '\n')
        comm.pop_back();
    return comm;
}

void removeShmNamed(pid_t pid)
{
    const std::string a = "qb-corosync-" + std::to_string(pid) + "-";
    const std::string b = "qb-" + std::to_string(pid) + "-";
    if (DIR *d = opendir("/dev/shm")) {
        std::vector<std::string> names;
        while (dirent *e = readdir(d)) {
            const std::string n = e->d_name;
            if (n.rfind(a, 0) == 0 || n.rfind(b, 0) == 0)
                names.push_back(n);
        }
        closedir(d);
        /* libqb keeps some as directories (one per IPC connection). */
        for (const auto &n : names) {
            std::error_code ec;
            std::filesystem::remove_all("/dev/shm/" + n, ec);
        }
    }
}

/* The reaper: a process of its own session that learns, line by line, what
 * the cluster created ("pid PID COMM", "corosync PID", "ns NAME", "dir
 * PATH") and, if its pipe closes without "done" (the test process died
 * without its destructors), kills those processes (when the pid still names
 * the same program), removes the namespaces, the /dev/shm files and the
 * directory. */
[[noreturn]] void reaperMain(int fd, const std::string &ipPath)
{
    setsid();
    std::signal(SIGTERM, SIG_IGN);
    std::signal(SIGINT, SIG_IGN);
    std::signal(SIGHUP, SIG_IGN);
    std::string buffer;
    char chunk[1024];
    for (;;) {
        const ssize_t n = read(fd, chunk, sizeof chunk);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        buffer.append(chunk, static_cast<size_t>(n));
    }
    std::istringstream lines(buffer);
    std::vector<std::pair<pid_t, std::string>> pids;
    std::vector<pid_t> corosyncs;
    std::vector<std::string> namespaces;
    std::string dir;
    std::string line;
    while (std::getline(lines, line)) {
        std::istringstream is(line);
        std::string kind;
        is >> kind;
        if (kind == "done")
            _exit(0);
        if (kind == "pid") {
            pid_t p = 0;
            std::string comm;
            is >> p >> comm;
            pids.emplace_back(p, comm);
        } else if (kind == "corosync") {
            pid_t p = 0;
            is >> p;
            corosyncs.push_back(p);
        } else if (kind == "ns") {
            std::string ns;
            is >> ns;
            namespaces.push_back(ns);
        } else if (kind == "dir") {
            is >> dir;
        }
    }
    for (const auto &[p, comm] : pids) {
        if (p > 0 && commOf(p) == comm) {
            kill(p, SIGKILL);
            kill(p, SIGCONT);
        }
    }
    sleepMs(500);
    for (pid_t p : corosyncs)
        removeShmNamed(p);
    for (const auto &ns : namespaces)
        runCommand("", {ipPath, "netns", "del", ns}, 5000);
    if (!dir.empty()) {
        std::error_code ec;
        std::filesystem::remove_all(dir, ec);
    }
    _exit(0);
}

int clusterCounter = 0;

} // namespace

/* ======================================================================== */

Cluster::Cluster(ClusterOptions options) : options_(std::move(options))
{
    if (geteuid() != 0)
        FAIL("the cluster tests need root (network namespaces, Corosync); they run as root in CI "
             "and must not be skipped: run them as root");
    for (const char *p : {"ip", "corosync", "corosync-keygen", "corosync-quorumtool"}) {
        if (findProgram(p).empty())
            FAIL(p << " not found: install corosync and iproute2 (scripts/install-deps.sh); the "
                      "cluster tests need real Corosync daemons in network namespaces");
    }
    if (options_.quorumDevice) {
        for (const char *p : {"corosync-qnetd", "corosync-qdevice", "corosync-qdevice-tool"}) {
            if (findProgram(p).empty())
                FAIL(p << " not found: install corosync-qnetd and corosync-qdevice "
                          "(scripts/install-deps.sh); the quorum device tests need them");
        }
    }
    if (options_.nodes < 1 || options_.nodes > 200)
        FAIL("a cluster has 1..200 nodes, not " << options_.nodes);
    const int serial = clusterCounter++;
    const long pid = static_cast<long>(getpid());
    prefix_ = "gs" + std::to_string(pid) + static_cast<char>('a' + serial % 26);
    subnet_ =
        "10." + std::to_string((pid >> 8) & 0xff) + "." + std::to_string((pid + serial) & 0xff);
    nodes_.resize(static_cast<size_t>(options_.nodes) + 1);
    try {
        setUp();
    } catch (const std::exception &e) {
        const std::string what = e.what();
        const std::string details = describe();
        teardown();
        FAIL("could not set up the " << options_.nodes << "-node cluster " << prefix_ << ": "
                                     << what << "\n"
                                     << details);
    }
}

Cluster::~Cluster()
{
    teardown();
}

std::string Cluster::netns(int node) const
{
    return prefix_ + "n" + std::to_string(node);
}

std::string Cluster::bridgeNetns() const
{
    return prefix_ + "br";
}

std::string Cluster::address(int node) const
{
    return subnet_ + "." + std::to_string(node);
}

std::string Cluster::nodeName(int node) const
{
    return "gsnode" + std::to_string(node);
}

std::vector<int> Cluster::all() const
{
    std::vector<int> v;
    for (int i = 1; i <= options_.nodes; ++i)
        v.push_back(i);
    return v;
}

std::string Cluster::socketPath(int node) const
{
    return dir_ + "/n" + std::to_string(node) + ".sock";
}

std::string Cluster::endpoint(int node) const
{
    return "ipc://" + socketPath(node);
}

pid_t Cluster::corosyncPid(int node) const
{
    return nodes_.at(static_cast<size_t>(node)).corosync;
}

pid_t Cluster::gsdPid(int node) const
{
    return nodes_.at(static_cast<size_t>(node)).gsd;
}

std::string Cluster::corosyncLog(int node) const
{
    return readFile(dir_ + "/n" + std::to_string(node) + "/corosync.log");
}

std::string Cluster::gsdLog(int node) const
{
    return readFile(dir_ + "/n" + std::to_string(node) + "/gsd.log");
}

void Cluster::tellReaper(const std::string &line)
{
    if (reaperFd_ < 0)
        return;
    const std::string data = line + "\n";
    size_t off = 0;
    while (off < data.size()) {
        const ssize_t n = write(reaperFd_, data.data() + off, data.size() - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return;
        off += static_cast<size_t>(n);
    }
}

void Cluster::ip(const std::vector<std::string> &args)
{
    std::vector<std::string> argv{requireProgram("ip")};
    argv.insert(argv.end(), args.begin(), args.end());
    const Run r = runCommand("", argv, 10000);
    if (!r.ok()) {
        std::string cmd;
        for (const auto &a : args)
            cmd += " " + a;
        throw std::runtime_error("ip" + cmd + " failed: " + r.output);
    }
}

void Cluster::setUp()
{
    std::string templ = "/tmp/gscl-XXXXXX";
    if (!mkdtemp(templ.data()))
        throw std::runtime_error(std::string("mkdtemp: ") + std::strerror(errno));
    dir_ = templ;
    chmod(dir_.c_str(), 0755);

    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0)
        throw std::runtime_error(std::string("pipe2: ") + std::strerror(errno));
    const std::string ipPath = requireProgram("ip");
    std::fflush(nullptr);
    reaper_ = fork();
    if (reaper_ < 0)
        throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
    if (reaper_ == 0) {
        close(fds[1]);
        reaperMain(fds[0], ipPath);
    }
    close(fds[0]);
    reaperFd_ = fds[1];
    tellReaper("dir " + dir_);

    if (options_.crypto) {
        const Run r =
            runCommand("", {requireProgram("corosync-keygen"), "-k", dir_ + "/authkey"}, 10000);
        if (!r.ok())
            throw std::runtime_error("corosync-keygen failed: " + r.output);
    }
    const std::string br = bridgeNetns();
    tellReaper("ns " + br);
    namespaces_.push_back(br);
    ip({"netns", "add", br});
    ip({"-n", br, "link", "set", "lo", "up"});
    ip({"-n", br, "link", "add", "br0", "type", "bridge"});
    ip({"-n", br, "link", "set", "br0", "up"});
    bridgeUp_ = true;
    for (int k = 1; k <= options_.nodes; ++k) {
        const std::string ns = netns(k);
        const std::string port = "p" + std::to_string(k);
        tellReaper("ns " + ns);
        namespaces_.push_back(ns);
        ip({"netns", "add", ns});
        ip({"-n", ns, "link", "set", "lo", "up"});
        ip({"-n", ns, "link", "add", "eth0", "type", "veth", "peer", "name", port, "netns", br});
        ip({"-n", ns, "addr", "add", address(k) + "/24", "dev", "eth0"});
        ip({"-n", ns, "link", "set", "eth0", "up"});
        ip({"-n", br, "link", "set", port, "master", "br0"});
        ip({"-n", br, "link", "set", port, "up"});
        std::filesystem::create_directories(dir_ + "/n" + std::to_string(k));
        writeConfig(k);
    }
    if (options_.quorumDevice) {
        const std::string q = qnetdNetns();
        tellReaper("ns " + q);
        namespaces_.push_back(q);
        ip({"netns", "add", q});
        ip({"-n", q, "link", "set", "lo", "up"});
        ip({"-n", q, "link", "add", "eth0", "type", "veth", "peer", "name", "pq", "netns", br});
        ip({"-n", q, "addr", "add", qnetdAddress() + "/24", "dev", "eth0"});
        ip({"-n", q, "link", "set", "eth0", "up"});
        ip({"-n", br, "link", "set", "pq", "master", "br0"});
        ip({"-n", br, "link", "set", "pq", "up"});
        std::filesystem::create_directories(dir_ + "/qnetd");
    }
    if (!options_.startCorosync)
        return;
    for (int k = 1; k <= options_.nodes; ++k)
        startCorosync(k);
    if (options_.quorumDevice)
        startQuorumDevice();
    if (!waitQuorate(all(), votes(), options_.formTimeoutMs))
        throw std::runtime_error("the nodes did not become quorate within " +
                                 std::to_string(options_.formTimeoutMs) + " ms");
}

void Cluster::writeConfig(int node)
{
    const std::string nd = dir_ + "/n" + std::to_string(node);
    std::ofstream f(nd + "/corosync.conf");
    /* One "key: value" per line: the parser rejects the compact style. */
    f << "totem {\n version: 2\n cluster_name: " << prefix_ << "\n transport: knet\n"
      << " token: " << options_.tokenMs << "\n token_coefficient: 0\n";
    if (options_.crypto)
        f << " crypto_cipher: aes256\n crypto_hash: sha256\n keyfile: " << dir_ << "/authkey\n";
    else
        f << " crypto_cipher: none\n crypto_hash: none\n";
    f << "}\nnodelist {\n";
    /* Names differ from the host name (every namespace shares it): Corosync
     * finds the local node by its ring0_addr. */
    for (int k = 1; k <= options_.nodes; ++k)
        f << " node {\n  name: " << nodeName(k) << "\n  nodeid: " << k
          << "\n  ring0_addr: " << address(k) << "\n }\n";
    f << "}\nquorum {\n provider: corosync_votequorum\n";
    /* ffsplit gives its one vote (corosync-qdevice(8): votes must be 1) to
     * one half of an even split. No TLS: no NSS certificate databases to
     * make (qnetd runs with -s off). */
    if (options_.quorumDevice)
        f << " device {\n  model: net\n  votes: 1\n  net {\n   host: " << qnetdAddress()
          << "\n   algorithm: ffsplit\n   tls: off\n  }\n }\n";
    f << "}\n"
      << "logging {\n to_stderr: yes\n to_syslog: no\n to_logfile: no\n timestamp: hires\n}\n"
      << "system {\n state_dir: " << nd << "\n sched_rr: no\n allow_knet_handle_fallback: yes\n}\n";
    if (!f)
        throw std::runtime_error("cannot write " + nd + "/corosync.conf");
}

void Cluster::startCorosync(int node)
{
    Node &n = nodes_.at(static_cast<size_t>(node));
    if (n.corosync > 0)
        throw std::runtime_error("corosync already runs on node " + std::to_string(node));
    const std::string program = requireProgram("corosync");
    const std::string nd = dir_ + "/n" + std::to_string(node);
    const std::string conf = nd + "/corosync.conf";
    const std::string log = nd + "/corosync.log";
    const std::string ns = netns(node);
    std::vector<std::string> argv{program, "-f", "-c", conf};
    auto args = argvOf(argv);
    std::fflush(nullptr);
    const pid_t pid = fork();
    if (pid < 0)
        throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
    if (pid == 0) {
        daemonChild(log, ns);
        /* A private /run: Corosync's pid lock is /run/corosync.pid. /dev/shm
         * stays shared: its clients' ring buffers are there. */
        if (unshare(CLONE_NEWNS) != 0 ||
            mount("none", "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0 ||
            mount("tmpfs", "/run", "tmpfs", 0, "mode=0755") != 0) {
            std::fprintf(stderr, "private /run: %s\n", std::strerror(errno));
            _exit(126);
        }
        if (chdir(nd.c_str()) != 0)
            _exit(126);
        std::signal(SIGPIPE, SIG_DFL);
        execv(args[0], args.data());
        std::fprintf(stderr, "exec %s: %s\n", args[0], std::strerror(errno));
        _exit(127);
    }
    n.corosync = pid;
    started_.push_back(pid);
    tellReaper("pid " + std::to_string(pid) + " corosync");
    tellReaper("corosync " + std::to_string(pid));
}

bool Cluster::corosyncRunning(int node)
{
    Node &n = nodes_.at(static_cast<size_t>(node));
    if (n.corosync <= 0)
        return false;
    int status = 0;
    if (waitpid(n.corosync, &status, WNOHANG) == n.corosync) {
        n.deadCorosyncs.push_back(n.corosync);
        removeShmOf(n.corosync);
        n.corosync = -1;
        return false;
    }
    return true;
}

void Cluster::removeShmOf(pid_t pid)
{
    removeShmNamed(pid);
}

void Cluster::stopPid(pid_t &pid, int sig, int graceMs)
{
    if (pid <= 0)
        return;
    kill(pid, sig);
    kill(pid, SIGCONT); /* a stopped process cannot act on SIGTERM */
    if (!waitPidFor(pid, graceMs)) {
        kill(pid, SIGKILL);
        waitPidFor(pid, 5000);
    }
    pid = -1;
}

void Cluster::killCorosync(int node, int sig)
{
    Node &n = nodes_.at(static_cast<size_t>(node));
    if (n.corosync <= 0)
        return;
    if (sig != SIGKILL && sig != SIGTERM) {
        kill(n.corosync, sig);
        return;
    }
    const pid_t pid = n.corosync;
    stopPid(n.corosync, sig, 5000);
    n.deadCorosyncs.push_back(pid);
    /* After SIGKILL libqb's files (qb-corosync-PID-blackbox-*, the servers'
     * ring buffers) stay in /dev/shm. */
    removeShmOf(pid);
}

QuorumView Cluster::quorum(int node)
{
    QuorumView q;
    const Run r = runIn(node, {requireProgram("corosync-quorumtool"), "-s"}, 5000);
    q.text = r.output;
    std::istringstream is(r.output);
    std::string line;
    while (std::getline(is, line)) {
        auto value = [&](const char *key) -> std::optional<std::string> {
            if (line.rfind(key, 0) != 0)
                return std::nullopt;
            std::string v = line.substr(std::strlen(key));
            v.erase(0, v.find_first_not_of(" \t"));
            return v;
        };
        if (auto v = value("Quorate:")) {
            q.reachable = true;
            q.quorate = v->rfind("Yes", 0) == 0;
        } else if (auto t = value("Total votes:")) {
            q.totalVotes = std::atoi(t->c_str());
        }
    }
    return q;
}

bool Cluster::waitQuorate(const std::vector<int> &nodes, int votes, int timeoutMs)
{
    const int64_t deadline = nowMs() + timeoutMs;
    for (;;) {
        bool ok = true;
        for (int k : nodes) {
            if (!corosyncRunning(k))
                throw std::runtime_error("corosync on node " + std::to_string(k) +
                                         " is not running; its log:\n" + tail(corosyncLog(k), 30));
            const QuorumView q = quorum(k);
            if (!q.quorate || q.totalVotes != votes) {
                ok = false;
                break;
            }
        }
        if (ok)
            return true;
        if (nowMs() >= deadline)
            return false;
        sleepMs(50);
    }
}

bool Cluster::waitInquorate(int node, int timeoutMs)
{
    const int64_t deadline = nowMs() + timeoutMs;
    for (;;) {
        const QuorumView q = quorum(node);
        if (q.reachable && !q.quorate)
            return true;
        if (nowMs() >= deadline)
            return false;
        sleepMs(50);
    }
}

void Cluster::cutBetween(const std::vector<int> &nodes)
{
    for (int k : nodes)
        ip({"-n", bridgeNetns(), "link", "set", "p" + std::to_string(k), "type", "bridge_slave",
            "isolated", "on"});
}

void Cluster::healBetween(const std::vector<int> &nodes)
{
    for (int k : nodes)
        ip({"-n", bridgeNetns(), "link", "set", "p" + std::to_string(k), "type", "bridge_slave",
            "isolated", "off"});
}

void Cluster::cut(int node)
{
    ip({"-n", bridgeNetns(), "link", "set", "p" + std::to_string(node), "down"});
}

void Cluster::heal(int node)
{
    ip({"-n", bridgeNetns(), "link", "set", "p" + std::to_string(node), "up"});
}

Run Cluster::runIn(int node, const std::vector<std::string> &argv, int timeoutMs)
{
    std::vector<std::string> full = argv;
    if (!full.empty() && full[0].find('/') == std::string::npos)
        full[0] = requireProgram(full[0]);
    return runCommand(netns(node), full, timeoutMs);
}

/* ---- The quorum device ---------------------------------------------------- */

namespace {

/* What /proc/PID/comm says once `program` runs: its base name, cut to 15
 * characters (the reaper checks it before it signals a pid). */
std::string commOfProgram(const std::string &program)
{
    return std::filesystem::path(program).filename().string().substr(0, 15);
}

} // namespace

pid_t Cluster::spawnDaemon(const std::vector<std::string> &argv, const std::string &log,
                           const std::string &ns, const std::string &dir)
{
    auto args = argvOf(argv);
    std::fflush(nullptr);
    const pid_t pid = fork();
    if (pid < 0)
        throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
    if (pid == 0) {
        daemonChild(log, ns);
        if (chdir(dir.c_str()) != 0)
            _exit(126);
        std::signal(SIGPIPE, SIG_DFL);
        execv(args[0], args.data());
        std::fprintf(stderr, "exec %s: %s\n", args[0], std::strerror(errno));
        _exit(127);
    }
    started_.push_back(pid);
    tellReaper("pid " + std::to_string(pid) + " " + commOfProgram(argv[0]));
    return pid;
}

int Cluster::votes() const
{
    return options_.nodes + (options_.quorumDevice ? 1 : 0);
}

std::string Cluster::qnetdNetns() const
{
    return prefix_ + "q";
}

std::string Cluster::qnetdAddress() const
{
    return subnet_ + ".254";
}

std::string Cluster::qnetdLog() const
{
    return readFile(dir_ + "/qnetd/qnetd.log");
}

std::string Cluster::qdeviceLog(int node) const
{
    return readFile(dir_ + "/n" + std::to_string(node) + "/qdevice.log");
}

pid_t Cluster::qdevicePid(int node) const
{
    return nodes_.at(static_cast<size_t>(node)).qdevice;
}

void Cluster::startQnetd()
{
    if (qnetd_ > 0)
        throw std::runtime_error("qnetd already runs");
    const std::string qd = dir_ + "/qnetd";
    /* -f: stays our child, logs to stderr; -d: debug; -s off: no TLS, so no
     * NSS database. Its lock and IPC socket in the work directory instead of
     * /run/corosync-qnetd: no private /run needed, and corosync-qnetd-tool
     * -p reaches the socket from anywhere. */
    qnetd_ = spawnDaemon({requireProgram("corosync-qnetd"), "-f", "-d", "-4", "-s", "off", "-l",
                          qnetdAddress(), "-S",
                          "lock_file=" + qd + "/qnetd.pid,local_socket_file=" + qd + "/qnetd.sock"},
                         qd + "/qnetd.log", qnetdNetns(), qd);
}

void Cluster::stopQnetd(int sig)
{
    stopPid(qnetd_, sig, 5000);
}

void Cluster::startQdevice(int node)
{
    Node &n = nodes_.at(static_cast<size_t>(node));
    if (n.qdevice > 0)
        throw std::runtime_error("qdevice already runs on node " + std::to_string(node));
    /* qdevice reads its configuration from the node's Corosync (cmap) and
     * exits if that does not answer yet. */
    const int64_t deadline = nowMs() + options_.formTimeoutMs;
    while (!quorum(node).reachable) {
        if (!corosyncRunning(node))
            throw std::runtime_error("corosync on node " + std::to_string(node) +
                                     " is not running; its log:\n" + tail(corosyncLog(node), 30));
        if (nowMs() >= deadline)
            throw std::runtime_error("corosync on node " + std::to_string(node) +
                                     " does not answer corosync-quorumtool");
        sleepMs(50);
    }
    const std::string nd = dir_ + "/n" + std::to_string(node);
    /* Inside the node's namespace (libqb IPC to its Corosync is per
     * namespace); lock and socket in the node's directory, as for qnetd. */
    n.qdevice =
        spawnDaemon({requireProgram("corosync-qdevice"), "-f", "-d", "-S",
                     "lock_file=" + nd + "/qdevice.pid,local_socket_file=" + nd + "/qdevice.sock"},
                    nd + "/qdevice.log", netns(node), nd);
}

void Cluster::stopQdevice(int node, int sig)
{
    stopPid(nodes_.at(static_cast<size_t>(node)).qdevice, sig, 5000);
}

std::string Cluster::qdeviceStatus(int node)
{
    const std::string sock = dir_ + "/n" + std::to_string(node) + "/qdevice.sock";
    return runIn(node, {requireProgram("corosync-qdevice-tool"), "-s", "-v", "-p", sock}, 5000)
        .output;
}

void Cluster::startQuorumDevice()
{
    startQnetd();
    for (int k = 1; k <= options_.nodes; ++k)
        startQdevice(k);
}

/* ---- gsd ----------------------------------------------------------------- */

namespace {

std::string gsdProgram()
{
    const char *p = std::getenv("GSD_PATH");
    if (!p || !*p)
        throw std::runtime_error("GSD_PATH is not set (run the tests through meson test)");
    return p;
}

bool socketAccepts(const std::string &path)
{
    const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return false;
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path.c_str());
    const bool ok = connect(fd, reinterpret_cast<sockaddr *>(&addr), sizeof addr) == 0;
    close(fd);
    return ok;
}

} // namespace

void Cluster::spawnGsd(int node, const std::vector<std::string> &extraArgs)
{
    Node &n = nodes_.at(static_cast<size_t>(node));
    if (n.gsd > 0)
        throw std::runtime_error("gsd already runs on node " + std::to_string(node));
    const std::string program = gsdProgram();
    const std::string nd = dir_ + "/n" + std::to_string(node);
    const std::string log = nd + "/gsd.log";
    const std::string ns = netns(node);
    unlink(socketPath(node).c_str());
    std::vector<std::string> argv{program,        "--cluster", "--socket",
                                  endpoint(node), "--domain",  options_.domain};
    /* For a post-mortem: CLUSTER_GSD_LOG_LEVEL=debug. */
    if (const char *level = std::getenv("CLUSTER_GSD_LOG_LEVEL"); level && *level)
        argv.insert(argv.end(), {"--log-level", level});
    argv.insert(argv.end(), extraArgs.begin(), extraArgs.end());
    auto args = argvOf(argv);
    std::fflush(nullptr);
    const pid_t pid = fork();
    if (pid < 0)
        throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
    if (pid == 0) {
        daemonChild(log, ns);
        if (chdir(nd.c_str()) != 0)
            _exit(126);
        unsetenv("HA_GS_SOCKET");
        std::signal(SIGPIPE, SIG_DFL);
        execv(args[0], args.data());
        std::fprintf(stderr, "exec %s: %s\n", args[0], std::strerror(errno));
        _exit(127);
    }
    n.gsd = pid;
    started_.push_back(pid);
    tellReaper("pid " + std::to_string(pid) + " gsd");
}

void Cluster::startGsd(int node, const std::vector<std::string> &extraArgs)
{
    spawnGsd(node, extraArgs);
    Node &n = nodes_.at(static_cast<size_t>(node));
    const int64_t deadline = nowMs() + 15000;
    for (;;) {
        int status = 0;
        if (waitpid(n.gsd, &status, WNOHANG) == n.gsd) {
            n.gsd = -1;
            FAIL("gsd on node " << node << " exited during start-up (status " << status
                                << "); its output:\n"
                                << tail(gsdLog(node), 40));
        }
        if (socketAccepts(socketPath(node)))
            return;
        if (nowMs() > deadline)
            FAIL("gsd on node " << node << " did not accept connections on " << endpoint(node)
                                << " within 15 s; its output:\n"
                                << tail(gsdLog(node), 40));
        sleepMs(10);
    }
}

int Cluster::probeInit(int node)
{
    const std::string ep = endpoint(node);
    std::fflush(nullptr);
    const pid_t pid = fork();
    if (pid < 0)
        throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
    if (pid == 0) {
        setenv("HA_GS_SOCKET", ep.c_str(), 1);
        ha_gs_descriptor_t fd = -1;
        const ha_gs_rc_t rc =
            ha_gs_init(&fd, HA_GS_SOCKET_NO_SIGNAL, nullptr, nullptr, nullptr, nullptr, nullptr);
        if (rc == HA_GS_OK)
            ha_gs_quit();
        _exit(static_cast<int>(rc));
    }
    const auto st = waitPidFor(pid, 20000);
    if (!st) {
        kill(pid, SIGKILL);
        waitPidFor(pid, 5000);
        return -1;
    }
    return WIFEXITED(*st) ? WEXITSTATUS(*st) : -1;
}

bool Cluster::waitSynced(int node, int timeoutMs)
{
    const int64_t deadline = nowMs() + timeoutMs;
    for (;;) {
        if (!gsdRunning(node))
            return false;
        if (probeInit(node) == HA_GS_OK)
            return true;
        if (nowMs() >= deadline)
            return false;
        sleepMs(100);
    }
}

void Cluster::killGsd(int node, int sig)
{
    Node &n = nodes_.at(static_cast<size_t>(node));
    if (n.gsd > 0)
        kill(n.gsd, sig);
}

void Cluster::stopGsd(int node)
{
    stopPid(nodes_.at(static_cast<size_t>(node)).gsd, SIGTERM, 5000);
}

std::optional<int> Cluster::waitGsdExit(int node, int timeoutMs)
{
    Node &n = nodes_.at(static_cast<size_t>(node));
    if (n.gsd <= 0)
        return std::nullopt;
    auto st = waitPidFor(n.gsd, timeoutMs);
    if (st)
        n.gsd = -1;
    return st;
}

bool Cluster::gsdRunning(int node)
{
    Node &n = nodes_.at(static_cast<size_t>(node));
    if (n.gsd <= 0)
        return false;
    int status = 0;
    if (waitpid(n.gsd, &status, WNOHANG) == n.gsd) {
        n.gsd = -1;
        return false;
    }
    return true;
}

/* ---- Diagnostics and teardown -------------------------------------------- */

std::string Cluster::describe()
{
    std::ostringstream os;
    os << "cluster " << prefix_ << " in " << dir_ << ":\n";
    for (int k = 1; k < static_cast<int>(nodes_.size()); ++k) {
        os << "== node " << k << " (" << netns(k) << ", " << address(k) << ")\n";
        if (nodes_[static_cast<size_t>(k)].corosync > 0)
            os << "-- corosync-quorumtool -s:\n" << quorum(k).text;
        os << "-- corosync log (tail):\n" << tail(corosyncLog(k), 15);
        if (nodes_[static_cast<size_t>(k)].qdevice > 0)
            os << "-- corosync-qdevice-tool -s -v:\n" << qdeviceStatus(k);
        if (options_.quorumDevice)
            os << "-- qdevice log (tail):\n" << tail(qdeviceLog(k), 15);
        const std::string g = gsdLog(k);
        if (!g.empty())
            os << "-- gsd log (tail):\n" << tail(g, 25);
    }
    if (options_.quorumDevice)
        os << "== qnetd (" << qnetdNetns() << ", " << qnetdAddress() << ") log (tail):\n"
           << tail(qnetdLog(), 15);
    return os.str();
}

std::vector<std::string> Cluster::namespacesLeft() const
{
    std::vector<std::string> out;
    if (DIR *d = opendir("/run/netns")) {
        while (dirent *e = readdir(d)) {
            const std::string n = e->d_name;
            if (n.rfind(prefix_, 0) == 0) {
                /* gs123a must not claim gs123ab...: a node or the bridge. */
                const std::string rest = n.substr(prefix_.size());
                if (rest == "br" || rest == "q" ||
                    (rest.size() > 1 && rest[0] == 'n' &&
                     std::all_of(rest.begin() + 1, rest.end(), ::isdigit)))
                    out.push_back(n);
            }
        }
        closedir(d);
    }
    return out;
}

std::vector<std::string> Cluster::shmLeft(const std::vector<pid_t> &pids)
{
    std::vector<std::string> out;
    if (DIR *d = opendir("/dev/shm")) {
        while (dirent *e = readdir(d)) {
            const std::string n = e->d_name;
            for (pid_t p : pids) {
                if (n.find("-" + std::to_string(p) + "-") != std::string::npos)
                    out.push_back(n);
            }
        }
        closedir(d);
    }
    return out;
}

void Cluster::teardown()
{
    if (tornDown_)
        return;
    tornDown_ = true;
    /* gsd first (it is Corosync's client), every node at once. */
    for (auto &n : nodes_) {
        if (n.gsd > 0) {
            kill(n.gsd, SIGTERM);
            kill(n.gsd, SIGCONT);
        }
    }
    for (auto &n : nodes_)
        stopPid(n.gsd, SIGTERM, 5000);
    /* qdevice too is Corosync's client. */
    for (auto &n : nodes_)
        stopPid(n.qdevice, SIGTERM, 5000);
    for (auto &n : nodes_) {
        if (n.corosync > 0) {
            kill(n.corosync, SIGTERM);
            kill(n.corosync, SIGCONT);
        }
    }
    for (auto &n : nodes_) {
        if (n.corosync > 0) {
            const pid_t pid = n.corosync;
            stopPid(n.corosync, SIGTERM, 5000);
            n.deadCorosyncs.push_back(pid);
        }
        for (pid_t p : n.deadCorosyncs)
            removeShmOf(p);
    }
    stopPid(qnetd_, SIGTERM, 5000);
    const std::string ipPath = findProgram("ip");
    for (auto it = namespaces_.rbegin(); it != namespaces_.rend(); ++it) {
        if (!ipPath.empty())
            runCommand("", {ipPath, "netns", "del", *it}, 10000);
    }
    namespaces_.clear();
    if (!dir_.empty()) {
        /* For a post-mortem: CLUSTER_KEEP_DIR=1 keeps the nodes' logs. */
        if (const char *keep = std::getenv("CLUSTER_KEEP_DIR"); keep && *keep == '1') {
            std::fprintf(stderr, "cluster: kept %s\n", dir_.c_str());
        } else {
            std::error_code ec;
            std::filesystem::remove_all(dir_, ec);
        }
    }
    if (reaperFd_ >= 0) {
        tellReaper("done");
        close(reaperFd_);
        reaperFd_ = -1;
    }
    if (reaper_ > 0) {
        waitPidFor(reaper_, 10000);
        reaper_ = -1;
    }
}

} // namespace cluster
