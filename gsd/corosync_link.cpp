/* SPDX-License-Identifier: MIT */
#include "gsd/corosync_link.hpp"

#include <fmt/format.h>

#include <stdexcept>
#include <sys/epoll.h>
#include <sys/uio.h>

namespace gs {

namespace {

std::string failure(const char *call, cs_error_t rc)
{
    return fmt::format("{} failed: {} ({})", call, cs_strerror(rc), static_cast<int>(rc));
}

cpg_name groupName(const std::string &group)
{
    if (group.size() >= CPG_MAX_NAME_LENGTH)
        throw std::runtime_error(fmt::format("the CPG group name '{}' is longer than {} bytes",
                                             group, CPG_MAX_NAME_LENGTH - 1));
    cpg_name name{};
    name.length = static_cast<uint32_t>(group.size());
    group.copy(name.value, group.size());
    return name;
}

std::vector<CpgMember> members(const cpg_address *list, size_t entries)
{
    std::vector<CpgMember> out;
    out.reserve(entries);
    for (size_t i = 0; i < entries; ++i)
        out.push_back({list[i].nodeid, list[i].pid, list[i].reason});
    return out;
}

CorosyncLink::Listener *listenerOf(cpg_handle_t handle)
{
    void *context = nullptr;
    if (cpg_context_get(handle, &context) != CS_OK || context == nullptr)
        return nullptr;
    return static_cast<CorosyncLink::Listener *>(context);
}

void addToEpoll(int epollFd, int fd)
{
    epoll_event event{};
    event.events = EPOLLIN;
    event.data.fd = fd;
    if (::epoll_ctl(epollFd, EPOLL_CTL_ADD, fd, &event) != 0)
        throw std::runtime_error("epoll_ctl: cannot watch Corosync's descriptor");
}

} // namespace

CorosyncLink::CorosyncLink(Listener &listener, int epollFd) : listener_(listener), epollFd_(epollFd)
{
    try {
        cpg_model_v1_data_t model{};
        model.model = CPG_MODEL_V1;
        model.cpg_deliver_fn = deliverThunk;
        model.cpg_confchg_fn = confchgThunk;
        model.cpg_totem_confchg_fn = totemThunk;
        model.flags = CPG_MODEL_V1_DELIVER_INITIAL_TOTEM_CONF;
        cs_error_t rc = cpg_model_initialize(
            &cpg_, CPG_MODEL_V1, reinterpret_cast<cpg_model_data_t *>(&model), &listener_);
        if (rc != CS_OK)
            throw std::runtime_error(failure("cpg_model_initialize", rc));
        cpgOpen_ = true;
        unsigned int local = 0;
        if ((rc = cpg_local_get(cpg_, &local)) != CS_OK)
            throw std::runtime_error(failure("cpg_local_get", rc));
        nodeId_ = local;
        if ((rc = cpg_fd_get(cpg_, &cpgFd_)) != CS_OK)
            throw std::runtime_error(failure("cpg_fd_get", rc));

        quorum_callbacks_t callbacks{};
        callbacks.quorum_notify_fn = quorumThunk;
        uint32_t quorumType = 0;
        if ((rc = quorum_initialize(&quorum_, &callbacks, &quorumType)) != CS_OK)
            throw std::runtime_error(failure("quorum_initialize", rc));
        quorumOpen_ = true;
        if ((rc = quorum_context_set(quorum_, &listener_)) != CS_OK)
            throw std::runtime_error(failure("quorum_context_set", rc));
        if ((rc = quorum_fd_get(quorum_, &quorumFd_)) != CS_OK)
            throw std::runtime_error(failure("quorum_fd_get", rc));

        addToEpoll(epollFd_, cpgFd_);
        addToEpoll(epollFd_, quorumFd_);
    } catch (...) {
        finalize();
        throw;
    }
}

CorosyncLink::~CorosyncLink()
{
    finalize();
}

void CorosyncLink::finalize()
{
    /* A descriptor closed by finalize leaves the epoll set by itself; it
     * is removed first anyway, as libqb may keep it open a little longer. */
    if (cpgFd_ >= 0)
        ::epoll_ctl(epollFd_, EPOLL_CTL_DEL, cpgFd_, nullptr);
    if (quorumFd_ >= 0)
        ::epoll_ctl(epollFd_, EPOLL_CTL_DEL, quorumFd_, nullptr);
    cpgFd_ = quorumFd_ = -1;
    if (cpgOpen_)
        cpg_finalize(cpg_);
    if (quorumOpen_)
        quorum_finalize(quorum_);
    cpgOpen_ = quorumOpen_ = false;
}

void CorosyncLink::join(const std::string &group)
{
    const cpg_name name = groupName(group);
    cs_error_t rc = cpg_join(cpg_, &name);
    if (rc != CS_OK)
        throw std::runtime_error(failure("cpg_join", rc));
    if ((rc = quorum_trackstart(quorum_, CS_TRACK_CHANGES | CS_TRACK_CURRENT)) != CS_OK)
        throw std::runtime_error(failure("quorum_trackstart", rc));
}

cs_error_t CorosyncLink::multicast(std::string_view bytes)
{
    iovec part{const_cast<char *>(bytes.data()), bytes.size()};
    return cpg_mcast_joined(cpg_, CPG_TYPE_AGREED, &part, 1);
}

bool CorosyncLink::dispatch()
{
    cs_error_t rc = cpg_dispatch(cpg_, CS_DISPATCH_ALL);
    if (rc != CS_OK && rc != CS_ERR_TRY_AGAIN)
        return false;
    rc = quorum_dispatch(quorum_, CS_DISPATCH_ALL);
    return rc == CS_OK || rc == CS_ERR_TRY_AGAIN;
}

void CorosyncLink::deliverThunk(cpg_handle_t handle, const cpg_name *, uint32_t node, uint32_t pid,
                                void *msg, size_t length)
{
    if (Listener *listener = listenerOf(handle))
        listener->onMessage(node, pid, std::string_view(static_cast<const char *>(msg), length));
}

void CorosyncLink::confchgThunk(cpg_handle_t handle, const cpg_name *,
                                const cpg_address *memberList, size_t memberCount,
                                const cpg_address *leftList, size_t leftCount,
                                const cpg_address *joinedList, size_t joinedCount)
{
    if (Listener *listener = listenerOf(handle))
        listener->onConfchg(members(memberList, memberCount), members(leftList, leftCount),
                            members(joinedList, joinedCount));
}

void CorosyncLink::totemThunk(cpg_handle_t handle, cpg_ring_id ring, uint32_t memberEntries,
                              const uint32_t *members)
{
    if (Listener *listener = listenerOf(handle)) {
        std::vector<uint32_t> nodes;
        if (members)
            nodes.assign(members, members + memberEntries);
        listener->onTotemRing(ring.seq, std::move(nodes));
    }
}

void CorosyncLink::quorumThunk(quorum_handle_t handle, uint32_t quorate, uint64_t ringSeq,
                               uint32_t viewEntries, uint32_t *view)
{
    const void *context = nullptr;
    if (quorum_context_get(handle, &context) != CS_OK || context == nullptr)
        return;
    std::vector<uint32_t> nodes;
    if (view)
        nodes.assign(view, view + viewEntries);
    static_cast<Listener *>(const_cast<void *>(context))
        ->onQuorum(ringSeq, quorate != 0, std::move(nodes));
}

} // namespace gs
