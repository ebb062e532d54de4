/* SPDX-License-Identifier: MIT */
/* Corosync's nodelist as cmap lists it (gsd/corosync_info.hpp). */
#include "gsd/corosync_info.hpp"

#include <doctest/doctest.h>

#include <stdexcept>

using namespace gs;

TEST_CASE("the nodelist from cmap keys, by node id")
{
    const std::map<std::string, std::string> keys = {
        {"nodelist.local_node_pos", "1"},
        {"nodelist.node.0.name", "n3"},
        {"nodelist.node.0.nodeid", "3"},
        {"nodelist.node.0.ring0_addr", "10.0.0.3"},
        {"nodelist.node.0.quorum_votes", "1"},
        {"nodelist.node.1.nodeid", "1"},
        {"nodelist.node.1.ring0_addr", "10.0.0.1"},
        {"nodelist.node.10.nodeid", "2"},
        {"nodelist.node.10.name", "n2"},
    };
    const std::vector<CorosyncNode> nodes = nodelistFromKeys(keys);
    REQUIRE(nodes.size() == 3);
    CHECK(nodes[0] == CorosyncNode{1, "", "10.0.0.1"});
    CHECK(nodes[1] == CorosyncNode{2, "n2", ""});
    CHECK(nodes[2] == CorosyncNode{3, "n3", "10.0.0.3"});
    CHECK(nodelistFromKeys({}).empty());
}

TEST_CASE("a nodelist entry without a valid node id, or a node id twice, is refused")
{
    CHECK_THROWS_WITH_AS(nodelistFromKeys({{"nodelist.node.0.name", "n1"}}),
                         doctest::Contains("no nodeid"), std::invalid_argument);
    CHECK_THROWS_WITH_AS(nodelistFromKeys({{"nodelist.node.0.nodeid", "x1"}}),
                         doctest::Contains("not a node id"), std::invalid_argument);
    CHECK_THROWS_AS(nodelistFromKeys({{"nodelist.node.0.nodeid", "0"}}), std::invalid_argument);
    CHECK_THROWS_WITH_AS(
        nodelistFromKeys({{"nodelist.node.0.nodeid", "4"}, {"nodelist.node.1.nodeid", "4"}}),
        doctest::Contains("node id 4"), std::invalid_argument);
}
