/* SPDX-License-Identifier: MIT */
/*
 * The simulated domain (domain.hpp) under seeded random schedules, the same
 * seed giving the same run, a fault the checker must catch, and scripted
 * cases for node loss, state transfer and the timekeeper.
 *
 * Environment, for the long form (README.md, docs/testing.md):
 *   GS_SIM_SEEDS=count       seeds to run (default below)
 *   GS_SIM_FIRST_SEED=n      the first seed (default 1)
 *   GS_SIM_STEPS=n           scheduling rounds per seed (default 200)
 *   GS_SIM_FULL_DIGEST_EVERY=n  compare full GSAPI digests every n steps
 *                            (default 16; 1: after every input)
 *   GS_SIM_TRACE=1           print every step to stderr
 *   GS_SIM_KEEP_GOING=1      run every seed, reporting each that fails
 *   GS_SIM_SKIP=node@step    inject the fault: that node skips the first
 *                            client request delivered from that step on
 */
#include "random_run.hpp"

#include "ha_gs.h"

#include <doctest/doctest.h>

#include <cstdlib>
#include <sstream>

using namespace gs;
using namespace gs::domain;

namespace {

#ifdef HA_GS_SANITIZED_BUILD
constexpr uint64_t kSeeds = 200;
#else
constexpr uint64_t kSeeds = 2000;
#endif

uint64_t envNumber(const char *name, uint64_t fallback)
{
    const char *value = std::getenv(name);
    if (!value || !*value)
        return fallback;
    char *end = nullptr;
    const unsigned long long n = std::strtoull(value, &end, 10);
    if (*end != '\0')
        FAIL(name << "=" << value << " is not a number");
    return n;
}

std::optional<SkipFault> envSkip()
{
    const char *value = std::getenv("GS_SIM_SKIP");
    if (!value || !*value)
        return std::nullopt;
    std::istringstream in(value);
    int node = 0;
    char at = 0;
    uint64_t step = 0;
    if (!(in >> node >> at >> step) || at != '@')
        FAIL("GS_SIM_SKIP=" << value << " is not node@step");
    return SkipFault{static_cast<NodeId>(node), step};
}

std::string replayCommand(uint64_t seed, const char *testCase)
{
    std::ostringstream s;
    s << "GS_SIM_FIRST_SEED=" << seed << " GS_SIM_SEEDS=1 " << GS_DOMAIN_TEST_BINARY << " -tc='"
      << testCase << "'";
    return s.str();
}

void deliverAll(Domain &domain)
{
    for (auto senders = domain.senders(); !senders.empty(); senders = domain.senders())
        domain.deliverFrom(senders.front());
}

void requireClean(const Domain &domain)
{
    if (domain.violation())
        FAIL(domain.violation()->text());
}

GroupAttributes onePhase(const std::string &name)
{
    GroupAttributes a;
    a.groupName = name;
    a.sizeofAttributes = sizeof(ha_gs_group_attributes_t);
    a.numPhases = HA_GS_1_PHASE;
    return a;
}

JoinRequest joinOf(const GroupAttributes &a, int instance)
{
    JoinRequest j;
    j.attributes = a;
    j.instance = instance;
    return j;
}

/* The token a client was given for `group`, 0 if none. */
Token tokenOf(Domain &domain, ClientId client, const std::string &group)
{
    for (const auto &[token, name] : domain.node(clientNode(client)).clients.at(client).groupOf)
        if (name == group)
            return token;
    return 0;
}

} // namespace

TEST_CASE("domain: random schedules keep every invariant")
{
    const char *self = "domain: random schedules keep every invariant";
    const uint64_t first = envNumber("GS_SIM_FIRST_SEED", 1);
    const uint64_t count = envNumber("GS_SIM_SEEDS", kSeeds);
    const int steps = static_cast<int>(envNumber("GS_SIM_STEPS", 200));
    const auto skip = envSkip();
    const bool keepGoing = envNumber("GS_SIM_KEEP_GOING", 0) != 0;
    RunResult total;
    for (uint64_t seed = first; seed < first + count; ++seed) {
        RunOptions options;
        options.seed = seed;
        options.steps = steps;
        options.skip = skip;
        options.trace = envNumber("GS_SIM_TRACE", 0) != 0;
        options.fullDigestEvery = static_cast<unsigned>(envNumber("GS_SIM_FULL_DIGEST_EVERY", 16));
        const RunResult r = runRandom(options);
        if (r.violation) {
            FAIL_CHECK(r.violation->text() << "\nreplay: " << replayCommand(seed, self));
            if (!keepGoing)
                break;
            continue;
        }
        total.steps += r.steps;
        total.viewChanges += r.viewChanges;
        total.transfers += r.transfers;
        total.failureLeaves += r.failureLeaves;
        total.staleTimers += r.staleTimers;
        total.approved += r.approved;
    }
    MESSAGE(count << " seeds from " << first << ": " << total.steps << " inputs checked, "
                  << total.viewChanges << " membership changes, " << total.transfers
                  << " state transfers, " << total.approved << " approved notifications in order, "
                  << total.failureLeaves << " failure leaves of failed providers, "
                  << total.staleTimers << " stale timer firings");
    /* The schedules reach what the invariants are about. */
    if (count >= 100) {
        CHECK(total.viewChanges > 0);
        CHECK(total.transfers > 0);
        CHECK(total.failureLeaves > 0);
        CHECK(total.approved > 0);
    }
}

