/* SPDX-License-Identifier: MIT */
/*
 * Who may talk to gsd (contract rule 11): root, gsd's own user, and members
 * of the authorized Unix group. Credentials come from the kernel (SO_PEERCRED,
 * passed on by libzmq as the "Peer-Address" message property), never from
 * the client's own words.
 */
#pragma once

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
};

/* libzmq appends ":uid:gid:pid" to the peer address of IPC connections; the
 * part before may itself contain colons, so the fields are taken from the
 * right. nullopt when the three fields are not all there. */
std::optional<PeerCredentials> parsePeerAddress(std::string_view address);

/* The supplementary groups of a live process ("Groups:" of
 * /proc/PID/status); empty when the process is gone. */
std::vector<gid_t> supplementaryGroups(pid_t pid);

class Authorizer {
  public:
    explicit Authorizer(std::string group);

    bool admits(const PeerCredentials &peer) const;

    const std::string &group() const { return group_; }
    /* The group's id now, or nullopt if no such group exists. */
    std::optional<gid_t> groupId() const;

  private:
    std::string group_;
    uid_t self_;
};

} // namespace gs::broker
