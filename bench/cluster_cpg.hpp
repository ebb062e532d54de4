// SPDX-License-Identifier: MIT
/* cluster_cpg - the raw CPG side of bench_cluster: an agent process that
 * runs inside one node's network namespace (libqb's IPC sockets are
 * abstract, per namespace), joins a CPG group of its own through that
 * node's Corosync and does on command what gsd does with its inputs:
 *
 *   a round:    one 16-byte AGREED multicast; every agent reports when it
 *               is delivered (the sender too: its own delivery);
 *   a vote run: the sender multicasts a proposal of R phases; on its
 *               delivery every member multicasts a vote for phase 1; when
 *               the votes of every member for phase r are delivered, each
 *               member multicasts its vote for phase r + 1, up to R; the
 *               sender reports when the last phase's votes are delivered
 *               (an n-phase protocol with nothing but CPG).
 *
 * Agents report to the parent on a pipe (bench::Report, child = node
 * number) and read commands from another (bench::CommandPipe). */
#pragma once

#include <cstdint>
#include <string>

namespace bench::cpg {

/* Report kinds (child = the agent's node). */
constexpr int32_t kMembers = 1;   /* a confchg: count = members now */
constexpr int32_t kSent = 2;      /* count = sequence, atNs = just before cpg_mcast_joined */
constexpr int32_t kDelivered = 3; /* a round's message delivered: count = sequence */
constexpr int32_t kLeft = 4;      /* a confchg named a member as left: count = its node id */
constexpr int32_t kVotesDone = 5; /* the last phase's votes delivered: count = sequence */

/* Commands: kRound, or kVotesBase + R for a vote run of R phases. */
constexpr int32_t kRound = 1;
constexpr int32_t kVotesBase = 100;

/* Enters network namespace `netns` (/run/netns/NAME), joins CPG group
 * `group` and serves commands until the command pipe closes. Returns the
 * exit code. */
int runAgent(const std::string &netns, const std::string &group, int node, int reportFd,
             int commandFd);

} // namespace bench::cpg
