/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: arbitrary bytes as an engine snapshot, into
 * cmm::Engine::restore and gs::Engine::restore. A snapshot comes from
 * another node at state transfer; whatever arrives, restore must throw
 * std::invalid_argument and leave the engine as it was, or give an engine
 * whose snapshot is exactly the input (snapshots are canonical), whose
 * invariants hold, and which stays sound under the events that follow.
 *
 * A changed byte almost always breaks the snapshot's checksum, which would
 * keep the fuzzer away from the checks behind it. So the input is also
 * tried as the state alone, in an envelope with the right format, version
 * and checksum; and as a program that builds a well-formed state with
 * arbitrary values (nodes, flags, roles, incarnations, role holders,
 * health), so that the rule checks meet states that are wrong in one way
 * at a time.
 *
 * Seeds (corpus/restore/): snapshots of CMM engines in several states and
 * their bare states, written by tests/cmm/test_cmm_snapshot (the test
 * "fuzz seeds" says how). The GSAPI engine's snapshots are in the same
 * CBOR, so the fuzzer reaches their structure from these.
 */
#include "check.hpp"

#include "engine/cmm_engine.hpp"
#include "engine/engine.hpp"
#include "fuzz/engine_events.hpp"
#include "ha_gs.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

using namespace gs;
using gs::fuzz::ByteReader;
using gs::fuzz::check;
using json = nlohmann::json;

