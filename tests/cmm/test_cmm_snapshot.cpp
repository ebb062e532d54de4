/* SPDX-License-Identifier: MIT */
/*
 * Tests of the CMM engine's movable state (snapshot, restore, digest;
 * engine/cmm_engine_snapshot.cpp).
 *
 * The property test: over seeded random node tables and histories of every
 * CMM event, an engine restored from a snapshot taken at a random point and
 * the original, fed the same continuation, give the same outcome at every
 * step, the same answer to every query and the same digest. Along the
 * histories: a twin fed the same events has the same digest, a refused
 * request leaves the digest unchanged, and an event that changed anything
 * observable changes it. Then a state that differs only where no query
 * looks (a node's former role), and restore's refusals: garbage, truncated
 * and bit-flipped snapshots, other versions, states that break the rules,
 * non-canonical encodings, deep nesting; a refused restore changes nothing.
 */
#include "engine/cmm_engine.hpp"
#include "engine/engine.hpp"
#include "ha_gs.h"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <random>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

using namespace gs::cmm;
using json = nlohmann::json;

namespace {

constexpr cmm_domainid_t kDomain = 3;
/* Node ids in the random tables are 1..kMaxId; queries also ask about 0
 * and one beyond. */
constexpr cmm_nodeid_t kMaxId = 10;

NodeConfig row(cmm_nodeid_t id)
{
    NodeConfig c;
    c.id = id;
    c.name = "node" + std::to_string(id);
    c.address = "10.1.0." + std::to_string(id);
    c.domain = kDomain;
    c.softwareLoad = "load-a";
    return c;
}

std::string describe(cmm_error_t rc, const Member &m)
{
    std::ostringstream out;
    out << "rc " << rc;
    if (rc == CMM_OK || rc == CMM_EAGAIN)
        out << " {" << m.nodeid << ' ' << m.name << ' ' << m.addr << ' ' << m.domainid << ' '
            << m.sflag << ' ' << m.incarnationNumber << ' ' << m.softwareLoadId << '}';
    return out.str();
}

std::string optionalText(std::optional<cmm_nodeid_t> node)
{
    return node ? std::to_string(*node) : "none";
}

/* The answer to every query, as text, so that a difference shows whole. */
std::string answers(const Engine &e)
{
    std::ostringstream out;
    out << "ids:";
    for (cmm_nodeid_t id : e.nodeIds())
        out << ' ' << id;
    out << "\n";
    for (cmm_nodeid_t id = 0; id <= kMaxId + 1; ++id) {
        Member m;
        const cmm_error_t member = e.memberInfo(id, m);
        out << "node " << id << (e.configured(id) ? " configured" : "") << ": member "
            << describe(member, m);
        Member p;
        const cmm_error_t potential = e.potentialInfo(id, p);
        out << " potential " << describe(potential, p) << "\n";
    }
    Member m;
    cmm_error_t rc = e.masterInfo(m);
    out << "masterInfo " << describe(rc, m) << "\n";
    Member v;
    rc = e.viceMasterInfo(v);
    out << "viceMasterInfo " << describe(rc, v) << "\n";
    uint32_t count = 0;
    rc = e.memberCount(count);
    out << "count rc " << rc << " = " << count << "\n";
    for (uint32_t size : {0u, 1u, 3u, 16u, uint32_t{CMM_MAX_MEMBER_TABLE_SIZE + 1}}) {
        std::vector<Member> table(std::min<uint32_t>(size, 16));
        uint32_t n = 0;
        rc = e.memberAll(size, size == 0 ? nullptr : table.data(), n);
        out << "getall " << size << " rc " << rc << " count " << n << ":";
        if (rc == CMM_OK || rc == CMM_EAGAIN)
            for (uint32_t i = 0; i < std::min<uint32_t>(n, table.size()); ++i)
                out << ' ' << describe(CMM_OK, table[i]);
        out << "\n";
    }
    for (const Member &each : e.members())
        out << "member " << describe(CMM_OK, each) << "\n";
    out << "master " << optionalText(e.master()) << " vice " << optionalText(e.viceMaster())
        << " last " << optionalText(e.lastMaster()) << " health " << static_cast<int>(e.health())
        << " invariants '" << e.checkInvariants() << "'\n";
    return out.str();
}

std::string text(const Outcome &o)
{
    std::ostringstream out;
    out << "rc " << o.rc << ":";
    for (const Notification &n : o.notifications)
        out << ' ' << n.change << '(' << n.node << ')';
    return out.str();
}

/* Random node tables and events over them. */
struct History {
    explicit History(uint32_t seed) : rng(seed)
    {
        std::set<cmm_nodeid_t> ids;
        const int nodes = pick(1, 8);
        while (static_cast<int>(ids.size()) < nodes)
            ids.insert(static_cast<cmm_nodeid_t>(pick(1, kMaxId)));
        for (cmm_nodeid_t id : ids) {
            NodeConfig c = row(id);
            c.eligible = chance(75);
            c.frozen = chance(10);
            c.excluded = chance(5);
            c.disqualified = chance(15);
            c.synchroNeeded = chance(15);
            table.push_back(c);
        }
        std::shuffle(table.begin(), table.end(), rng);
    }

