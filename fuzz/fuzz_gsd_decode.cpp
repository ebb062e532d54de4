/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: a frame a client sends to gsd (docs/wire-protocol.md,
 * "Client -> gsd"), taken as gsd takes it.
 *
 *  1. wire::decodeClientMessage either throws DecodeError or returns a
 *     message; nothing else may escape (gsd turns DecodeError into a Bye).
 *  2. A decoded message survives a round trip: encode, decode, encode gives
 *     the same bytes.
 *  3. What gsd does next: a GSAPI request goes to a protocol engine that
 *     already has groups, members, a running n-phase join and a subscriber
 *     (so the fuzzer's small token numbers name real tokens), and must get
 *     exactly one reply with every engine invariant intact; a Quit is the
 *     client's death; a CMM request is answered from, or fed to, a CMM
 *     engine of three nodes as gsd/cmm_service.cpp does. A Hello, Pong or
 *     Ack (flow control) changes no engine: step 2 is all they get.
 */
#include "check.hpp"

#include "cmm.h"
#include "common/overloaded.hpp"
#include "common/wire.hpp"
#include "engine/cmm_engine.hpp"
#include "engine/engine.hpp"
#include "ha_gs.h"

#include <string_view>
#include <variant>

using namespace gs;
using gs::fuzz::check;

namespace {

constexpr ClientId kClient = 1; /* the fuzzer's client */
constexpr ClientId kOther = 2;  /* holds tokens the fuzzer's client must not use */

JoinRequest joinOf(const char *group, int phases, int instance)
{
    JoinRequest join;
    join.attributes.sizeofAttributes = static_cast<int>(sizeof(ha_gs_group_attributes_t));
    join.attributes.groupName = group;
    join.attributes.numPhases = phases;
    join.instance = instance;
    return join;
}

/* Tokens 1..5: alpha member (client 1), alpha member (client 2), beta
 * joiner of a running n-phase join (client 1), subscriber of alpha
 * (client 1), subscriber of alpha (client 2). */
void populate(Engine &engine)
{
    engine.process(ClientHello{kClient});
    engine.process(ClientHello{kOther});
    engine.process(ClientRequest{kClient, 1, joinOf("alpha", HA_GS_1_PHASE, 1)});
    engine.process(ClientRequest{kOther, 2, joinOf("alpha", HA_GS_1_PHASE, 2)});
    engine.process(ClientRequest{kClient, 3, joinOf("beta", HA_GS_N_PHASE, 1)});
    engine.process(
        ClientRequest{kClient, 4, SubscribeRequest{HA_GS_SUBSCRIBE_ALL_MEMBERSHIP, "alpha"}});
    engine.process(ClientRequest{kOther, 5, SubscribeRequest{HA_GS_SUBSCRIBE_STATE, "alpha"}});
}

void checkEngine(const Engine &engine)
{
    const std::string broken = engine.checkInvariants();
    check(broken.empty(), "engine invariant: " + broken);
}

void request(Request r, RequestId id)
{
    Engine engine;
    populate(engine);
    checkEngine(engine);
    const auto actions = engine.process(ClientRequest{kClient, id, std::move(r)});
    int replies = 0;
    for (const Action &action : actions)
        if (const auto *reply = std::get_if<Reply>(&action)) {
            ++replies;
            check(reply->client == kClient && reply->requestId == id, "reply to the wrong request");
        }
    check(replies == 1, "a request must get exactly one reply");
    checkEngine(engine);
}

void quit()
{
    Engine engine;
    populate(engine);
    engine.process(ClientGone{kClient});
    checkEngine(engine);
}

/* gsd/cmm_service.cpp's answerCmm, as node 1 of a three-node cluster. */
void cmmRequest(const wire::CmmReq &req)
{
    cmm::NodeTable table;
    for (cmm_nodeid_t id : {1u, 2u, 3u}) {
        cmm::NodeConfig node;
        node.id = id;
        node.name = "node" + std::to_string(id);
        node.address = "10.0.0." + std::to_string(id);
        table.push_back(node);
    }
    cmm::Engine engine(table);
    for (cmm_nodeid_t id : {1u, 2u, 3u})
        engine.process(cmm::NodeUp{id});
    const cmm_nodeid_t self = 1;
    cmm::Member member;
    uint32_t count = 0;
    switch (req.op) {
    case wire::kCmmMemberGetInfo:
        engine.memberInfo(req.node, member);
        break;
    case wire::kCmmPotentialGetInfo:
        engine.potentialInfo(req.node, member);
        break;
    case wire::kCmmMasterGetInfo:
        engine.masterInfo(member);
        break;
    case wire::kCmmViceMasterGetInfo:
        engine.viceMasterInfo(member);
        break;
    case wire::kCmmGetCount:
    case wire::kCmmGetAll:
        engine.memberCount(count);
        check(engine.members().size() == count, "member count");
        break;
    case wire::kCmmMastershipRelease:
        engine.process(cmm::MastershipRelease{self});
        break;
    case wire::kCmmMembershipRemove:
        engine.process(cmm::RemoveSelf{self});
        break;
    case wire::kCmmSetQualif:
        engine.process(cmm::SetQualif{self, req.node, req.qualif});
        break;
    case wire::kCmmSeizeQualif:
        engine.process(cmm::SeizeQualif{self});
        break;
    case wire::kCmmNodeEligible:
    case wire::kCmmNodeIneligible:
        engine.process(cmm::NodeEligibility{self, req.op == wire::kCmmNodeEligible});
        break;
    default:
        break;
    }
    const std::string broken = engine.checkInvariants();
    check(broken.empty(), "CMM engine invariant: " + broken);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const std::string_view frame(reinterpret_cast<const char *>(data), size);
    wire::ClientMessage message;
    try {
        message = wire::decodeClientMessage(frame);
    } catch (const wire::DecodeError &) {
        return 0;
    }

    const std::string once = wire::encode(message);
    check(once.size() <= frame.size() + 64, "re-encoding blew the frame up");
    wire::ClientMessage again;
    try {
        again = wire::decodeClientMessage(once);
    } catch (const wire::DecodeError &error) {
        fuzz::fail(std::string("re-encoded message does not decode: ") + error.what());
    }
    check(wire::encode(again) == once, "round trip changed the message");

    std::visit(Overloaded{
                   [](wire::Req &req) { request(std::move(req.request), req.id); },
                   [](const wire::CmmReq &req) { cmmRequest(req); },
                   [](const wire::Quit &) { quit(); },
                   [](const wire::Hello &) {},
                   [](const wire::Pong &) {},
                   [](const wire::Ack &) {},
                   [](const wire::AdminReq &) {},
               },
               message);
    return 0;
}
