/* SPDX-License-Identifier: MIT */
/*
 * Public-API tests of libcgha_cmm: only cmm.h and a private gsd per test
 * (tests/api/harness.hpp's PrivateGsd). The library's state is per process,
 * so every test starts and ends with cmm_disconnect (Fixture).
 */
#include "harness.hpp"

#include <cmm.h>

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <climits>
#include <cstring>
#include <fstream>
#include <poll.h>
#include <string>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

namespace {

using api::GsdOptions;
using api::PrivateGsd;
using api::ScopedEnv;

std::string rcText(int rc)
{
    return std::to_string(rc) + " (" + cmm_strerror(static_cast<cmm_error_t>(rc)) + ")";
}

#define CHECK_CMM(code, ...) CHECK(rcText(__VA_ARGS__) == rcText(code))
#define REQUIRE_CMM(code, ...) REQUIRE(rcText(__VA_ARGS__) == rcText(code))

struct Fixture {
    explicit Fixture(GsdOptions options = {})
        : gsd(std::move(options)), env("HA_GS_SOCKET", gsd.endpoint())
    {
        cmm_disconnect();
    }
    ~Fixture() { cmm_disconnect(); }
    PrivateGsd gsd;
    ScopedEnv env;
};

GsdOptions withArgs(std::vector<std::string> args, int node = 1)
{
    GsdOptions options;
    options.node = node;
    options.args = std::move(args);
    return options;
}

/* Notifications seen by `record`, as "KIND:node" (kind numbers). */
struct Log {
    std::vector<std::string> lines;
    std::vector<std::string> queried; /* what a callback's query saw */
    bool query = false;
    int unregisterRc = 0;
    int dispatchRc = 0;
};

std::string text(int change, unsigned node)
{
    return std::to_string(change) + ":" + std::to_string(node);
}

void record(const cmm_cmc_notification_t *n, void *data)
{
    auto *log = static_cast<Log *>(data);
    log->lines.push_back(text(n->cmchange, n->nodeid));
    if (log->query) {
        cmm_member_t master;
        const cmm_error_t rc = cmm_master_getinfo(&master);
        log->queried.push_back(rc == CMM_OK ? "master " + std::to_string(master.nodeid)
                                            : "rc " + std::to_string(rc));
        log->unregisterRc = cmm_cmc_unregister();
        log->dispatchRc = cmm_notify_dispatch();
    }
}

void other(const cmm_cmc_notification_t *, void *data)
{
    ++*static_cast<int *>(data);
}

bool readable(int fd, int timeoutMs)
{
    pollfd p{fd, POLLIN, 0};
    return poll(&p, 1, timeoutMs) > 0 && (p.revents & POLLIN);
}

/* Disqualify then seize: MASTER_DEMOTED(self), MASTER_ELECTED(self). */
void bounceMaster(cmm_nodeid_t self)
{
    REQUIRE_CMM(CMM_OK, cmm_member_setqualif(self, CMM_DISQUALIFIED_MEMBER));
    REQUIRE_CMM(CMM_OK, cmm_member_seizequalif());
}

} // namespace

TEST_CASE("cmm_connect checks its timeout and finds gsd")
{
    Fixture f;
    timespec_t t{};
    t.tv_sec = -1;
    CHECK_CMM(CMM_EINVAL, cmm_connect(t));
    t.tv_sec = 1;
    t.tv_nsec = 1000000000L;
    CHECK_CMM(CMM_EINVAL, cmm_connect(t));
    t.tv_nsec = -1;
    CHECK_CMM(CMM_EINVAL, cmm_connect(t));
    t.tv_sec = 0;
    t.tv_nsec = 500000000L;
    CHECK_CMM(CMM_OK, cmm_connect(t));
    t.tv_sec = 10;
    t.tv_nsec = 0;
    CHECK_CMM(CMM_OK, cmm_connect(t));
    cmm_nodeid_t me = 0;
    CHECK_CMM(CMM_OK, cmm_node_getid(&me));
    CHECK(me == 1);
    CHECK_CMM(CMM_EINVAL, cmm_node_getid(nullptr));
    CHECK_CMM(CMM_OK, cmm_disconnect());
    CHECK_CMM(CMM_OK, cmm_disconnect());
}

namespace {

/* How long cmm_node_getid takes to give up on a stopped gsd. */
std::chrono::milliseconds timeToGiveUp(PrivateGsd &gsd)
{
    cmm_nodeid_t me = 0;
    gsd.kill(SIGSTOP);
    const auto start = std::chrono::steady_clock::now();
    const cmm_error_t rc = cmm_node_getid(&me);
    const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - start);
    gsd.kill(SIGCONT);
    CHECK_CMM(CMM_ETIMEDOUT, rc);
    return took;
}

} // namespace

TEST_CASE("compatibility: cmm_connect({0, 0}) connects and keeps the timeout in force")
{
    Fixture f;
    const timespec_t zero{0, 0};
    /* The default timeout stays. */
    CHECK_CMM(CMM_OK, cmm_connect(zero));
    cmm_nodeid_t me = 0;
    CHECK_CMM(CMM_OK, cmm_node_getid(&me));
    CHECK(me == 1);
    /* A timeout set before stays too: not zero (every call would time out
     * at once), not the default of 5 s. */
    const timespec_t oneSecond{1, 0};
    REQUIRE_CMM(CMM_OK, cmm_connect(oneSecond));
    CHECK_CMM(CMM_OK, cmm_connect(zero));
    CHECK_CMM(CMM_OK, cmm_node_getid(&me));
    const auto took = timeToGiveUp(f.gsd);
    CHECK(took >= std::chrono::milliseconds(900));
    CHECK(took < std::chrono::milliseconds(3000));
    /* After a disconnect, {0, 0} connects again. */
    CHECK_CMM(CMM_OK, cmm_disconnect());
    CHECK_CMM(CMM_OK, cmm_connect(zero));
    CHECK_CMM(CMM_OK, cmm_node_getid(&me));
    /* Negative and out-of-range values stay invalid. */
    CHECK_CMM(CMM_EINVAL, cmm_connect(timespec_t{0, -1}));
    CHECK_CMM(CMM_EINVAL, cmm_connect(timespec_t{-1, 0}));
    CHECK_CMM(CMM_EINVAL, cmm_connect(timespec_t{0, 1000000000L}));
}