    int pick(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); }
    bool chance(int percent) { return pick(1, 100) <= percent; }

    /* Any id, configured or not, reserved ones included now and then. */
    cmm_nodeid_t someNode(const Engine &e)
    {
        const std::vector<cmm_nodeid_t> ids = e.nodeIds();
        if (ids.empty() || chance(5))
            return static_cast<cmm_nodeid_t>(pick(0, kMaxId + 1));
        return ids[static_cast<size_t>(pick(0, static_cast<int>(ids.size()) - 1))];
    }
    /* The master most of the time, so that requests mostly succeed. */
    cmm_nodeid_t someCaller(const Engine &e)
    {
        if (e.master() && chance(70))
            return *e.master();
        return someNode(e);
    }

    /* The table in force with nodes dropped, added and renamed; the
     * engine refuses some of these (dropped nodes in the cluster, edited
     * attributes), which is part of the test. */
    NodeTable reloaded()
    {
        NodeTable next = table;
        if (chance(40) && !next.empty())
            next.erase(next.begin() + pick(0, static_cast<int>(next.size()) - 1));
        if (chance(50)) {
            NodeConfig c = row(static_cast<cmm_nodeid_t>(pick(1, kMaxId)));
            c.eligible = chance(70);
            if (std::none_of(next.begin(), next.end(),
                             [&](const NodeConfig &n) { return n.id == c.id; }))
                next.push_back(c);
        }
        for (NodeConfig &c : next) {
            if (chance(20))
                c.name = "renamed" + std::to_string(pick(0, 99));
            if (chance(10))
                c.softwareLoad = "load-" + std::to_string(pick(0, 9));
            if (chance(3))
                c.eligible = !c.eligible;
        }
        return next;
    }

    Event next(const Engine &e)
    {
        static const int qualifs[] = {CMM_QUALIFIED_MEMBER, CMM_SYNCHRO_READY,
                                      CMM_DISQUALIFIED_MEMBER, CMM_SYNCHRO_NEEDED};
        switch (pick(0, 19)) {
        case 0:
        case 1:
        case 2:
            return NodeUp{someNode(e)};
        case 3:
            return NodeBack{someNode(e)};
        case 4:
        case 5:
            return NodeDown{someNode(e)};
        case 6:
            return RemoveSelf{someCaller(e)};
        case 7:
        case 8:
            return MastershipRelease{someCaller(e)};
        case 9:
        case 10:
        case 11:
            return SetQualif{someCaller(e), someNode(e), chance(5) ? 9 : qualifs[pick(0, 3)]};
        case 12:
        case 13:
            return SeizeQualif{someNode(e)};
        case 14:
            return ConfigReload{someCaller(e), reloaded()};
        case 15:
            return ClusterStale{};
        case 16:
            return ClusterInvalid{};
        case 17:
            return ClusterValid{};
        default:
            return NodeEligibility{someNode(e), chance(50)};
        }
    }

