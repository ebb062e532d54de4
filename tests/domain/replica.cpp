/* SPDX-License-Identifier: MIT */
#include "replica.hpp"

namespace gs::domain {

namespace {

EngineConfig engineConfig(const DomainSettings &settings)
{
    EngineConfig config;
    config.limits = settings.limits;
    return config;
}

void addAttributes(Hasher &h, const GroupAttributes &a)
{
    for (int v : {a.version, a.sizeofAttributes, a.clientVersion, a.batchControl, a.numPhases,
                  a.sourceReflectionNumPhases, a.defaultVote, a.mergeControl, a.timeLimit,
                  a.sourceReflectionTimeLimit})
        h.add(static_cast<uint64_t>(v));
    h.add(a.groupName);
    h.add(a.sourceGroupName);
}

} // namespace

cmm::NodeTable DomainSettings::table() const
{
    cmm::NodeTable table;
    for (int id = 1; id <= nodes; ++id) {
        cmm::NodeConfig row;
        row.id = static_cast<cmm_nodeid_t>(id);
        row.name = "node" + std::to_string(id);
        row.address = "10.0.0." + std::to_string(id);
        table.push_back(row);
    }
    return table;
}

Replica::Replica(const DomainSettings &settings)
    : gsapi_(std::make_unique<Engine>(engineConfig(settings))), cmm_(settings.table()),
      gsapiFingerprint_(viewHash()), cmmDigest_(cmm_.digest())
{
}

Replica::Replica(const DomainSettings &settings, const Snapshot &snapshot) : Replica(settings)
{
    gsapi_->restore(snapshot.gsapi);
    gsapiDigest_.reset();
    gsapiFingerprint_ = viewHash();
    cmm_.restore(snapshot.cmm);
    cmmDigest_ = cmm_.digest();
}

Applied Replica::apply(const EngineEvent &event)
{
    Applied applied;
    if (const auto *e = std::get_if<gs::Event>(&event)) {
        gsapi_->process(*e, applied.actions);
        gsapiDigest_.reset();
        gsapiFingerprint_ = viewHash();
    } else {
        applied.outcome = cmm_.process(std::get<cmm::Event>(event));
        cmmDigest_ = cmm_.digest();
    }
    return applied;
}

Snapshot Replica::snapshot() const
{
    return Snapshot{gsapi_->snapshot(), cmm_.snapshot()};
}

StateDigest Replica::viewHash() const
{
    Hasher h;
    h.add(static_cast<uint64_t>(gsapi_->clientCount()));
    h.add(gsapi_->stateMemory());
    for (const auto &name : gsapi_->groupNames()) {
        const auto g = gsapi_->group(name);
        h.add(g->name);
        addAttributes(h, g->attributes);
        for (const auto &m : g->members) {
            h.add(static_cast<uint64_t>(m.id.instance));
            h.add(static_cast<uint64_t>(m.id.node));
            h.add(m.client);
            h.add(static_cast<uint64_t>(m.token));
        }
        h.add(g->state);
        h.add(static_cast<uint64_t>(g->protocolRunning));
        h.add(static_cast<uint64_t>(g->runningProtocol));
        h.add(static_cast<uint64_t>(g->phase));
        h.add(static_cast<uint64_t>(g->queuedMembershipChanges));
        h.add(static_cast<uint64_t>(g->subscribers));
    }
    return h.value();
}

StateDigest Replica::gsapiDigest() const
{
    if (!gsapiDigest_)
        gsapiDigest_ = gsapi_->digest();
    return *gsapiDigest_;
}

std::string Replica::checkInvariants() const
{
    if (auto broken = gsapi_->checkInvariants(); !broken.empty())
        return "GSAPI engine: " + broken;
    if (auto broken = cmm_.checkInvariants(); !broken.empty())
        return "CMM engine: " + broken;
    return {};
}

} // namespace gs::domain