TEST_CASE("compatibility: a huge cmm_connect timeout means forever, not an overflow")
{
    Fixture f;
    /* Not a stopped gsd here: "forever" would hang the test. The calls work,
     * which they would not if the timeout had wrapped to a negative one. */
    for (const timespec_t huge : {timespec_t{LONG_MAX, 999999999L}, timespec_t{INT_MAX, 0}}) {
        CHECK_CMM(CMM_OK, cmm_connect(huge));
        cmm_nodeid_t me = 0;
        CHECK_CMM(CMM_OK, cmm_node_getid(&me));
        uint32_t count = 0;
        CHECK_CMM(CMM_OK, cmm_member_getcount(&count));
        CHECK(count == 1);
    }
}

TEST_CASE("without gsd every call that needs it returns CMM_ECONN")
{
    const std::string dir = api::makeTempDir();
    ScopedEnv env("HA_GS_SOCKET", "ipc://" + dir + "/none.sock");
    cmm_disconnect();
    timespec_t t{2, 0};
    CHECK_CMM(CMM_ECONN, cmm_connect(t));
    CHECK_CMM(CMM_ECONN, cmm_connect(timespec_t{0, 0})); /* still tests the connection */
    cmm_nodeid_t me = 7;
    CHECK_CMM(CMM_ECONN, cmm_node_getid(&me));
    CHECK(me == CMM_INVALID_NODE_ID);
    cmm_member_t m;
    CHECK_CMM(CMM_ECONN, cmm_master_getinfo(&m));
    uint32_t count = 0;
    CHECK_CMM(CMM_ECONN, cmm_member_getcount(&count));
    Log log;
    CHECK_CMM(CMM_ECONN, cmm_cmc_register(record, &log));
    CHECK_CMM(CMM_OK, cmm_cmc_unregister()); /* nothing to stop */
    CHECK_CMM(CMM_ECONN, cmm_membership_remove());
    CHECK_CMM(CMM_OK, cmm_disconnect()); /* nothing to close */
    CHECK_CMM(CMM_OK, cmm_disconnect());
    rmdir(dir.c_str());
}

TEST_CASE("information calls on a one-node cluster")
{
    Fixture f(withArgs({}, 5));
    cmm_member_t m;
    std::memset(&m, 0, sizeof m);
    REQUIRE_CMM(CMM_OK, cmm_master_getinfo(&m));
    CHECK(m.nodeid == 5);
    CHECK(m.domainid == 1);
    CHECK(m.incarnation_number == 1);
    CHECK(std::strlen(m.name) > 0);
    CHECK(cmm_member_ismaster(&m) == 1);
    CHECK(CMM_IS_MASTER(m) == 1);
    CHECK(cmm_member_iseligible(&m) == 1);
    CHECK(CMM_IS_ELIGIBLE(m) == 1);
    CHECK(cmm_member_isqualified(&m) == 1);
    CHECK(CMM_IS_QUALIFIED(m) == 1);
    CHECK(cmm_member_isvicemaster(&m) == 0);
    CHECK(cmm_member_isoutofcluster(&m) == 0);
    CHECK(cmm_member_isdisqualified(&m) == 0);
    CHECK(cmm_member_isdesynchronized(&m) == 0);
    CHECK(cmm_member_isexcluded(&m) == 0);
    CHECK(cmm_member_isfrozen(&m) == 0);
    CHECK(cmm_member_ismaster(nullptr) == 0);
    CHECK(cmm_member_isqualified(nullptr) == 0);

    CHECK_CMM(CMM_EINVAL, cmm_master_getinfo(nullptr));
    CHECK_CMM(CMM_ESRCH, cmm_vicemaster_getinfo(&m));
    CHECK_CMM(CMM_OK, cmm_member_getinfo(5, &m));
    CHECK_CMM(CMM_ESRCH, cmm_member_getinfo(6, &m));
    CHECK_CMM(CMM_EINVAL, cmm_member_getinfo(5, nullptr));
    CHECK_CMM(CMM_OK, cmm_potential_getinfo(5, &m));
    CHECK_CMM(CMM_ESRCH, cmm_potential_getinfo(6, &m));

    uint32_t count = 0;
    CHECK_CMM(CMM_EINVAL, cmm_member_getcount(nullptr));
    CHECK_CMM(CMM_OK, cmm_member_getcount(&count));
    CHECK(count == 1);
}

TEST_CASE("cmm_member_getall: sizes, CMM_ERANGE, NULL table")
{
    Fixture f;
    uint32_t count = 99;
    CHECK_CMM(CMM_EINVAL, cmm_member_getall(1, nullptr, nullptr));
    CHECK_CMM(CMM_OK, cmm_member_getall(0, nullptr, &count));
    CHECK(count == 1);
    std::vector<cmm_member_t> table(CMM_MAX_MEMBER_TABLE_SIZE + 1);
    std::memset(table.data(), 0x5a, sizeof(cmm_member_t));
    const cmm_member_t pattern = table[0];
    count = 0;
    CHECK_CMM(CMM_ERANGE, cmm_member_getall(0, table.data(), &count));
    CHECK(count == 1);
    CHECK(std::memcmp(&table[0], &pattern, sizeof pattern) == 0);
    count = 0;
    CHECK_CMM(CMM_OK, cmm_member_getall(CMM_MAX_MEMBER_TABLE_SIZE, table.data(), &count));
    REQUIRE(count == 1);
    CHECK(table[0].nodeid == 1);
    CHECK(cmm_member_ismaster(&table[0]) == 1);
}