    /* Processes `event` on `e`, keeping the table in force up to date. */
    Outcome apply(Engine &e, const Event &event)
    {
        Outcome o = e.process(event);
        if (const auto *reload = std::get_if<ConfigReload>(&event); reload && o.rc == CMM_OK)
            table = reload->table;
        return o;
    }

    std::mt19937 rng;
    NodeTable table;
};

/* The state inside a snapshot, to build altered ones. */
json stateOf(const std::string &snapshot)
{
    return json::from_cbor(snapshot)["state"];
}

/* A snapshot of `state` with a correct checksum and the given envelope. */
std::string envelope(const json &state, uint64_t version = 2,
                     const std::string &format = "gs-cmm-engine")
{
    const std::vector<uint8_t> stateBytes = json::to_cbor(state);
    const json top = {
        {"format", format},
        {"version", version},
        {"state", state},
        {"checksum", gs::digestOf(std::string_view(
                         reinterpret_cast<const char *>(stateBytes.data()), stateBytes.size()))}};
    const std::vector<uint8_t> bytes = json::to_cbor(top);
    return std::string(bytes.begin(), bytes.end());
}

/* restore() refuses `bytes` with a message containing `why` and leaves the
 * engine as it was. */
void refusedRestore(Engine &e, const std::string &bytes, const std::string &why)
{
    const std::string before = e.snapshot();
    std::string message;
    try {
        e.restore(bytes);
    } catch (const std::invalid_argument &error) {
        message = error.what();
    }
    INFO("message: " << message);
    CHECK(message.find("CMM engine snapshot: ") == 0);
    CHECK(message.find(why) != std::string::npos);
    CHECK(e.snapshot() == before);
}

/* An engine in the middle of things: three eligible nodes and a client
 * node, roles held, flags set, a stale view. */
Engine busy()
{
    NodeTable table = {row(1), row(2), row(3), row(5)};
    table[3].eligible = false;
    Engine e(table);
    for (const Event &event :
         std::vector<Event>{NodeUp{1}, NodeUp{2}, NodeUp{3}, NodeUp{5}, NodeDown{1}, NodeUp{1},
                            SetQualif{2, 1, CMM_SYNCHRO_NEEDED}, ClusterStale{}})
        REQUIRE(e.process(event).rc == CMM_OK);
    REQUIRE(e.checkInvariants() == "");
    return e;
}

} // namespace

TEST_CASE("property: restore(snapshot(e)) and e agree on every continuation; digests follow "
          "the state")
{
    int restoredSteps = 0;
    int changed = 0;
    int refusedUnchanged = 0;
    for (uint32_t seed = 1; seed <= 400; ++seed) {
        CAPTURE(seed);
        History h(seed);
        Engine e(h.table);
        Engine twin(h.table);
        gs::StateDigest digest = e.digest();
        REQUIRE(digest == twin.digest());

        const int before = h.pick(0, 80);
        for (int step = 0; step < before; ++step) {
            CAPTURE(step);
            const Event event = h.next(e);
            const std::string answersBefore = answers(e);
            const gs::StateDigest digestBefore = digest;
            const Outcome o = h.apply(e, event);
            REQUIRE(o == twin.process(event));
            digest = e.digest();
            /* Equal histories, equal digests. */
            REQUIRE(digest == twin.digest());
            if (o.rc != CMM_OK) {
                /* A refused request changes nothing. */
                REQUIRE(digest == digestBefore);
                ++refusedUnchanged;
            } else if (!o.notifications.empty() || answers(e) != answersBefore) {
                /* One event more that changed something: another digest. */
                REQUIRE(digest != digestBefore);
                ++changed;
            }
        }

        /* The replica starts from a different table and history: restore
         * replaces all of it. */
        History other(seed + 100000);
        Engine r(other.table);
        for (int step = h.pick(0, 10); step > 0; --step)
            other.apply(r, other.next(r));
        const std::string snapshot = e.snapshot();
        /* snapshot() writes its CBOR itself: byte for byte nlohmann's. */
        const std::vector<uint8_t> viaJson = json::to_cbor(json::from_cbor(snapshot));
        REQUIRE(std::string(viaJson.begin(), viaJson.end()) == snapshot);
        r.restore(snapshot);
        REQUIRE(r.snapshot() == snapshot);
        REQUIRE(r.digest() == e.digest());
        REQUIRE(answers(r) == answers(e));

        for (int step = 0; step < 80; ++step) {
            CAPTURE(step);
            const Event event = h.next(e);
            const Outcome expected = h.apply(e, event);
            const Outcome got = r.process(event);
            REQUIRE(text(got) == text(expected));
            REQUIRE(answers(r) == answers(e));
            REQUIRE(r.digest() == e.digest());
            ++restoredSteps;
        }
    }
    CHECK(restoredSteps == 400 * 80);
    /* The histories did change the state, and refused requests, often. */
    CHECK(changed > 2000);
    CHECK(refusedUnchanged > 1000);
}

