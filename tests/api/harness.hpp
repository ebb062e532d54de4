/* SPDX-License-Identifier: MIT */
/*
 * Harness of the public-API tests.
 *
 * Every test starts its own gsd (PrivateGsd) on a unique ipc:// endpoint, so
 * the test programs can run in parallel. GSAPI allows one session per
 * process, so tests that need several clients fork child processes
 * (ClientProcess). Each child runs the "agent": a small command interpreter
 * that calls the API on the parent's behalf and reports every notification
 * it receives as one canonical text line through a pipe. LocalClient runs the
 * same agent inside the test process itself, for tests that need one client.
 *
 * Commands (one line each; the reply is "rc <verb> <HA_GS_...> [key=value]"):
 *   init [adapter] [ctrl=N] [resp=none|ping|counter|N] [interval=N] [limit=N]
 *        [answer=no] [nodesc=1] [nocb=1] [script=PATH] [counter=null] [clen=N]
 *   counter run|stop  (a thread advances the resp=counter counter, or not)
 *   join G INST [phases=1|n|N] [batch=none|joins|leaves|both|N]
 *        [default=approve|reject|null|continue|N] [tl=N] [sphases=..] [stl=N]
 *        [source=S|null] [cv=N] [version=N] [sizeof=N] [merge=N] [local=S]
 *        [nocb=nphase,approved,rejected] [nullattrs=1] [nulltoken=1] [nullinfo=1]
 *   leave T [phases=..] [tl=N] [code=N]          goodbye T
 *   expel T LIST|none|empty [phases=..] [tl=N] [dphase=N] [dflag=S]
 *   state T VALUE [phases=..] [tl=N] [null=1] [pad=N (VALUE padded with 'x' to N bytes)]
 *   msg T VALUE [phases=..] [tl=N]
 *   attrs T [pphases=..] [ptl=N] <join attribute keys> [name=S]
 *   vote T approve|continue|reject|N [state=V] [msg=V] [default=..]
 *   autovote G none|approve|continue|reject|seq=v1,v2.. [state=V] [msg=V] [default=..]
 *   subscribe G state,join,leave,membership,special,all|0xN [nocb=1] [nulltoken=1]
 *   unsubscribe T      node [null=1]      adapter IP [null=1]
 *   dispatch [flag=N]  block (ha_gs_dispatch(HA_GS_BLOCKING); reply has t=<ns>)
 *   quit   views G on|off   setenv K V   unsetenv K   echo X   exit
 *   hold / resume (stop / restart dispatching: notifications pile up unread)
 *   valuelimit N|off (report values longer than N bytes as "<first N>"~<length>)
 * T is a group name (the provider token the agent got for it; for
 * unsubscribe the subscriber token), p:G / s:G to choose, or #N for a raw
 * token. Request commands take nullinfo=1 (NULL proposal_info).
 * Values: "" is the empty string, @N is N bytes of 'x', \xNN escapes.
 *
 * Notification lines are "<group>: <canonical>" where <canonical> is what
 * format() gives, e.g.
 *   g: approved JOIN phase=1/1 summary=EXPLICIT_APPROVE cur=[] chg=[1.1] ...
 *   g: sub type=STATE|MEMBERSHIP state="s0" full=[1.1,2.1] chg=-
 * and "*: dispatch <rc>" when ha_gs_dispatch fails.
 *
 * API_TRACE=1 in the environment prints every line a client receives.
 */
#pragma once

#include <ha_gs.h>

#include <doctest/doctest.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <initializer_list>
#include <map>
#include <optional>
#include <source_location>
#include <string>
#include <sys/types.h>
#include <vector>