TEST_CASE("compatibility: cmm_member_getall with a larger table, or without member_count")
{
    Fixture f(withArgs({}, 3));
    /* A table larger than the limit: the cluster fits, the tail is left. */
    std::vector<cmm_member_t> table(2 * CMM_MAX_MEMBER_TABLE_SIZE);
    std::memset(table.data(), 0x5a, table.size() * sizeof(cmm_member_t));
    const cmm_member_t pattern = table[1];
    uint32_t count = 0;
    CHECK_CMM(CMM_OK, cmm_member_getall(2 * CMM_MAX_MEMBER_TABLE_SIZE, table.data(), &count));
    REQUIRE(count == 1);
    CHECK(table[0].nodeid == 3);
    CHECK(std::memcmp(&table[1], &pattern, sizeof pattern) == 0);
    /* No member_count: the table sized with cmm_member_getcount is filled. */
    std::memset(table.data(), 0, sizeof(cmm_member_t));
    CHECK_CMM(CMM_OK, cmm_member_getall(1, table.data(), nullptr));
    CHECK(table[0].nodeid == 3);
    CHECK(cmm_member_ismaster(&table[0]) == 1);
    /* Too small, no member_count: CMM_ERANGE, the table untouched. */
    std::memset(table.data(), 0x5a, sizeof(cmm_member_t));
    CHECK_CMM(CMM_ERANGE, cmm_member_getall(0, table.data(), nullptr));
    CHECK(std::memcmp(&table[0], &pattern, sizeof pattern) == 0);
    /* Nowhere to put an answer. */
    CHECK_CMM(CMM_EINVAL, cmm_member_getall(0, nullptr, nullptr));
}

TEST_CASE("registration: EINVAL, EEXIST keeps the first; without one, unregister is a no-op")
{
    Fixture f;
    Log log;
    int others = 0;
    int fd = -1;
    CHECK_CMM(CMM_OK, cmm_cmc_unregister());
    CHECK_CMM(CMM_ENOENT, cmm_notify_dispatch());
    CHECK_CMM(CMM_EINVAL, cmm_cmc_register(nullptr, nullptr));
    REQUIRE_CMM(CMM_OK, cmm_cmc_register(record, &log));
    CHECK_CMM(CMM_EEXIST, cmm_cmc_register(other, &others));
    CHECK_CMM(CMM_EINVAL, cmm_notify_getfd(nullptr));
    REQUIRE_CMM(CMM_OK, cmm_notify_getfd(&fd));
    CHECK_FALSE(readable(fd, 200));
    bounceMaster(1);
    CHECK(readable(fd, api::kWaitMs));
    CHECK_CMM(CMM_OK, cmm_notify_dispatch());
    CHECK(log.lines ==
          std::vector<std::string>{text(CMM_MASTER_DEMOTED, 1), text(CMM_MASTER_ELECTED, 1)});
    CHECK(others == 0);
    CHECK_CMM(CMM_OK, cmm_cmc_unregister());
    CHECK_CMM(CMM_OK, cmm_cmc_unregister()); /* nothing left to stop */
    CHECK_CMM(CMM_ENOENT, cmm_notify_dispatch());
    REQUIRE_CMM(CMM_OK, cmm_cmc_register(other, &others));
    bounceMaster(1);
    REQUIRE_CMM(CMM_OK, cmm_notify_getfd(&fd));
    CHECK(readable(fd, api::kWaitMs));
    CHECK_CMM(CMM_OK, cmm_notify_dispatch());
    CHECK(others == 2);
}

TEST_CASE("the descriptor is level-triggered and one dispatch delivers everything pending")
{
    Fixture f;
    Log log;
    int fd = -1;
    REQUIRE_CMM(CMM_OK, cmm_cmc_register(record, &log));
    REQUIRE_CMM(CMM_OK, cmm_notify_getfd(&fd));
    bounceMaster(1);
    bounceMaster(1);
    CHECK(readable(fd, api::kWaitMs));
    CHECK(readable(fd, 0)); /* still readable: nothing dispatched yet */
    CHECK(log.lines.empty());
    CHECK_CMM(CMM_OK, cmm_notify_dispatch());
    CHECK(log.lines ==
          std::vector<std::string>{text(CMM_MASTER_DEMOTED, 1), text(CMM_MASTER_ELECTED, 1),
                                   text(CMM_MASTER_DEMOTED, 1), text(CMM_MASTER_ELECTED, 1)});
    CHECK_FALSE(readable(fd, 200));
    CHECK_CMM(CMM_OK, cmm_notify_dispatch()); /* nothing pending is not an error */
    CHECK(log.lines.size() == 4);
}