TEST_CASE("the snapshot holds state no query shows: a node's former role decides seizequalif")
{
    /* Nodes 1, 2, 3 eligible. In `a` node 1 was master before node 2; in
     * `b` it never was. Afterwards every query answers the same. */
    const NodeTable table = {row(1), row(2), row(3)};
    Engine a(table);
    for (const Event &event :
         std::vector<Event>{NodeUp{1}, NodeUp{2}, NodeUp{3}, NodeDown{1}, NodeUp{1}})
        REQUIRE(a.process(event).rc == CMM_OK);
    Engine b(table);
    for (const Event &event :
         std::vector<Event>{NodeUp{2}, NodeUp{3}, NodeUp{1}, NodeDown{1}, NodeUp{1}})
        REQUIRE(b.process(event).rc == CMM_OK);
    REQUIRE(answers(a) == answers(b));
    CHECK(a.digest() != b.digest());

    /* Node 1 synchro-needed, then alone: it is not the last master (2 or 3
     * is), so it can seize the role only if it was never master. */
    const std::vector<Event> rest = {SetQualif{2, 1, CMM_SYNCHRO_NEEDED}, NodeDown{2}, NodeDown{3}};
    Engine restoredA(table);
    restoredA.restore(a.snapshot());
    Engine restoredB(table);
    restoredB.restore(b.snapshot());
    for (const Event &event : rest) {
        REQUIRE(a.process(event).rc == CMM_OK);
        REQUIRE(b.process(event).rc == CMM_OK);
        REQUIRE(restoredA.process(event).rc == CMM_OK);
        REQUIRE(restoredB.process(event).rc == CMM_OK);
    }
    CHECK(a.process(SeizeQualif{1}).rc == CMM_ECANCELED);
    CHECK(restoredA.process(SeizeQualif{1}).rc == CMM_ECANCELED);
    CHECK(b.process(SeizeQualif{1}).rc == CMM_OK);
    CHECK(restoredB.process(SeizeQualif{1}).rc == CMM_OK);
}

TEST_CASE("snapshots are canonical: the same state from another history gives the same bytes")
{
    /* The table's order and a refused request do not show. */
    Engine a({row(3), row(1), row(2)});
    Engine b({row(1), row(2), row(3)});
    for (const Event &event : std::vector<Event>{NodeUp{1}, NodeUp{2}})
        REQUIRE(a.process(event).rc == CMM_OK);
    REQUIRE(b.process(NodeUp{1}).rc == CMM_OK);
    REQUIRE(b.process(MastershipRelease{2}).rc == CMM_EPERM); /* node 2 is out */
    REQUIRE(b.process(NodeUp{2}).rc == CMM_OK);
    CHECK(a.snapshot() == b.snapshot());
    CHECK(a.digest() == b.digest());
    CHECK(a.digest() == gs::digestOf(a.snapshot()));
}

