/* SPDX-License-Identifier: MIT */
/*
 * Who may talk to gsd (contract rule 11): root, gsd's own user, and members
 * of the authorized Unix group. Credentials come from the kernel, read from
 * the accepted socket itself (SO_PEERCRED, SO_PEERGROUPS: the uid, gid and
 * groups of the process that connected, as they were at connect time),
 * never from the client's own words nor from /proc (a pid may be reused).
 */
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <sys/types.h>
#include <vector>

namespace gs::broker {

struct PeerCredentials {
    uid_t uid = 0;
    gid_t gid = 0;
    pid_t pid = 0;
    std::vector<gid_t> groups; /* supplementary groups (SO_PEERGROUPS) */

    bool sameProcessIds(const PeerCredentials &other) const
    {
        return uid == other.uid && gid == other.gid && pid == other.pid;
    }
};

/* libzmq appends ":uid:gid:pid" to the peer address of IPC connections; the
 * part before may itself contain colons, so the fields are taken from the
 * right. nullopt when the three fields are not all there. */
std::optional<PeerCredentials> parsePeerAddress(std::string_view address);

/* The credentials of the peer of a connected Unix socket, from the socket
 * (SO_PEERCRED and SO_PEERGROUPS); nullopt when the kernel gives none. */
std::optional<PeerCredentials> socketCredentials(int fd);

class Authorizer {
  public:
    explicit Authorizer(std::string group);

    bool admits(const PeerCredentials &peer) const;

    const std::string &group() const { return group_; }
    /* The group's id now, or nullopt if no such group exists. */
    std::optional<gid_t> groupId() const;

  private:
    struct Cached {
        std::optional<gid_t> gid;
        std::vector<std::string> members;
        std::chrono::steady_clock::time_point readAt;
    };
    /* The group looked up at most once per kGroupCacheTime, so that a flood
     * of connections does not read /etc/group (or ask NSS) for each. */
    const Cached &groupEntry() const;

    std::string group_;
    uid_t self_;
    mutable std::optional<Cached> cache_;
};

} // namespace gs::broker
