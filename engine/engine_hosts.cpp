/* SPDX-License-Identifier: MIT */
/*
 * HostMembership, the system group of the domain's nodes (rsct-gsapi.md
 * §5.12): GS publishes which nodes are up as a group that clients subscribe
 * to but never join. Its providers are the nodes whose gsd is in the domain,
 * each named {instance = node number, node = node number}, in ascending
 * order. NodeJoined adds a node, NodeGone takes it away; its subscribers
 * hear of both as an ordinary group's subscribers hear of an approved join
 * and failure leave (notifySubscribers), by their control flags. The group
 * runs no protocol and its state value is empty and never changes.
 *
 * The group lives beside `groups`, not in it: it has no provider tokens,
 * no protocols and no queue, which every rule about ordinary groups
 * assumes. Its name is reserved: no join may name it.
 */
#include "engine/engine_impl.hpp"

#include <utility>

namespace gs {

/* A join naming HostMembership, as its group or as its source group. The
 * name itself is what is wrong for the call, so HA_GS_INVALID_GROUP (not
 * HA_GS_NOT_SUPPORTED, which says an optional feature is missing and
 * another build might offer it: no GS lets a process join a system group)
 * and, for the source group, HA_GS_INVALID_SOURCE_GROUP, which ha_gs_join
 * already returns for a source group nobody may name. */
int Engine::Impl::reservedName(const GroupAttributes &a)
{
    if (isHostMembership(a.groupName))
        return HA_GS_INVALID_GROUP;
    if (isHostMembership(a.sourceGroupName))
        return HA_GS_INVALID_SOURCE_GROUP;
    return HA_GS_OK;
}

std::vector<ProviderId> Engine::Impl::hostIds() const
{
    std::vector<ProviderId> ids;
    ids.reserve(hosts.size());
    for (int16_t node : hosts)
        ids.push_back(ProviderId{node, node});
    return ids;
}

/* As for an ordinary group (handle(SubscribeRequest)): with no node up the
 * group does not exist, else the first notification gives the nodes up. */
void Engine::Impl::subscribeToHosts(ClientId client, Token token, uint32_t control)
{
    if (hosts.empty()) {
        notify({{client, token, true}}, DelayedErrorNote{HA_GS_SUBSCRIPTION, HA_GS_UNKNOWN_GROUP});
        return;
    }
    const std::string group(kHostMembershipGroup);
    tokens[token] = TokenInfo{client, group, false, {}, ProviderState::Member, control};
    clients.at(client).subscriberOf[group] = token;
    hostSubscribers[token] = control;
    notifyNewSubscriber(client, token, control, hostIds(), Bytes{});
}

void Engine::Impl::onNodeJoined(int16_t node)
{
    if (node < 1 || !hosts.insert(node).second)
        return;
    notifySubscribers(hostSubscribers, HA_GS_SUBSCRIPTION_DELTA_JOIN, {ProviderId{node, node}},
                      hostIds(), nullptr);
}

/* The node left the domain (onNodeGone, after its clients' subscriptions
 * vanished and before its providers' failure leaves run): subscribers see
 * a delta leave, as for a provider's failure leave. When the last node
 * goes, the group is gone, as an ordinary group that loses its last
 * provider: its subscribers get HA_GS_SUBSCRIPTION_DISSOLVED. */
void Engine::Impl::hostGone(int16_t node)
{
    if (hosts.erase(node) == 0)
        return;
    if (!hosts.empty()) {
        notifySubscribers(hostSubscribers, HA_GS_SUBSCRIPTION_DELTA_LEAVE, {ProviderId{node, node}},
                          hostIds(), nullptr);
        return;
    }
    std::vector<Recipient> to;
    for (const auto &[token, control] : hostSubscribers)
        to.push_back({tokens.at(token).client, token, true});
    notify(std::move(to), SubscriptionNote{HA_GS_SUBSCRIPTION_DISSOLVED, {}, {}, {}});
    const auto subscribers = std::exchange(hostSubscribers, {});
    for (const auto &[token, control] : subscribers)
        eraseToken(token);
}

std::string Engine::Impl::hostInvariants() const
{
    if (groups.count(std::string(kHostMembershipGroup)))
        return "an ordinary group named HostMembership";
    if (!hosts.empty() && *hosts.begin() < 1)
        return "a host with a node number below 1";
    if (hosts.empty() && !hostSubscribers.empty())
        return "subscribers of HostMembership with no node up";
    for (const auto &[token, control] : hostSubscribers) {
        const auto t = tokens.find(token);
        if (t == tokens.end() || t->second.provider || !isHostMembership(t->second.group) ||
            t->second.control != control)
            return "HostMembership subscriber unlike its token";
    }
    for (const auto &[token, info] : tokens)
        if (isHostMembership(info.group) && (info.provider || !hostSubscribers.count(token)))
            return "a HostMembership token that is no subscription of it";
    for (const auto &[name, g] : groups)
        if (isHostMembership(g.attributes.sourceGroupName))
            return "a group whose source is HostMembership: " + name;
    return {};
}

} // namespace gs
