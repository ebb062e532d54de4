/* SPDX-License-Identifier: MIT */
/*
 * The CMM engine. The rules are listed in cmm_engine.hpp and explained in
 * docs/cmm-porting.md; keep the three in step.
 *
 * Determinism: nodes live in a std::map, so every scan runs in increasing
 * node id order, and nothing reads a clock.
 */
#include "engine/cmm_engine.hpp"

#include <algorithm>
#include <cstddef>
#include <set>
#include <sstream>
#include <stdexcept>
#include <type_traits>

namespace gs::cmm {

namespace {

bool validQualif(int qualif)
{
    return qualif == CMM_QUALIFIED_MEMBER || qualif == CMM_SYNCHRO_READY ||
           qualif == CMM_DISQUALIFIED_MEMBER || qualif == CMM_SYNCHRO_NEEDED;
}

/* Copies a string validated shorter than N into a char[N], NUL-padded. */
template <size_t N>
void copyField(char (&to)[N], const std::string &from)
{
    size_t n = std::min(from.size(), N - 1);
    std::copy_n(from.data(), n, to);
    std::fill(to + n, to + N, '\0');
}

} // namespace

void toCmmMember(const Member &from, cmm_member_t &to)
{
    to.nodeid = from.nodeid;
    copyField(to.name, from.name);
    copyField(to.addr, from.addr);
    to.domainid = from.domainid;
    to.sflag = from.sflag;
    to.incarnation_number = from.incarnationNumber;
    copyField(to.software_load_id, from.softwareLoadId);
}

std::string validateTable(const NodeTable &table)
{
    if (table.size() > CMM_MAX_MEMBER_TABLE_SIZE)
        return "more than CMM_MAX_MEMBER_TABLE_SIZE nodes";
    std::set<cmm_nodeid_t> seen;
    for (const NodeConfig &n : table) {
        std::ostringstream who;
        who << "node " << n.id << ": ";
        if (n.id == CMM_NO_NODE || n.id == CMM_INVALID_NODE_ID)
            return who.str() + "reserved node id";
        if (!seen.insert(n.id).second)
            return who.str() + "node id repeated";
        if (n.domain == CMM_NO_DOMAIN)
            return who.str() + "domain id 0 (CMM_NO_DOMAIN)";
        if (n.domain != table.front().domain)
            return who.str() + "domain id differs from the first row's";
        if (n.name.size() >= CMM_MAX_NAME_SIZE)
            return who.str() + "name too long";
        if (n.address.size() >= CMM_MAX_ADDR_SIZE)
            return who.str() + "address too long";
        if (n.softwareLoad.size() >= CMM_MAX_SWLOADID_SIZE)
            return who.str() + "software load id too long";
    }
    return {};
}

Engine::Engine(NodeTable table)
{
    std::string why = validateTable(table);
    if (!why.empty())
        throw std::invalid_argument("CMM node table: " + why);
    for (NodeConfig &config : table) {
        Node node;
        node.eligible = config.eligible;
        node.disqualified = config.disqualified;
        node.synchroNeeded = config.synchroNeeded;
        node.config = std::move(config);
        nodes_.emplace(node.config.id, std::move(node));
    }
}

Outcome Engine::process(const Event &event)
{
    return std::visit(
        [this](const auto &e) -> Outcome {
            using T = std::decay_t<decltype(e)>;
            if constexpr (std::is_same_v<T, NodeUp>)
                return nodeUp(e.node);
            else if constexpr (std::is_same_v<T, NodeBack>)
                return nodeBack(e.node);
            else if constexpr (std::is_same_v<T, NodeDown>)
                return nodeDown(e.node);
            else if constexpr (std::is_same_v<T, RemoveSelf>)
                return removeSelf(e.caller);
            else if constexpr (std::is_same_v<T, MastershipRelease>)
                return release(e.caller);
            else if constexpr (std::is_same_v<T, SetQualif>)
                return setQualif(e);
            else if constexpr (std::is_same_v<T, SeizeQualif>)
                return seize(e.caller);
            else if constexpr (std::is_same_v<T, ConfigReload>)
                return reload(e);
            else if constexpr (std::is_same_v<T, NodeEligibility>)
                return setEligibility(e);
            else if constexpr (std::is_same_v<T, ClusterStale>)
                return changeHealth(Health::Stale, CMM_STALE_CLUSTER);
            else if constexpr (std::is_same_v<T, ClusterInvalid>)
                return changeHealth(Health::Invalid, CMM_INVALID_CLUSTER);
            else
                return changeHealth(Health::Valid, CMM_VALID_CLUSTER);
        },
        event);
}

/* ---- Role bookkeeping -------------------------------------------------- */

bool Engine::candidate(const Node &node) const
{
    return node.role != Role::Out && node.eligible && !node.disqualified && !node.synchroNeeded;
}

bool Engine::masterCandidate(const Node &node) const
{
    /* Sun: a synchro-needed node whose former role was master is not
     * elected, so that a stale copy cannot win. The last master's copy is
     * the newest one (no node has been master since), so the rule does not
     * apply to it; otherwise a master that was marked synchro-needed and
     * then lost its role could never be master again. */
    if (node.role == Role::Out || !node.eligible || node.disqualified)
        return false;
    return !node.synchroNeeded || lastMaster_ == node.config.id;
}

std::optional<cmm_nodeid_t> Engine::bestCandidate(std::optional<cmm_nodeid_t> except) const
{
    for (const auto &[id, node] : nodes_)
        if (id != except && candidate(node))
            return id;
    return std::nullopt;
}

std::optional<cmm_nodeid_t> Engine::bestMasterCandidate(std::optional<cmm_nodeid_t> except) const
{
    for (const auto &[id, node] : nodes_)
        if (id != except && masterCandidate(node))
            return id;
    return std::nullopt;
}

std::optional<cmm_nodeid_t> Engine::successor(std::optional<cmm_nodeid_t> except) const
{
    if (vice_ && vice_ != except && masterCandidate(nodes_.at(*vice_)))
        return vice_;
    return bestMasterCandidate(except);
}

void Engine::demote(cmm_nodeid_t id, std::vector<Notification> &out)
{
    Node &node = nodes_.at(id);
    if (node.role == Role::Master) {
        master_.reset();
        out.push_back({CMM_MASTER_DEMOTED, id});
    } else if (node.role == Role::ViceMaster) {
        vice_.reset();
        out.push_back({CMM_VICEMASTER_DEMOTED, id});
    }
    node.role = Role::In;
}

void Engine::leave(cmm_nodeid_t id, std::vector<Notification> &out)
{
    demote(id, out);
    nodes_.at(id).role = Role::Out;
    out.push_back({CMM_MEMBER_LEFT, id});
}

void Engine::elect(std::vector<Notification> &out, std::optional<cmm_nodeid_t> notMaster)
{
    if (!master_) {
        /* The vice-master is the hot standby: it takes over before any
         * lower-id candidate, which is what makes a failover a single
         * MASTER_ELECTED of the node applications already watch. A
         * synchro-needed vice-master cannot take over: another candidate
         * does, and it stays vice-master until it is synchro-ready. */
        std::optional<cmm_nodeid_t> next = successor(notMaster);
        if (next) {
            if (next == vice_)
                vice_.reset();
            master_ = next;
            lastMaster_ = next;
            Node &node = nodes_.at(*next);
            node.role = Role::Master;
            node.formerMaster = true;
            out.push_back({CMM_MASTER_ELECTED, *next});
        }
    }
    if (master_ && !vice_) {
        if (std::optional<cmm_nodeid_t> next = bestCandidate(master_)) {
            vice_ = next;
            Node &node = nodes_.at(*next);
            node.role = Role::ViceMaster;
            node.formerMaster = false;
            out.push_back({CMM_VICEMASTER_ELECTED, *next});
        }
    }
}

/* ---- Node events ------------------------------------------------------- */

Outcome Engine::nodeUp(cmm_nodeid_t id)
{
    auto it = nodes_.find(id);
    if (it == nodes_.end())
        return {CMM_ESRCH, {}};
    Node &node = it->second;
    if (node.config.excluded)
        return {CMM_EPERM, {}};
    if (node.role != Role::Out)
        return {}; /* a repeated report of the same incarnation */
    node.removed = false;
    node.role = Role::In;
    ++incarnations_[id];
    std::vector<Notification> gains;
    elect(gains);
    /* Only the joiner can gain a role here (every other candidate already
     * holds one or was outranked before); a joiner elected at once is
     * announced by its ELECTED notification alone. */
    Outcome o;
    if (node.role == Role::In)
        o.notifications.push_back({CMM_MEMBER_JOINED, id});
    o.notifications.insert(o.notifications.end(), gains.begin(), gains.end());
    return o;
}

Outcome Engine::nodeBack(cmm_nodeid_t id)
{
    if (const auto it = nodes_.find(id); it != nodes_.end() && it->second.removed)
        return {};
    return nodeUp(id);
}

Outcome Engine::nodeDown(cmm_nodeid_t id)
{
    auto it = nodes_.find(id);
    if (it == nodes_.end())
        return {CMM_ESRCH, {}};
    Outcome o;
    if (it->second.role == Role::Out)
        return o;
    leave(id, o.notifications);
    elect(o.notifications);
    return o;
}

/* ---- Requests ---------------------------------------------------------- */

Outcome Engine::removeSelf(cmm_nodeid_t caller)
{
    auto it = nodes_.find(caller);
    /* Sun's man page lists CMM_ENOCLUSTER ("not yet in a cluster") and no
     * CMM_EPERM for this call, so an out-of-cluster caller gets ENOCLUSTER. */
    if (it == nodes_.end() || it->second.role == Role::Out)
        return {CMM_ENOCLUSTER, {}};
    if (it->second.role == Role::Master && !successor(caller))
        return {CMM_ECANCELED, {}};
    Outcome o;
    leave(caller, o.notifications);
    it->second.removed = true;
    elect(o.notifications);
    return o;
}

Outcome Engine::release(cmm_nodeid_t caller)
{
    auto it = nodes_.find(caller);
    if (it == nodes_.end())
        return {CMM_ENOCLUSTER, {}};
    if (it->second.role == Role::Out)
        return {CMM_EPERM, {}};
    if (!master_)
        return {CMM_ENOCLUSTER, {}};
    if (*master_ != caller)
        return {CMM_EPERM, {}};
    if (!successor(caller))
        return {CMM_ECANCELED, {}};
    Outcome o;
    demote(caller, o.notifications);
    /* The caller stays a candidate: it may become vice-master, not master
     * again. */
    elect(o.notifications, caller);
    return o;
}

Outcome Engine::setQualif(const SetQualif &request)
{
    auto caller = nodes_.find(request.caller);
    if (caller == nodes_.end())
        return {CMM_ENOCLUSTER, {}};
    if (caller->second.role == Role::Out)
        return {CMM_EPERM, {}};
    if (!validQualif(request.qualif))
        return {CMM_EINVAL, {}};
    auto target = nodes_.find(request.target);
    if (target == nodes_.end())
        return {CMM_ESRCH, {}};
    Node &node = target->second;
    if (node.role != Role::Out && !node.eligible)
        return {CMM_EINVAL, {}};

    bool disqualified = node.disqualified;
    bool synchroNeeded = node.synchroNeeded;
    switch (request.qualif) {
    case CMM_QUALIFIED_MEMBER:
        disqualified = false;
        break;
    case CMM_DISQUALIFIED_MEMBER:
        disqualified = true;
        break;
    case CMM_SYNCHRO_READY:
        synchroNeeded = false;
        break;
    default: /* CMM_SYNCHRO_NEEDED */
        synchroNeeded = true;
        break;
    }
    /* Checked before the master rules: Sun's setqualif is asynchronous and
     * two concurrent disqualifications of the master both succeed, though
     * the second reaches gsd after the caller lost the role. */
    if (disqualified == node.disqualified && synchroNeeded == node.synchroNeeded)
        return {};
    if (!master_)
        return {CMM_ENOCLUSTER, {}};
    if (*master_ != request.caller)
        return {CMM_EPERM, {}};

    node.disqualified = disqualified;
    node.synchroNeeded = synchroNeeded;
    Outcome o;
    /* A disqualified node may hold no role. Synchro-needed role holders keep
     * theirs (Sun): on the master the flag means it holds the only
     * up-to-date copy of the data; a vice-master only cannot take over until
     * it is synchro-ready. Demoting it would cost every application a
     * VICEMASTER_DEMOTED / VICEMASTER_ELECTED pair on each resync and leave
     * the cluster without a vice-master meanwhile. */
    if (node.role != Role::In && node.role != Role::Out && disqualified)
        demote(request.target, o.notifications);
    elect(o.notifications);
    return o;
}

Outcome Engine::seize(cmm_nodeid_t caller)
{
    auto it = nodes_.find(caller);
    if (it == nodes_.end())
        return {CMM_ENOCLUSTER, {}};
    Node &node = it->second;
    if (node.role == Role::Out || !node.eligible || master_ || successor(std::nullopt))
        return {CMM_EPERM, {}};
    const bool disqualified = node.disqualified;
    const bool synchroNeeded = node.synchroNeeded;
    node.disqualified = false;
    /* Sun: a synchro-needed node whose former role was master will not be
     * elected; its data may predate what a later master wrote. The last
     * master itself is elected with its flag (masterCandidate): it holds
     * the newest copy. A node that never was master has its flag cleared. */
    if (!node.formerMaster)
        node.synchroNeeded = false;
    if (!masterCandidate(node)) {
        node.disqualified = disqualified;
        node.synchroNeeded = synchroNeeded;
        return {CMM_ECANCELED, {}};
    }
    Outcome o;
    elect(o.notifications);
    return o;
}

Outcome Engine::reload(const ConfigReload &request)
{
    auto caller = nodes_.find(request.caller);
    if (caller == nodes_.end())
        return {CMM_ENOCLUSTER, {}};
    if (caller->second.role == Role::Out)
        return {CMM_EPERM, {}};
    if (!master_)
        return {CMM_ENOCLUSTER, {}};
    if (*master_ != request.caller)
        return {CMM_EPERM, {}};
    if (!validateTable(request.table).empty())
        return {CMM_EINVAL, {}};
    /* The caller is in the cluster, so the current table is not empty. */
    if (!request.table.empty() &&
        request.table.front().domain != nodes_.begin()->second.config.domain)
        return {CMM_EINVAL, {}};

    std::map<cmm_nodeid_t, Node> next;
    for (const NodeConfig &config : request.table) {
        auto old = nodes_.find(config.id);
        if (old == nodes_.end()) {
            Node node;
            node.config = config;
            node.eligible = config.eligible;
            node.disqualified = config.disqualified;
            node.synchroNeeded = config.synchroNeeded;
            next.emplace(config.id, std::move(node));
            continue;
        }
        /* Sun: node attributes must not be edited by a reload; gsd refuses
         * the table rather than guess what the operator meant. */
        const NodeConfig &was = old->second.config;
        if (config.eligible != was.eligible || config.frozen != was.frozen ||
            config.excluded != was.excluded)
            return {CMM_EINVAL, {}};
        /* The row is the reloaded one (names, addresses, software load
         * ids, and the qualification flags a node would start with), so
         * that the table in force is the file the master read: gsd compares
         * it with every joiner's. The node keeps its current flags. */
        Node node = old->second;
        node.config = config;
        next.emplace(config.id, std::move(node));
    }
    for (const auto &[id, node] : nodes_)
        if (node.role != Role::Out && !next.contains(id))
            return {CMM_EINVAL, {}}; /* only powered-off nodes may be dropped */
    nodes_ = std::move(next);
    return {};
}

Outcome Engine::setEligibility(const NodeEligibility &request)
{
    auto it = nodes_.find(request.caller);
    if (it == nodes_.end())
        return {CMM_ENOCLUSTER, {}};
    Node &node = it->second;
    if (node.role == Role::Out)
        return {CMM_EPERM, {}};
    if (node.eligible == request.eligible)
        return {};
    /* Like cmm_mastership_release and cmm_membership_remove on the master:
     * the role is given up only when a node can take it. */
    if (!request.eligible && node.role == Role::Master && !successor(request.caller))
        return {CMM_ECANCELED, {}};
    Outcome o;
    if (!request.eligible)
        demote(request.caller, o.notifications);
    node.eligible = request.eligible;
    o.notifications.push_back(
        {request.eligible ? CMM_NODE_ELIGIBLE : CMM_NODE_INELIGIBLE, request.caller});
    elect(o.notifications);
    return o;
}

Outcome Engine::changeHealth(Health health, cmm_cmchanges_t change)
{
    Outcome o;
    if (health_ != health) {
        health_ = health;
        o.notifications.push_back({change, CMM_NO_NODE});
    }
    return o;
}

/* ---- Recovery ---------------------------------------------------------- */

namespace {

/* cmm_node_eligible if needed, then cmm_member_seizequalif, on `node`. */
bool seizeOn(Engine engine, cmm_nodeid_t node)
{
    Member m;
    if (engine.potentialInfo(node, m) == CMM_ESRCH)
        return false;
    if ((m.sflag & CMM_ELIGIBLE_MEMBER) == 0)
        engine.process(NodeEligibility{node, true});
    if (!engine.master())
        engine.process(SeizeQualif{node});
    return engine.master().has_value();
}

} // namespace

bool masterRecoverable(const Engine &engine)
{
    if (engine.master())
        return true;
    const std::vector<Member> in = engine.members();
    if (in.empty())
        return true; /* nothing to recover until a node joins */
    for (const Member &m : in)
        if (seizeOn(engine, m.nodeid))
            return true;
    const std::optional<cmm_nodeid_t> last = engine.lastMaster();
    if (!last ||
        std::any_of(in.begin(), in.end(), [&](const Member &m) { return m.nodeid == *last; }))
        return false;
    Engine back = engine;
    back.process(NodeUp{*last});
    return back.master().has_value() || seizeOn(back, *last);
}

/* ---- Queries ----------------------------------------------------------- */

Member Engine::describe(const Node &node) const
{
    Member m;
    m.nodeid = node.config.id;
    m.name = node.config.name;
    m.addr = node.config.address;
    m.domainid = node.config.domain;
    switch (node.role) {
    case Role::Master:
        m.sflag |= CMM_MASTER;
        break;
    case Role::ViceMaster:
        m.sflag |= CMM_VICEMASTER;
        break;
    case Role::Out:
        m.sflag |= CMM_OUT_OF_CLUSTER;
        break;
    case Role::In:
        break;
    }
    if (node.config.frozen)
        m.sflag |= CMM_FROZEN_MEMBER;
    if (node.config.excluded)
        m.sflag |= CMM_EXCLUDED_MEMBER;
    if (node.eligible)
        m.sflag |= CMM_ELIGIBLE_MEMBER;
    if (node.disqualified)
        m.sflag |= CMM_FLAG_DISQUALIFIED;
    if (node.synchroNeeded)
        m.sflag |= CMM_FLAG_SYNCHRO_NEEDED;
    auto inc = incarnations_.find(node.config.id);
    m.incarnationNumber = inc == incarnations_.end() ? 0 : inc->second;
    m.softwareLoadId = node.config.softwareLoad;
    return m;
}

bool Engine::configured(cmm_nodeid_t node) const
{
    return nodes_.contains(node);
}

std::vector<cmm_nodeid_t> Engine::nodeIds() const
{
    std::vector<cmm_nodeid_t> ids;
    for (const auto &entry : nodes_)
        ids.push_back(entry.first);
    return ids;
}

NodeTable Engine::table() const
{
    NodeTable rows;
    for (const auto &entry : nodes_)
        rows.push_back(entry.second.config);
    return rows;
}

cmm_error_t Engine::memberInfo(cmm_nodeid_t id, Member &out) const
{
    return potentialInfo(id, out);
}

cmm_error_t Engine::potentialInfo(cmm_nodeid_t id, Member &out) const
{
    auto it = nodes_.find(id);
    if (it == nodes_.end())
        return CMM_ESRCH;
    out = describe(it->second);
    return fresh();
}

cmm_error_t Engine::masterInfo(Member &out) const
{
    if (!master_ || health_ == Health::Invalid)
        return CMM_ENOCLUSTER;
    out = describe(nodes_.at(*master_));
    return fresh();
}

cmm_error_t Engine::viceMasterInfo(Member &out) const
{
    if (!master_ || health_ == Health::Invalid)
        return CMM_ENOCLUSTER;
    if (!vice_)
        return CMM_ESRCH;
    out = describe(nodes_.at(*vice_));
    return fresh();
}

cmm_error_t Engine::memberCount(uint32_t &count) const
{
    count = static_cast<uint32_t>(std::count_if(
        nodes_.begin(), nodes_.end(), [](const auto &e) { return e.second.role != Role::Out; }));
    return fresh();
}

cmm_error_t Engine::memberAll(uint32_t tableSize, Member *table, uint32_t &count) const
{
    if (table == nullptr)
        return memberCount(count);
    if (tableSize > CMM_MAX_MEMBER_TABLE_SIZE)
        return CMM_EINVAL;
    std::vector<Member> all = members();
    count = static_cast<uint32_t>(all.size());
    if (tableSize < count)
        return CMM_ERANGE;
    std::move(all.begin(), all.end(), table);
    return fresh();
}

std::vector<Member> Engine::members() const
{
    std::vector<Member> all;
    for (const auto &[id, node] : nodes_)
        if (node.role != Role::Out)
            all.push_back(describe(node));
    return all;
}

std::optional<cmm_nodeid_t> Engine::master() const
{
    return master_;
}

std::optional<cmm_nodeid_t> Engine::viceMaster() const
{
    return vice_;
}

std::optional<cmm_nodeid_t> Engine::lastMaster() const
{
    return lastMaster_;
}

Health Engine::health() const
{
    return health_;
}

std::string Engine::checkInvariants() const
{
    std::ostringstream err;
    int masters = 0;
    int vices = 0;
    for (const auto &[id, node] : nodes_) {
        if (node.config.id != id)
            err << "node " << id << " filed under another id; ";
        if (node.role == Role::Master) {
            ++masters;
            if (master_ != id)
                err << "node " << id << " has the master role but is not the master; ";
        }
        if (node.role == Role::ViceMaster) {
            ++vices;
            if (vice_ != id)
                err << "node " << id << " has the vice-master role but is not the vice-master; ";
        }
        if (node.role != Role::Out && node.config.excluded)
            err << "excluded node " << id << " is in the cluster; ";
        if (node.role != Role::Out && node.removed)
            err << "node " << id << " removed itself but is in the cluster; ";
        /* elect() records the last role a node was elected to. */
        if (node.role == Role::Master && !node.formerMaster)
            err << "master " << id << " not marked as master when elected; ";
        if (node.role == Role::ViceMaster && node.formerMaster)
            err << "vice-master " << id << " marked as master when elected; ";
        if (node.formerMaster && !lastMaster_)
            err << "node " << id << " was master but there is no last master; ";
    }
    if (masters != (master_ ? 1 : 0))
        err << masters << " master roles; ";
    if (vices != (vice_ ? 1 : 0))
        err << vices << " vice-master roles; ";
    if (master_) {
        const Node &m = nodes_.at(*master_);
        if (!m.eligible || m.disqualified)
            err << "master " << *master_ << " is not eligible and qualified; ";
        if (lastMaster_ != master_)
            err << "master " << *master_ << " is not the last master; ";
    }
    if (vice_) {
        const Node &v = nodes_.at(*vice_);
        if (vice_ == master_)
            err << "vice-master is the master; ";
        if (v.role == Role::Out || !v.eligible || v.disqualified)
            err << "vice-master " << *vice_ << " is not in, eligible and qualified; ";
        if (!master_ && !v.synchroNeeded)
            err << "vice-master " << *vice_ << " could take over the vacant master role; ";
    }
    if (!master_ && bestMasterCandidate(std::nullopt))
        err << "master vacant with a candidate in the cluster; ";
    if (master_ && !vice_ && bestCandidate(master_))
        err << "vice-master vacant with a candidate in the cluster; ";
    return err.str();
}

} // namespace gs::cmm
