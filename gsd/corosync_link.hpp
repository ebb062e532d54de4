/* SPDX-License-Identifier: MIT */
/*
 * One connection to the local Corosync: a CPG handle joined to one process
 * group (model v1, with totem configuration changes) and a libquorum handle
 * tracking the quorum, both registered in the caller's epoll descriptor
 * (which outlives a connection: a reconnect registers the new ones). It turns
 * their callbacks into calls of a Listener and multicasts in agreed order;
 * it decides nothing (gsd/domain_sync.hpp does, gsd/cpg_order.cpp wires
 * them).
 */
#pragma once

#include <corosync/corotypes.h>
#include <corosync/cpg.h>
#include <corosync/quorum.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace gs {

struct CpgMember {
    uint32_t node = 0;
    uint32_t pid = 0;
    uint32_t reason = 0; /* cpg_reason_t, for left and joined members */
};

class CorosyncLink {
  public:
    class Listener {
      public:
        virtual ~Listener() = default;
        virtual void onConfchg(const std::vector<CpgMember> &members,
                               const std::vector<CpgMember> &left,
                               const std::vector<CpgMember> &joined) = 0;
        /* `nodes`: the node ids of the new ring. */
        virtual void onTotemRing(uint64_t ringSeq, std::vector<uint32_t> nodes) = 0;
        virtual void onMessage(uint32_t node, uint32_t pid, std::string_view bytes) = 0;
        /* `view`: the node ids of the quorum's membership. */
        virtual void onQuorum(uint64_t ringSeq, bool quorate, std::vector<uint32_t> view) = 0;
    };

    /* Connects (CPG and quorum), learns the local node id and registers
     * both descriptors in `epollFd`; throws std::runtime_error naming what
     * failed. Joins nothing yet. */
    CorosyncLink(Listener &listener, int epollFd);
    ~CorosyncLink();
    CorosyncLink(const CorosyncLink &) = delete;
    CorosyncLink &operator=(const CorosyncLink &) = delete;

    uint32_t nodeId() const { return nodeId_; }

    /* Joins `group` and starts tracking the quorum. Throws on failure. */
    void join(const std::string &group);
    /* One agreed multicast: CS_OK, CS_ERR_TRY_AGAIN (Corosync's queue is
     * full: try again later) or another error (the link is broken). */
    cs_error_t multicast(std::string_view bytes);
    /* Runs the callbacks of everything that arrived. false: the link is
     * broken (Corosync went away). */
    bool dispatch();

  private:
    static void deliverThunk(cpg_handle_t, const cpg_name *, uint32_t, uint32_t, void *, size_t);
    static void confchgThunk(cpg_handle_t, const cpg_name *, const cpg_address *, size_t,
                             const cpg_address *, size_t, const cpg_address *, size_t);
    static void totemThunk(cpg_handle_t, cpg_ring_id, uint32_t, const uint32_t *);
    static void quorumThunk(quorum_handle_t, uint32_t, uint64_t, uint32_t, uint32_t *);
    void finalize();

    Listener &listener_;
    cpg_handle_t cpg_ = 0;
    quorum_handle_t quorum_ = 0;
    bool cpgOpen_ = false;
    bool quorumOpen_ = false;
    int epollFd_;
    int cpgFd_ = -1;
    int quorumFd_ = -1;
    uint32_t nodeId_ = 0;
};

} // namespace gs
