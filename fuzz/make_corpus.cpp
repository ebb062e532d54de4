/* SPDX-License-Identifier: MIT */
/*
 * Writes the seed corpora of the fuzz targets into DIR/<target>/:
 *   gsd_decode     every client -> gsd message kind, encoded by common/wire
 *   client_decode  every gsd -> client message and notification body
 *   engine         short event programs in fuzz_engine.cpp's format
 *   cmm_engine     node tables and event programs in fuzz_cmm_engine.cpp's
 *   cluster_message every inter-node message kind and input variant,
 *                  encoded by gsd/cluster_message
 *   domain_state   a donor's state (gsd/broker_state) around real engine
 *                  snapshots, and its bare bodies
 * Usage: make_corpus DIR   (ninja -C build-fuzz fuzz-corpus)
 * The output is deterministic. Inputs that crashed a target go next to
 * these seeds as "found-<what>"; this program never writes such names.
 */
#include "common/wire.hpp"
#include "engine/cmm_engine.hpp"
#include "engine/engine.hpp"
#include "gsd/broker_state.hpp"
#include "gsd/cluster_message.hpp"
#include "ha_gs.h"

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <string>
#include <vector>

using namespace gs;
using namespace gs::wire;
namespace fs = std::filesystem;

namespace {

fs::path root;

void write(const std::string &target, const std::string &name, const std::string &bytes)
{
    const fs::path dir = root / target;
    fs::create_directories(dir);
    std::ofstream(dir / name, std::ios::binary) << bytes;
}

GroupAttributes attributes(const std::string &group, int phases)
{
    GroupAttributes a;
    a.sizeofAttributes = static_cast<int>(sizeof(ha_gs_group_attributes_t));
    a.groupName = group;
    a.numPhases = phases;
    a.batchControl = HA_GS_BATCH_BOTH;
    a.defaultVote = HA_GS_VOTE_REJECT;
    a.timeLimit = 5;
    return a;
}

void clientMessages()
{
    const std::string t = "gsd_decode";
    write(t, "hello", encode(ClientMessage{Hello{}}));
    write(t, "hello-ping",
          encode(ClientMessage{Hello{kProtocolVersion, "local", 1, 3, 2, kSessionGsapi}}));
    write(t, "hello-cmm",
          encode(ClientMessage{Hello{kProtocolVersion, std::nullopt, 0, 0, 0, kSessionCmm}}));
    write(t, "pong", encode(ClientMessage{Pong{3}}));
    write(t, "ack", encode(ClientMessage{Ack{0x0123456789abcdefull}}));
    write(t, "quit", encode(ClientMessage{Quit{}}));

    const auto req = [&](const std::string &name, Request r) {
        write(t, "req-" + name, encode(ClientMessage{Req{42, std::move(r)}}));
    };
    req("join", JoinRequest{attributes("alpha", HA_GS_1_PHASE), 3, "me"});
    auto target = attributes("gamma", HA_GS_N_PHASE);
    target.sourceGroupName = "alpha";
    target.sourceReflectionNumPhases = HA_GS_N_PHASE;
    req("join-target", JoinRequest{target, 0, ""});
    req("leave", LeaveRequest{1, HA_GS_N_PHASE, 5, 7});
    req("goodbye", GoodbyeRequest{1});
    req("expel", ExpelRequest{1, HA_GS_N_PHASE, 0, {{2, 1}}, 1, "flag"});
    req("state", StateChangeRequest{1, HA_GS_1_PHASE, 0, "new state"});
    req("msg", MessageRequest{1, HA_GS_N_PHASE, 2, std::string("m\0sg", 4)});
    req("attr", AttributeChangeRequest{1, HA_GS_N_PHASE, 0, attributes("alpha", HA_GS_N_PHASE)});
    req("vote", VoteRequest{3, HA_GS_VOTE_APPROVE, std::nullopt, std::nullopt, HA_GS_NULL_VOTE});
    req("vote-riders", VoteRequest{3, HA_GS_VOTE_CONTINUE, "s", "m", HA_GS_VOTE_REJECT});
    req("sub", SubscribeRequest{HA_GS_SUBSCRIBE_ALL_MEMBERSHIP | HA_GS_SUBSCRIBE_STATE, "alpha"});
    req("unsub", UnsubscribeRequest{4});

    for (int op = kCmmNodeGetId; op <= kCmmUnregister; ++op)
        write(t, "cmm-" + std::to_string(op),
              encode(ClientMessage{CmmReq{7, op, op == kCmmSetQualif ? 2u : 1u, 1}}));
}

Proposal proposal()
{
    Proposal p;
    p.phaseNumber = 2;
    p.numPhases = HA_GS_N_PHASE;
    p.oldState = "old";
    p.proposedState = "new";
    p.message = "hi";
    p.currentProviders = {{1, 1}, {2, 1}};
    p.changingProviders = {{2, 1}};
    p.leaveInfo = {{5, HA_GS_PROVIDER_LEFT}};
    p.expelInfo = ExpelInfo{1, "off"};
    p.proposedAttributes = attributes("alpha", HA_GS_N_PHASE);
    p.sourceState = "src";
    return p;
}

void serverMessages()
{
    const std::string t = "client_decode";
    write(t, "welcome", encode(ServerMessage{Welcome{HA_GS_OK, 1, "local", 9}}));
    write(t, "reply", encode(ServerMessage{ReplyMsg{42, HA_GS_OK, 3}}));
    write(t, "note", encode(ServerMessage{NoteHeader{3, true}}));
    write(t, "ping", encode(ServerMessage{Ping{1}}));
    write(t, "bye", encode(ServerMessage{Bye{"gsd shutting down"}}));
    write(t, "cmmreply",
          encode(ServerMessage{CmmReply{7, 0, 1, 1, {{1, "n1", "10.0.0.1", 1, 3, 2, "sw"}}}}));
    write(t, "cmmnote", encode(ServerMessage{CmmNote{1, 2}}));
    write(t, "mark", encode(ServerMessage{Mark{0xfedcba9876543210ull}}));

    const Proposal p = proposal();
    Proposal join;
    join.changingProviders = {{1, 1}};
    write(t, "body-nphase", encodeNoteBody(NPhaseNote{HA_GS_EXPEL, 0, 5, p}));
    write(t, "body-approved",
          encodeNoteBody(ApprovedNote{HA_GS_JOIN, HA_GS_EXPLICIT_APPROVE, join}));
    write(t, "body-rejected",
          encodeNoteBody(RejectedNote{HA_GS_STATE_VALUE_CHANGE, HA_GS_EXPLICIT_REJECT, p}));
    write(t, "body-announce",
          encodeNoteBody(AnnouncementNote{HA_GS_TIME_LIMIT_EXCEEDED, {{1, 1}, {3, 1}}}));
    write(t, "body-subscription",
          encodeNoteBody(SubscriptionNote{HA_GS_SUBSCRIPTION_STATE | HA_GS_SUBSCRIPTION_DELTA_JOIN |
                                              HA_GS_SUBSCRIPTION_MEMBERSHIP,
                                          "state", std::vector<ProviderId>{{1, 1}, {2, 1}},
                                          std::vector<ProviderId>{{2, 1}}}));
    write(t, "body-dissolved",
          encodeNoteBody(SubscriptionNote{HA_GS_SUBSCRIPTION_DISSOLVED, {}, {}, {}}));
    write(t, "body-delayed",
          encodeNoteBody(DelayedErrorNote{HA_GS_SUBSCRIPTION, HA_GS_UNKNOWN_GROUP}));
    /* Packed frames (Hello.packs): a reply and the notifications it caused. */
    write(t, "packed-reply-notes",
          encode(ServerMessage{ReplyMsg{42, HA_GS_OK, 3}}) +
              encode(ServerMessage{NoteHeader{3, false}}) +
              encodeNoteBody(ApprovedNote{HA_GS_JOIN, HA_GS_EXPLICIT_APPROVE, join}) +
              encode(ServerMessage{NoteHeader{4, false}}) +
              encodeNoteBody(SubscriptionNote{HA_GS_SUBSCRIPTION_DELTA_JOIN,
                                              {},
                                              std::vector<ProviderId>{{1, 1}},
                                              std::vector<ProviderId>{{1, 1}}}));
    /* A batch ends with a flow-control mark when one is due. */
    write(t, "packed-reply-mark",
          encode(ServerMessage{ReplyMsg{44, HA_GS_OK, 0}}) +
              encode(ServerMessage{Mark{0xfedcba9876543210ull}}));
    write(t, "packed-header-last",
          encode(ServerMessage{ReplyMsg{43, HA_GS_OK, 0}}) +
              encode(ServerMessage{NoteHeader{3, true}}));
}

/* ---- fuzz_engine.cpp's input format ---------------------------------- */

class Program {
  public:
    std::string bytes;
    Program &raw(std::initializer_list<int> values)
    {
        for (int v : values)
            bytes.push_back(static_cast<char>(v));
        return *this;
    }
    Program &data(const std::string &s)
    {
        bytes.push_back(static_cast<char>(s.size()));
        bytes += s;
        return *this;
    }
    /* Opcodes: 0 hello, 1 gone, 2 unresponsive, 3 timer, 4 request.
     * Clients 1..4 are written as 0..3. */
    Program &hello(int c) { return raw({0, c - 1}); }
    Program &gone(int c) { return raw({1, c - 1}); }
    Program &unresponsive(int c) { return raw({2, c - 1}); }
    Program &timer() { return raw({3, 1, 0}); } /* the oldest running timer */
    /* Group indexes: 0 "a", 1 "b", 2 "c". bits: 1 n-phase, 2..4 batch
     * control, 8..16 default vote, 32..64 time limit, 128 source group
     * (then source group, reflection phases and time limit follow). */
    Program &join(int c, int group, int bits, int instance, int source = 0)
    {
        raw({4, c - 1, 0, group, bits});
        if (bits & 0x80)
            raw({source, 1, 0});
        return raw({1, instance, 1});
    }
    /* Phases: 0 one-phase, 1 n-phase. Time limits: 0 ceiling, 1 one second. */
    Program &leave(int c, int token, int phases) { return raw({4, c - 1, 1, token, phases, 1, 9}); }
    Program &goodbye(int c, int token) { return raw({4, c - 1, 2, token}); }
    Program &expel(int c, int token, int phases, int instance)
    {
        raw({4, c - 1, 3, token, phases, 1, 1, instance, 1, 1});
        return data("f");
    }
    Program &state(int c, int token, int phases, const std::string &value)
    {
        raw({4, c - 1, 4, token, phases, 1});
        return data(value);
    }
    Program &message(int c, int token, int phases, const std::string &value)
    {
        raw({4, c - 1, 5, token, phases, 1});
        return data(value);
    }
    Program &attrs(int c, int token, int group, int bits)
    {
        return raw({4, c - 1, 6, token, 1, 1, group, bits, 1});
    }
    /* Votes: 0 approve, 1 continue, 2 reject; defaults: 3 none. */
    Program &vote(int c, int token, int value, int def = 3, const char *stateRider = nullptr)
    {
        raw({4, c - 1, 7, token, value, def});
        if (stateRider) {
            raw({1});
            data(stateRider);
        } else {
            raw({0});
        }
        return raw({0});
    }
    /* control: 1 state, 2 delta join, 4 delta leave, 8 membership. */
    Program &subscribe(int c, int group, int control) { return raw({4, c - 1, 8, control, group}); }
    Program &unsubscribe(int c, int token) { return raw({4, c - 1, 9, token}); }
};

void enginePrograms()
{
    const std::string t = "engine";
    const auto put = [&](const std::string &name, const Program &p) { write(t, name, p.bytes); };
    put("one-phase", Program()
                         .hello(1)
                         .hello(2)
                         .join(1, 0, 0, 1)
                         .join(2, 0, 0, 2)
                         .state(1, 1, 0, "s1")
                         .message(2, 2, 0, "m")
                         .leave(2, 2, 0));
    put("n-phase-votes", Program()
                             .hello(1)
                             .hello(2)
                             .join(1, 1, 1, 1)
                             .vote(1, 1, 0)
                             .join(2, 1, 1, 2)
                             .vote(1, 1, 1)
                             .vote(2, 2, 0, 2, "rider")
                             .vote(1, 1, 0)
                             .vote(2, 2, 0)
                             .state(1, 1, 1, "x")
                             .vote(1, 1, 2)
                             .vote(2, 2, 0));
    put("timeouts", Program()
                        .hello(1)
                        .hello(2)
                        .join(1, 1, 1 | 32, 1)
                        .timer()
                        .join(2, 1, 1 | 32, 2)
                        .vote(1, 1, 0)
                        .timer()
                        .timer());
    put("subscribers", Program()
                           .hello(1)
                           .hello(2)
                           .hello(3)
                           .subscribe(3, 0, 15)
                           .join(1, 0, 0, 1)
                           .subscribe(3, 0, 15)
                           .join(2, 0, 0, 2)
                           .state(1, 2, 0, "st")
                           .gone(2)
                           .unsubscribe(3, 3)
                           .gone(1));
    put("source-target", Program()
                             .hello(1)
                             .hello(2)
                             .join(1, 0, 0, 1)
                             .join(2, 2, 1 | 0x80, 1, 0)
                             .vote(2, 2, 0)
                             .state(1, 1, 0, "src")
                             .vote(2, 2, 0)
                             .gone(1)
                             .timer());
    put("batching", Program()
                        .hello(1)
                        .hello(2)
                        .hello(3)
                        .join(1, 1, 1 | 6, 1)
                        .join(2, 1, 1 | 6, 2)
                        .join(3, 1, 1 | 6, 3)
                        .vote(1, 1, 0)
                        .vote(1, 1, 0)
                        .vote(2, 2, 0)
                        .vote(3, 3, 0)
                        .gone(2)
                        .gone(3)
                        .goodbye(1, 1));
    put("expel", Program()
                     .hello(1)
                     .hello(2)
                     .join(1, 0, 0, 1)
                     .join(2, 0, 0, 2)
                     .expel(1, 1, 0, 2)
                     .expel(1, 1, 1, 1));
    put("attributes", Program().hello(1).join(1, 0, 0, 1).attrs(1, 1, 0, 1).attrs(1, 1, 0, 8 | 6));
    put("unresponsive", Program()
                            .hello(1)
                            .hello(2)
                            .join(1, 0, 0, 1)
                            .join(2, 0, 0, 2)
                            .unresponsive(2)
                            .gone(2)
                            .hello(2));
}

/* fuzz_cmm_engine.cpp's format: node count - 1, then (id - 1, flags) per
 * node; then events, each followed by the two bytes of the queries. */
void cmmPrograms()
{
    const std::string t = "cmm_engine";
    const auto bytes = [](std::initializer_list<int> values) {
        std::string out;
        for (int v : values)
            out.push_back(static_cast<char>(v));
        return out;
    };
    /* Opcodes: 0 up, 1 down, 2 remove self, 3 release, 4 setqualif, 5 seize,
     * 6 reload, 7 stale, 8 invalid, 9 valid. */
    write(t, "three-nodes", bytes({2, 0, 0, 1, 0, 2, 0,                /* nodes 1, 2, 3 */
                                   0, 1, 1, 3, 0, 2, 2, 3, 0, 3, 3, 3, /* all up */
                                   3, 1, 1, 3,                         /* master releases */
                                   4, 2, 1, 1, 1, 3,                   /* node 2 disqualifies 1 */
                                   1, 2, 2, 3,                         /* node 2 down */
                                   7, 0, 3, 9, 0, 3,                   /* stale, valid */
                                   6, 1, 1, 0, 2, 0, 3, 3,             /* reload: nodes 1, 3 */
                                   2, 3, 0, 3}));
    write(t, "flags", bytes({3, 0, 1, 1, 4, 2, 8, 3, 16, /* ineligible, excluded, ... */
                             0, 1, 1, 3, 0, 2, 2, 3, 0,  3, 3, 3, 0, 4,
                             4, 3, 5, 4, 1, 3, 8, 0, 3,  5, 1, 1, 3}));
    write(t, "bad-table", bytes({1, 0, 32, 1, 0}));
}

} // namespace

