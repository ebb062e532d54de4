/* SPDX-License-Identifier: MIT */
/*
 * What gsd --cluster reads from the local Corosync's configuration map
 * (libcmap) at start: the totem timings that bound how long the domain
 * takes to re-form (gsd checks them against the client libraries'
 * timeouts), and the nodelist, whose names become CMM node names when no
 * --cmm-nodes table is given (contract.md §6.7).
 */
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace gs {

struct CorosyncNode {
    uint32_t nodeId = 0;
    std::string name;      /* nodelist.node.N.name; empty when not set */
    std::string ring0Addr; /* nodelist.node.N.ring0_addr */
    bool operator==(const CorosyncNode &) const = default;
};

struct CorosyncInfo {
    /* runtime.config.totem.token / .consensus: the values in force (the
     * token already scaled by token_coefficient), in milliseconds. */
    uint32_t tokenMs = 0;
    uint32_t consensusMs = 0;
    std::vector<CorosyncNode> nodes; /* ascending node id */
};

/* Reads it from the local Corosync. Throws BrokerError (Config) naming the
 * key or the call that failed. */
CorosyncInfo readCorosyncInfo();

/* The nodelist from cmap's "nodelist.node.<index>.<field>" keys (other
 * keys ignored), ascending node id. Throws std::invalid_argument for an
 * entry without a valid nodeid or two entries of one node id. */
std::vector<CorosyncNode> nodelistFromKeys(const std::map<std::string, std::string> &keys);

} // namespace gs