TEST_CASE("restore refuses bytes that are not a snapshot, and changes nothing")
{
    Engine e = busy();
    const std::string good = e.snapshot();
    refusedRestore(e, "", "not CBOR");
    refusedRestore(e, "hello, world", "not CBOR");
    refusedRestore(e, std::string(1, '\xff'), "not CBOR");
    refusedRestore(e, good + "x", "not CBOR");
    {
        const std::vector<uint8_t> bytes = json::to_cbor(json::array({1, 2, 3}));
        refusedRestore(e, std::string(bytes.begin(), bytes.end()), "is not a map");
    }
    {
        const std::vector<uint8_t> bytes = json::to_cbor(json::object());
        refusedRestore(e, std::string(bytes.begin(), bytes.end()), "has no \"format\"");
    }
    /* Nesting deeper than a snapshot has stops the reader at once. */
    refusedRestore(e, std::string(200000, '\x81'), "nested deeper than");
    std::string maps;
    for (int i = 0; i < 100000; ++i)
        maps += "\xa1\x61k"; /* {"k": {"k": ... */
    refusedRestore(e, maps, "nested deeper than");

    std::mt19937 rng(7);
    for (int i = 0; i < 2000; ++i) {
        std::string noise(static_cast<size_t>(rng() % 300), '\0');
        for (char &c : noise)
            c = static_cast<char>(rng());
        CHECK_THROWS_AS(e.restore(noise), std::invalid_argument);
    }
    CHECK(e.snapshot() == good);
}

TEST_CASE("restore refuses every truncation and every single bit flip of a snapshot")
{
    Engine e = busy();
    const std::string good = e.snapshot();
    Engine target;
    const std::string empty = target.snapshot();
    for (size_t n = 0; n < good.size(); ++n) {
        CAPTURE(n);
        CHECK_THROWS_AS(target.restore(good.substr(0, n)), std::invalid_argument);
    }
    int checksum = 0;
    for (size_t byte = 0; byte < good.size(); ++byte) {
        for (int bit = 0; bit < 8; ++bit) {
            CAPTURE(byte);
            CAPTURE(bit);
            std::string flipped = good;
            flipped[byte] = static_cast<char>(flipped[byte] ^ (1 << bit));
            std::string message;
            try {
                target.restore(flipped);
            } catch (const std::invalid_argument &error) {
                message = error.what();
            }
            REQUIRE(!message.empty());
            if (message.find("checksum") != std::string::npos)
                ++checksum;
        }
    }
    /* Most flips parse and are caught by the checksum alone. */
    CHECK(checksum > static_cast<int>(good.size()) * 2);
    CHECK(target.snapshot() == empty);
    target.restore(good);
    CHECK(target.snapshot() == good);
}

TEST_CASE("restore refuses another format or version, with a message that says so")
{
    Engine e = busy();
    const json state = stateOf(e.snapshot());
    CHECK(envelope(state) == e.snapshot());
    Engine target;
    refusedRestore(target, envelope(state, 3), "format version 3; this engine reads version 2");
    refusedRestore(target, envelope(state, 1), "format version 1; this engine reads version 2");
    refusedRestore(target, envelope(state, 0), "format version 0");
    refusedRestore(target, envelope(state, 2, "gs-engine"), "not a CMM engine snapshot");
    json top = json::from_cbor(e.snapshot());
    top["checksum"] = top["checksum"].get<uint64_t>() + 1;
    const std::vector<uint8_t> bytes = json::to_cbor(top);
    refusedRestore(target, std::string(bytes.begin(), bytes.end()), "checksum mismatch");
    top = json::from_cbor(e.snapshot());
    top["extra"] = 1;
    const std::vector<uint8_t> extra = json::to_cbor(top);
    refusedRestore(target, std::string(extra.begin(), extra.end()), "fields this version");
}

