/* SPDX-License-Identifier: MIT */
/*
 * The CMM engine: the cluster-membership state machine behind cmm.h, with no
 * I/O, no clock and no threads, like the protocol engine (engine.hpp). Node
 * events and cluster-modifying requests go in; one reply code and the ordered
 * list of notifications they cause come out. The same events in the same
 * order always give the same outputs, so gsd can replicate the engine on
 * every node through a total order and tests can drive any number of
 * simulated nodes.
 *
 * Client registrations, filters and delivery are not here: the library
 * (libcgha_cmm) filters, gsd fans notifications out.
 *
 * Rules (docs/cmm-porting.md gives the reasons):
 *
 *  - A node is a *candidate* for a role when it is in the cluster, eligible,
 *    not disqualified and not synchro-needed. For the master role the last
 *    master (the node most recently elected master) is a candidate even when
 *    synchro-needed: no other node has been master since, so it holds the
 *    newest copy of the data. Any other synchro-needed node that was master
 *    the last time it held a role has a stale copy and is never elected.
 *  - Elections happen only when a role is vacant; a role holder is never
 *    pre-empted by a node that joins later. A vacant master role goes to the
 *    vice-master when it can take over (it is not synchro-needed), else to
 *    the master candidate with the lowest node id; a vacant vice-master role
 *    goes to the non-master candidate with the lowest node id. Vacancies are
 *    filled before an event's processing ends.
 *  - Role holders are in the cluster, eligible and not disqualified. A master
 *    or vice-master that becomes synchro-needed keeps its role: on the master
 *    the flag means it holds the only up-to-date data; a synchro-needed
 *    vice-master cannot take over until it is synchro-ready, and stays
 *    vice-master (also while the master role is vacant) until then.
 *  - Notifications of one event: role losses, then MEMBER_LEFT or the
 *    node's eligibility change (NODE_ELIGIBLE / NODE_INELIGIBLE), then role
 *    gains. A node that joins and is elected at once gets only the ELECTED
 *    notification; otherwise MEMBER_JOINED. Promotion of the vice-master to
 *    master sends MASTER_ELECTED only.
 *  - A request that fails changes nothing and notifies nothing.
 *
 * Thread-bound: one Engine is used from one thread.
 */
#pragma once

