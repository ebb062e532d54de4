/* SPDX-License-Identifier: MIT */
#include "gsd/cpg_order.hpp"

#include "gsd/broker_error.hpp"
#include "gsd/cluster_message.hpp"
#include "gsd/corosync_link.hpp"
#include "gsd/domain_sync.hpp"
#include "gsd/multicast_queue.hpp"
#include "gsd/unique_fd.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <stdexcept>
#include <sys/epoll.h>
#include <unistd.h>

namespace gs {

namespace {

using Clock = std::chrono::steady_clock;

/* Inputs queued for Corosync beyond this mean the domain is broken:
 * Corosync has accepted nothing for a long time. */
constexpr size_t kMaxQueuedInputBytes = 16u << 20;
/* How often a gsd whose Corosync went away tries to connect again. */
constexpr auto kReconnectInterval = std::chrono::seconds(1);

uint64_t nowMs()
{
    return static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now().time_since_epoch())
            .count());
}

std::vector<SyncMember> syncMembers(const std::vector<CpgMember> &list)
{
    std::vector<SyncMember> out;
    out.reserve(list.size());
    for (const CpgMember &m : list)
        out.push_back({m.node, m.pid});
    return out;
}

} // namespace

struct CpgOrder::Impl final : CorosyncLink::Listener {
    Impl(CpgOrder &o, CpgOrderConfig c)
        : owner(o), config(std::move(c)), group("ha_gs." + config.domain),
          epoll(::epoll_create1(EPOLL_CLOEXEC)), pid(static_cast<uint32_t>(::getpid()))
    {
        if (!epoll)
            throw BrokerError(BrokerError::Kind::System, "epoll_create1 failed");
        try {
            link = std::make_unique<CorosyncLink>(*this, epoll.get());
        } catch (const std::exception &error) {
            throw BrokerError(BrokerError::Kind::Config,
                              fmt::format("cannot reach the local Corosync ({}): is corosync "
                                          "running on this node?",
                                          error.what()));
        }
        const uint32_t id = link->nodeId();
        if (id < 1 || id > 32767)
            throw BrokerError(BrokerError::Kind::Config,
                              fmt::format("Corosync's node id of this node is {}; a gsd node "
                                          "number must be 1..32767 (set nodeid in corosync.conf)",
                                          id));
        nodeId = static_cast<int16_t>(id);
    }

    /* ---- From Corosync (inside dispatch) ---- */

    void onConfchg(const std::vector<CpgMember> &members, const std::vector<CpgMember> &left,
                   const std::vector<CpgMember> &) override
    {
        std::vector<SyncLeft> gone;
        for (const CpgMember &m : left)
            gone.push_back({{m.node, m.pid}, m.reason == CPG_REASON_NODEDOWN});
        sync->onConfchg(syncMembers(members), std::move(gone));
    }
    void onTotemRing(uint64_t ringSeq) override { sync->onTotemRing(ringSeq); }
    void onMessage(uint32_t node, uint32_t senderPid, std::string_view bytes) override
    {
        sync->onMessage({node, senderPid}, bytes);
    }
    void onQuorum(uint64_t ringSeq, bool quorate) override { sync->onQuorum(ringSeq, quorate); }

    /* ---- To Corosync ---- */

    void queue(std::string bytes)
    {
        sendQueue.push(std::move(bytes), Clock::now());
        if (sendQueue.inputBytes() > kMaxQueuedInputBytes)
            broken = true;
    }

    /* Multicasts what is queued until Corosync says "try again". */
    void send()
    {
        while (link && !sendQueue.empty() && !broken) {
            const cs_error_t rc = link->multicast(sendQueue.front());
            if (rc == CS_ERR_TRY_AGAIN)
                return;
            if (rc != CS_OK) {
                spdlog::error("domain: cpg_mcast_joined failed: {}", cs_strerror(rc));
                broken = true;
                return;
            }
            sendQueue.pop();
        }
    }

    void handleBroken()
    {
        if (!broken)
            return;
        broken = false;
        if (sendQueue.inputBytes() > kMaxQueuedInputBytes)
            spdlog::critical("domain: {} bytes of inputs wait for Corosync, which takes none: "
                             "treating it as lost",
                             sendQueue.inputBytes());
        lost();
    }

    void lost()
    {
        spdlog::error("domain: lost the connection to the local Corosync; retrying every {} s",
                      kReconnectInterval.count());
        link.reset();
        /* Never handed to Corosync: the broker answers them (withdrawUnsent). */
        auto inputs = sendQueue.withdrawInputs(Clock::time_point::max());
        unsentOfLostLink.insert(unsentOfLostLink.end(), std::make_move_iterator(inputs.begin()),
                                std::make_move_iterator(inputs.end()));
        sendQueue.clear();
        sync->corosyncLost();
        reconnectAt = Clock::now() + kReconnectInterval;
        reconnectLogged = false;
    }

