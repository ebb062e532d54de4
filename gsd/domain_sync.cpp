/* SPDX-License-Identifier: MIT */
#include "gsd/domain_sync.hpp"

#include "common/overloaded.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>

namespace gs {

namespace {

std::string describe(const SyncMember &m)
{
    return fmt::format("node {} (pid {})", m.node, m.pid);
}

} // namespace

DomainSync::DomainSync(SyncMember self, DomainHost &host, Outputs outputs,
                       uint64_t digestIntervalMs)
    : self_(self), host_(host), out_(std::move(outputs)), digestIntervalMs_(digestIntervalMs)
{
}

/* ---- Local ---- */

void DomainSync::submit(const Input &input)
{
    if (!synced_ || refused_)
        return;
    const size_t before = batch_.size();
    cluster::appendInput(input, batch_);
    ++batchCount_;
    /* A batch stays under the bound unless one input alone exceeds it. */
    if (batch_.size() > cluster::kMaxBatchBytes && batchCount_ > 1) {
        std::string last = batch_.substr(before);
        batch_.resize(before);
        --batchCount_;
        flush();
        batch_ = std::move(last);
        batchCount_ = 1;
    }
    if (batch_.size() >= cluster::kMaxBatchBytes)
        flush();
}

void DomainSync::flush()
{
    if (batchCount_ == 0)
        return;
    out_.multicast(cluster::encodeInputs(batch_, batchCount_));
    batch_.clear();
    batchCount_ = 0;
}

void DomainSync::tick(uint64_t nowMs)
{
    if (digestIntervalMs_ == 0 || !keepsTime()) {
        probeClockStarted_ = false;
        return;
    }
    if (!probeClockStarted_) {
        probeClockStarted_ = true;
        nextProbeMs_ = nowMs + digestIntervalMs_;
        return;
    }
    if (nowMs < nextProbeMs_)
        return;
    nextProbeMs_ = nowMs + digestIntervalMs_;
    out_.multicast(cluster::encode(cluster::DigestProbe{++probeSeq_}));
}

int DomainSync::timeoutMs(uint64_t nowMs) const
{
    if (digestIntervalMs_ == 0 || !keepsTime())
        return -1;
    if (!probeClockStarted_)
        return 0;
    return nowMs >= nextProbeMs_
               ? 0
               : static_cast<int>(std::min<uint64_t>(nextProbeMs_ - nowMs, 1u << 30));
}

void DomainSync::corosyncLost()
{
    unsync(Unsync::CorosyncLost);
    stream_.clear();
    members_.clear();
    states_.clear();
    syncedSet_.clear();
    upSet_.clear();
    knownSyncs_.clear();
    plan_.reset();
    probe_.reset();
    quorumKnown_ = false;
    quorate_ = false;
    quorumOf_.clear();
    wasTimekeeper_ = false;
}

MembershipView DomainSync::membership() const
{
    MembershipView view;
    view.quorate = quorate_;
    for (const SyncMember &m : members_)
        view.members.push_back(m.node);
    for (const SyncMember &m : syncedSet_)
        view.synced.push_back(m.node);
    return view;
}

bool DomainSync::keepsTime() const
{
    if (!synced_)
        return false;
    const std::optional<SyncMember> lowest = lowestSynced();
    return lowest && *lowest == self_;
}

/* ---- The stream ---- */

void DomainSync::onConfchg(std::vector<SyncMember> members, std::vector<SyncLeft> left)
{
    std::sort(members.begin(), members.end());
    std::sort(left.begin(), left.end(),
              [](const SyncLeft &a, const SyncLeft &b) { return a.member < b.member; });
    stream_.push_back(Confchg{std::move(members), std::move(left)});
    drain();
}

void DomainSync::onTotemRing(uint64_t ringSeq)
{
    stream_.push_back(Totem{ringSeq});
    drain();
}

void DomainSync::onMessage(SyncMember sender, std::string_view bytes)
{
    stream_.push_back(Delivered{sender, std::string(bytes)});
    drain();
}

void DomainSync::onQuorum(uint64_t ringSeq, bool quorate)
{
    const bool wasQuorate = quorumKnown_ && quorate_;
    quorumKnown_ = true;
    /* What it said of each recent ring: the gate judges a change by its own ring's. */
    quorumOf_[ringSeq] = quorate;
    while (quorumOf_.size() > 64)
        quorumOf_.erase(quorumOf_.begin());
    quorumRing_ = std::max(quorumRing_, ringSeq);
    quorate_ = quorate;
    if (!quorate && synced_) {
        spdlog::warn("domain: this node's membership lost quorum (ring {}): unsynced", ringSeq);
        unsync(Unsync::QuorumLost);
    } else if (quorate && !wasQuorate && !synced_ && isMember(self_)) {
        sendState();
    }
    /* The gate may wait for this notification. */
    drain();
}

void DomainSync::drain()
{
    while (!stream_.empty() && !refused_) {
        if (!process(stream_.front()))
            return;
        stream_.pop_front();
        checkTimekeeper();
    }
}

bool DomainSync::process(StreamEvent &event)
{
    if (auto *change = std::get_if<Confchg>(&event)) {
        const bool nodeDown = std::any_of(change->left.begin(), change->left.end(),
                                          [](const SyncLeft &l) { return l.nodeDown; });
        if (nodeDown) {
            /* The ring changed: the quorum of the new ring decides whether
             * this side goes on. Its id comes with the totem change that
             * follows this one in the stream. */
            std::optional<uint64_t> ring;
            for (const StreamEvent &later : stream_)
                if (auto *totem = std::get_if<Totem>(&later)) {
                    ring = totem->ringSeq;
                    break;
                }
            if (!ring || !quorumKnown_ || quorumRing_ < *ring)
                return false;
            /* votequorum spoke of this very ring; or Corosync replaced it
             * before it did, and the ring it spoke of decides, once its
             * totem change is in the stream. */
            bool quorate = quorate_;
            uint64_t decidingRing = *ring;
            if (const auto known = quorumOf_.find(*ring); known != quorumOf_.end()) {
                quorate = known->second;
            } else {
                decidingRing = quorumRing_;
                const bool there = std::any_of(stream_.begin(), stream_.end(), [&](const auto &e) {
                    const auto *totem = std::get_if<Totem>(&e);
                    return totem && totem->ringSeq >= decidingRing;
                });
                if (!there)
                    return false;
            }
            if (synced_ && cameBack(*change, decidingRing)) {
                if (setAside(*change, decidingRing))
                    return true;
                spdlog::warn("domain: members left with their node and came back before "
                             "Corosync installed a ring without them: this side cannot know "
                             "it was the quorate one: unsynced");
                unsync(Unsync::QuorumLost);
            } else if (!quorate && synced_) {
                spdlog::warn("domain: members left and this side has no quorum: unsynced");
                unsync(Unsync::QuorumLost);
            }
        }
        processConfchg(*change);
        return true;
    }
    if (std::get_if<Totem>(&event))
        return true;
    auto &delivered = std::get<Delivered>(event);
    cluster::Message message;
    try {
        message = cluster::decode(delivered.bytes);
    } catch (const cluster::ForeignFormat &error) {
        onForeignFormat(delivered.sender, error.version);
        return true;
    } catch (const cluster::DecodeError &error) {
        spdlog::error("domain: ignoring a malformed message from {}: {}",
                      describe(delivered.sender), error.what());
        return true;
    }
    processMessage(delivered.sender, message);
    return true;
}

std::set<SyncMember> DomainSync::goneWithNode(const Confchg &change)
{
    std::set<SyncMember> gone;
    for (const SyncLeft &left : change.left)
        if (left.nodeDown)
            gone.insert(left.member);
    return gone;
}

/* Corosync can report members gone with their node (NODEDOWN) and back, the
 * same processes, before it installs a ring without them: in the same
 * change (left and members at once) or in a later one before the totem
 * change of the ring votequorum spoke of. Then this side's ring was never
 * installed, and votequorum only says that the merged one is quorate; while
 * another side may have installed a quorate ring of its own and failed this
 * side's providers. This side cannot tell, so it does not apply the change
 * (a side whose ring was installed saw the others come back only after its
 * totem change): it sets the ring aside (setAside) or, when it cannot,
 * unsyncs. */
bool DomainSync::cameBack(const Confchg &change, uint64_t decidingRing) const
{
    const std::set<SyncMember> gone = goneWithNode(change);
    const auto backIn = [&](const std::vector<SyncMember> &members) {
        return std::any_of(gone.begin(), gone.end(), [&](const SyncMember &m) {
            return std::binary_search(members.begin(), members.end(), m);
        });
    };
    if (backIn(change.members))
        return true;
    for (const StreamEvent &later : stream_) {
        if (const auto *totem = std::get_if<Totem>(&later); totem && totem->ringSeq >= decidingRing)
            break;
        if (const auto *next = std::get_if<Confchg>(&later); next && backIn(next->members))
            return true;
    }
    return false;
}

/* Every member that left with its node came back before this side's ring
 * was installed, with nothing else changing: nothing of it can have been
 * applied on this side (the gate held it). Whether another side installed a
 * ring without this one and went on, the STATEs of the change where they
 * are back tell (resolveSides): until then this node is uncertain. So the
 * ring that came and went is set aside: the change, and what was delivered
 * in it (only this side saw that), as if it never was. Without this, a
 * heal during which Corosync briefly splits every node into a ring of its
 * own (seen on a loaded two-core machine) would leave no synced node: the
 * domain would start anew, every group lost. False: it cannot be set aside
 * (some did not come back, or another change came between). */
bool DomainSync::setAside(const Confchg &change, uint64_t decidingRing)
{
    const std::set<SyncMember> gone = goneWithNode(change);
    const auto allBack = [&](const std::vector<SyncMember> &members) {
        return std::all_of(gone.begin(), gone.end(), [&](const SyncMember &m) {
            return std::binary_search(members.begin(), members.end(), m);
        });
    };
    if (allBack(change.members)) {
        Confchg kept = change;
        std::erase_if(kept.left, [&](const SyncLeft &l) { return gone.count(l.member) != 0; });
        spdlog::warn("domain: members left with their node and are back in the same change: "
                     "their departure is set aside until the domain's STATEs tell whether "
                     "another side went on without this one");
        uncertain_ = true;
        processConfchg(kept);
        return true;
    }
    /* stream_.front() is `change`; find the change where they are back. */
    size_t back = 1;
    for (; back < stream_.size(); ++back) {
        if (const auto *totem = std::get_if<Totem>(&stream_[back]);
            totem && totem->ringSeq >= decidingRing)
            return false;
        if (const auto *next = std::get_if<Confchg>(&stream_[back])) {
            if (!allBack(next->members))
                return false;
            break;
        }
    }
    if (back == stream_.size())
        return false;
    size_t dropped = 0;
    for (size_t i = 1; i < back; ++i)
        dropped += std::holds_alternative<Delivered>(stream_[i]);
    spdlog::warn("domain: members left with their node and came back before Corosync installed "
                 "a ring without them: that ring is set aside ({} message(s) only this side "
                 "saw dropped) until the domain's STATEs tell whether another side went on "
                 "without this one",
                 dropped);
    stream_.erase(stream_.begin() + 1, stream_.begin() + static_cast<std::ptrdiff_t>(back));
    uncertain_ = true;
    return true;
}

void DomainSync::processConfchg(const Confchg &change)
{
    if (plan_)
        voidPlan("the membership changed");
    members_ = change.members;
    states_.clear();
    probe_.reset();
    for (const SyncLeft &left : change.left)
        memberGone(left.member);
    /* Members that are not in the list any more without being reported
     * (cannot happen with CPG; kept consistent anyway). */
    for (auto it = syncedSet_.begin(); it != syncedSet_.end();) {
        if (isMember(*it)) {
            ++it;
        } else {
            const SyncMember gone = *it;
            memberGone(gone);
            it = syncedSet_.begin();
        }
    }
    if (isMember(self_))
        sendState();
}

void DomainSync::memberGone(const SyncMember &member)
{
    const bool wasSynced = syncedSet_.erase(member) != 0;
    const bool wasUp = upSet_.erase(member) != 0;
    if (!wasSynced && !wasUp)
        return;
    const auto node = static_cast<int16_t>(member.node);
    deliverToHost(Event{NodeGone{node}});
    deliverToHost(CmmNodeInput{cmm::NodeDown{member.node}});
    /* A digest check does not wait for a member that is gone. */
    if (probe_ && probe_->awaited.erase(member) != 0)
        judgeProbe();
}

void DomainSync::processMessage(const SyncMember &sender, const cluster::Message &message)
{
    std::visit(Overloaded{
                   [&](const cluster::Inputs &m) { onInputs(sender, m); },
                   [&](const cluster::State &m) { onState(sender, m); },
                   [&](const cluster::SnapBegin &m) { onSnapBegin(sender, m); },
                   [&](const cluster::SnapChunk &m) { onSnapChunk(sender, m); },
                   [&](const cluster::SnapEnd &m) { onSnapEnd(sender, m); },
                   [&](const cluster::DigestProbe &m) { onDigestProbe(sender, m); },
                   [&](const cluster::DigestReport &m) { onDigestReport(sender, m); },
               },
               message);
}

void DomainSync::onForeignFormat(const SyncMember &sender, uint16_t version)
{
    if (!isMember(sender))
        return;
    if (synced_) {
        /* The other gsd refuses itself when it reads this node's messages. */
        spdlog::warn("domain: {} speaks inter-node format {}, this gsd {}: ignored",
                     describe(sender), version, cluster::kFormatVersion);
        return;
    }
    refuse(fmt::format("refused at sync: the domain speaks inter-node format {} ({}), this gsd "
                       "speaks format {}",
                       version, describe(sender), cluster::kFormatVersion));
}

void DomainSync::onState(const SyncMember &sender, const cluster::State &state)
{
    if (!isMember(sender) || state.node != sender.node || state.pid != sender.pid)
        return;
    states_[sender] = state;
    if (state.synced && !syncedSet_.count(sender)) {
        if (!synced_) {
            /* What a joiner learns of the domain. */
            syncedSet_.insert(sender);
            upSet_.insert(sender);
            knownSyncs_[sender] = state.syncs;
        }
        /* Else two synced sides met: resolveSides() decides, once every
         * member's STATE is in. */
    } else if (!state.synced && syncedSet_.count(sender) && state.syncs >= knownSyncs_[sender]) {
        /* It dropped its replicas (quorum, divergence, Corosync): to the
         * domain it is gone, and it comes back as a joiner. */
        const bool wasDonor = plan_ && plan_->donor == sender;
        memberGone(sender);
        if (wasDonor)
            voidPlan("the donor is no longer synced");
    }
    maybeDecide();
}

void DomainSync::maybeDecide()
{
    if (plan_ || refused_)
        return;
    for (const SyncMember &m : members_) {
        auto it = states_.find(m);
        if (it == states_.end() || !it->second.quorate)
            return;
    }
    if (members_.empty())
        return;
    resolveSides();
    if (refused_)
        return;

    std::set<uint32_t> syncedNodes;
    for (const SyncMember &m : syncedSet_)
        syncedNodes.insert(m.node);

    if (syncedSet_.empty()) {
        /* Cold start: nobody holds a state, so every member starts from
         * the empty one, here. One gsd per node id: the lowest pid. */
        std::vector<SyncMember> candidates;
        for (const SyncMember &m : members_)
            if (candidates.empty() || candidates.back().node != m.node)
                candidates.push_back(m);
        if (std::find(candidates.begin(), candidates.end(), self_) == candidates.end()) {
            refuse(fmt::format("refused at sync: another gsd of node id {} is in the domain",
                               self_.node));
            return;
        }
        const std::vector<SyncMember> starters = coldStarters(candidates);
        syncedSet_.insert(starters.begin(), starters.end());
        upSet_.insert(starters.begin(), starters.end());
        for (const SyncMember &m : starters)
            knownSyncs_[m] = states_.at(m).syncs + 1;
        spdlog::info("domain: cold start with {} node(s)", starters.size());
        if (std::find(starters.begin(), starters.end(), self_) != starters.end()) {
            syncs_ = knownSyncs_[self_];
            synced_ = true;
            /* Synced first: a host that told its CMM clients it was out
             * tells them VALID_CLUSTER before the elections, as a joiner
             * does (docs/cluster.md). */
            host_.synced();
            for (const SyncMember &m : starters)
                deliverToHost(CmmNodeInput{cmm::NodeUp{m.node}});
        } else {
            spdlog::warn("domain: this gsd's domain settings differ from those of the node(s) "
                         "that start the domain: it joins by a state transfer, which checks "
                         "them");
        }
        /* Those whose settings differ join them by a transfer, where their
         * settings are checked (and refused, naming the difference). */
        if (starters.size() != candidates.size())
            maybeDecide();
        return;
    }

    Plan plan;
    std::set<uint32_t> joinerNodes;
    for (const SyncMember &m : members_) {
        if (syncedSet_.count(m))
            continue;
        if (syncedNodes.count(m.node) || joinerNodes.count(m.node)) {
            if (m == self_) {
                refuse(fmt::format("refused at sync: another gsd of node id {} is in the domain",
                                   self_.node));
                return;
            }
            continue;
        }
        joinerNodes.insert(m.node);
        plan.joiners.push_back(m);
    }
    if (plan.joiners.empty())
        return;
    plan.donor = *lowestSynced();
    /* The same on every node: the STATEs this decision was made from. */
    std::string basis;
    for (const SyncMember &m : members_)
        basis += fmt::format("{}:{}:{};", m.node, m.pid, states_.at(m).seq);
    plan.tag = digestOf(basis);
    plan_ = std::move(plan);
    spdlog::info("domain: {} sends the state to {} joiner(s)", describe(plan_->donor),
                 plan_->joiners.size());
    if (plan_->donor == self_ && synced_)
        out_.multicast(cluster::encode(cluster::SnapBegin{plan_->tag}));
}

std::vector<SyncMember> DomainSync::coldStarters(const std::vector<SyncMember> &candidates) const
{
    /* Only members whose empty replicas are equal start the domain
     * together: those with the settings most of them have (ties: those of
     * the lowest node). */
    std::map<uint64_t, std::vector<SyncMember>> bySettings;
    for (const SyncMember &m : candidates)
        bySettings[states_.at(m).settingsDigest].push_back(m);
    std::vector<SyncMember> best;
    for (const auto &[digest, group] : bySettings)
        if (best.empty() || group.size() > best.size() ||
            (group.size() == best.size() && group.front() < best.front()))
            best = group;
    return best;
}

void DomainSync::resolveSides()
{
    /* The synced members by their view of who is synced; ascending. A
     * side is certain when one of its members went on through every ring
     * it was in (it set no ring aside). */
    std::map<uint64_t, std::vector<SyncMember>> sides;
    std::set<uint64_t> certain;
    for (const SyncMember &m : members_)
        if (const cluster::State &state = states_.at(m); state.synced) {
            sides[state.view].push_back(m);
            if (!state.uncertain)
                certain.insert(state.view);
        }
    /* This round's STATEs were sent after the rings set aside. */
    const bool wasUncertain = std::exchange(uncertain_, false);
    if (sides.size() < 2) {
        if (wasUncertain)
            spdlog::info("domain: no side went on without this one: the ring set aside changed "
                         "nothing");
        return;
    }
    const auto better = [&](const std::vector<SyncMember> &a, const std::vector<SyncMember> &b) {
        const bool aCertain = certain.count(states_.at(a.front()).view) != 0;
        const bool bCertain = certain.count(states_.at(b.front()).view) != 0;
        if (aCertain != bCertain)
            return aCertain;
        if (a.size() != b.size())
            return a.size() > b.size();
        return a.front() < b.front();
    };
    auto winner = sides.begin();
    for (auto it = std::next(sides.begin()); it != sides.end(); ++it)
        if (better(it->second, winner->second))
            winner = it;
    const auto list = [](const std::vector<SyncMember> &side) {
        std::string out;
        for (const SyncMember &m : side)
            out += fmt::format("{}{}", out.empty() ? "" : ",", m.node);
        return out;
    };
    std::string losers;
    for (const auto &[view, side] : sides)
        if (view != winner->first)
            losers += fmt::format("{}[{}]", losers.empty() ? "" : " ", list(side));
    spdlog::error("domain: two sides that each went on met (check the quorum settings): nodes "
                  "[{}] go on, nodes {} drop their state and re-sync",
                  list(winner->second), losers);
    const std::set<SyncMember> winners(winner->second.begin(), winner->second.end());
    if (synced_ && !winners.count(self_))
        unsync(Unsync::Merged);
    /* A winner that counted a loser as synced sees it leave here. */
    for (const SyncMember &m : std::set<SyncMember>(syncedSet_))
        if (!winners.count(m))
            memberGone(m);
    syncedSet_ = winners;
    for (const SyncMember &m : winners) {
        upSet_.insert(m);
        knownSyncs_[m] = states_.at(m).syncs;
    }
}

uint64_t DomainSync::syncedView() const
{
    std::string members;
    for (const SyncMember &m : syncedSet_)
        members += fmt::format("{}:{};", m.node, m.pid);
    return digestOf(members);
}

void DomainSync::voidPlan(const char *why)
{
    if (!plan_)
        return;
    spdlog::info("domain: the state transfer from {} is void: {}", describe(plan_->donor), why);
    plan_.reset();
}

bool DomainSync::comesBack(const SyncMember &joiner) const
{
    /* A gsd process that synced before (its link healed, its Corosync
     * back, a re-sync after divergence) says so in its STATE: CMM keeps a
     * node that removed itself out until a new gsd runs there. */
    const auto state = states_.find(joiner);
    return state != states_.end() && state->second.syncs > 0;
}

bool DomainSync::isJoiner(const SyncMember &member) const
{
    return plan_ &&
           std::find(plan_->joiners.begin(), plan_->joiners.end(), member) != plan_->joiners.end();
}

void DomainSync::onSnapBegin(const SyncMember &sender, const cluster::SnapBegin &begin)
{
    if (!plan_ || plan_->begun || sender != plan_->donor || begin.tag != plan_->tag)
        return;
    /* The cut: the joiners are up in the domain from here on (already, if
     * the cut of a voided plan made them so). */
    for (const SyncMember &joiner : plan_->joiners)
        if (upSet_.insert(joiner).second)
            deliverToHost(CmmNodeInput{comesBack(joiner) ? cmm::Event{cmm::NodeBack{joiner.node}}
                                                         : cmm::Event{cmm::NodeUp{joiner.node}}});
    plan_->begun = true;
    if (sender != self_ || !synced_)
        return;
    const std::string blob = host_.snapshotState();
    uint32_t chunks = 0;
    for (size_t at = 0; at < blob.size(); at += cluster::kMaxChunkBytes)
        out_.multicast(cluster::encode(
            cluster::SnapChunk{plan_->tag, chunks++, blob.substr(at, cluster::kMaxChunkBytes)}));
    out_.multicast(cluster::encode(
        cluster::SnapEnd{plan_->tag, chunks, static_cast<uint64_t>(blob.size()), digestOf(blob)}));
}

void DomainSync::onSnapChunk(const SyncMember &sender, const cluster::SnapChunk &chunk)
{
    if (!plan_ || !plan_->begun || sender != plan_->donor || chunk.tag != plan_->tag ||
        !isJoiner(self_))
        return;
    if (chunk.seq != plan_->chunks.size()) {
        spdlog::error("domain: snapshot chunk {} where {} was expected", chunk.seq,
                      plan_->chunks.size());
        return;
    }
    plan_->chunks.push_back(chunk.bytes);
}

void DomainSync::onSnapEnd(const SyncMember &sender, const cluster::SnapEnd &end)
{
    if (!plan_ || !plan_->begun || sender != plan_->donor || end.tag != plan_->tag)
        return;
    Plan plan = std::move(*plan_);
    plan_.reset();
    for (const SyncMember &joiner : plan.joiners) {
        syncedSet_.insert(joiner);
        knownSyncs_[joiner] = states_.count(joiner) ? states_.at(joiner).syncs + 1 : 1;
        if (joiner == self_)
            syncs_ = knownSyncs_[joiner];
    }
    if (std::find(plan.joiners.begin(), plan.joiners.end(), self_) != plan.joiners.end()) {
        std::string blob;
        for (const std::string &chunk : plan.chunks)
            blob += chunk;
        std::string damage;
        if (plan.chunks.size() != end.chunks || blob.size() != end.size)
            damage = fmt::format("{} chunks of {} bytes where {} of {} were sent",
                                 plan.chunks.size(), blob.size(), end.chunks, end.size);
        else if (digestOf(blob) != end.digest)
            damage = "its digest differs from the donor's";
        if (damage.empty()) {
            try {
                host_.restoreState(blob);
            } catch (const StateRefused &error) {
                if (error.why != StateRefused::Why::Damaged) {
                    refuse(std::string("refused at sync: ") + error.what());
                    return;
                }
                damage = error.what();
            }
        }
        if (!damage.empty()) {
            if (++damagedLoads_ >= kMostDamagedLoads) {
                /* Corosync checks what it carries: a state that cannot be
                 * loaded again and again is one this gsd cannot read
                 * (another version of gsd), and asking for it once more
                 * floods the domain with transfers. */
                refuse(fmt::format("refused at sync: the domain's state could not be loaded {} "
                                   "times in a row (is this gsd the domain's version?); the "
                                   "last: {}",
                                   damagedLoads_, damage));
                return;
            }
            /* The others count this node as synced from here: its STATE
             * tells them otherwise, and the next plan sends it again. */
            spdlog::error("domain: the state from {} cannot be loaded: {}", describe(plan.donor),
                          damage);
            sendState();
        } else {
            damagedLoads_ = 0;
            std::vector<uint32_t> entered;
            for (const SyncMember &joiner : plan.joiners)
                entered.push_back(joiner.node);
            host_.entered(entered);
            synced_ = true;
            for (const Input &input : plan.buffered)
                deliverToHost(input);
            try {
                host_.replayed();
            } catch (const StateRefused &error) {
                refuse(std::string("refused at sync: ") + error.what());
                return;
            }
            spdlog::info("domain: synced from {} ({} bytes, {} inputs replayed)",
                         describe(plan.donor), blob.size(), plan.buffered.size());
            host_.synced();
        }
    }
    maybeDecide();
}

void DomainSync::onInputs(const SyncMember &sender, const cluster::Inputs &inputs)
{
    /* Only synced members' inputs enter the domain: the same rule on every
     * node, as the set is the stream's. */
    if (!syncedSet_.count(sender))
        return;
    for (const Input &input : inputs.inputs)
        deliverToHost(input);
}

void DomainSync::onDigestProbe(const SyncMember &sender, const cluster::DigestProbe &probe)
{
    if (!syncedSet_.count(sender))
        return;
    /* Every synced member reports; the same set on every node. */
    probe_ = Probe{sender, probe.seq, std::nullopt, {}, {}};
    for (const SyncMember &m : syncedSet_)
        if (isMember(m))
            probe_->awaited.insert(m);
    if (!synced_)
        return;
    probe_->mine = host_.stateDigest();
    out_.multicast(cluster::encode(cluster::DigestReport{probe.seq, *probe_->mine}));
}

void DomainSync::onDigestReport(const SyncMember &sender, const cluster::DigestReport &report)
{
    if (!probe_ || report.seq != probe_->seq || probe_->awaited.erase(sender) == 0)
        return;
    probe_->reports[sender] = report.digest;
    judgeProbe();
}

void DomainSync::judgeProbe()
{
    if (!probe_ || !probe_->awaited.empty())
        return;
    const Probe probe = std::move(*probe_);
    probe_.reset();
    if (!synced_ || !probe.mine || probe.reports.empty())
        return;
    /* The digest most replicas have is the domain's: one damaged replica,
     * the timekeeper's included, re-syncs alone rather than spreading its
     * damage to the others. A tie goes to the timekeeper's digest (else
     * to the lowest node's). */
    std::map<StateDigest, size_t> votes;
    size_t most = 0;
    for (const auto &[member, digest] : probe.reports)
        most = std::max(most, ++votes[digest]);
    std::optional<StateDigest> domain;
    if (const auto it = probe.reports.find(probe.prober);
        it != probe.reports.end() && votes[it->second] == most)
        domain = it->second;
    for (const auto &[member, digest] : probe.reports)
        if (!domain && votes[digest] == most)
            domain = digest;
    if (*probe.mine == *domain)
        return;
    spdlog::error("domain: this node's state diverged from the domain's: digest {:016x} here, "
                  "{:016x} at {} of {} node(s); re-syncing",
                  *probe.mine, *domain, most, probe.reports.size());
    unsync(Unsync::Diverged);
}

/* ---- Transitions ---- */

void DomainSync::deliverToHost(const Input &input)
{
    if (synced_)
        out_.deliver(input);
    else if (plan_ && plan_->begun && isJoiner(self_))
        plan_->buffered.push_back(input);
}

void DomainSync::unsync(Unsync why)
{
    if (!synced_)
        return;
    synced_ = false;
    uncertain_ = false;
    wasTimekeeper_ = false;
    batch_.clear();
    batchCount_ = 0;
    host_.unsynced(why);
    if (why != Unsync::CorosyncLost && isMember(self_))
        sendState();
}

void DomainSync::sendState()
{
    cluster::State state;
    state.node = self_.node;
    state.pid = self_.pid;
    state.seq = ++stateSeq_;
    state.syncs = syncs_;
    state.synced = synced_;
    state.quorate = quorumKnown_ && quorate_;
    /* An unsynced replica is empty: its digest is that of the settings. */
    if (synced_) {
        state.view = syncedView();
        state.uncertain = uncertain_;
    } else {
        state.settingsDigest = host_.stateDigest();
    }
    out_.multicast(cluster::encode(state));
}

void DomainSync::checkTimekeeper()
{
    const bool now = keepsTime();
    if (now && !wasTimekeeper_)
        host_.becameTimekeeper();
    wasTimekeeper_ = now;
}

bool DomainSync::isMember(const SyncMember &member) const
{
    return std::binary_search(members_.begin(), members_.end(), member);
}

std::optional<SyncMember> DomainSync::lowestSynced() const
{
    for (const SyncMember &m : syncedSet_)
        if (isMember(m))
            return m;
    return std::nullopt;
}

void DomainSync::refuse(const std::string &why)
{
    if (refused_)
        return;
    refused_ = true;
    spdlog::critical("domain: {}", why);
    out_.refuse(why);
}

} // namespace gs