#include "cmm.h"
#include "common/state_digest.hpp"

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace gs::cmm {

/* One row of the node table (gsd configuration). */
struct NodeConfig {
    cmm_nodeid_t id = CMM_NO_NODE; /* gsd node number; not 0, not CMM_INVALID_NODE_ID */
    std::string name;              /* < CMM_MAX_NAME_SIZE bytes */
    std::string address;           /* < CMM_MAX_ADDR_SIZE bytes */
    cmm_domainid_t domain = 1;     /* the same non-zero value in every row */
    std::string softwareLoad;      /* < CMM_MAX_SWLOADID_SIZE bytes */
    bool eligible = true;          /* CMM_ELIGIBLE_MEMBER */
    bool frozen = false;           /* CMM_FROZEN_MEMBER: carried only */
    bool excluded = false;         /* CMM_EXCLUDED_MEMBER: never joins */
    bool disqualified = false;     /* initial CMM_FLAG_DISQUALIFIED */
    bool synchroNeeded = false;    /* initial CMM_FLAG_SYNCHRO_NEEDED */
    bool operator==(const NodeConfig &) const = default;
};
using NodeTable = std::vector<NodeConfig>;

/* cmm_member_t with owned strings. */
struct Member {
    cmm_nodeid_t nodeid = CMM_NO_NODE;
    std::string name;
    std::string addr;
    cmm_domainid_t domainid = CMM_NO_DOMAIN;
    uint32_t sflag = 0;
    cmm_incarn_t incarnationNumber = 0;
    std::string softwareLoadId;
    bool operator==(const Member &) const = default;
};

/* Fills the C descriptor. The engine validated the string lengths, so
 * nothing is truncated. */
void toCmmMember(const Member &from, cmm_member_t &to);

struct Notification {
    cmm_cmchanges_t change = CMM_MEMBER_JOINED;
    cmm_nodeid_t node = CMM_NO_NODE; /* 0 for the cluster-wide kinds */
    bool operator==(const Notification &) const = default;
};

/* ---- Events ------------------------------------------------------------ */

/* A new gsd of `node` joined the domain (started or restarted). Ignored for a
 * node already in the cluster; refused (CMM_EPERM) for an excluded node;
 * CMM_ESRCH for a node not in the table. */
struct NodeUp {
    cmm_nodeid_t node = CMM_NO_NODE;
};
/* The same gsd of `node` is back in the domain: it had left it (its link
 * cut, its Corosync gone, its state unlike the domain's) and re-synced. As
 * NodeUp, but a node that removed itself (RemoveSelf) stays out: only a new
 * gsd there (NodeUp) brings it back, as on Sun's CMM rejoining takes a
 * restart of nhcmmd. */
struct NodeBack {
    cmm_nodeid_t node = CMM_NO_NODE;
};
/* The gsd of `node` failed or left. Never refused (CMM_ESRCH for a node not
 * in the table); nothing happens for a node already out. */
struct NodeDown {
    cmm_nodeid_t node = CMM_NO_NODE;
};
/* cmm_membership_remove called on `caller`. */
struct RemoveSelf {
    cmm_nodeid_t caller = CMM_NO_NODE;
};
/* cmm_mastership_release called on `caller`. */
struct MastershipRelease {
    cmm_nodeid_t caller = CMM_NO_NODE;
};
/* cmm_member_setqualif(target, qualif) called on `caller`. qualif is an int
 * so that values outside cmm_qualif_t can be passed on and refused. */
struct SetQualif {
    cmm_nodeid_t caller = CMM_NO_NODE;
    cmm_nodeid_t target = CMM_NO_NODE;
    int qualif = CMM_QUALIFIED_MEMBER;
};
/* cmm_member_seizequalif called on `caller`. */
struct SeizeQualif {
    cmm_nodeid_t caller = CMM_NO_NODE;
};
/* cmm_node_eligible (eligible true) or cmm_node_ineligible called on
 * `caller`: the node's master eligibility at run time. The configured
 * attribute is only the value a node starts with. */
struct NodeEligibility {
    cmm_nodeid_t caller = CMM_NO_NODE;
    bool eligible = true;
};
/* cmm_config_reload called on `caller`, gsd having read `table`. */
struct ConfigReload {
    cmm_nodeid_t caller = CMM_NO_NODE;
    NodeTable table;
};
/* The cluster's health as the integration observes it. Each sends its
 * notification (nodeid 0) only when the health changes. */
struct ClusterStale {};   /* no news from the master: STALE_CLUSTER */
struct ClusterInvalid {}; /* split brain: INVALID_CLUSTER */
struct ClusterValid {};   /* healthy again: VALID_CLUSTER */

using Event = std::variant<NodeUp, NodeDown, RemoveSelf, MastershipRelease, SetQualif, SeizeQualif,
                           ConfigReload, ClusterStale, ClusterInvalid, ClusterValid,
                           NodeEligibility, NodeBack>;

/* ---- Output ------------------------------------------------------------ */

struct Outcome {
    cmm_error_t rc = CMM_OK;                 /* the reply (node events: informational) */
    std::vector<Notification> notifications; /* in delivery order; empty unless rc is CMM_OK */
    bool operator==(const Outcome &) const = default;
};

enum class Health { Valid, Stale, Invalid };

class Engine {
  public:
    /* Every node starts out of the cluster. Throws std::invalid_argument
     * when the table breaks a rule listed at cmm_config_reload in cmm.h. */
    explicit Engine(NodeTable table = {});

    Outcome process(const Event &event);

    /* ---- Queries: the data of the cmm.h information calls ---- */

    /* True when `node` is in the node table. The library answers
     * CMM_ENOCLUSTER for a local node that is not. */
    bool configured(cmm_nodeid_t node) const;
    /* The configured node ids, increasing. */
    std::vector<cmm_nodeid_t> nodeIds() const;
    /* The node table in force (as configured or last reloaded), by
     * increasing node id: what a gsd compares with its own at sync. */
    NodeTable table() const;

    /* CMM_OK / CMM_EAGAIN (filled, view stale or invalid); CMM_ESRCH only
     * when the node is not in the table. A node out of the cluster is
     * described with CMM_OUT_OF_CLUSTER (Sun's implementation does the same),
     * so a MEMBER_LEFT callback can still name the node. */
    cmm_error_t memberInfo(cmm_nodeid_t node, Member &out) const;
    /* Any configured node; CMM_ESRCH when not in the table. Same as
     * memberInfo. */
    cmm_error_t potentialInfo(cmm_nodeid_t node, Member &out) const;
    /* CMM_ENOCLUSTER when there is no master or the cluster is invalid. */
    cmm_error_t masterInfo(Member &out) const;
    /* CMM_ENOCLUSTER as masterInfo; CMM_ESRCH when there is no vice-master. */
    cmm_error_t viceMasterInfo(Member &out) const;
    /* Nodes in the cluster. CMM_OK / CMM_EAGAIN. */
    cmm_error_t memberCount(uint32_t &count) const;
    /* cmm_member_getall: table NULL -> count only; tableSize above
     * CMM_MAX_MEMBER_TABLE_SIZE -> CMM_EINVAL; too small -> CMM_ERANGE with
     * `count` set and the table untouched; else the members by node id. */
    cmm_error_t memberAll(uint32_t tableSize, Member *table, uint32_t &count) const;
    /* The members, by increasing node id. */
    std::vector<Member> members() const;

    std::optional<cmm_nodeid_t> master() const;
    std::optional<cmm_nodeid_t> viceMaster() const;
    /* The node most recently elected master (the current one, if any): the
     * holder of the newest copy of the data. */
    std::optional<cmm_nodeid_t> lastMaster() const;
    Health health() const;

    /* Checks every rule above; returns an empty string when all hold, else a
     * description of the first violation. */
    std::string checkInvariants() const;

    /* ---- State you can move (cmm_engine_snapshot.cpp) ---- */

    /* The whole state (node table, roles, flags, last master, incarnation
     * numbers, health) as canonical bytes: engines that would answer every
     * future event and query alike give equal bytes, and equal bytes restore
     * to such engines. CBOR, versioned and checksummed. */
    std::string snapshot() const;
    /* Replaces the whole state by `snapshot`'s. Throws std::invalid_argument,
     * saying why and leaving this engine unchanged, when the bytes are not a
     * snapshot of this format version, are corrupt or not canonical, or
     * describe a state that breaks the rules above. */
    void restore(std::string_view snapshot);
    /* gs::digestOf(snapshot()): equal on replicas that applied the same
     * events in the same order. */
    StateDigest digest() const;

  private:
    enum class Role { Out, In, ViceMaster, Master };
    struct Node {
        NodeConfig config;
        Role role = Role::Out;
        bool eligible = false; /* at run time; starts as config.eligible */
        bool disqualified = false;
        bool synchroNeeded = false;
        bool formerMaster = false; /* master the last time it was elected to a role */
        bool removed = false;      /* out by RemoveSelf until a new gsd runs there */
    };

    Outcome nodeUp(cmm_nodeid_t node);
    Outcome nodeBack(cmm_nodeid_t node);
    Outcome nodeDown(cmm_nodeid_t node);
    Outcome removeSelf(cmm_nodeid_t caller);
    Outcome release(cmm_nodeid_t caller);
    Outcome setQualif(const SetQualif &request);
    Outcome seize(cmm_nodeid_t caller);
    Outcome reload(const ConfigReload &request);
    Outcome setEligibility(const NodeEligibility &request);
    Outcome changeHealth(Health health, cmm_cmchanges_t change);

    /* Drops `node`'s role and takes it out, appending the notifications. */
    void leave(cmm_nodeid_t node, std::vector<Notification> &out);
    /* Drops `node`'s role, leaving it in the cluster. */
    void demote(cmm_nodeid_t node, std::vector<Notification> &out);
    /* Fills vacant roles; `notMaster` (the node releasing the role) is not
     * elected master. */
    void elect(std::vector<Notification> &out,
               std::optional<cmm_nodeid_t> notMaster = std::nullopt);
    /* May be elected vice-master (and master). */
    bool candidate(const Node &node) const;
    /* May be elected master: a candidate, or the last master even when
     * synchro-needed. */
    bool masterCandidate(const Node &node) const;
    /* Lowest-id candidate other than `except`. */
    std::optional<cmm_nodeid_t> bestCandidate(std::optional<cmm_nodeid_t> except) const;
    /* Lowest-id master candidate other than `except`. */
    std::optional<cmm_nodeid_t> bestMasterCandidate(std::optional<cmm_nodeid_t> except) const;
    /* Who takes a vacant master role: the vice-master if it can take over,
     * else the lowest-id master candidate; never `except`. */
    std::optional<cmm_nodeid_t> successor(std::optional<cmm_nodeid_t> except) const;
    Member describe(const Node &node) const;
    cmm_error_t fresh() const { return health_ == Health::Valid ? CMM_OK : CMM_EAGAIN; }

    std::map<cmm_nodeid_t, Node> nodes_;
    /* Last incarnation per node id; kept when a reload drops the node, so a
     * re-added node never repeats an incarnation number. */
    std::map<cmm_nodeid_t, cmm_incarn_t> incarnations_;
    std::optional<cmm_nodeid_t> master_;
    std::optional<cmm_nodeid_t> vice_;
    std::optional<cmm_nodeid_t> lastMaster_;
    Health health_ = Health::Valid;
};

/* Item 14's guarantee, computed only through process() on copies of
 * `engine`: a master exists, or some sequence of documented calls gets one
 * back. Either a node in the cluster gets it (cmm_node_eligible if needed,
 * then cmm_member_seizequalif), or no node is in the cluster, or the last
 * master, which alone holds the newest copy, is out of the cluster and gets
 * it back when its gsd returns (NodeUp, then the same calls). */
bool masterRecoverable(const Engine &engine);

/* Empty when `table` is usable, else why not. */
std::string validateTable(const NodeTable &table);

} // namespace gs::cmm