TEST_CASE("cmm_cmc_filter: arguments, kinds, NONE keeps the registration")
{
    Fixture f;
    const cmm_cmchanges_t elected[] = {CMM_MASTER_ELECTED};
    const cmm_cmchanges_t bad[] = {static_cast<cmm_cmchanges_t>(249)};
    const cmm_cmchanges_t twelve[12] = {};
    CHECK_CMM(CMM_EINVAL, cmm_cmc_filter(static_cast<cmm_cmcfilter_t>(19), elected, 1));
    CHECK_CMM(CMM_EINVAL, cmm_cmc_filter(static_cast<cmm_cmcfilter_t>(25), elected, 1));
    CHECK_CMM(CMM_EINVAL, cmm_cmc_filter(CMM_CMC_NOTIFY_ADD, nullptr, 1));
    CHECK_CMM(CMM_EINVAL, cmm_cmc_filter(CMM_CMC_NOTIFY_REM, bad, 1));
    CHECK_CMM(CMM_EINVAL, cmm_cmc_filter(CMM_CMC_NOTIFY_SET, twelve, 12)); /* kind 0 */
    CHECK_CMM(CMM_OK, cmm_cmc_filter(CMM_CMC_NOTIFY_ALL, nullptr, 0));
    CHECK_CMM(CMM_OK, cmm_cmc_filter(CMM_CMC_NOTIFY_NONE, bad, 7)); /* list ignored */
    CHECK_CMM(CMM_OK, cmm_cmc_filter(CMM_CMC_NOTIFY_ALL, nullptr, 0));

    Log log;
    int fd = -1;
    /* A filter set before registering applies. */
    REQUIRE_CMM(CMM_OK, cmm_cmc_filter(CMM_CMC_NOTIFY_SET, elected, 1));
    REQUIRE_CMM(CMM_OK, cmm_cmc_register(record, &log));
    REQUIRE_CMM(CMM_OK, cmm_notify_getfd(&fd));
    bounceMaster(1);
    CHECK(readable(fd, api::kWaitMs));
    CHECK_CMM(CMM_OK, cmm_notify_dispatch());
    CHECK(log.lines == std::vector<std::string>{text(CMM_MASTER_ELECTED, 1)});

    REQUIRE_CMM(CMM_OK, cmm_cmc_filter(CMM_CMC_NOTIFY_NONE, nullptr, 0));
    bounceMaster(1);
    CHECK(readable(fd, api::kWaitMs));
    CHECK_CMM(CMM_OK, cmm_notify_dispatch());
    CHECK(log.lines.size() == 1);
    CHECK_CMM(CMM_EEXIST, cmm_cmc_register(record, &log)); /* still registered */

    const cmm_cmchanges_t demoted[] = {CMM_MASTER_DEMOTED, CMM_MASTER_DEMOTED};
    REQUIRE_CMM(CMM_OK, cmm_cmc_filter(CMM_CMC_NOTIFY_ADD, demoted, 2));
    bounceMaster(1);
    CHECK(readable(fd, api::kWaitMs));
    CHECK_CMM(CMM_OK, cmm_notify_dispatch());
    CHECK(log.lines ==
          std::vector<std::string>{text(CMM_MASTER_ELECTED, 1), text(CMM_MASTER_DEMOTED, 1)});
    REQUIRE_CMM(CMM_OK, cmm_cmc_filter(CMM_CMC_NOTIFY_ALL, nullptr, 0));
    REQUIRE_CMM(CMM_OK, cmm_cmc_filter(CMM_CMC_NOTIFY_REM, demoted, 1));
    bounceMaster(1);
    CHECK(readable(fd, api::kWaitMs));
    CHECK_CMM(CMM_OK, cmm_notify_dispatch());
    CHECK(log.lines.size() == 3);
    CHECK(log.lines.back() == text(CMM_MASTER_ELECTED, 1));
}

TEST_CASE("compatibility: cmm_cmc_filter with an empty list, or more entries than kinds")
{
    Fixture f;
    Log log;
    int fd = -1;
    REQUIRE_CMM(CMM_OK, cmm_cmc_register(record, &log));
    REQUIRE_CMM(CMM_OK, cmm_notify_getfd(&fd));
    auto delivered = [&] {
        log.lines.clear();
        bounceMaster(1);
        CHECK(readable(fd, api::kWaitMs));
        CHECK_CMM(CMM_OK, cmm_notify_dispatch());
        return log.lines;
    };
    const std::vector<std::string> both{text(CMM_MASTER_DEMOTED, 1), text(CMM_MASTER_ELECTED, 1)};
    /* ADD and REM of nothing change nothing (NULL or not). */
    CHECK_CMM(CMM_OK, cmm_cmc_filter(CMM_CMC_NOTIFY_ADD, nullptr, 0));
    CHECK_CMM(CMM_OK, cmm_cmc_filter(CMM_CMC_NOTIFY_REM, nullptr, 0));
    const cmm_cmchanges_t elected[] = {CMM_MASTER_ELECTED};
    CHECK_CMM(CMM_OK, cmm_cmc_filter(CMM_CMC_NOTIFY_REM, elected, 0));
    CHECK(delivered() == both);
    /* Twelve entries, repeats of known kinds: the filter is their set. */
    cmm_cmchanges_t many[12];
    for (cmm_cmchanges_t &kind : many)
        kind = CMM_MASTER_ELECTED;
    many[11] = CMM_MASTER_DEMOTED;
    CHECK_CMM(CMM_OK, cmm_cmc_filter(CMM_CMC_NOTIFY_SET, many, 12));
    CHECK(delivered() == both);
    CHECK_CMM(CMM_OK, cmm_cmc_filter(CMM_CMC_NOTIFY_SET, many, 11));
    CHECK(delivered() == std::vector<std::string>{text(CMM_MASTER_ELECTED, 1)});
    /* SET of nothing accepts nothing, like NONE; the registration stays. */
    CHECK_CMM(CMM_OK, cmm_cmc_filter(CMM_CMC_NOTIFY_SET, nullptr, 0));
    CHECK(delivered().empty());
    CHECK_CMM(CMM_EEXIST, cmm_cmc_register(record, &log));
    CHECK_CMM(CMM_OK, cmm_cmc_filter(CMM_CMC_NOTIFY_ADD, many, 12));
    CHECK(delivered() == both);
}