namespace {

/* An engine with a state to lose: two nodes up, roles held. */
cmm::Engine occupied()
{
    cmm::NodeTable table(2);
    table[0].id = 1;
    table[1].id = 2;
    cmm::Engine engine(table);
    engine.process(cmm::NodeUp{1});
    engine.process(cmm::NodeUp{2});
    return engine;
}

/* Every kind of event, for the first configured nodes (the table may have
 * a thousand) and an unknown id. */
std::vector<cmm::Event> probes(const cmm::Engine &engine)
{
    std::vector<cmm::Event> events = {cmm::ClusterStale{}, cmm::ClusterInvalid{},
                                      cmm::ClusterValid{}};
    std::vector<cmm_nodeid_t> ids = engine.nodeIds();
    ids.resize(std::min<size_t>(ids.size(), 4));
    ids.push_back(0xfffe);
    for (cmm_nodeid_t id : ids) {
        events.push_back(cmm::NodeUp{id});
        events.push_back(cmm::NodeDown{id});
        events.push_back(cmm::RemoveSelf{id});
        events.push_back(cmm::MastershipRelease{id});
        events.push_back(cmm::SeizeQualif{id});
        events.push_back(cmm::NodeEligibility{id, false});
        events.push_back(cmm::NodeEligibility{id, true});
        for (int qualif :
             {CMM_QUALIFIED_MEMBER, CMM_SYNCHRO_READY, CMM_DISQUALIFIED_MEMBER, CMM_SYNCHRO_NEEDED})
            for (cmm_nodeid_t target : ids)
                events.push_back(cmm::SetQualif{id, target, qualif});
    }
    return events;
}

void restoreCmm(std::string_view bytes)
{
    cmm::Engine engine = occupied();
    const std::string before = engine.snapshot();
    try {
        engine.restore(bytes);
    } catch (const std::invalid_argument &) {
        check(engine.snapshot() == before, "a refused restore changed the CMM engine");
        return;
    }
    check(engine.snapshot() == bytes, "restore accepted bytes that are not its snapshot");
    const std::string broken = engine.checkInvariants();
    check(broken.empty(), "restored CMM engine breaks an invariant: " + broken);
    cmm::Engine again;
    again.restore(engine.snapshot());
    check(again.digest() == engine.digest(), "a restored snapshot does not restore alike");
    for (const cmm::Event &event : probes(engine)) {
        cmm::Engine next = engine;
        const cmm::Outcome out = next.process(event);
        if (out.rc != CMM_OK)
            check(out.notifications.empty() && next.digest() == engine.digest(),
                  "a refused request changed a restored CMM engine");
        const std::string after = next.checkInvariants();
        check(after.empty(), "an event broke a restored CMM engine: " + after);
    }
}

/* A GSAPI engine with a state to lose: a client with a group. */
void occupy(Engine &engine)
{
    const ClientId client = makeClientId(1, 1);
    engine.process(ClientHello{client, false});
    JoinRequest join;
    join.attributes.sizeofAttributes = static_cast<int>(sizeof(ha_gs_group_attributes_t));
    join.attributes.groupName = "fuzz";
    join.attributes.numPhases = 1;
    join.attributes.batchControl = HA_GS_BATCH_BOTH;
    join.attributes.defaultVote = HA_GS_VOTE_REJECT;
    join.attributes.timeLimit = 5;
    engine.process(ClientRequest{client, 1, join});
}

void restoreGs(std::string_view bytes, ByteReader &events)
{
    Engine engine;
    occupy(engine);
    const std::string before = engine.snapshot();
    try {
        engine.restore(bytes);
    } catch (const std::invalid_argument &) {
        check(engine.snapshot() == before, "a refused restore changed the engine");
        return;
    }
    check(engine.snapshot() == bytes, "engine restore accepted bytes that are not its snapshot");
    std::string broken = engine.checkInvariants();
    check(broken.empty(), "restored engine breaks an invariant: " + broken);
    Engine again;
    again.restore(engine.snapshot());
    check(again.digest() == engine.digest(), "a restored engine snapshot does not restore alike");
    gs::fuzz::EngineEvents next(events, &engine);
    for (int steps = 0; steps < 32 && !events.empty(); ++steps) {
        engine.process(next.next({}));
        broken = engine.checkInvariants();
        check(broken.empty(), "an event broke a restored engine: " + broken);
    }
}

void append(std::string &out, const json &scalar)
{
    const std::vector<uint8_t> bytes = json::to_cbor(scalar);
    out.append(bytes.begin(), bytes.end());
}

/* The GSAPI engine's document around `state`: {"check", "format": 2,
 * "state"}. */
std::string engineDocument(std::string_view state)
{
    std::string out(1, '\xa3'); /* a map of three pairs */
    append(out, "check");
    append(out, digestOf(state));
    append(out, "format");
    append(out, 2);
    append(out, "state");
    out.append(state);
    return out;
}

/* The snapshot whose state is `state`, whatever those bytes are: the
 * envelope's map with its keys in canonical order. */
std::string enveloped(std::string_view state)
{
    std::string out(1, '\xa4'); /* a map of four pairs */
    append(out, "checksum");
    append(out, digestOf(state));
    append(out, "format");
    append(out, "gs-cmm-engine");
    append(out, "state");
    out.append(state);
    append(out, "version");
    append(out, 1);
    return out;
}

/* A state built by the bytes in `in`: well-formed CBOR with the fields of a
 * snapshot, values from the input, some out of range. */
std::string programmedState(ByteReader &in)
{
    static const char *const roles[] = {"out", "in", "vice-master", "master", "chief"};
    static const char *const healths[] = {"valid", "stale", "invalid", "poor"};
    /* 0: null, 1..8: an id that may be configured, 9: one that is not. */
    const auto someNode = [&]() -> json {
        const unsigned id = in.below(10);
        return id == 0 ? json(nullptr) : json(id == 9 ? 1000 : id);
    };
    json nodes = json::array();
    for (unsigned n = in.below(7); n > 0; --n) {
        const unsigned id = 1 + in.below(8);
        const uint8_t config = in.byte();
        const uint8_t run = in.byte();
        nodes.push_back({{"config",
                          {{"id", id},
                           {"name", (config & 32) ? std::string(CMM_MAX_NAME_SIZE, 'x') : "n"},
                           {"address", "a"},
                           {"domain", (config & 64) ? 2 : 1},
                           {"softwareLoad", ""},
                           {"eligible", (config & 1) != 0},
                           {"frozen", (config & 2) != 0},
                           {"excluded", (config & 4) != 0},
                           {"disqualified", (config & 8) != 0},
                           {"synchroNeeded", (config & 16) != 0}}},
                         {"role", roles[in.below(5)]},
                         {"eligible", (run & 1) != 0},
                         {"disqualified", (run & 2) != 0},
                         {"synchroNeeded", (run & 4) != 0},
                         {"formerMaster", (run & 8) != 0}});
    }
    json incarnations = json::array();
    for (unsigned n = in.below(7); n > 0; --n)
        incarnations.push_back(json::array({1 + in.below(9), in.below(3)}));
    const json state = {{"nodes", std::move(nodes)}, {"incarnations", std::move(incarnations)},
                        {"master", someNode()},      {"viceMaster", someNode()},
                        {"lastMaster", someNode()},  {"health", healths[in.below(4)]}};
    const std::vector<uint8_t> bytes = json::to_cbor(state);
    return std::string(bytes.begin(), bytes.end());
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const std::string_view bytes(reinterpret_cast<const char *>(data), size);
    restoreCmm(bytes);
    restoreCmm(enveloped(bytes));
    ByteReader program(data, size);
    restoreCmm(enveloped(programmedState(program)));
    ByteReader events(data, size);
    restoreGs(bytes, events);
    ByteReader moreEvents(data, size);
    restoreGs(engineDocument(bytes), moreEvents);
    return 0;
}