TEST_CASE("domain: duplicate TimerFired from two timekeepers are harmless")
{
    const uint64_t count = envNumber("GS_SIM_SEEDS", kSeeds) / 10 + 1;
    uint64_t stale = 0;
    for (uint64_t seed = 1; seed <= count; ++seed) {
        RunOptions options;
        options.seed = seed;
        options.twoTimekeepers = true;
        const RunResult r = runRandom(options);
        if (r.violation) {
            FAIL_CHECK(r.violation->text());
            break;
        }
        stale += r.staleTimers;
    }
    MESSAGE(stale << " duplicate or stale TimerFired delivered and ignored");
    CHECK(stale > 0);
}

TEST_CASE("domain: the same seed gives the same run")
{
    RunOptions options;
    options.seed = envNumber("GS_SIM_FIRST_SEED", 1);
    const RunResult a = runRandom(options);
    const RunResult b = runRandom(options);
    CHECK(a.steps > 0);
    CHECK(a.digest == b.digest);
    CHECK(a.steps == b.steps);
    options.seed += 1;
    CHECK(runRandom(options).digest != a.digest);
}

TEST_CASE("domain: a replica that skips one delivered event is caught")
{
    /* Node 2 does not apply the first client request delivered from step
     * 40 on, as a node that lost one message would. */
    RunOptions options;
    options.seed = 7;
    options.skip = SkipFault{2, 40};
    const RunResult r = runRandom(options);
    REQUIRE(r.violation.has_value());
    MESSAGE("the checker reported: " << r.violation->text());
    CHECK(r.violation->seed == 7);
    CHECK(r.violation->node == 2);
    CHECK(r.violation->step >= 40);
    CHECK((r.violation->invariant == "same actions" || r.violation->invariant == "equal digests"));
    /* Without the fault the same seed passes. */
    options.skip.reset();
    CHECK_FALSE(runRandom(options).violation.has_value());
}

TEST_CASE("domain: a restarted node that reuses client ids is caught")
{
    /* The first seeds whose schedule restarts a node that had clients. */
    RunOptions options;
    options.restartReusesClientIds = true;
    std::optional<Violation> caught;
    for (options.seed = 1; options.seed <= 50 && !caught; ++options.seed)
        caught = runRandom(options).violation;
    REQUIRE(caught.has_value());
    MESSAGE("the checker reported: " << caught->text());
    CHECK(caught->invariant == "client ids never reused");
}

TEST_CASE("domain: a lost node's providers, and only they, get failure leaves")
{
    DomainOptions options;
    options.settings.nodes = 3;
    Domain domain(options, 1);
    auto alpha = onePhase("alpha");
    alpha.batchControl = HA_GS_BATCH_LEAVES;
    std::vector<ClientId> clients;
    for (NodeId node = 1; node <= 3; ++node)
        for (int i = 0; i < 2; ++i)
            clients.push_back(domain.connect(node, false));
    deliverAll(domain);
    int instance = 0;
    for (ClientId c : clients) {
        domain.request(c, joinOf(alpha, instance++));
        deliverAll(domain);
    }
    requireClean(domain);
    const auto before = domain.reference()->replica->gsapi().group("alpha");
    REQUIRE(before->members.size() == 6);
    std::vector<ProviderId> ofNode2;
    for (const auto &m : before->members)
        if (clientNode(m.client) == 2)
            ofNode2.push_back(m.id);
    REQUIRE(ofNode2.size() == 2);

    const size_t seen = domain.node(1).clients.at(clients[0]).received.size();
    domain.crash(2);
    deliverAll(domain);
    requireClean(domain);
    const auto after = domain.reference()->replica->gsapi().group("alpha");
    REQUIRE(after->members.size() == 4);
    for (const auto &m : after->members)
        CHECK(clientNode(m.client) != 2);
    /* One notification: the failure leave of node 2's two providers,
     * batched as the group's batch control asks. */
    CHECK(domain.node(1).clients.at(clients[0]).received.size() == seen + 1);
    CHECK(domain.checker().failureLeavesChecked() == 2);
    CHECK(domain.nodes().at(1).replica->gsapiDigest() ==
          domain.nodes().at(3).replica->gsapiDigest());
}