void clusterMessages()
{
    namespace cl = gs::cluster;
    const std::string t = "cluster_message";
    JoinRequest join;
    join.attributes = attributes("cluster.group", 2);
    join.instance = 3;
    join.localName = "provider";
    VoteRequest vote;
    vote.token = 2;
    vote.vote = HA_GS_VOTE_APPROVE;
    vote.proposedState = "state";
    cmm::NodeConfig row;
    row.id = 2;
    row.name = "n2";
    row.address = "10.0.0.2";
    row.softwareLoad = "load";
    write(t, "inputs-events",
          cl::encode(cl::Inputs{{Event{ClientHello{(1ull << 48) | 1, true}},
                                 Event{ClientRequest{(1ull << 48) | 1, 7, join}},
                                 Event{ClientRequest{(1ull << 48) | 1, 8, vote}},
                                 Event{ClientGone{4}}, Event{ClientUnresponsive{5}},
                                 Event{TimerFired{6}}, Event{DeactivateFinished{7, 1}},
                                 Event{NodeGone{3}}, Event{NodeJoined{3}}}}));
    write(t, "inputs-cmm",
          cl::encode(cl::Inputs{{CmmRequest{1, 2, cmm::SetQualif{1, 2, CMM_DISQUALIFIED_MEMBER}},
                                 CmmRequest{3, 4, cmm::ConfigReload{1, {row}}},
                                 CmmRequest{5, 6, cmm::NodeEligibility{1, false}},
                                 CmmNodeInput{cmm::NodeUp{2}}, CmmNodeInput{cmm::NodeDown{2}},
                                 CmmNodeInput{cmm::ClusterStale{}}}}));
    write(t, "state", cl::encode(cl::State{1, 4242, 3, 1, true, true, cl::kFormatVersion}));
    write(t, "snap-begin", cl::encode(cl::SnapBegin{0x1234}));
    write(t, "snap-chunk", cl::encode(cl::SnapChunk{0x1234, 0, "snapshot bytes"}));
    write(t, "snap-end", cl::encode(cl::SnapEnd{0x1234, 1, 14, 0xabcdef}));
    write(t, "digest-probe", cl::encode(cl::DigestProbe{9}));
    write(t, "digest-report", cl::encode(cl::DigestReport{9, 0xfeed}));
}