TEST_CASE("compatibility: the deprecated CMM_IS_* macros take a member, as in Sun's header")
{
    cmm_member_t m;
    std::memset(&m, 0, sizeof m);
    CHECK(CMM_IS_MASTER(m) == 0);
    CHECK(CMM_IS_QUALIFIED(m) == 1);
    const struct {
        uint32_t flag;
        int (*decoder)(cmm_member_t const *);
        int (*macro)(const cmm_member_t &);
    } cases[] = {
        {CMM_FROZEN_MEMBER, cmm_member_isfrozen,
         [](const cmm_member_t &x) { return CMM_IS_FROZEN(x); }},
        {CMM_EXCLUDED_MEMBER, cmm_member_isexcluded,
         [](const cmm_member_t &x) { return CMM_IS_EXCLUDED(x); }},
        {CMM_ELIGIBLE_MEMBER, cmm_member_iseligible,
         [](const cmm_member_t &x) { return CMM_IS_ELIGIBLE(x); }},
        {CMM_MASTER, cmm_member_ismaster, [](const cmm_member_t &x) { return CMM_IS_MASTER(x); }},
        {CMM_VICEMASTER, cmm_member_isvicemaster,
         [](const cmm_member_t &x) { return CMM_IS_VICEMASTER(x); }},
        {CMM_FLAG_DISQUALIFIED, cmm_member_isdisqualified,
         [](const cmm_member_t &x) { return CMM_IS_DISQUALIFIED(x); }},
        {CMM_FLAG_SYNCHRO_NEEDED, cmm_member_isdesynchronized,
         [](const cmm_member_t &x) { return CMM_IS_SEMI_QUALIFIED(x); }},
        {CMM_OUT_OF_CLUSTER, cmm_member_isoutofcluster,
         [](const cmm_member_t &x) { return CMM_IS_OUT_OF_CLUSTER(x); }},
    };
    for (const auto &c : cases) {
        CAPTURE(c.flag);
        m.sflag = 0;
        CHECK(c.macro(m) == 0);
        m.sflag = c.flag;
        CHECK(c.macro(m) == 1);
        CHECK(c.decoder(&m) == 1);
        m.sflag = ~c.flag;
        CHECK(c.macro(m) == 0);
    }
    m.sflag = CMM_FLAG_DISQUALIFIED;
    CHECK(CMM_IS_QUALIFIED(m) == 0);
}

TEST_CASE("a callback sees the cluster at query time and may not unregister or dispatch")
{
    Fixture f;
    Log log;
    log.query = true;
    int fd = -1;
    REQUIRE_CMM(CMM_OK, cmm_cmc_register(record, &log));
    REQUIRE_CMM(CMM_OK, cmm_notify_getfd(&fd));
    /* Disqualified: no master until the seize, which happens before the
     * dispatch. The callback of MASTER_DEMOTED already sees the new master. */
    bounceMaster(1);
    CHECK(readable(fd, api::kWaitMs));
    CHECK_CMM(CMM_OK, cmm_notify_dispatch());
    CHECK(log.lines.size() == 2);
    CHECK(log.queried == std::vector<std::string>{"master 1", "master 1"});
    CHECK_CMM(CMM_EBUSY, log.unregisterRc);
    CHECK_CMM(CMM_EBUSY, log.dispatchRc);
    CHECK_CMM(CMM_OK, cmm_cmc_unregister());
}

TEST_CASE("modifying calls on a lone master are canceled")
{
    Fixture f;
    CHECK_CMM(CMM_ECANCELED, cmm_membership_remove());
    CHECK_CMM(CMM_ECANCELED, cmm_mastership_release());
    CHECK_CMM(CMM_EINVAL, cmm_member_setqualif(1, static_cast<cmm_qualif_t>(3)));
    CHECK_CMM(CMM_ESRCH, cmm_member_setqualif(9, CMM_DISQUALIFIED_MEMBER));
    CHECK_CMM(CMM_OK, cmm_member_setqualif(1, CMM_QUALIFIED_MEMBER));
    CHECK_CMM(CMM_EPERM, cmm_member_seizequalif()); /* a master exists */
    CHECK_CMM(CMM_OK, cmm_config_reload());
    cmm_member_t m;
    CHECK_CMM(CMM_OK, cmm_master_getinfo(&m));
}

TEST_CASE("after cmm_membership_remove the node is out; queries work, changes fail")
{
    Fixture f(withArgs({"--cmm-ineligible"}));
    cmm_member_t m;
    CHECK_CMM(CMM_ENOCLUSTER, cmm_master_getinfo(&m));
    REQUIRE_CMM(CMM_OK, cmm_membership_remove());
    REQUIRE_CMM(CMM_OK, cmm_potential_getinfo(1, &m));
    CHECK(cmm_member_isoutofcluster(&m) == 1);
    CHECK(CMM_IS_OUT_OF_CLUSTER(m) == 1);
    REQUIRE_CMM(CMM_OK, cmm_member_getinfo(1, &m));
    CHECK(cmm_member_isoutofcluster(&m) == 1);
    uint32_t count = 9;
    CHECK_CMM(CMM_OK, cmm_member_getcount(&count));
    CHECK(count == 0);
    cmm_nodeid_t me = 0;
    CHECK_CMM(CMM_OK, cmm_node_getid(&me));
    CHECK(me == 1);
    CHECK_CMM(CMM_ENOCLUSTER, cmm_membership_remove());
    CHECK_CMM(CMM_EPERM, cmm_member_setqualif(1, CMM_DISQUALIFIED_MEMBER));
    CHECK_CMM(CMM_EPERM, cmm_member_seizequalif());
    CHECK_CMM(CMM_EPERM, cmm_mastership_release());
    CHECK_CMM(CMM_EPERM, cmm_config_reload());
}

TEST_CASE("a node absent from the node table is in no cluster")
{
    const std::string dir = api::makeTempDir();
    const std::string table = dir + "/nodes";
    std::ofstream(table) << "2 1 other eligible\n";
    Fixture f(withArgs({"--cmm-nodes", table}));
    cmm_member_t m;
    CHECK_CMM(CMM_ENOCLUSTER, cmm_master_getinfo(&m));
    CHECK_CMM(CMM_ENOCLUSTER, cmm_membership_remove());
    cmm_nodeid_t me = 0;
    CHECK_CMM(CMM_OK, cmm_node_getid(&me));
    CHECK(me == 1);
    unlink(table.c_str());
}

TEST_CASE("gsd's registration limit gives CMM_ENOENT")
{
    Fixture f(withArgs({"--cmm-max-registrations", "1"}));
    Log log;
    REQUIRE_CMM(CMM_OK, cmm_cmc_register(record, &log));
    const pid_t child = fork();
    REQUIRE(child >= 0);
    if (child == 0) {
        Log mine;
        _exit(cmm_cmc_register(record, &mine) == CMM_ENOENT ? 0 : 1);
    }
    int status = -1;
    REQUIRE(waitpid(child, &status, 0) == child);
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
}