    void reconnect()
    {
        reconnectAt = Clock::now() + kReconnectInterval;
        try {
            auto fresh = std::make_unique<CorosyncLink>(*this, epoll.get());
            if (fresh->nodeId() != static_cast<uint32_t>(nodeId)) {
                refusal = fmt::format("Corosync's node id of this node is now {}, was {}: "
                                      "restart gsd",
                                      fresh->nodeId(), nodeId);
                return;
            }
            fresh->join(group);
            link = std::move(fresh);
            spdlog::info("domain: connected to Corosync again; joining {} as a joiner", group);
        } catch (const std::exception &error) {
            if (!reconnectLogged)
                spdlog::warn("domain: Corosync is still unreachable: {}", error.what());
            reconnectLogged = true;
        }
    }

    void throwIfRefused() const
    {
        if (!refusal.empty())
            throw BrokerError(BrokerError::Kind::Config, refusal);
    }

    CpgOrder &owner;
    CpgOrderConfig config;
    std::string group;
    broker::UniqueFd epoll;
    uint32_t pid;
    std::unique_ptr<CorosyncLink> link;
    int16_t nodeId = 0;
    std::unique_ptr<DomainSync> sync;
    MulticastQueue sendQueue;
    std::vector<Input> unsentOfLostLink;
    bool broken = false;
    Clock::time_point reconnectAt;
    bool reconnectLogged = false;
    std::string refusal;
};

CpgOrder::CpgOrder(CpgOrderConfig config) : impl_(std::make_unique<Impl>(*this, std::move(config)))
{
}

CpgOrder::~CpgOrder() = default;

int16_t CpgOrder::nodeId() const
{
    return impl_->nodeId;
}

void CpgOrder::attach(DomainHost &host)
{
    DomainSync::Outputs outputs;
    outputs.multicast = [this](std::string bytes) { impl_->queue(std::move(bytes)); };
    outputs.deliver = [this](const Input &input) { deliver(input); };
    outputs.refuse = [this](const std::string &why) { impl_->refusal = why; };
    impl_->sync = std::make_unique<DomainSync>(
        SyncMember{static_cast<uint32_t>(impl_->nodeId), impl_->pid}, host, std::move(outputs),
        static_cast<uint64_t>(impl_->config.digestInterval.count()));
    try {
        impl_->link->join(impl_->group);
    } catch (const std::exception &error) {
        throw BrokerError(BrokerError::Kind::Config, fmt::format("cannot join the CPG group {}: {}",
                                                                 impl_->group, error.what()));
    }
    spdlog::info("domain: node {} joined {}; waiting for the domain's state", impl_->nodeId,
                 impl_->group);
}

void CpgOrder::submit(Input input)
{
    impl_->sync->submit(input);
}

bool CpgOrder::keepsTime() const
{
    return impl_->sync && impl_->sync->keepsTime();
}

std::optional<MembershipView> CpgOrder::membership() const
{
    if (!impl_->sync)
        return MembershipView{};
    return impl_->sync->membership();
}

int CpgOrder::fd() const
{
    return impl_->epoll.get();
}

void CpgOrder::deliverArrived()
{
    if (!impl_->sync)
        return;
    impl_->throwIfRefused();
    if (!impl_->link) {
        if (Clock::now() >= impl_->reconnectAt)
            impl_->reconnect();
    } else {
        /* A hung-up descriptor is Corosync gone even before dispatch says. */
        epoll_event events[4];
        const int n = ::epoll_wait(impl_->epoll.get(), events, 4, 0);
        bool hangup = false;
        for (int i = 0; i < n; ++i)
            hangup |= (events[i].events & (EPOLLHUP | EPOLLERR)) != 0;
        if (hangup || !impl_->link->dispatch())
            impl_->lost();
    }
    impl_->throwIfRefused();
    impl_->sync->tick(nowMs());
    impl_->send();
    impl_->handleBroken();
    impl_->throwIfRefused();
}

int CpgOrder::timeoutMs() const
{
    if (!impl_->sync)
        return -1;
    const auto now = Clock::now();
    if (!impl_->link)
        return impl_->reconnectAt <= now
                   ? 0
                   : static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                          impl_->reconnectAt - now)
                                          .count()) +
                         1;
    /* Corosync said "try again": retry soon, without sleeping. */
    if (!impl_->sendQueue.empty())
        return 1;
    return impl_->sync->timeoutMs(nowMs());
}

std::vector<Input> CpgOrder::withdrawUnsent(std::chrono::milliseconds waitedAtLeast)
{
    if (!impl_->sync)
        return {};
    impl_->sync->flush();
    std::vector<Input> out = std::move(impl_->unsentOfLostLink);
    impl_->unsentOfLostLink.clear();
    auto aged = impl_->sendQueue.withdrawInputs(Clock::now() - waitedAtLeast);
    out.insert(out.end(), std::make_move_iterator(aged.begin()),
               std::make_move_iterator(aged.end()));
    return out;
}

void CpgOrder::flush()
{
    if (!impl_->sync)
        return;
    impl_->sync->flush();
    impl_->send();
    impl_->handleBroken();
}

} // namespace gs
