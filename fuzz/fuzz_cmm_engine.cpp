/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: the CMM engine (engine/cmm_engine.hpp) under event
 * sequences read from the input: a node table of up to five nodes (ids
 * 1..6, flags from the input), then events (opcode byte, arguments), with
 * node ids 0..7 so that unknown and reserved ids come up.
 *
 * A table the engine refuses must be one validateTable refuses. After every
 * event: checkInvariants() holds, a failed request notified nothing, a
 * second engine fed the same events gave the same outcome (determinism),
 * every query answers within its contract (memberAll fills at most what it
 * counts, counts match the member list, memberInfo describes every
 * configured node), and a master exists or documented calls can get one
 * back (cmm::masterRecoverable: seizequalif, cmm_node_eligible, or the
 * return of the last master, which alone holds the newest copy).
 *
 * State transfer: every eighth step a third engine is replaced by
 * restore(a.snapshot()) (the input format stays that of the seeds); from
 * then on it must have a's digest after every event and give a's outcomes,
 * as a replica that joined there would.
 */
#include "check.hpp"

#include "engine/cmm_engine.hpp"

#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

using namespace gs;
using gs::fuzz::ByteReader;
using gs::fuzz::check;
using gs::fuzz::fail;

namespace {

cmm::NodeTable table(ByteReader &in)
{
    cmm::NodeTable nodes;
    for (unsigned n = 1 + in.below(5); n > 0; --n) {
        cmm::NodeConfig node;
        node.id = 1 + in.below(6);
        node.name = "n" + std::to_string(node.id);
        node.address = "10.0.0." + std::to_string(node.id);
        const uint8_t flags = in.byte();
        node.eligible = (flags & 1) == 0;
        node.frozen = flags & 2;
        node.excluded = flags & 4;
        node.disqualified = flags & 8;
        node.synchroNeeded = flags & 16;
        if (flags & 32)
            node.name.assign(CMM_MAX_NAME_SIZE, 'x'); /* too long */
        nodes.push_back(node);
    }
    return nodes;
}

cmm::Event event(ByteReader &in)
{
    const auto node = [&] { return static_cast<cmm_nodeid_t>(in.below(8)); };
    switch (in.below(12)) {
    case 0:
        return cmm::NodeUp{node()};
    case 1:
        return cmm::NodeDown{node()};
    case 2:
        return cmm::RemoveSelf{node()};
    case 3:
        return cmm::MastershipRelease{node()};
    case 4:
        return cmm::SetQualif{node(), node(), static_cast<int>(in.below(4))};
    case 5:
        return cmm::SeizeQualif{node()};
    case 6:
        return cmm::ConfigReload{node(), table(in)};
    case 7:
        return cmm::ClusterStale{};
    case 8:
        return cmm::ClusterInvalid{};
    case 9:
        return cmm::NodeEligibility{node(), (in.byte() & 1) != 0};
    case 10:
        return cmm::NodeBack{node()};
    default:
        return cmm::ClusterValid{};
    }
}

void queries(const cmm::Engine &engine, ByteReader &in)
{
    cmm::Member member;
    const cmm_nodeid_t node = in.below(8);
    check(engine.memberInfo(node, member) != CMM_ESRCH || !engine.configured(node),
          "memberInfo refused a configured node");
    engine.potentialInfo(node, member);
    engine.masterInfo(member);
    engine.viceMasterInfo(member);
    uint32_t count = 0;
    engine.memberCount(count);
    const std::vector<cmm::Member> members = engine.members();
    check(members.size() == count, "member count differs from the member list");
    std::vector<cmm::Member> table(in.below(8));
    uint32_t counted = 0;
    const cmm_error_t rc =
        engine.memberAll(static_cast<uint32_t>(table.size()), table.data(), counted);
    /* An empty table (NULL) asks for the count only. */
    if (!table.empty() && (rc == CMM_OK || rc == CMM_EAGAIN))
        check(counted <= table.size(), "memberAll filled more than the table holds");
    for (const cmm::Member &m : members) {
        cmm_member_t c{};
        cmm::toCmmMember(m, c);
        check(c.name[sizeof c.name - 1] == '\0', "member name not terminated");
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ByteReader in(data, size);
    const cmm::NodeTable nodes = table(in);
    std::unique_ptr<cmm::Engine> a, b;
    cmm::Engine replica; /* restored from a every eighth step */
    bool joined = false;
    try {
        a = std::make_unique<cmm::Engine>(nodes);
        b = std::make_unique<cmm::Engine>(nodes);
    } catch (const std::invalid_argument &) {
        check(!cmm::validateTable(nodes).empty(), "a valid table refused");
        return 0;
    }
    for (int steps = 0; steps < 200 && !in.empty(); ++steps) {
        const cmm::Event e = event(in);
        const cmm::Outcome out = a->process(e);
        check(out == b->process(e), "two engines, same events, different outcomes");
        if (joined) {
            check(out == replica.process(e), "a restored engine gave another outcome");
            check(replica.digest() == a->digest(), "a restored engine has another digest");
        }
        if (out.rc != CMM_OK)
            check(out.notifications.empty(), "a failed request notified");
        const std::string broken = a->checkInvariants();
        check(broken.empty(), "CMM engine invariant: " + broken);
        check(cmm::masterRecoverable(*a), "no sequence of documented calls gets a master back");
        queries(*a, in);
        if (steps % 8 == 3) {
            const std::string snapshot = a->snapshot();
            try {
                replica.restore(snapshot);
            } catch (const std::invalid_argument &error) {
                fail(std::string("a snapshot was refused: ") + error.what());
            }
            check(replica.snapshot() == snapshot, "restore(snapshot) gave another snapshot");
            joined = true;
        }
    }
    return 0;
}