TEST_CASE("a forked child inherits no registration")
{
    Fixture f;
    Log log;
    int fd = -1;
    REQUIRE_CMM(CMM_OK, cmm_cmc_register(record, &log));
    REQUIRE_CMM(CMM_OK, cmm_notify_getfd(&fd));
    const pid_t child = fork();
    REQUIRE(child >= 0);
    if (child == 0) {
        int code = 0;
        int childFd = -1;
        Log mine;
        /* A descriptor of its own, with nothing to dispatch. */
        if (cmm_notify_getfd(&childFd) != CMM_OK || readable(childFd, 0))
            code |= 1;
        if (cmm_cmc_unregister() != CMM_OK) /* nothing to stop */
            code |= 2;
        if (cmm_notify_dispatch() != CMM_ENOENT)
            code |= 4;
        if (cmm_cmc_register(record, &mine) != CMM_OK)
            code |= 8;
        if (cmm_cmc_unregister() != CMM_OK)
            code |= 16;
        _exit(code);
    }
    int status = -1;
    REQUIRE(waitpid(child, &status, 0) == child);
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
    /* The parent's registration is untouched. */
    bounceMaster(1);
    CHECK(readable(fd, api::kWaitMs));
    CHECK_CMM(CMM_OK, cmm_notify_dispatch());
    CHECK(log.lines.size() == 2);
}

TEST_CASE("cmm_disconnect drops the registration and the filter")
{
    Fixture f;
    Log log;
    const cmm_cmchanges_t elected[] = {CMM_MASTER_ELECTED};
    REQUIRE_CMM(CMM_OK, cmm_cmc_filter(CMM_CMC_NOTIFY_SET, elected, 1));
    REQUIRE_CMM(CMM_OK, cmm_cmc_register(record, &log));
    CHECK_CMM(CMM_OK, cmm_disconnect());
    CHECK_CMM(CMM_OK, cmm_cmc_unregister()); /* nothing left to stop */
    REQUIRE_CMM(CMM_OK, cmm_cmc_register(record, &log));
    int fd = -1;
    REQUIRE_CMM(CMM_OK, cmm_notify_getfd(&fd));
    bounceMaster(1);
    CHECK(readable(fd, api::kWaitMs));
    CHECK_CMM(CMM_OK, cmm_notify_dispatch());
    CHECK(log.lines.size() == 2); /* every kind again */
}

TEST_CASE("after gsd dies, pending notifications come first, then CMM_EBADF")
{
    Fixture f;
    Log log;
    int fd = -1;
    REQUIRE_CMM(CMM_OK, cmm_cmc_register(record, &log));
    REQUIRE_CMM(CMM_OK, cmm_notify_getfd(&fd));
    bounceMaster(1);
    f.gsd.kill(SIGKILL);
    REQUIRE(f.gsd.waitExit().has_value());
    /* Readable until the loss has been dispatched. */
    CHECK(readable(fd, api::kWaitMs));
    cmm_error_t rc = cmm_notify_dispatch();
    for (int i = 0; rc == CMM_OK && i < 200; ++i) {
        readable(fd, 50);
        rc = cmm_notify_dispatch();
    }
    CHECK_CMM(CMM_EBADF, rc);
    CHECK(log.lines ==
          std::vector<std::string>{text(CMM_MASTER_DEMOTED, 1), text(CMM_MASTER_ELECTED, 1)});
    CHECK_CMM(CMM_EBADF, cmm_notify_getfd(&fd));
    CHECK_CMM(CMM_EEXIST, cmm_cmc_register(record, &log));
    CHECK_CMM(CMM_OK, cmm_cmc_unregister());
    CHECK_CMM(CMM_ECONN, cmm_cmc_register(record, &log));
    /* gsd back: the recovery sequence works. */
    f.gsd.restart();
    REQUIRE_CMM(CMM_OK, cmm_cmc_register(record, &log));
    REQUIRE_CMM(CMM_OK, cmm_notify_getfd(&fd));
    bounceMaster(1);
    CHECK(readable(fd, api::kWaitMs));
    CHECK_CMM(CMM_OK, cmm_notify_dispatch());
    CHECK(log.lines.size() == 4);
}

TEST_CASE("cmm_strerror describes every code")
{
    const cmm_error_t codes[] = {
        CMM_OK,         CMM_EBADF,  CMM_EBUSY,     CMM_ECANCELED, CMM_EEXIST, CMM_EINVAL,
        CMM_ENOENT,     CMM_ENOMSG, CMM_ENOTSUP,   CMM_EPERM,     CMM_ERANGE, CMM_ESRCH,
        CMM_ENOCLUSTER, CMM_ECONN,  CMM_ETIMEDOUT, CMM_EAGAIN,    CMM_ENOMEM, CMM_EOTHER};
    const std::string unknown = cmm_strerror(static_cast<cmm_error_t>(12345));
    CHECK(unknown == "unknown CMM error code");
    /* Codes next to the range and at its ends (Sun's re-implementation
     * indexed an array with them): still the static "unknown" text. */
    for (const int outside : {-101, -83, -1, 1, -128, 127}) {
        CAPTURE(outside);
        const char *s = cmm_strerror(static_cast<cmm_error_t>(outside));
        REQUIRE(s != nullptr);
        CHECK(std::string(s) == unknown);
    }
    std::vector<std::string> seen;
    for (cmm_error_t code : codes) {
        const char *s = cmm_strerror(code);
        REQUIRE(s != nullptr);
        CHECK(std::string(s) != unknown);
        CHECK(std::find(seen.begin(), seen.end(), s) == seen.end());
        seen.push_back(s);
    }
}

