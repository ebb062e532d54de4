/* SPDX-License-Identifier: MIT */
#include "gsd/cpg_order.hpp"

#include "gsd/broker_error.hpp"
#include "gsd/corosync_link.hpp"
#include "gsd/unique_fd.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <sys/epoll.h>

namespace gs {

struct CpgOrder::Impl final : CorosyncLink::Listener {
    explicit Impl(CpgOrderConfig c) : config(std::move(c)), epoll(::epoll_create1(EPOLL_CLOEXEC))
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

    void onConfchg(const std::vector<CpgMember> &, const std::vector<CpgMember> &,
                   const std::vector<CpgMember> &) override
    {
    }
    void onTotemRing(uint64_t) override {}
    void onMessage(uint32_t, uint32_t, std::string_view) override {}
    void onQuorum(uint64_t, bool) override {}

    CpgOrderConfig config;
    broker::UniqueFd epoll;
    std::unique_ptr<CorosyncLink> link;
    int16_t nodeId = 0;
    DomainHost *host = nullptr;
};

CpgOrder::CpgOrder(CpgOrderConfig config) : impl_(std::make_unique<Impl>(std::move(config))) {}

CpgOrder::~CpgOrder() = default;

int16_t CpgOrder::nodeId() const
{
    return impl_->nodeId;
}

void CpgOrder::attach(DomainHost &host)
{
    impl_->host = &host;
    try {
        impl_->link->join("ha_gs." + impl_->config.domain);
    } catch (const std::exception &error) {
        throw BrokerError(BrokerError::Kind::Config, error.what());
    }
}

void CpgOrder::submit(Input) {}

bool CpgOrder::keepsTime() const
{
    return false;
}

int CpgOrder::fd() const
{
    return impl_->epoll.get();
}

void CpgOrder::deliverArrived()
{
    impl_->link->dispatch();
}

int CpgOrder::timeoutMs() const
{
    return -1;
}

void CpgOrder::flush() {}

} // namespace gs
