/* SPDX-License-Identifier: MIT */
/* CMM requests (cmm.h over a CMM session) in, replies and the CMM engine's
 * notifications out. Queries are answered from the local CMM engine at
 * once; requests that change the cluster act as the client's node and go
 * through the order, answered when delivered. */
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
    if (config.cmmNodeSource) {
        cmm::NodeTable table;
        try {
            table = config.cmmNodeSource();
        } catch (const std::exception &error) {
            throw BrokerError(BrokerError::Kind::Config,
                              std::string("cannot read the CMM node table: ") + error.what());
        }
        if (const std::string broken = cmm::validateTable(table); !broken.empty())
            throw BrokerError(BrokerError::Kind::Config, "the CMM node table: " + broken);
        return table;
    }
    try {
        return broker::loadCmmTable({config.cmmNodesFile, config.nodeNumber, config.cmmIneligible});
    } catch (const broker::CmmTableError &error) {
        throw BrokerError(BrokerError::Kind::Config, error.what());
    }
}

void Broker::Impl::notifyCmm(const cmm::Outcome &outcome)
{
    for (const cmm::Notification &note : outcome.notifications) {
        const std::string frame = wire::encode(
            wire::ServerMessage{wire::CmmNote{static_cast<int>(note.change), note.node}});
        /* deliver() may end a session, which edits the list: walk a copy. */
        const std::vector<ClientId> recipients = cmmRegistered;
        for (ClientId recipient : recipients)
            deliver(recipient, {frame});
    }
}

wire::CmmReply Broker::Impl::answerCmm(ClientId client, const wire::CmmReq &request,
                                       std::optional<cmm::Event> &change)
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
    cmm::Member member;
    const auto one = [&](cmm_error_t rc) {
        reply.rc = rc;
        if (rc == CMM_OK || rc == CMM_EAGAIN)
            reply.members.push_back(toWire(member));
        return reply;
    };
    /* A node that does not hold the domain's state is out of the cluster:
     * it answers nothing about the cluster (Sun: "calling node not (yet) in
     * a cluster") and changes nothing; asked about itself, it describes
     * itself as out of the cluster (CMM_OUT_OF_CLUSTER), its view stale
     * (contract.md §6.7: its queries say so). */
    if (!domainSynced && cmmEngine.configured(self) && request.node == self &&
        (request.op == wire::kCmmMemberGetInfo || request.op == wire::kCmmPotentialGetInfo)) {
        const cmm_error_t rc = cmmEngine.potentialInfo(self, member);
        member.sflag = (member.sflag & ~(CMM_MASTER | CMM_VICEMASTER)) | CMM_OUT_OF_CLUSTER;
        return one(rc == CMM_OK ? CMM_EAGAIN : rc);
    }
    if (!domainSynced || !cmmEngine.configured(self))
        return fail(CMM_ENOCLUSTER);
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
        change = cmm::MastershipRelease{self};
        return reply;
    case wire::kCmmMembershipRemove:
        change = cmm::RemoveSelf{self};
        return reply;
    case wire::kCmmSetQualif:
        change = cmm::SetQualif{self, request.node, request.qualif};
        return reply;
    case wire::kCmmSeizeQualif:
        change = cmm::SeizeQualif{self};
        return reply;
    case wire::kCmmNodeEligible:
    case wire::kCmmNodeIneligible:
        change = cmm::NodeEligibility{self, request.op == wire::kCmmNodeEligible};
        return reply;
    case wire::kCmmConfigReload: {
        /* Read here, on the caller's node: every replica applies this
         * table. A table that cannot be read never enters the order. */
        cmm::NodeTable table;
        try {
            table = loadCmmNodes();
        } catch (const BrokerError &error) {
            /* Sun checks the role first: a node that is not the master
             * answers EPERM whatever its file holds. */
            if (cmmEngine.master() != self)
                return fail(CMM_EPERM);
            spdlog::warn("cmm_config_reload: {}", error.what());
            return fail(CMM_EINVAL);
        }
        change = cmm::ConfigReload{self, std::move(table)};
        return reply;
    }
    default:
        return fail(CMM_ENOTSUP);
    }
}

void Broker::Impl::onReloadSignal()
{
    uint64_t count = 0;
    [[maybe_unused]] const ssize_t n = read(reloadFd.get(), &count, sizeof count);
    if (!domainSynced) {
        spdlog::warn("CMM reload: this gsd does not hold the domain's state; the node table is "
                     "unchanged");
        return;
    }
    cmm::NodeTable table;
    try {
        table = loadCmmNodes();
    } catch (const BrokerError &error) {
        spdlog::warn("CMM reload: {}; the node table is unchanged", error.what());
        return;
    }
    submit(CmmNodeInput{
        cmm::ConfigReload{static_cast<cmm_nodeid_t>(config.nodeNumber), std::move(table)}});
}

void Broker::Impl::onCmmRequest(ClientId client, const wire::CmmReq &request)
{
    std::optional<cmm::Event> change;
    const wire::CmmReply reply = answerCmm(client, request, change);
    if (change) {
        cmmPending.insert({client, request.id});
        return submit(CmmRequest{client, request.id, std::move(*change)});
    }
    deliver(client, {wire::encode(wire::ServerMessage{reply})});
}

void Broker::Impl::carryOut(const CmmRequest &request, const cmm::Outcome &outcome)
{
    notifyCmm(outcome);
    /* Every replica computes the answer; the client's node sends it. */
    if (isLocal(request.client))
        deliver(request.client, {wire::encode(wire::ServerMessage{
                                    wire::CmmReply{request.requestId, outcome.rc, 0, 0, {}}})});
}

void Broker::Impl::carryOut(const CmmNodeInput &input, const cmm::Outcome &outcome)
{
    notifyCmm(outcome);
    /* A reload (SIGHUP) is reported by the node that was told to reload. */
    const auto *reload = std::get_if<cmm::ConfigReload>(&input.event);
    if (!reload || reload->caller != static_cast<cmm_nodeid_t>(config.nodeNumber))
        return;
    if (outcome.rc == CMM_OK)
        spdlog::info("CMM node table reloaded");
    else
        spdlog::warn("CMM reload refused: {} (reload on the master, with a compatible table)",
                     static_cast<int>(outcome.rc));
}

} // namespace gs