TEST_CASE("a register that timed out leaves no registration behind in gsd")
{
    Fixture f;
    Log log;
    const timespec_t shortTimeout = {1, 0};
    REQUIRE_CMM(CMM_OK, cmm_connect(shortTimeout));
    f.gsd.kill(SIGSTOP); /* gsd reads the request only after the caller gave up */
    CHECK_CMM(CMM_ETIMEDOUT, cmm_cmc_register(record, &log));
    f.gsd.kill(SIGCONT);
    /* Neither side holds a registration now: the next one succeeds. */
    CHECK_CMM(CMM_OK, cmm_cmc_register(record, &log));
    int fd = -1;
    REQUIRE_CMM(CMM_OK, cmm_notify_getfd(&fd));
    bounceMaster(1);
    CHECK(readable(fd, api::kWaitMs));
    CHECK_CMM(CMM_OK, cmm_notify_dispatch());
    CHECK(log.lines.size() == 2);
    CHECK_CMM(CMM_OK, cmm_cmc_unregister());
}

namespace {

/* Notifications, and what cmm_member_getinfo said of each one's node from
 * inside the callback ("rc sflag"). */
struct Naming {
    std::vector<std::string> lines;
    std::vector<std::string> described;
};

void describeNotified(const cmm_cmc_notification_t *n, void *data)
{
    auto *naming = static_cast<Naming *>(data);
    naming->lines.push_back(text(n->cmchange, n->nodeid));
    cmm_member_t m;
    std::memset(&m, 0, sizeof m);
    const cmm_error_t rc = cmm_member_getinfo(n->nodeid, &m);
    naming->described.push_back(std::to_string(rc) + " " + std::to_string(m.sflag));
}

std::string describedAs(cmm_error_t rc, uint32_t sflag)
{
    return std::to_string(rc) + " " + std::to_string(sflag);
}

/* A node table with this gsd (node 1) and configured nodes that are down. */
std::string writeTable(const std::string &dir, const std::string &rows)
{
    const std::string path = dir + "/nodes";
    std::ofstream(path) << rows;
    return path;
}

} // namespace

TEST_CASE("item 11: cmm_node_eligible and cmm_node_ineligible")
{
    SUBCASE("an ineligible node declares itself eligible and is elected master")
    {
        Fixture f(withArgs({"--cmm-ineligible"}));
        Log log;
        int fd = -1;
        REQUIRE_CMM(CMM_OK, cmm_cmc_register(record, &log));
        REQUIRE_CMM(CMM_OK, cmm_notify_getfd(&fd));
        cmm_member_t m;
        CHECK_CMM(CMM_ENOCLUSTER, cmm_master_getinfo(&m));
        REQUIRE_CMM(CMM_OK, cmm_node_eligible());
        REQUIRE_CMM(CMM_OK, cmm_master_getinfo(&m));
        CHECK(m.nodeid == 1);
        CHECK(cmm_member_iseligible(&m) == 1);
        CHECK_CMM(CMM_OK, cmm_node_eligible()); /* already: no effect */
        /* The lone master cannot withdraw: nobody would take over. */
        CHECK_CMM(CMM_ECANCELED, cmm_node_ineligible());
        REQUIRE(readable(fd, api::kWaitMs));
        CHECK_CMM(CMM_OK, cmm_notify_dispatch());
        CHECK(log.lines ==
              std::vector<std::string>{text(CMM_NODE_ELIGIBLE, 1), text(CMM_MASTER_ELECTED, 1)});
    }
    SUBCASE("a member without a role withdraws and comes back")
    {
        const std::string dir = api::makeTempDir();
        const std::string table = writeTable(dir, "1 1 self eligible,disqualified\n");
        Fixture f(withArgs({"--cmm-nodes", table}));
        Log log;
        int fd = -1;
        REQUIRE_CMM(CMM_OK, cmm_cmc_register(record, &log));
        REQUIRE_CMM(CMM_OK, cmm_notify_getfd(&fd));
        REQUIRE_CMM(CMM_OK, cmm_node_ineligible());
        cmm_member_t m;
        REQUIRE_CMM(CMM_OK, cmm_member_getinfo(1, &m));
        CHECK(cmm_member_iseligible(&m) == 0);
        CHECK_CMM(CMM_EPERM, cmm_member_seizequalif()); /* not eligible */
        REQUIRE_CMM(CMM_OK, cmm_node_eligible());
        REQUIRE_CMM(CMM_OK, cmm_member_seizequalif());
        REQUIRE(readable(fd, api::kWaitMs));
        CHECK_CMM(CMM_OK, cmm_notify_dispatch());
        CHECK(log.lines == std::vector<std::string>{text(CMM_NODE_INELIGIBLE, 1),
                                                    text(CMM_NODE_ELIGIBLE, 1),
                                                    text(CMM_MASTER_ELECTED, 1)});
        unlink(table.c_str());
        rmdir(dir.c_str());
    }
    SUBCASE("refused out of the cluster and on a node configured for no cluster")
    {
        Fixture f(withArgs({"--cmm-ineligible"}));
        REQUIRE_CMM(CMM_OK, cmm_membership_remove());
        CHECK_CMM(CMM_EPERM, cmm_node_eligible());
        CHECK_CMM(CMM_EPERM, cmm_node_ineligible());
    }
    SUBCASE("ENOCLUSTER on a node absent from the node table")
    {
        const std::string dir = api::makeTempDir();
        const std::string table = writeTable(dir, "2 1 other eligible\n");
        Fixture f(withArgs({"--cmm-nodes", table}));
        CHECK_CMM(CMM_ENOCLUSTER, cmm_node_eligible());
        CHECK_CMM(CMM_ENOCLUSTER, cmm_node_ineligible());
        unlink(table.c_str());
        rmdir(dir.c_str());
    }
}