void domainStates()
{
    const std::string t = "domain_state";
    cmm::NodeTable table;
    for (cmm_nodeid_t id : {1, 2, 3}) {
        cmm::NodeConfig row;
        row.id = id;
        row.name = "n" + std::to_string(id);
        row.address = "10.0.0." + std::to_string(id);
        row.domain = 1;
        row.eligible = true;
        table.push_back(row);
    }
    broker::DomainState empty;
    empty.engine = Engine().snapshot();
    empty.cmm = cmm::Engine(table).snapshot();
    empty.timeLimitCeiling = 600;
    write(t, "empty", broker::encodeDomainState(empty));
    broker::DomainState busy = empty;
    busy.nextSerial = {{1, 7}, {2, 1}, {3, 42}};
    busy.timerDueMs = {{1, 0}, {5, 1500}};
    const std::string blob = broker::encodeDomainState(busy);
    write(t, "serials-timers", blob);
    /* The body alone: the target also wraps its input in a valid envelope. */
    write(t, "body-serials-timers", blob.substr(12, blob.size() - 12 - 8));
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        std::fprintf(stderr, "usage: %s CORPUS-DIR\n", argv[0]);
        return 2;
    }
    root = argv[1];
    clientMessages();
    serverMessages();
    enginePrograms();
    cmmPrograms();
    clusterMessages();
    domainStates();
    return 0;
}