TEST_CASE("restore refuses a state that breaks the engine's rules")
{
    Engine e = busy();
    const json good = stateOf(e.snapshot());
    /* busy(): master 2, vice-master 3, nodes 1 and 5 in. */
    const auto node = [](json &state, cmm_nodeid_t id) -> json & {
        for (json &n : state["nodes"])
            if (n["config"]["id"] == id)
                return n;
        throw std::logic_error("no such node");
    };
    Engine target;
    const auto refuses = [&](json state, const std::string &why) {
        refusedRestore(target, envelope(state), why);
    };
    {
        json s = good;
        s["master"] = 9;
        refuses(s, "master 9 is not in the node table");
    }
    {
        json s = good;
        s["viceMaster"] = nullptr;
        refuses(s, "vice-master roles");
    }
    {
        json s = good;
        node(s, 1)["role"] = "master";
        refuses(s, "the state breaks the engine's rules");
    }
    {
        json s = good;
        node(s, 5)["config"]["excluded"] = true;
        refuses(s, "excluded node 5 is in the cluster");
    }
    {
        json s = good;
        node(s, 2)["disqualified"] = true;
        refuses(s, "master 2 is not eligible and qualified");
    }
    {
        json s = good;
        node(s, 2)["formerMaster"] = false;
        refuses(s, "master 2 not marked as master when elected");
    }
    {
        json s = good;
        s["lastMaster"] = 1;
        refuses(s, "is not the last master");
    }
    {
        json s = good;
        s["incarnations"] = json::array({json::array({1, 2}), json::array({2, 1})});
        refuses(s, "node 3 is in the cluster without an incarnation");
    }
    {
        json s = good;
        s["incarnations"] = json::array({json::array({2, 1}), json::array({1, 2})});
        refuses(s, "incarnations are not listed by increasing node id");
    }
    {
        json s = good;
        std::swap(s["nodes"][0], s["nodes"][1]);
        refuses(s, "is not listed by increasing node id");
    }
    {
        json s = good;
        node(s, 3)["config"]["domain"] = kDomain + 1;
        refuses(s, "domain id differs");
    }
    {
        json s = good;
        node(s, 3)["config"]["name"] = std::string(CMM_MAX_NAME_SIZE, 'n');
        refuses(s, "name too long");
    }
    {
        json s = good;
        node(s, 3)["role"] = "leader";
        refuses(s, "unknown role \"leader\"");
    }
    {
        json s = good;
        s["health"] = "fine";
        refuses(s, "unknown health \"fine\"");
    }
    {
        json s = good;
        node(s, 3)["eligible"] = 1;
        refuses(s, "\"eligible\" is not true or false");
    }
    {
        json s = good;
        node(s, 3)["config"]["id"] = -3;
        refuses(s, "\"id\" is not a number");
    }
    {
        json s = good;
        s["lastMaster"] = CMM_INVALID_NODE_ID;
        refuses(s, "\"lastMaster\" is not a node id or null");
    }
    {
        json s = good;
        s.erase("health");
        refuses(s, "state has no \"health\"");
    }
    /* The untouched state restores. */
    target.restore(envelope(good));
    CHECK(target.snapshot() == e.snapshot());
}

TEST_CASE("restore refuses a non-canonical encoding of a valid snapshot")
{
    Engine e = busy();
    const std::string good = e.snapshot();
    /* "version": 2 with the 2 in a two-byte integer: the same JSON value. */
    const std::string key = std::string("\x67") + "version";
    const size_t at = good.find(key + '\x02');
    REQUIRE(at != std::string::npos);
    std::string longer = good;
    longer.replace(at + key.size(), 1, std::string("\x18\x02", 2));
    CHECK(json::from_cbor(longer) == json::from_cbor(good));
    Engine target;
    refusedRestore(target, longer, "not in canonical form");
}

TEST_CASE("a restored engine is a whole engine: copies, further restores, empty tables")
{
    Engine empty;
    Engine e = busy();
    Engine copy = e;
    e.restore(empty.snapshot());
    CHECK(e.snapshot() == empty.snapshot());
    CHECK(e.nodeIds().empty());
    CHECK(e.process(NodeUp{1}).rc == CMM_ESRCH);
    e.restore(copy.snapshot());
    CHECK(answers(e) == answers(copy));
    CHECK(e.process(NodeDown{2}) == copy.process(NodeDown{2}));
    CHECK(e.digest() == copy.digest());
}

/* A GSAPI engine (engine/engine.hpp) with a client in a group: a seed for
 * the GSAPI side of fuzz/fuzz_restore.cpp. */
std::string gsEngineSnapshot()
{
    gs::Engine engine;
    const gs::ClientId client = gs::makeClientId(1, 1);
    engine.process(gs::ClientHello{client, false});
    gs::JoinRequest join;
    join.attributes.sizeofAttributes = static_cast<int>(sizeof(ha_gs_group_attributes_t));
    join.attributes.groupName = "seed";
    join.attributes.numPhases = 1;
    join.attributes.batchControl = HA_GS_BATCH_BOTH;
    join.attributes.defaultVote = HA_GS_VOTE_REJECT;
    join.attributes.timeLimit = 5;
    engine.process(gs::ClientRequest{client, 1, join});
    return engine.snapshot();
}