TEST_CASE("item 12: cmm_member_getinfo describes configured nodes that are out")
{
    const std::string dir = api::makeTempDir();
    const std::string table = writeTable(dir, "1 1 self -\n2 1 peer eligible\n");
    Fixture f(withArgs({"--cmm-nodes", table}));
    cmm_member_t m;
    /* Node 2 is configured and never joined. */
    REQUIRE_CMM(CMM_OK, cmm_member_getinfo(2, &m));
    CHECK(m.nodeid == 2);
    CHECK(std::string(m.name) == "peer");
    CHECK(cmm_member_isoutofcluster(&m) == 1);
    CHECK(cmm_member_iseligible(&m) == 1);
    CHECK(m.incarnation_number == 0);
    CHECK_CMM(CMM_ESRCH, cmm_member_getinfo(3, &m)); /* not in the table */
    uint32_t count = 0;
    CHECK_CMM(CMM_OK, cmm_member_getcount(&count));
    CHECK(count == 1); /* getcount and getall still count members only */

    /* The node that just left can be named from the MEMBER_LEFT callback. */
    Naming naming;
    int fd = -1;
    REQUIRE_CMM(CMM_OK, cmm_cmc_register(describeNotified, &naming));
    REQUIRE_CMM(CMM_OK, cmm_notify_getfd(&fd));
    REQUIRE_CMM(CMM_OK, cmm_membership_remove());
    REQUIRE(readable(fd, api::kWaitMs));
    CHECK_CMM(CMM_OK, cmm_notify_dispatch());
    CHECK(naming.lines == std::vector<std::string>{text(CMM_MEMBER_LEFT, 1)});
    CHECK(naming.described == std::vector<std::string>{describedAs(CMM_OK, CMM_OUT_OF_CLUSTER)});
    unlink(table.c_str());
    rmdir(dir.c_str());
}

TEST_CASE("item 13: marking a role holder synchro-needed keeps its role and notifies nothing")
{
    /* One gsd has no vice-master; the vice-master rules are in the engine's
     * tests. What one node shows: the master keeps its role and nothing is
     * sent, both ways. */
    Fixture f;
    Log log;
    int fd = -1;
    REQUIRE_CMM(CMM_OK, cmm_cmc_register(record, &log));
    REQUIRE_CMM(CMM_OK, cmm_notify_getfd(&fd));
    REQUIRE_CMM(CMM_OK, cmm_member_setqualif(1, CMM_SYNCHRO_NEEDED));
    cmm_member_t m;
    REQUIRE_CMM(CMM_OK, cmm_master_getinfo(&m));
    CHECK(m.nodeid == 1);
    CHECK(cmm_member_isdesynchronized(&m) == 1);
    REQUIRE_CMM(CMM_OK, cmm_member_setqualif(1, CMM_SYNCHRO_READY));
    CHECK_FALSE(readable(fd, 200));
    CHECK(log.lines.empty());
}

TEST_CASE("item 14: a master marked synchro-needed, then disqualified, gets its role back")
{
    Fixture f;
    Naming naming;
    int fd = -1;
    REQUIRE_CMM(CMM_OK, cmm_cmc_register(describeNotified, &naming));
    REQUIRE_CMM(CMM_OK, cmm_notify_getfd(&fd));
    REQUIRE_CMM(CMM_OK, cmm_member_setqualif(1, CMM_SYNCHRO_NEEDED));
    REQUIRE_CMM(CMM_OK, cmm_member_setqualif(1, CMM_DISQUALIFIED_MEMBER));
    cmm_member_t m;
    CHECK_CMM(CMM_ENOCLUSTER, cmm_master_getinfo(&m));
    CHECK_CMM(CMM_ENOCLUSTER, cmm_member_setqualif(1, CMM_QUALIFIED_MEMBER));
    /* No other node has been master: its copy is the newest. */
    REQUIRE_CMM(CMM_OK, cmm_member_seizequalif());
    REQUIRE_CMM(CMM_OK, cmm_master_getinfo(&m));
    CHECK(m.nodeid == 1);
    CHECK(cmm_member_isqualified(&m) == 1);
    CHECK(cmm_member_isdesynchronized(&m) == 1); /* still the only up-to-date copy */
    REQUIRE(readable(fd, api::kWaitMs));
    CHECK_CMM(CMM_OK, cmm_notify_dispatch());
    CHECK(naming.lines ==
          std::vector<std::string>{text(CMM_MASTER_DEMOTED, 1), text(CMM_MASTER_ELECTED, 1)});
    /* And the documented calls keep working: the replication service ends
     * the resync. */
    CHECK_CMM(CMM_OK, cmm_member_setqualif(1, CMM_SYNCHRO_READY));
    REQUIRE_CMM(CMM_OK, cmm_master_getinfo(&m));
    CHECK(cmm_member_isdesynchronized(&m) == 0);
}

TEST_CASE("item 16: cmm_notify_getfd before cmm_cmc_register")
{
    Fixture f;
    int early = -1;
    REQUIRE_CMM(CMM_OK, cmm_notify_getfd(&early));
    CHECK(early >= 0);
    /* Nothing is delivered to a process without a registration. */
    bounceMaster(1);
    CHECK_FALSE(readable(early, 200));
    CHECK_CMM(CMM_ENOENT, cmm_notify_dispatch());
    Log log;
    REQUIRE_CMM(CMM_OK, cmm_cmc_register(record, &log));
    int fd = -1;
    REQUIRE_CMM(CMM_OK, cmm_notify_getfd(&fd));
    CHECK(fd == early); /* the registration uses the same descriptor */
    bounceMaster(1);
    CHECK(readable(early, api::kWaitMs));
    CHECK_CMM(CMM_OK, cmm_notify_dispatch());
    CHECK(log.lines ==
          std::vector<std::string>{text(CMM_MASTER_DEMOTED, 1), text(CMM_MASTER_ELECTED, 1)});
}

TEST_CASE("a CMM client that keeps calling never loses its session to gsd's byte bound")
{
    /* gsd's smallest byte bound, a mark every 8 KiB: a thousand answers
     * with a member each pass far more through it than it holds, so the
     * session lives only because the library acknowledges gsd's marks. */
    Fixture f(withArgs({"--send-queue-bytes", "65536"}));
    cmm_member_t m;
    for (int i = 0; i < 1000; ++i) {
        CAPTURE(i);
        std::memset(&m, 0, sizeof m);
        REQUIRE_CMM(CMM_OK, cmm_master_getinfo(&m));
    }
    CHECK(f.gsd.log().find("overflow") == std::string::npos);
}
