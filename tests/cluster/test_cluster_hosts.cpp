/* SPDX-License-Identifier: MIT */
/* HostMembership across a domain (docs/porting-rsct.md): its providers are
 * the nodes whose gsd is in the domain, {node}.{node}; a gsd killed leaves
 * it, before its providers' failure leaves; restarted, it joins it again,
 * and holds it in the state it synced. Nobody joins it. */
#include "domain.hpp"

#include <algorithm>
#include <csignal>
#include <string>

using namespace cluster;
using api::field;
using api::subSummary;

namespace {

const std::string kHosts = "HostMembership: ";

/* Where the first line with `prefix` is in a client's history. */
size_t firstAt(const Client &c, const std::string &prefix)
{
    const auto &h = c.history();
    return static_cast<size_t>(
        std::find_if(h.begin(), h.end(),
                     [&](const std::string &line) { return line.rfind(prefix, 0) == 0; }) -
        h.begin());
}

} // namespace

TEST_CASE("cluster: HostMembership follows the gsds in the domain")
{
    Cluster c;
    startDomain(c, {1, 2, 3});
    auto s1 = clientAt(c, 1, "s1");
    auto s2 = clientAt(c, 2, "s2");
    auto p3 = clientAt(c, 3, "p3");
    REQUIRE(s1->rc("subscribe HostMembership all") == "HA_GS_OK");
    CHECK(field(s1->nextWith(kHosts), "full") == "[1.1,2.2,3.3]");
    REQUIRE(s2->rc("subscribe HostMembership join,leave") == "HA_GS_OK");
    CHECK(subSummary(s2->nextWith(kHosts)) == kHosts + "sub type=DELTA_JOIN chg=[1.1,2.2,3.3]");
    CHECK(s2->rc("join HostMembership 2") == "HA_GS_INVALID_GROUP");
    /* s1 also provides for a group with p3: node 3's departure reaches it
     * first as HostMembership's, then as the failure leave. */
    joinAcross({{s1.get(), 1, 1}, {p3.get(), 1, 3}}, "g");

    c.killGsd(3, SIGKILL);
    const std::string left = s1->waitFor({kHosts + "sub", {"DELTA_LEAVE"}});
    CHECK(field(left, "chg") == "[3.3]");
    CHECK(field(left, "full") == "[1.1,2.2]");
    CHECK(subSummary(s2->nextWith(kHosts)) == kHosts + "sub type=DELTA_LEAVE chg=[3.3]");
    CHECK(field(s1->waitFor("g: approved FAILURE_LEAVE"), "chg") == "[1.3]");
    CHECK(firstAt(*s1, kHosts + "sub type=DELTA_LEAVE") < firstAt(*s1, "g: approved FAILURE"));
    REQUIRE(c.waitGsdExit(3, 5000).has_value());

    c.startGsd(3);
    REQUIRE_MESSAGE(c.waitSynced(3), c.describe());
    const std::string back = s1->waitFor({kHosts + "sub", {"DELTA_JOIN"}});
    CHECK(field(back, "chg") == "[3.3]");
    CHECK(field(back, "full") == "[1.1,2.2,3.3]");
    CHECK(subSummary(s2->nextWith(kHosts)) == kHosts + "sub type=DELTA_JOIN chg=[3.3]");
    /* The restarted gsd has the node set from the domain's state. */
    auto s3 = clientAt(c, 3, "s3");
    REQUIRE(s3->rc("subscribe HostMembership membership") == "HA_GS_OK");
    CHECK(subSummary(s3->nextWith(kHosts)) == kHosts + "sub type=MEMBERSHIP full=[1.1,2.2,3.3]");
    CHECK(s3->rc("join HostMembership 3") == "HA_GS_INVALID_GROUP");
}