namespace api {

/* Generous wait for anything that should happen "soon". */
constexpr int kWaitMs = 10000;

/* ---- Names and canonical formatting ------------------------------------ */

std::string rcName(int rc);     /* "HA_GS_OK", or "rc(<n>)" */
std::string describeRc(int rc); /* "HA_GS_OK (<ha_gs_strerror text>)" */
std::string protocolName(int protocol);
std::string summaryNames(unsigned summary);                   /* "EXPLICIT_APPROVE|..." or "0" */
std::string subscriptionNames(unsigned type);                 /* "STATE|MEMBERSHIP" or "0" */
std::string formatValue(const char *data, unsigned length);   /* "\"...\"" or "-" */
std::string formatMembers(const ha_gs_membership_t *members); /* "[1.1,2.1]" or "-" */
std::string formatProposal(const ha_gs_proposal_t *proposal);

std::string format(const ha_gs_n_phase_notification_t *n);
std::string format(const ha_gs_approved_notification_t *n);
std::string format(const ha_gs_rejected_notification_t *n);
std::string format(const ha_gs_announcement_notification_t *n);
std::string format(const ha_gs_subscription_notification_t *n);
std::string format(const ha_gs_delayed_error_notification_t *n);
std::string format(const ha_gs_merge_notification_t *n);
std::string format(const ha_gs_responsiveness_notification_t *n);

/* ---- Parsing the lines -------------------------------------------------- */

/* The value of " key=" in a line ("" when absent). */
std::string field(const std::string &line, const std::string &key);
bool hasField(const std::string &line, const std::string &key);
/* Whether the '|'-separated value of key contains flag. */
bool hasFlag(const std::string &line, const std::string &key, const std::string &flag);

/* A subscription line reduced to the fields its type flags promise:
 * "<group>: sub type=T[ state=V][ full=F][ chg=C]" (state with STATE, full
 * with MEMBERSHIP, chg with DELTA_JOIN or DELTA_LEAVE). Other lines are
 * returned unchanged. */
std::string subSummary(const std::string &line);

/* A line predicate: a prefix and substrings that must all occur. */
struct Match {
    std::string prefix;
    std::vector<std::string> contains;
    Match(const char *p) : prefix(p) {}
    Match(std::string p) : prefix(std::move(p)) {}
    Match(std::string p, std::initializer_list<std::string> c) : prefix(std::move(p)), contains(c)
    {
    }
    bool operator()(const std::string &line) const;
    std::string text() const;
};

/* ---- Assertions on return codes ---------------------------------------- */

#define CHECK_GS_RC(code, ...)                                                                     \
    do {                                                                                           \
        const int api_rc_ = static_cast<int>(__VA_ARGS__);                                         \
        INFO("call: " #__VA_ARGS__);                                                               \
        CHECK(::api::describeRc(api_rc_) == ::api::describeRc(code));                              \
    } while (0)
#define CHECK_GS_OK(...) CHECK_GS_RC(HA_GS_OK, __VA_ARGS__)
#define REQUIRE_GS_RC(code, ...)                                                                   \
    do {                                                                                           \
        const int api_rc_ = static_cast<int>(__VA_ARGS__);                                         \
        INFO("call: " #__VA_ARGS__);                                                               \
        REQUIRE(::api::describeRc(api_rc_) == ::api::describeRc(code));                            \
    } while (0)
#define REQUIRE_GS_OK(...) REQUIRE_GS_RC(HA_GS_OK, __VA_ARGS__)

/* ---- Small utilities ----------------------------------------------------- */

int64_t monotonicNs();
std::string makeTempDir(); /* mkdtemp under /tmp (short: ipc paths are limited) */

/* Sets or unsets an environment variable for the scope, then restores it. */
class ScopedEnv {
  public:
    ScopedEnv(std::string name, std::optional<std::string> value);
    ~ScopedEnv();
    ScopedEnv(const ScopedEnv &) = delete;
    ScopedEnv &operator=(const ScopedEnv &) = delete;

  private:
    std::string name_;
    std::optional<std::string> old_;
};

/* ---- A private gsd --------------------------------------------------------- */

struct GsdOptions {
    int node = 1;
    std::vector<std::string> args; /* extra command-line arguments */
    /* Socket directory and socket usable by other users (auth tests). */
    bool worldAccessible = false;
    /* Give gsd its endpoint through HA_GS_SOCKET instead of --socket. */
    bool endpointFromEnv = false;
};

class PrivateGsd {
  public:
    explicit PrivateGsd(GsdOptions options = {});
    ~PrivateGsd();
    PrivateGsd(const PrivateGsd &) = delete;
    PrivateGsd &operator=(const PrivateGsd &) = delete;

    const std::string &endpoint() const { return endpoint_; }
    const std::string &socketPath() const { return socketPath_; }
    const std::string &dir() const { return dir_; }
    pid_t pid() const { return pid_; }
    bool running() const { return pid_ > 0; }

    void kill(int sig);
    /* Waits for gsd to exit; its raw wait status, or nullopt on timeout. */
    std::optional<int> waitExit(int timeoutMs = kWaitMs);
    /* Stops gsd if it runs (SIGTERM) and starts it again on the same endpoint. */
    void restart();
    /* What gsd wrote to stdout and stderr so far. */
    std::string log() const;

  private:
    void start();
    GsdOptions options_;
    std::string dir_, socketPath_, endpoint_, logPath_;
    pid_t pid_ = -1;
};

/* Path of the gsd binary (environment GSD_PATH). */
std::string gsdPath();

struct GsdRun {
    int status = -1; /* raw wait status */
    bool timedOut = false;
    std::string output; /* stdout and stderr */
};
/* Runs gsd with exactly these arguments until it exits (or timeoutMs). */
GsdRun runGsdOnce(const std::vector<std::string> &args, int timeoutMs);

/* ---- Clients ---------------------------------------------------------------- */

struct Reply {
    std::string line; /* "rc <verb> <rc> ..." */
    std::string rc;   /* "HA_GS_OK", ... */
    std::string get(const std::string &key) const { return field(line, key); }
    int token() const;
};

/* What both kinds of client have in common: commands and received lines. */
class Client {
  public:
    explicit Client(std::string name) : name_(std::move(name)) {}
    virtual ~Client() = default;
    Client(const Client &) = delete;
    Client &operator=(const Client &) = delete;

    /* Runs one agent command and returns its reply. */
    Reply call(const std::string &command,
               std::source_location where = std::source_location::current());
    /* Sends a command without waiting for its reply (see reply()). */
    void send(const std::string &command);
    /* Waits for the reply to a command sent with send(). */
    Reply reply(const std::string &command, int timeoutMs = 20000,
                std::source_location where = std::source_location::current());
    /* Shortcut: the rc of call(). */
    std::string rc(const std::string &command,
                   std::source_location where = std::source_location::current())
    {
        return call(command, where).rc;
    }
    /* Waits for the first pending or future notification line matching m and
     * removes it (earlier, non-matching lines stay pending). Fails the test on
     * timeout. */
    std::string waitFor(const Match &m, int timeoutMs = kWaitMs,
                        std::source_location where = std::source_location::current());
    std::optional<std::string> tryWaitFor(const Match &m, int timeoutMs);
    /* The next notification line, in arrival order. Fails on timeout. */
    std::string next(int timeoutMs = kWaitMs,
                     std::source_location where = std::source_location::current());
    /* The next notification line whose prefix is `prefix` (others are skipped
     * and dropped): for ordered checks on one group. */
    std::string nextWith(const std::string &prefix, int timeoutMs = kWaitMs,
                         std::source_location where = std::source_location::current());
    /* Lines received but not consumed yet. */
    std::vector<std::string> pending() const { return {notes_.begin(), notes_.end()}; }
    /* Every notification line received so far, in order. */
    const std::vector<std::string> &history() const { return history_; }
    /* Collects whatever arrives within timeoutMs. */
    void drain(int timeoutMs);
    void clearPending() { notes_.clear(); }
    const std::string &name() const { return name_; }

  protected:
    enum class Fetch { Data, Timeout, Closed };
    virtual void sendCommand(const std::string &command) = 0;
    virtual Fetch fetch(int timeoutMs) = 0;
    void push(const std::string &line);
    std::string describe() const;

  private:
    std::string name_;
    std::deque<std::string> notes_;
    std::deque<std::string> replies_;
    std::vector<std::string> history_;
    bool closed_ = false; /* the client is gone (or its session is dead) */
};

/* The child's side of a ClientProcess. */
class ChildIo {
  public:
    ChildIo(int reportFd, int commandFd) : reportFd_(reportFd), commandFd_(commandFd) {}
    void report(const std::string &line);
    int commandFd() const { return commandFd_; }

  private:
    int reportFd_;
    int commandFd_;
};

struct ClientOptions {
    bool autoInit = true;                   /* send "init" and require HA_GS_OK */
    std::function<void()> setup;            /* runs in the child before the agent */
    std::map<std::string, std::string> env; /* set in the child */
};

/* A forked child running the agent. */
class ClientProcess : public Client {
  public:
    ClientProcess(std::string name, const PrivateGsd &gsd, ClientOptions options = {});
    ClientProcess(std::string name, const std::string &endpoint, ClientOptions options = {});
    ~ClientProcess() override;

    pid_t pid() const { return pid_; }
    void kill(int sig);
    /* Waits for the child to exit; raw wait status or nullopt. */
    std::optional<int> waitExit(int timeoutMs = kWaitMs);

  protected:
    void sendCommand(const std::string &command) override;
    Fetch fetch(int timeoutMs) override;

  private:
    pid_t pid_ = -1;
    int reportFd_ = -1;
    int commandFd_ = -1;
    std::string partial_;
};

/* The agent in this very process. Create it after every ClientProcess of the
 * test (children must start without a session); its destructor calls
 * ha_gs_quit. */
class LocalClient : public Client {
  public:
    LocalClient(std::string name, const PrivateGsd &gsd, bool autoInit = true);
    LocalClient(std::string name, const std::string &endpoint, bool autoInit = true);
    ~LocalClient() override;

  protected:
    void sendCommand(const std::string &command) override;
    Fetch fetch(int timeoutMs) override;
};

/* Joins clients[i] to `group` as instance i+1 (node `node`), one after the
 * other, each join approved at every member before the next, with the given
 * extra join options (with n-phase joins, set "autovote" first). Then drops
 * every pending line of these clients. */
void joinInOrder(const std::vector<Client *> &clients, const std::string &group,
                 const std::string &options = "", int node = 1,
                 std::source_location where = std::source_location::current());

/* A minimal valid attribute block: version 1, right size, the rest zero. */
ha_gs_group_attributes_t defaultAttributes(const char *groupName);

/* Callbacks that do nothing, for tests driving the API directly. */
void ignoreNPhase(const ha_gs_n_phase_notification_t *);
void ignoreApproved(const ha_gs_approved_notification_t *);
void ignoreRejected(const ha_gs_rejected_notification_t *);
void ignoreSubscription(const ha_gs_subscription_notification_t *);

} // namespace api
