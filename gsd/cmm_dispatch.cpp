/* SPDX-License-Identifier: MIT */
/* CMM requests (cmm.h over a CMM session) in, replies and the CMM engine's
 * notifications out. Modifying requests act as the local node. */
#include "gsd/broker_impl.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <unistd.h>

namespace gs {
namespace {

wire::CmmMember toWire(const cmm::Member &member)
{
    return {member.nodeid,        member.name,  member.addr,
            member.domainid,      member.sflag, member.incarnationNumber,
            member.softwareLoadId};
}

} // namespace

cmm::NodeTable Broker::Impl::loadCmmNodes() const
{
    try {
        return broker::loadCmmTable({config.cmmNodesFile, config.nodeNumber, config.cmmIneligible});
    } catch (const broker::CmmTableError &error) {
        throw BrokerError(BrokerError::Kind::Config, error.what());
    }
}

cmm_error_t Broker::Impl::feedCmm(const cmm::Event &event)
{
    const cmm::Outcome outcome = cmmEngine.process(event);
    for (const cmm::Notification &note : outcome.notifications) {
        const std::string frame = wire::encode(
            wire::ServerMessage{wire::CmmNote{static_cast<int>(note.change), note.node}});
        /* deliver() may end a session, which edits the list: walk a copy. */
        const std::vector<ClientId> recipients = cmmRegistered;
        for (ClientId recipient : recipients)
            deliver(recipient, {frame});
    }
    return outcome.rc;
}

wire::CmmReply Broker::Impl::answerCmm(ClientId client, const wire::CmmReq &request)
{
    wire::CmmReply reply{request.id, CMM_OK, 0, 0, {}};
    const auto self = static_cast<cmm_nodeid_t>(config.nodeNumber);
    const auto fail = [&](cmm_error_t rc) {
        reply.rc = rc;
        return reply;
    };
    if (request.op == wire::kCmmNodeGetId) {
        reply.node = self;
        return reply;
    }
    if (request.op == wire::kCmmRegister || request.op == wire::kCmmUnregister) {
        broker::Session *session = sessions.find(client);
        if (!session)
            return fail(CMM_ENOTSUP);
        if (request.op == wire::kCmmRegister) {
            if (session->cmmRegistered)
                return fail(CMM_EEXIST);
            if (cmmRegistered.size() >= config.cmmMaxRegistrations)
                return fail(CMM_ENOENT);
            session->cmmRegistered = true;
            cmmRegistered.push_back(client);
        } else {
            if (!session->cmmRegistered)
                return fail(CMM_ENOENT);
            session->cmmRegistered = false;
            std::erase(cmmRegistered, client);
        }
        return reply;
    }
    if (!cmmEngine.configured(self))
        return fail(CMM_ENOCLUSTER);
    cmm::Member member;
    const auto one = [&](cmm_error_t rc) {
        reply.rc = rc;
        if (rc == CMM_OK || rc == CMM_EAGAIN)
            reply.members.push_back(toWire(member));
        return reply;
    };
    switch (request.op) {
    case wire::kCmmMemberGetInfo:
        return one(cmmEngine.memberInfo(request.node, member));
    case wire::kCmmPotentialGetInfo:
        return one(cmmEngine.potentialInfo(request.node, member));
    case wire::kCmmMasterGetInfo:
        return one(cmmEngine.masterInfo(member));
    case wire::kCmmViceMasterGetInfo:
        return one(cmmEngine.viceMasterInfo(member));
    case wire::kCmmGetCount:
        reply.rc = cmmEngine.memberCount(reply.count);
        return reply;
    case wire::kCmmGetAll:
        reply.rc = cmmEngine.memberCount(reply.count);
        for (const cmm::Member &each : cmmEngine.members())
            reply.members.push_back(toWire(each));
        return reply;
    case wire::kCmmMastershipRelease:
        return fail(feedCmm(cmm::MastershipRelease{self}));
    case wire::kCmmMembershipRemove:
        return fail(feedCmm(cmm::RemoveSelf{self}));
    case wire::kCmmSetQualif:
        return fail(feedCmm(cmm::SetQualif{self, request.node, request.qualif}));
    case wire::kCmmSeizeQualif:
        return fail(feedCmm(cmm::SeizeQualif{self}));
    case wire::kCmmNodeEligible:
    case wire::kCmmNodeIneligible:
        return fail(feedCmm(cmm::NodeEligibility{self, request.op == wire::kCmmNodeEligible}));
    case wire::kCmmConfigReload: {
        cmm::NodeTable table;
        try {
            table = loadCmmNodes();
        } catch (const BrokerError &error) {
            spdlog::warn("cmm_config_reload: {}", error.what());
            return fail(CMM_EINVAL);
        }
        return fail(feedCmm(cmm::ConfigReload{self, std::move(table)}));
    }
    default:
        return fail(CMM_ENOTSUP);
    }
}

void Broker::Impl::onReloadSignal()
{
    uint64_t count = 0;
    [[maybe_unused]] const ssize_t n = read(reloadFd.get(), &count, sizeof count);
    cmm::NodeTable table;
    try {
        table = loadCmmNodes();
    } catch (const BrokerError &error) {
        spdlog::warn("CMM reload: {}; the node table is unchanged", error.what());
        return;
    }
    const cmm_error_t rc =
        feedCmm(cmm::ConfigReload{static_cast<cmm_nodeid_t>(config.nodeNumber), std::move(table)});
    if (rc == CMM_OK)
        spdlog::info("CMM node table reloaded");
    else
        spdlog::warn("CMM reload refused: {} (reload on the master, with a compatible table)",
                     static_cast<int>(rc));
}

void Broker::Impl::onCmmRequest(ClientId client, const wire::CmmReq &request)
{
    const wire::CmmReply reply = answerCmm(client, request);
    deliver(client, {wire::encode(wire::ServerMessage{reply})});
}

} // namespace gs