/* The seed corpus of fuzz/fuzz_restore.cpp: snapshots ("cmm-*") and bare
 * states ("cmm-state-*") of CMM engines in several states, and of a GSAPI
 * engine ("gs-*"). This test checks that the committed CMM seeds are this
 * version's snapshots (the GSAPI ones are starting points only, this test
 * does not follow that format); run it with CMM_RESTORE_SEEDS_WRITE=1 to
 * write them all again after a format change:
 *   CMM_RESTORE_SEEDS=fuzz/corpus/restore CMM_RESTORE_SEEDS_WRITE=1 \
 *     build/tests/cmm/test_cmm_snapshot -tc='fuzz seeds*' */
TEST_CASE("fuzz seeds: fuzz/corpus/restore holds snapshots of this version")
{
    const char *dir = std::getenv("CMM_RESTORE_SEEDS");
    REQUIRE_MESSAGE(dir != nullptr, "CMM_RESTORE_SEEDS names fuzz/corpus/restore (meson sets it)");
    std::vector<std::pair<std::string, std::string>> seeds;
    seeds.emplace_back("cmm-empty", Engine().snapshot());
    seeds.emplace_back("cmm-busy", busy().snapshot());
    {
        /* A reload dropped node 4 (its incarnation stays) and added 6. */
        NodeTable table = {row(1), row(2), row(3), row(4)};
        table[3].eligible = false;
        Engine e(table);
        for (const Event &event : std::vector<Event>{NodeUp{1}, NodeUp{2}, NodeUp{3}, NodeUp{4},
                                                     NodeDown{4}, ClusterInvalid{}})
            REQUIRE(e.process(event).rc == CMM_OK);
        NodeTable next = {row(1), row(2), row(3), row(6)};
        next[0].name = "renamed";
        REQUIRE(e.process(ConfigReload{1, next}).rc == CMM_OK);
        seeds.emplace_back("cmm-reloaded", e.snapshot());
    }
    {
        /* Failovers: the master down, the vice-master synchro-needed. */
        Engine e = busy();
        for (const Event &event :
             std::vector<Event>{NodeDown{2}, SetQualif{3, 1, CMM_SYNCHRO_READY},
                                NodeEligibility{5, true}, SetQualif{3, 1, CMM_SYNCHRO_NEEDED}})
            REQUIRE(e.process(event).rc == CMM_OK);
        seeds.emplace_back("cmm-failover", e.snapshot());
    }
    for (size_t i = 0, n = seeds.size(); i < n; ++i) {
        const std::vector<uint8_t> state = json::to_cbor(stateOf(seeds[i].second));
        seeds.emplace_back("cmm-state-" + seeds[i].first.substr(4),
                           std::string(state.begin(), state.end()));
    }
    const bool write = std::getenv("CMM_RESTORE_SEEDS_WRITE") != nullptr;
    if (write) {
        const std::string gsSnapshot = gsEngineSnapshot();
        const std::vector<uint8_t> gsState = json::to_cbor(stateOf(gsSnapshot));
        std::ofstream(std::string(dir) + "/gs-group", std::ios::binary) << gsSnapshot;
        std::ofstream(std::string(dir) + "/gs-state-group", std::ios::binary)
            << std::string(gsState.begin(), gsState.end());
    }
    for (const auto &[name, bytes] : seeds) {
        CAPTURE(name);
        const std::string path = std::string(dir) + "/" + name;
        if (write) {
            std::ofstream(path, std::ios::binary) << bytes;
            continue;
        }
        std::ifstream in(path, std::ios::binary);
        REQUIRE_MESSAGE(in.good(), "missing seed " << path);
        std::ostringstream stored;
        stored << in.rdbuf();
        CHECK_MESSAGE(stored.str() == bytes, "seed "
                                                 << path
                                                 << " is out of date: write the seeds again (see "
                                                    "the comment of this test)");
    }
}