TEST_CASE("domain: a joiner loads the state at the cut and replays what followed")
{
    DomainOptions options;
    options.settings.nodes = 3;
    Domain domain(options, 1);
    GroupAttributes g = onePhase("beta");
    g.numPhases = HA_GS_N_PHASE;
    const ClientId a = domain.connect(1, false);
    const ClientId b = domain.connect(2, false);
    deliverAll(domain);
    domain.request(a, joinOf(g, 1));
    deliverAll(domain);
    domain.request(a, VoteRequest{tokenOf(domain, a, "beta"), HA_GS_VOTE_APPROVE, {}, {}, 0});
    deliverAll(domain);
    domain.request(b, joinOf(g, 2));
    deliverAll(domain);
    for (ClientId voter : {a, b})
        domain.request(voter,
                       VoteRequest{tokenOf(domain, voter, "beta"), HA_GS_VOTE_APPROVE, {}, {}, 0});
    deliverAll(domain);
    requireClean(domain);
    REQUIRE(domain.reference()->replica->gsapi().group("beta")->members.size() == 2);

    /* An n-phase state change runs when node 3 is cut off and comes back. */
    StateChangeRequest change;
    change.token = tokenOf(domain, a, "beta");
    change.numPhases = HA_GS_N_PHASE;
    change.newState = "v1";
    domain.request(a, change);
    deliverAll(domain);
    domain.partition({3});
    deliverAll(domain);
    domain.join({3});      /* node 1, the donor, submits SnapBegin */
    domain.deliverFrom(1); /* SnapBegin: the cut; SnapEnd follows in node 1's outbox */
    REQUIRE(domain.nodes().at(3).transfer.has_value());
    /* A vote delivered while the snapshot is on its way: node 3 buffers it. */
    domain.request(b, VoteRequest{tokenOf(domain, b, "beta"), HA_GS_VOTE_APPROVE, {}, {}, 0});
    domain.deliverFrom(2);
    CHECK(domain.nodes().at(3).transfer->buffer.size() == 1);
    domain.deliverFrom(1); /* SnapEnd: load, replay the vote */
    requireClean(domain);
    REQUIRE(domain.nodes().at(3).state == NodeState::Synced);
    CHECK(domain.transfers() == 1);
    /* The last vote, after the sync: node 3 approves with the others. */
    domain.request(a, VoteRequest{tokenOf(domain, a, "beta"), HA_GS_VOTE_APPROVE, {}, {}, 0});
    deliverAll(domain);
    requireClean(domain);
    CHECK(domain.nodes().at(3).replica->gsapi().group("beta")->state == "v1");

    /* Its clients may connect now and see the group as the others do. */
    const ClientId c = domain.connect(3, false);
    deliverAll(domain);
    SubscribeRequest s;
    s.group = "beta";
    s.control = HA_GS_SUBSCRIBE_STATE;
    domain.request(c, s);
    deliverAll(domain);
    requireClean(domain);
    CHECK(tokenOf(domain, c, "beta") != 0);
    /* The reply, then the initial notification with the current state. */
    CHECK(domain.node(3).clients.at(c).received.size() == 2);
}

TEST_CASE("domain: the timekeeper's successor fires overdue timers at once")
{
    DomainOptions options;
    options.settings.nodes = 3;
    Domain domain(options, 1);
    GroupAttributes g = onePhase("gamma");
    g.numPhases = HA_GS_N_PHASE;
    g.timeLimit = 1;
    const ClientId a = domain.connect(2, false);
    const ClientId b = domain.connect(3, false);
    deliverAll(domain);
    for (ClientId c : {a, b}) {
        domain.request(c, joinOf(g, static_cast<int>(clientNode(c))));
        deliverAll(domain);
        domain.advanceClock(1500);
        domain.keepTime();
        deliverAll(domain);
    }
    requireClean(domain);
    REQUIRE(domain.reference()->replica->gsapi().group("gamma")->members.size() == 2);

    StateChangeRequest change;
    change.token = tokenOf(domain, a, "gamma");
    change.numPhases = HA_GS_N_PHASE;
    change.newState = "x";
    change.timeLimit = 1;
    domain.request(a, change);
    deliverAll(domain);
    REQUIRE(domain.reference()->replica->gsapi().group("gamma")->protocolRunning);
    REQUIRE(domain.nodes().at(2).shadowTimers.size() == 1);

    /* Nobody votes; the limit passes. The timekeeper, node 1, submits the
     * expiry and is lost before it is delivered. */
    domain.advanceClock(1000);
    domain.keepTime();
    REQUIRE(domain.nodes().at(1).outbox.size() == 1);
    CHECK(domain.nodes().at(2).outbox.empty());
    domain.crash(1);
    /* Node 2 is the timekeeper now: the timer is overdue, it fires at once,
     * with no further time passing. */
    domain.keepTime();
    CHECK(domain.nodes().at(2).outbox.size() == 1);
    deliverAll(domain);
    requireClean(domain);
    CHECK_FALSE(domain.reference()->replica->gsapi().group("gamma")->protocolRunning);
}
